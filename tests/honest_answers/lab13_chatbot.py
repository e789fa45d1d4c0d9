"""Correct but unusual answers to lab13_chatbot: full marks each (tests/test_labs.py)."""


# %% [collate] one tokenizer call for prompt + answer, torch.full and slices for the padding
def collate(pairs):
    encoded = []
    for question, answer in pairs:
        prompt = tokenizer(format_prompt(question))["input_ids"]
        full = tokenizer(format_prompt(question) + " " + answer)["input_ids"] + [EOS]
        encoded.append((len(prompt), full))
    width = max(len(full) for _, full in encoded)
    input_ids = torch.full((len(pairs), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(pairs), width), dtype=torch.long)
    labels = torch.full((len(pairs), width), -100, dtype=torch.long)
    for row, (n_prompt, full) in enumerate(encoded):
        input_ids[row, :len(full)] = torch.tensor(full)
        attention_mask[row, :len(full)] = 1
        labels[row, n_prompt:len(full)] = torch.tensor(full[n_prompt:])
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


# %% [evaluator] str.translate, a word filter, statistics-free share
def normalize(text):
    words = text.lower().translate(str.maketrans("", "", string.punctuation)).split()
    return " ".join(w for w in words if w not in ("a", "an", "the"))


def exact_match(predictions, references):
    hits = [normalize(p) == normalize(r) for p, r in zip(predictions, references)]
    return float(sum(hits)) / len(hits) if hits else 0.0


# %% [greedy_continue] a for loop with a KV cache: only the newest id is fed after the first step
def greedy_continue(model, input_ids, max_new_tokens, stop_ids):
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    out, past, feed = [], None, torch.tensor([input_ids])
    with torch.no_grad():
        for _ in range(max_new_tokens):
            result = model(feed, past_key_values=past, use_cache=True)
            past = result.past_key_values
            token = torch.argmax(result.logits[0, -1]).item()
            out.append(token)
            if token in set(stop_ids):
                break
            feed = torch.tensor([[token]])
    return out


# %% [stop_rate] counts the runs cut short or ending with a stop id
def stop_rate(model, prompts, max_new_tokens, stop_ids):
    if len(prompts) == 0:
        return 0.0
    ends = [greedy_continue(model, p, max_new_tokens, stop_ids) for p in prompts]
    return sum(1 for e in ends if len(e) < max_new_tokens or e[-1] in stop_ids) / len(prompts)


# %% [collate] EOS appended as text (tokenizer.eos_token) before tokenizing; pad_sequence for the padding
from torch.nn.utils.rnn import pad_sequence


def collate(pairs):
    ids, labels = [], []
    for question, answer in pairs:
        prompt = tokenizer(format_prompt(question))["input_ids"]
        tail = tokenizer(" " + answer + tokenizer.eos_token)["input_ids"]     # "<|endoftext|>" is parsed as EOS
        ids.append(torch.tensor(prompt + tail))
        labels.append(torch.tensor([-100] * len(prompt) + tail))
    input_ids = pad_sequence(ids, batch_first=True, padding_value=tokenizer.pad_token_id)
    lengths = torch.tensor([len(row) for row in ids])
    attention_mask = (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()
    return {"input_ids": input_ids.long(), "attention_mask": attention_mask,
            "labels": pad_sequence(labels, batch_first=True, padding_value=-100).long()}


# %% [evaluator] one regex character class built with re.escape, \s+ collapsed, numpy for the share
import re

import numpy as np

_PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize(text):
    text = _PUNCT.sub("", text.lower())
    text = _ARTICLES.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def exact_match(predictions, references):
    if len(predictions) == 0:
        return 0.0
    return float(np.mean([normalize(p) == normalize(r) for p, r in zip(predictions, references)]))


# %% [greedy_continue] recursive: one token, then the continuation of the longer prompt
def greedy_continue(model, input_ids, max_new_tokens, stop_ids):
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be positive")
    with torch.inference_mode():
        token = model(input_ids=torch.tensor(input_ids).unsqueeze(0)).logits[0, -1].argmax().item()
    if token in stop_ids or max_new_tokens == 1:
        return [token]
    return [token] + greedy_continue(model, list(input_ids) + [token], max_new_tokens - 1, stop_ids)


# %% [stop_rate] asks for one token more: a run that stopped by itself ends within max_new_tokens
def stop_rate(model, prompts, max_new_tokens, stop_ids):
    runs = [greedy_continue(model, p, max_new_tokens + 1, stop_ids) for p in prompts]
    return sum(len(run) <= max_new_tokens for run in runs) / len(runs) if runs else 0.0
