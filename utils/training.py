"""The training loop written out (lesson 06): loss = −log p(correct token), backprop, optimizer step.

    loss = cross_entropy_by_hand(logits, targets)        # (..., vocab), (...) -> scalar
    loss = train_step(model, batch, optimizer)           # one forward / backward / update, returns a float
    losses = train(model, batches, optimizer, steps)     # a loop with a progress bar, returns every loss
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from tqdm.auto import tqdm

IGNORE_INDEX = -100


def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor,
                          ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Mean of −log softmax(logits)[target] over every position whose target is not `ignore_index`.

    logits `(..., vocab)`, targets `(...)` of token ids → a scalar. log softmax is computed as
    logit − logsumexp(logits), which never overflows.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits (..., vocab) and targets (...) disagree: {tuple(logits.shape)} vs "
                         f"{tuple(targets.shape)}")
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)            # (..., vocab)
    keep = targets != ignore_index                                                # (...) bool
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (...): log p(target)
    return -(picked * keep).sum() / keep.sum()                                    # (): mean over kept positions


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Language-model loss: the logits at position t predict the token at t + 1.

    logits `(batch, seq, vocab)`, input_ids `(batch, seq)` → scalar; equals HF's `model(ids, labels=ids).loss`.
    """
    return cross_entropy_by_hand(logits[..., :-1, :], input_ids[..., 1:])  # (batch, seq - 1, vocab), (batch, seq - 1)


def train_step(model: torch.nn.Module, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One step on a `(batch, seq)` tensor of token ids: forward, loss, backward, update. Returns the loss.

    The model is any causal LM that maps ids to an object with `.logits` (a Hugging Face model) or to logits.
    """
    optimizer.zero_grad()
    out = model(batch)                                      # batch: (batch, seq) token ids
    logits = out.logits if hasattr(out, "logits") else out  # (batch, seq, vocab)
    loss = next_token_loss(logits, batch)                   # (): logits at t score the token at t + 1
    loss.backward()
    optimizer.step()
    return loss.item()


def pack_tokens(lines: list[str], tokenizer, block: int) -> torch.Tensor:
    """Tokenize the lines, join them with EOS and cut the stream into `(n_blocks, block)` rows."""
    ids: list[int] = []
    for row in tokenizer(lines)["input_ids"]:
        ids += [*row, tokenizer.eos_token_id]
    n_blocks = len(ids) // block
    if n_blocks == 0:
        raise ValueError(f"{len(ids)} tokens are fewer than one block of {block}")
    return torch.tensor(ids[: n_blocks * block]).view(n_blocks, block)


def random_batches(blocks: torch.Tensor, batch_size: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless `(batch_size, block)` batches drawn from the rows of `blocks`, reproducible by seed."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield blocks[torch.randint(len(blocks), (batch_size,), generator=generator)]


def train(model: torch.nn.Module, batches: Iterable[torch.Tensor], optimizer: torch.optim.Optimizer,
          steps: int, desc: str = "training", progress: bool = True) -> list[float]:
    """`steps` calls of `train_step` with a tqdm progress bar; returns the loss of every step."""
    model.train()
    device = next(model.parameters()).device
    losses: list[float] = []
    bar = tqdm(zip(range(steps), batches, strict=False), total=steps, desc=desc, disable=not progress)
    for _, batch in bar:
        losses.append(train_step(model, batch.to(device), optimizer))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses
