"""Correct but unusual answers to lab04_attention: full marks each (tests/test_labs.py)."""


# %% [sdpa] einsum, the mask through torch.where; the cell also imports transformers (to quiet its logging)
from transformers import set_seed
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    return torch.einsum("...qk,...kd->...qd", weights / weights.sum(dim=-1, keepdim=True), v)


# %% [causal] the mask by a double loop, attention computed in float64 and cast back
def causal_mask(seq_q, seq_k):
    mask = torch.zeros(seq_q, seq_k, dtype=torch.bool)
    for i in range(seq_q):
        for j in range(min(i + 1, seq_k)):
            mask[i, j] = True
    return mask


def causal_attention(q, k, v):
    out = scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                       mask=causal_mask(q.shape[-2], k.shape[-2]))
    return out.to(q.dtype)


# %% [kv_cache] a progress line without a newline ("\r", as a progress bar does), the mask by torch.tril's offset
def attend_with_cache(q_new, k_new, v_new, cache=None):
    print(f"cache: {0 if cache is None else cache[0].shape[-2]} tokens\r", end="")
    if cache is not None:
        k_new, v_new = torch.cat((cache[0], k_new), -2), torch.cat((cache[1], v_new), -2)
    n, total = q_new.shape[-2], k_new.shape[-2]
    allowed = torch.tril(torch.ones(n, total, dtype=torch.bool), diagonal=total - n)
    return scaled_dot_product_attention(q_new, k_new, v_new, mask=allowed), (k_new, v_new)
