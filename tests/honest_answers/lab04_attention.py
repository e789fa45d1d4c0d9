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


# %% [causal] the mask by comparing index grids (key index <= query index); causal_attention passes it on
def causal_mask(seq_q, seq_k):
    return torch.arange(seq_k)[None, :] <= torch.arange(seq_q)[:, None]


def causal_attention(q, k, v):
    seq_q, seq_k = q.size(-2), k.size(-2)
    return scaled_dot_product_attention(q, k, v, causal_mask(seq_q, seq_k))


# %% [mha] a Python loop over the heads with column slices of the weights, then torch.cat of the heads
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads):
    d_head = x.shape[-1] // n_heads
    heads = []
    for h in range(n_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        heads.append(causal_attention(x @ w_q[:, cols], x @ w_k[:, cols], x @ w_v[:, cols]))
    return torch.cat(heads, dim=-1) @ w_o


# %% [padding] a loop over the sequences: causal attention on the real part, each filler row is its own value (what seeing only itself gives)
def padding_causal_mask(lengths, seq):
    masks = []
    for n in lengths.tolist():
        m = torch.ones(seq, seq, dtype=torch.bool).tril()
        m[:, : seq - n] = False
        m |= torch.eye(seq, dtype=torch.bool)
        masks.append(m)
    return torch.stack(masks)


def padded_causal_attention(q, k, v, lengths):
    seq = q.shape[-2]
    out = v.clone()
    for b, n in enumerate(lengths.tolist()):
        real = slice(seq - n, seq)
        out[b, real] = causal_attention(q[b, real], k[b, real], v[b, real])
    return out


# %% [kv_cache] the last n rows of the full square causal mask over all t + n tokens, a list for the cache
def attend_with_cache(q_new, k_new, v_new, cache=None):
    k_all = k_new if cache is None else torch.cat([cache[0], k_new], dim=-2)
    v_all = v_new if cache is None else torch.cat([cache[1], v_new], dim=-2)
    total, n = k_all.shape[-2], q_new.shape[-2]
    mask = causal_mask(total, total)[total - n:]
    return scaled_dot_product_attention(q_new, k_all, v_all, mask=mask), [k_all, v_all]


# %% [savings] the closed form: sum of t^2 over sum of t is (2n + 1) / 3 (no loops run)
def cache_savings(n):
    return (2 * n + 1) / 3


savings_256 = cache_savings(256)
print(f"generating 256 tokens: the cache computes {savings_256:.1f}x fewer score entries")


# %% [sdpa] softmax by hand on an internal copy with in-place ops (scores -= row max, exp_, /= sum)
def scaled_dot_product_attention(q, k, v, mask=None):
    s = torch.matmul(q, k.mT)
    s.div_(math.sqrt(q.shape[-1]))
    if mask is not None:
        s.masked_fill_(~mask, float("-inf"))
    s.sub_(s.amax(dim=-1, keepdim=True))
    s.exp_()
    s.div_(s.sum(dim=-1, keepdim=True))
    return s @ v


# %% [sdpa] float64 inside, softmax as exp(s - logsumexp(s)), mask as an additive -inf bias, cast back
def scaled_dot_product_attention(q, k, v, mask=None):
    qd, kd, vd = q.double(), k.double(), v.double()
    s = qd @ kd.transpose(-2, -1) * q.shape[-1] ** -0.5
    if mask is not None:
        s = s + torch.zeros_like(s).masked_fill(mask.logical_not(), float("-inf"))
    w = torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True))
    return (w @ vd).to(q.dtype)


# %% [sdpa] the keys scaled instead of the scores, torch.where for the mask, F.softmax
def scaled_dot_product_attention(q, k, v, mask=None):
    s = q @ (k / math.sqrt(k.shape[-1])).transpose(-2, -1)
    if mask is not None:
        s = torch.where(mask, s, torch.tensor(float("-inf"), dtype=s.dtype))
    return F.softmax(s, dim=-1) @ v


# %% [causal] numpy's np.tri (lower triangle incl. the diagonal, top-left), converted to a bool tensor
def causal_mask(seq_q, seq_k):
    import numpy as np
    return torch.from_numpy(np.tri(seq_q, seq_k, dtype=bool))


def causal_attention(q, k, v):
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [causal] the complement of triu(diagonal=1), by logical_not
def causal_mask(seq_q, seq_k):
    return torch.ones(seq_q, seq_k).triu(diagonal=1).logical_not()


def causal_attention(q, k, v):
    return scaled_dot_product_attention(q, k, v, causal_mask(q.shape[-2], k.shape[-2]))


# %% [padding] filler queries picked by torch.where between the identity and the causal-and-real mask
def padding_causal_mask(lengths, seq):
    pos = torch.arange(seq)
    start = (seq - lengths).view(-1, 1, 1)  # first real position of each sequence
    real = (pos.view(1, 1, -1) >= start) & (pos.view(1, -1, 1) >= pos.view(1, 1, -1))
    filler_query = pos.view(1, -1, 1) < start
    return torch.where(filler_query, torch.eye(seq, dtype=torch.bool).expand(len(lengths), seq, seq), real)


def padded_causal_attention(q, k, v, lengths):
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))


# %% [kv_cache] the mask by index comparison (key index <= t + query index), the cache kept as a tuple
def attend_with_cache(q_new, k_new, v_new, cache=None):
    k_all = k_new if cache is None else torch.cat((cache[0], k_new), -2)
    v_all = v_new if cache is None else torch.cat((cache[1], v_new), -2)
    n, total = q_new.shape[-2], k_all.shape[-2]
    t = total - n
    mask = torch.arange(total)[None, :] <= (t + torch.arange(n))[:, None]
    return scaled_dot_product_attention(q_new, k_all, v_all, mask=mask), (k_all, v_all)
