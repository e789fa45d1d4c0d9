"""Teaching a base model to answer: examples with masked labels, a collator, a training loop, exact match.

One training example is the prompt, a space, the answer and EOS:

    "Question: What is the capital of France?\\nAnswer: Paris<|endoftext|>"
     labels: -100 on every prompt token ...........   Paris  EOS

The loss is taken only on the answer and on the final EOS. Keeping the EOS label is what teaches the model
to stop; padding uses the same EOS id but is masked (attention 0, label -100), so the two never get confused.
"""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from utils._moved import renamed
from utils.data import format_prompt
from utils.device import autocast, to_device
from utils.generation import generate_answers
from utils.training import IGNORE_INDEX

__all__ = [
    "IGNORE_INDEX", "build_example", "build_examples", "QACollator", "qa_dataloader", "train_loop",
    "labelled_logits", "heldout_loss", "text_loss", "normalize_answer", "exact_match", "generate_answers", "evaluate_exact_match",
]

DEFAULT_LR = 2e-3


def build_examples(
    tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], answers: Sequence[str], max_length: int = 64
) -> list[dict]:
    """`build_example` for many pairs at once (one batched tokenizer call per side)."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer needs an EOS token")
    prompts = tokenizer([format_prompt(q) for q in questions])["input_ids"]
    targets = tokenizer([" " + a.strip() for a in answers])["input_ids"]
    examples = []
    for prompt, target in zip(prompts, targets, strict=True):
        target = [*target, tokenizer.eos_token_id][:max_length - 1]
        prompt = prompt[-(max_length - len(target)):]  # too long: drop the start of the prompt, keep the answer
        examples.append({"input_ids": prompt + target, "labels": [IGNORE_INDEX] * len(prompt) + target})
    return examples


def build_example(tokenizer: PreTrainedTokenizerBase, question: str, answer: str, max_length: int = 64) -> dict:
    """One training example: {"input_ids": [...], "labels": [...]} (python lists of equal length).

    input_ids = prompt + " " + answer + EOS; labels = -100 on the prompt, the answer ids and the EOS id after
    it. At most `max_length` tokens: the answer and EOS are kept whole, the prompt is cut from the left.
    """
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    return build_examples(tokenizer, [question], [answer], max_length)[0]


class QACollator:
    """Right-pads a list of `build_example` dicts into tensors of shape (batch, longest).

    input_ids: padded with `pad_token_id` (= EOS for GPT-2); attention_mask: 1 on real tokens, 0 on padding;
    labels: -100 on padding, so the padded EOS ids never enter the loss (the real final EOS keeps its label).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase | None = None, pad_token_id: int | None = None):
        if pad_token_id is None:
            if tokenizer is None:
                raise ValueError("QACollator needs a tokenizer or a pad_token_id")
            pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = pad_token_id

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        width = max(len(f["input_ids"]) for f in features)
        input_ids, attention_mask, labels = [], [], []
        for f in features:
            ids, labs = list(f["input_ids"]), list(f["labels"])
            if len(ids) != len(labs):
                raise ValueError(f"input_ids ({len(ids)}) and labels ({len(labs)}) differ in length")
            pad = width - len(ids)
            input_ids.append(ids + [self.pad_token_id] * pad)
            attention_mask.append([1] * len(ids) + [0] * pad)
            labels.append(labs + [IGNORE_INDEX] * pad)
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
        }


def qa_dataloader(
    tokenizer: PreTrainedTokenizerBase,
    split,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    max_examples: int | None = None,
    max_length: int = 64,
) -> DataLoader:
    """Batches of masked examples from a `datasets.Dataset` (or any mapping) with question/answer columns.

    max_examples: keep the first N pairs (for quick runs). The shuffle order depends only on `seed`.
    """
    questions, answers = list(split["question"]), list(split["answer"])
    if max_examples is not None:
        questions, answers = questions[:max_examples], answers[:max_examples]
    examples = build_examples(tokenizer, questions, answers, max_length)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(examples, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=QACollator(tokenizer))


