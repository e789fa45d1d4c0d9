"""Greedy question answering that cannot misbehave, whatever a user types; and plain text completion.

    answers = generate_answers(model, tokenizer, ["What is the capital of France?"])
    complete(model, tokenizer, "The capital of France is")       # the raw continuation, no prompt format

Guarantees:
- at most `MAX_NEW_TOKENS_CAP` new tokens, and never more than the model's context allows;
- the answer stops at EOS or at the first newline (the prompt format is one line per answer);
- a question longer than the context is cut from the left: "Question:", the end of the question and
  "\\nAnswer:" are always kept, so the model still sees where its answer starts;
- empty or whitespace-only input gets `EMPTY_QUESTION_REPLY` without running the model;
- control characters and line breaks are turned into spaces, so text that imitates the prompt markers
  ("...\\nAnswer: London\\nQuestion: ...") stays inside one question line; emoji are ordinary bytes.
"""

from __future__ import annotations

import unicodedata

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from utils.data import PROMPT_TEMPLATE, few_shot_prefix, format_prompt

MAX_NEW_TOKENS_CAP = 64
EMPTY_QUESTION_REPLY = "(Please type a question.)"
MAX_QUESTION_CHARS = 2000


def clean_question(text: str) -> str:
    """One printable line: control characters and line breaks become spaces, runs of spaces collapse.

    Raises TypeError for non-strings. Very long input is cut to its last `MAX_QUESTION_CHARS` characters
    (the tokens would be cut from the left anyway; this only bounds the tokenizer's work).
    """
    if not isinstance(text, str):
        raise TypeError(f"a question must be a str, got {type(text).__name__}")
    text = text[-MAX_QUESTION_CHARS:]
    chars = (" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text)
    return " ".join("".join(chars).split())


def context_length(model: PreTrainedModel) -> int:
    """The number of positions the model can attend to (GPT-2: n_positions)."""
    config = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1024


def prompt_ids(tokenizer: PreTrainedTokenizerBase, question: str, max_tokens: int) -> list[int]:
    """Token ids of `format_prompt(question)`, at most `max_tokens` long.

    When the prompt is too long, tokens are dropped from the *start of the question*; the "Question:" head
    and the "\\nAnswer:" tail survive. Raises ValueError when even head + tail do not fit.
    """
    ids = tokenizer(format_prompt(question), verbose=False)["input_ids"]
    if len(ids) <= max_tokens:
        return ids
    head_text, tail_text = PROMPT_TEMPLATE.split("{question}")
    head = tokenizer(head_text.rstrip())["input_ids"]
    tail = tokenizer(tail_text)["input_ids"]
    room = max_tokens - len(head) - len(tail)
    if room < 1:
        raise ValueError(f"a context of {max_tokens} tokens cannot hold the prompt markers ({len(head) + len(tail)})")
    body = tokenizer(" " + question.strip(), verbose=False)["input_ids"]
    return head + body[-room:] + tail


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """EOS and every vocabulary token whose text contains a newline: generation halts on any of them."""
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    newline_ids = [i for i, piece in enumerate(pieces) if "\n" in piece or "\r" in piece]
    return [tokenizer.eos_token_id, *newline_ids]


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: list[str],
    max_new_tokens: int = 16,
    batch_size: int = 64,
    shots: list[tuple[str, str]] = (),
) -> list[str]:
    """Greedy answers, one string per question, in order.

    questions: raw user text (cleaned with `clean_question`). max_new_tokens: 1 … `MAX_NEW_TOKENS_CAP`
    (larger values are capped; the context length caps it further). Batches are left-padded with the pad
    (= EOS) id and masked, so an answer does not depend on the other questions in its batch.
    shots: (question, answer) pairs written before every prompt (`utils.data.few_shot_prefix`): a few-shot
    prompt. They are kept whole; a question that no longer fits is cut from the left as usual.
    """
    if isinstance(questions, str):
        raise TypeError("generate_answers takes a list of questions; wrap a single question in a list")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    context = context_length(model)
    new_tokens = min(max_new_tokens, MAX_NEW_TOKENS_CAP, context // 2)
    cleaned = [clean_question(q) for q in questions]
    answers = [EMPTY_QUESTION_REPLY] * len(cleaned)
    todo = [i for i, q in enumerate(cleaned) if q]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = stop_token_ids(tokenizer)
    prefix = tokenizer(few_shot_prefix(shots), verbose=False)["input_ids"] if shots else []
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        encoded = [prefix + prompt_ids(tokenizer, cleaned[i], context - new_tokens - len(prefix)) for i in chunk]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in encoded], device=device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
        output = model.generate(
            input_ids=input_ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
            eos_token_id=stops, pad_token_id=pad_id,
        )
        for i, row in zip(chunk, output[:, width:].tolist(), strict=True):
            answers[i] = _decode_answer(tokenizer, row, stops)
    model.train(was_training)
    return answers


@torch.no_grad()
def complete(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` as text: the most likely next token, `max_new_tokens` times.

    No prompt format, no cleaning, no stop at a newline: what the language model itself does with raw text
    (lessons 00 and 13). Questions for the chatbot go through `generate_answers` instead.
    """
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)  # input_ids (1, prompt_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)  # new tokens only


def _decode_answer(tokenizer: PreTrainedTokenizerBase, ids: list[int], stops: list[int]) -> str:
    """Text of the generated ids up to the first stop token, cut at a newline, trimmed."""
    stop_set = set(stops)
    end = next((k for k, t in enumerate(ids) if t in stop_set), len(ids))
    keep = ids[:end + 1] if end < len(ids) and ids[end] != tokenizer.eos_token_id else ids[:end]
    text = tokenizer.decode(keep, skip_special_tokens=True)
    return text.split("\n")[0].split("\r")[0].strip()
