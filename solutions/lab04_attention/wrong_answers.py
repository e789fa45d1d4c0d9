"""Plausible-but-wrong answers to lab04_attention: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [sdpa] forgets 1/sqrt(d_k)
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# %% [causal] off-by-one causal mask (a token cannot see itself)
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril(-1)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [causal] bottom-right aligned mask (wrong when seq_q != seq_k)
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril(seq_k - seq_q)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [mha] splits heads with a plain reshape (no transpose)
def multi_head_self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                              w_o: torch.Tensor, n_heads: int) -> torch.Tensor:
    batch, seq, d_model = x.shape
    d_head = d_model // n_heads

    def split(t):
        return t.reshape(batch, n_heads, seq, d_head)

    out = causal_attention(split(x @ w_q), split(x @ w_k), split(x @ w_v))
    return out.reshape(batch, seq, d_model) @ w_o


# %% [sdpa] calls PyTorch's attention, which the lab forbids
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# %% [sdpa] hands the work to the course's own utils.attention (lesson 04's answer), which the lab forbids
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    from utils import attention

    return attention.scaled_dot_product_attention(q, k, v, mask=mask)


# %% [causal] the mask from the course's utils.attention.causal_mask, which the lab forbids
from utils.attention import causal_mask as lesson_causal_mask


def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return lesson_causal_mask(seq_q, seq_k)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [mha] split and merge heads with the course's utils.attention helpers, which the lab forbids
from utils.attention import merge_heads, split_heads


def multi_head_self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                              w_o: torch.Tensor, n_heads: int) -> torch.Tensor:
    heads = [split_heads(x @ w, n_heads) for w in (w_q, w_k, w_v)]  # (batch, heads, seq, d_head) each
    return merge_heads(causal_attention(*heads)) @ w_o  # (batch, seq, d_model)


# %% [causal] causal attention through PyTorch's is_causal=True
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


# %% [causal] a float 0/1 mask instead of a boolean one
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch.ones(seq_q, seq_k).tril()


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]).bool())


# %% [mha] loads the weights into torch.nn.MultiheadAttention, which the lab forbids
def multi_head_self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                              w_o: torch.Tensor, n_heads: int) -> torch.Tensor:
    mha = torch.nn.MultiheadAttention(x.shape[-1], n_heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        mha.out_proj.weight.copy_(w_o.T)
    return mha(x, x, x, attn_mask=~causal_mask(x.shape[1], x.shape[1]), need_weights=False)[0]


# %% [mha] merges the heads by summing them instead of concatenating
def multi_head_self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                              w_o: torch.Tensor, n_heads: int) -> torch.Tensor:
    batch, seq, d_model = x.shape
    d_head = d_model // n_heads

    def split(t):
        return t.reshape(batch, seq, n_heads, d_head).transpose(1, 2)

    out = causal_attention(split(x @ w_q), split(x @ w_k), split(x @ w_v))
    return out.sum(dim=1) @ w_o


# %% [sdpa] transposes k with transpose(0, 1): right without batch dimensions only
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(0, 1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# %% [padding] treats the filler as if it were on the right (j < lengths)
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] < lengths[:, None]
    return causal_mask(seq, seq)[None, :, :] & (real_keys[:, None, :] | torch.eye(seq, dtype=torch.bool)[None])


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))


# %% [padding] off by one: the first real token is treated as filler (j > seq - lengths)
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] > seq - lengths[:, None]
    return causal_mask(seq, seq)[None, :, :] & (real_keys[:, None, :] | torch.eye(seq, dtype=torch.bool)[None])


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))


# %% [padding] filler queries see nothing (rows of -inf: NaN in the output)
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] >= seq - lengths[:, None]
    return causal_mask(seq, seq)[None, :, :] & real_keys[:, None, :]


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))


# %% [padding] padding mask only: forgets that attention must stay causal
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] >= seq - lengths[:, None]
    return real_keys[:, None, :] | torch.eye(seq, dtype=torch.bool)[None]


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))


# %% [padding] right mask, but the attention ignores it (plain causal attention sees the filler)
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] >= seq - lengths[:, None]
    return causal_mask(seq, seq)[None, :, :] & (real_keys[:, None, :] | torch.eye(seq, dtype=torch.bool)[None])


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return causal_attention(q, k, v)


# %% [kv_cache] reuses causal_mask(n, t + n), aligned top-left: new queries cannot see the past
def attend_with_cache(q_new, k_new, v_new, cache=None):
    if cache is not None:
        k_new, v_new = torch.cat([cache[0], k_new], dim=-2), torch.cat([cache[1], v_new], dim=-2)
    return scaled_dot_product_attention(q_new, k_new, v_new, mask=causal_mask(q_new.shape[-2], k_new.shape[-2])), \
        (k_new, v_new)


# %% [kv_cache] no mask at all: right one token at a time, wrong for a chunk
def attend_with_cache(q_new, k_new, v_new, cache=None):
    if cache is not None:
        k_new, v_new = torch.cat([cache[0], k_new], dim=-2), torch.cat([cache[1], v_new], dim=-2)
    return scaled_dot_product_attention(q_new, k_new, v_new), (k_new, v_new)


# %% [kv_cache] puts the new keys before the past ones
def attend_with_cache(q_new, k_new, v_new, cache=None):
    if cache is not None:
        k_new, v_new = torch.cat([k_new, cache[0]], dim=-2), torch.cat([v_new, cache[1]], dim=-2)
    n, total = q_new.shape[-2], k_new.shape[-2]
    mask = torch.ones(n, total, dtype=torch.bool).tril(total - n)
    return scaled_dot_product_attention(q_new, k_new, v_new, mask=mask), (k_new, v_new)


# %% [kv_cache] attends over the cache but returns the old cache (never grows)
def attend_with_cache(q_new, k_new, v_new, cache=None):
    k_all, v_all = k_new, v_new
    if cache is not None:
        k_all, v_all = torch.cat([cache[0], k_new], dim=-2), torch.cat([cache[1], v_new], dim=-2)
    n, total = q_new.shape[-2], k_all.shape[-2]
    mask = torch.ones(n, total, dtype=torch.bool).tril(total - n)
    return scaled_dot_product_attention(q_new, k_all, v_all, mask=mask), (k_new, v_new) if cache is None else cache


# %% [savings] counts only the unmasked entries of the full recomputation (t(t+1)/2 per step)
def cache_savings(n: int) -> float:
    return sum(t * (t + 1) / 2 for t in range(1, n + 1)) / sum(range(1, n + 1))


savings_256 = cache_savings(256)


# %% [savings] the inverse ratio: entries with the cache over entries without
def cache_savings(n: int) -> float:
    return sum(range(1, n + 1)) / sum(t * t for t in range(1, n + 1))


savings_256 = cache_savings(256)


# %% [savings] hard-codes the printed number
def cache_savings(n: int) -> float:
    return 171.0


savings_256 = 171.0


# %% [sdpa] hands the work to the setup's torch_attention (PyTorch's, built on the forbidden function)
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    return torch_attention(q, k, v, mask)


# %% [causal] the mask from the setup's torch_causal_mask (PyTorch's helper), causal_attention its own
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch_causal_mask(seq_q, seq_k)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [causal] causal_attention through getattr(F, "scaled_dot_product_attention") with is_causal
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return getattr(F, "scaled_dot_product_attention")(q, k, v, is_causal=True)  # noqa: B009 (a student hiding the call)


# %% [sdpa] softmax by hand without subtracting the row maximum: exp overflows to inf (NaN output) for large scores
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.exp(scores)
    return weights / weights.sum(dim=-1, keepdim=True) @ v


# %% [sdpa] masks with -1e4 (the "float16-safe" constant) instead of -inf: masked keys get weight once the scores are large
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e4)
    return torch.softmax(scores, dim=-1) @ v


# %% [sdpa] scales q in place (q /= sqrt(d_k)): the caller's q changes, so a second call on the same q gives another answer
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    q /= math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# %% [causal] GPT-2's trick: one lower-triangular buffer of the 1024-token context, sliced (wrong shape past 1024 positions)
_CAUSAL_BUFFER = torch.ones(1024, 1024, dtype=torch.bool).tril()


def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    return _CAUSAL_BUFFER[:seq_q, :seq_k]


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))


# %% [padding] the real part of each sequence through causal_attention in a loop; the filler rows are left at 0 (the mask's filler rows give v)
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    real_keys = torch.arange(seq)[None, :] >= seq - lengths[:, None]
    itself = torch.eye(seq, dtype=torch.bool)[None, :, :]
    return causal_mask(seq, seq)[None, :, :] & (real_keys[:, None, :] | itself)


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=v.dtype)
    seq = q.shape[-2]
    for b, n in enumerate(lengths.tolist()):
        real = slice(seq - n, seq)
        out[b, real] = causal_attention(q[b, real], k[b, real], v[b, real])
    return out


# %% [kv_cache] a sliding-window cache that keeps only the last 1024 keys and values (drops the start of long sequences)
def attend_with_cache(q_new, k_new, v_new, cache=None):
    if cache is not None:
        k_new = torch.cat([cache[0], k_new], dim=-2)[..., -1024:, :]
        v_new = torch.cat([cache[1], v_new], dim=-2)[..., -1024:, :]
    n, total = q_new.shape[-2], k_new.shape[-2]
    mask = torch.ones(n, total, dtype=torch.bool).tril(total - n)
    return scaled_dot_product_attention(q_new, k_new, v_new, mask=mask), (k_new, v_new)