def train_loop(
    model: torch.nn.Module,
    dataloader: DataLoader,
    epochs: int = 1,
    max_steps: int | None = None,
    lr: float = DEFAULT_LR,
    progress: bool = True,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    decay: bool = True,
    accelerator=None,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """The whole training run, as a plain PyTorch loop: AdamW on the parameters that require grad, loss from
    the batch's `labels` (the mean next-token cross-entropy `model(**batch).loss` is, computed by
    `labelled_logits`), for `epochs` passes over `dataloader` or `max_steps` optimizer steps, whichever is fewer.

    The learning rate warms up linearly for `warmup_steps`, then decays linearly to 0 at the last step
    (`decay=False` keeps it constant). Gradients are clipped to norm 1. Returns the loss of every step.
    On a GPU with bf16 the forward pass runs under bf16 autocast (`utils.device.autocast`); on the CPU in fp32.
    accelerator: an `accelerate.Accelerator` that has already prepared `model` and `dataloader` (the loop
    then uses `accelerator.backward`, so the same code runs on one CPU or under `accelerate launch`).
    on_step: called after every optimizer step with (steps done, that step's loss), e.g. to record a validation
    loss every few steps (lesson 13); the model is back in train mode afterwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter requires grad: inject LoRA (or unfreeze something) first")
    total = epochs * len(dataloader)
    if max_steps is not None:
        total = min(total, max_steps)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, total, warmup_steps, decay))
    if accelerator is not None:
        optimizer = accelerator.prepare(optimizer)  # the scheduler stays ours: one step per optimizer step
        progress = progress and accelerator.is_main_process
    device = next(model.parameters()).device
    losses: list[float] = []
    model.train()
    bar = tqdm(total=total, desc="training", disable=not progress, mininterval=1.0)
    while len(losses) < total:
        for batch in dataloader:
            if len(losses) >= total:
                break
            batch = to_device(batch, device)
            with autocast(device) if accelerator is None else contextlib.nullcontext():  # accelerate casts itself
                logits, labels = labelled_logits(model, batch)     # (n_labels, vocab), (n_labels,)
                loss = F.cross_entropy(logits.float(), labels)      # = model(**batch).loss, a fraction of the cost
            if accelerator is not None:
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(params, 1.0)
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if on_step is not None:
                on_step(len(losses), losses[-1])
                model.train()
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    bar.close()
    model.eval()
    return losses


train_steps = renamed(train_loop, "utils.qa.train_steps")  # the 0.1 name; removed in 0.3


def _lr_factor(step: int, total: int, warmup: int, decay: bool) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if not decay:
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup))


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, split, max_examples: int | None = None,
                 batch_size: int = 64, max_length: int = 64) -> float:
    """Mean cross-entropy per answer token on a held-out split with question/answer columns.

    The examples are `build_examples`' (the loss counts the answer tokens and the final EOS, never the prompt or
    the padding). Every counted token weighs the same whatever the batch size, so losses of different lessons
    on the same examples are the same number. The forward pass runs like `train_loop`'s (bf16 autocast on a bf16
    GPU, fp32 on the CPU); the model's train/eval mode is restored afterwards.
    """
    loader = qa_dataloader(tokenizer, split, batch_size=batch_size, shuffle=False, max_examples=max_examples,
                           max_length=max_length)
    return _loss_per_label(model, loader)


@torch.no_grad()
def text_loss(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
              batch_size: int = 64, max_length: int = 64) -> float:
    """Mean cross-entropy per token of plain texts, each followed by EOS (as the pretraining corpus is).

    Every token after the first is scored, the final EOS included; no prompt format, no masking but the
    padding. Lesson 13 measures forgetting with it: the same statements before and after fine-tuning.
    """
    rows = [[*ids, tokenizer.eos_token_id][:max_length] for ids in tokenizer([str(t) for t in texts])["input_ids"]]
    collate = QACollator(tokenizer)
    # Plain batches, not a DataLoader: iterating one without a generator draws a seed from the global RNG, and a
    # score must not change what a later LoRA init or shuffle draws.
    batches = (collate([{"input_ids": row, "labels": row} for row in rows[start:start + batch_size]])
               for start in range(0, len(rows), batch_size))               # labels = inputs: the model shifts them
    return _loss_per_label(model, batches)


def labelled_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The next-token logits at the positions that have a label, and those labels: ((n_labels, vocab), (n_labels,)).

    Cross-entropy over them is what `model(**batch).loss` computes, but the LM head (d_model x vocab, most of a
    small model's work) runs only on the labelled positions: a Q&A batch labels about 8 % of its tokens (the answer
    and EOS), so a training step costs about a third. GPT-2-style models only: the last hidden state is the one the
    LM head reads (after the final LayerNorm), and `logits_to_keep=1` skips the head everywhere else.
    """
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True,
                logits_to_keep=1)
    hidden = out.hidden_states[-1][:, :-1]           # (batch, seq - 1, d_model): position t predicts token t + 1
    labels = batch["labels"][:, 1:]                  # (batch, seq - 1)
    keep = labels != IGNORE_INDEX                    # (batch, seq - 1)
    return model.get_output_embeddings()(hidden[keep]), labels[keep]  # (n_labels, vocab), (n_labels,)


def _loss_per_label(model: torch.nn.Module, loader: Iterable[dict]) -> float:
    """Summed next-token cross-entropy over every label that is not IGNORE_INDEX, divided by their number."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device):
            logits, labels = labelled_logits(model, batch)   # (n_labels, vocab), (n_labels,)
        total += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        count += len(labels)
    model.train(was_training)
    if count == 0:
        raise ValueError("nothing to score: no token has a label")
    return total / count


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lowercase, drop punctuation, drop a/an/the, collapse whitespace."""
    text = str(text).lower()
    text = "".join(c for c in text if c not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share (0-1) of predictions equal to their reference after `normalize_answer`; 0.0 for no pairs."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return 0.0
    hits = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references, strict=True))
    return hits / len(predictions)


def evaluate_exact_match(model, tokenizer, split, max_examples: int | None = None, batch_size: int = 64,
                         max_new_tokens: int = 16) -> tuple[float, list[str]]:
    """(exact match, predictions) of greedy answers on a split with question/answer columns."""
    questions, answers = list(split["question"]), list(split["answer"])
    if max_examples is not None:
        questions, answers = questions[:max_examples], answers[:max_examples]
    predictions = generate_answers(model, tokenizer, questions, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return exact_match(predictions, answers), predictions
