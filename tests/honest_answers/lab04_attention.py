"""Correct but unusual answers to lab04_attention: full marks each (tests/test_labs.py)."""


# %% [sdpa] einsum, and the mask as a large negative bias built from torch.where
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
