"""Scaled dot-product attention and multi-head attention, written out (lesson 04).

    out = softmax(Q Kᵀ / √d_k + mask) V

Shapes: q `(..., seq_q, d_k)`, k `(..., seq_k, d_k)`, v `(..., seq_k, d_v)` → `(..., seq_q, d_v)`; the leading
`...` are any batch dims (batch, heads, …) and broadcast like torch's.
Checked against `torch.nn.functional.scaled_dot_product_attention` in `tests/test_attention.py`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(seq_q: int, seq_k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean `(seq_q, seq_k)`, True where query i may look at key j, i.e. j <= i.

    Top-left aligned like torch SDPA's `is_causal=True`: query 0 sees key 0 only, whatever seq_k is.
    """
    if seq_q < 1 or seq_k < 1:
        raise ValueError(f"causal_mask needs positive sizes, got seq_q={seq_q}, seq_k={seq_k}")
    return torch.ones(seq_q, seq_k, dtype=torch.bool, device=device).tril()


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(f"q, k, v need at least 2 dims (seq, d), got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_k (last dim): q {tuple(q.shape)} vs k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys (dim -2): k {tuple(k.shape)} vs "
                         f"v {tuple(v.shape)}")


def attention_weights(q: torch.Tensor, k: torch.Tensor, causal: bool = False,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k) with the masks applied: `(..., seq_q, seq_k)`, each row sums to 1.

    mask: boolean (True = may attend) or additive float, broadcastable to `(..., seq_q, seq_k)`.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_k (last dim): q {tuple(q.shape)} vs k {tuple(k.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return torch.softmax(scores, dim=-1)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k + mask) V → `(..., seq_q, d_v)`.

    causal: query i sees keys 0..i (top-left aligned, as torch SDPA's `is_causal`).
    mask: boolean (True = may attend) or additive float, broadcastable to `(..., seq_q, seq_k)`.
    """
    _check_qkv(q, k, v)
    return attention_weights(q, k, causal=causal, mask=mask) @ v


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """`(..., seq, d_model)` → `(..., n_heads, seq, d_model // n_heads)`."""
    d_model = x.shape[-1]
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    x = x.reshape(*x.shape[:-1], n_heads, d_model // n_heads)
    return x.transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """`(..., n_heads, seq, d_head)` → `(..., seq, n_heads * d_head)`; the inverse of `split_heads`."""
    x = x.transpose(-3, -2)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: project to Q, K, V, split into heads, attend, merge, project back.

    Input and output `(..., seq, d_model)`. Separate `q_proj`, `k_proj`, `v_proj`, `out_proj` linears
    (GPT-2 fuses the first three into one `c_attn`; the arithmetic is the same).
    """

    def __init__(self, d_model: int, n_heads: int, causal: bool = True, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.causal = d_model, n_heads, causal
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x `(..., seq, d_model)` → `(..., seq, d_model)`; mask broadcastable to `(..., heads, seq, seq)`."""
        if x.shape[-1] != self.d_model:
            raise ValueError(f"expected last dim d_model={self.d_model}, got shape {tuple(x.shape)}")
        q, k, v = (split_heads(proj(x), self.n_heads) for proj in (self.q_proj, self.k_proj, self.v_proj))
        out = scaled_dot_product_attention(q, k, v, causal=self.causal, mask=mask)
        return self.out_proj(merge_heads(out))
