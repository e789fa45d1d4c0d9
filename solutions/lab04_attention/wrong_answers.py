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
