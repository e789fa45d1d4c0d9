"""Your-turn checks of lesson 04 (attention): softmax(QKᵀ/√d_k)V with batch dimensions, the causal mask,
splitting a width into heads."""

from __future__ import annotations

import math

import torch

from utils.exercises import exercise, expect_close, expect_tensor


@exercise("04.1", hint="transpose only the last two dims of k (k.transpose(-2, -1)), divide by √d_k, softmax over "
          "the keys (dim=-1), then multiply by v",
          done="your attention equals the formula for 4 shapes: batched, seq_q ≠ seq_k, d_v ≠ d_k")
def _(attention_by_hand) -> None:
    g = torch.Generator().manual_seed(4)
    for lead, seq_q, seq_k, d_k, d_v in [((), 5, 5, 8, 8), ((2,), 3, 7, 16, 4), ((2, 3), 4, 6, 8, 8), ((), 1, 9, 32, 5)]:
        q = 2 * torch.randn(*lead, seq_q, d_k, generator=g)      # scores of a few units: a missing scale shows
        k = 2 * torch.randn(*lead, seq_k, d_k, generator=g)
        v = torch.randn(*lead, seq_k, d_v, generator=g)
        q64, k64, v64 = q.double(), k.double(), v.double()
        want = torch.softmax(q64 @ k64.transpose(-2, -1) / math.sqrt(d_k), dim=-1) @ v64
        got = attention_by_hand(q.clone(), k.clone(), v.clone())
        # a score's rounding is relative to the size of its summed terms, and moves the output by that times |v|
        terms = (q.abs() @ k.abs().transpose(-2, -1)).max().item() / math.sqrt(d_k)
        expect_close(got, want, reduction=d_k + 2 * seq_k, scale=v.abs().max().item() * max(1.0, terms),
                     what=f"the output for q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")


@exercise("04.2", hint="query i may look at keys 0 ... i: torch.tril of a (seq_q, seq_k) matrix of ones, as bool",
          done="your mask matches PyTorch's is_causal layout for 5 shapes, square and not")
def _(causal_mask_by_hand) -> None:
    for seq_q, seq_k in [(5, 5), (1, 1), (3, 5), (5, 3), (8, 8)]:
        got = expect_tensor(causal_mask_by_hand(seq_q, seq_k), f"the mask for seq_q = {seq_q}, seq_k = {seq_k}",
                            shape=(seq_q, seq_k), dtype=torch.bool)
        want = torch.ones(seq_q, seq_k).tril().bool()
        wrong = (got != want).nonzero().tolist()
        if wrong:
            i, j = wrong[0]
            raise AssertionError(f"for seq_q = {seq_q}, seq_k = {seq_k}: query {i} {'may' if want[i, j] else 'may not'}"
                                 f" look at key {j}, your mask says {'yes' if got[i, j] else 'no'}")


@exercise("04.3", hint="view(seq, n_heads, d_k) keeps each head's columns together; then transpose(0, 1). A plain "
          "reshape to (n_heads, seq, d_k) has the right shape and mixes tokens",
          done="your heads hold the right columns for 4 (seq, d_model, n_heads)")
def _(split_heads_by_hand) -> None:
    g = torch.Generator().manual_seed(6)
    for seq, d_model, n_heads in [(5, 12, 3), (1, 8, 2), (7, 16, 4), (4, 6, 6)]:
        x = torch.randn(seq, d_model, generator=g)
        d_k = d_model // n_heads
        got = expect_tensor(split_heads_by_hand(x.clone(), n_heads), f"the heads of a ({seq}, {d_model}) input",
                            shape=(n_heads, seq, d_k))
        for h in range(n_heads):
            assert torch.equal(got[h], x[:, h * d_k:(h + 1) * d_k]), (
                f"head {h} of a ({seq}, {d_model}) input with {n_heads} heads should be columns "
                f"{h * d_k} to {(h + 1) * d_k - 1} of every token")
