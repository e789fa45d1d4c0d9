# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 04 — attention
#
# You will write scaled dot-product attention, the causal mask, and causal multi-head self-attention, and check
# them against PyTorch.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. More (hidden) checks run when the lab is graded,
#   on fresh random inputs and shapes — odd sizes, extra batch dimensions — so make your function correct, not
#   just the visible examples.
# - Do **not** call `torch.nn.functional.scaled_dot_product_attention` or `torch.nn.MultiheadAttention` (nor
#   `F.multi_head_attention_forward`) in your answers: the tests use them as the reference, and they raise while the
#   hidden tests call your functions. Matrix products, `torch.softmax`, `masked_fill`, `reshape`/`transpose`, and your
#   own functions from earlier exercises are all fine.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 30 minutes. Runs in a few seconds on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import torch
import torch.nn.functional as F

torch.manual_seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — scaled dot-product attention (4 points)
#
# Write `scaled_dot_product_attention(q, k, v, mask=None)` that returns
#
# $$\operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# - `q` has shape `(..., seq_q, d_k)`, `k` `(..., seq_k, d_k)`, `v` `(..., seq_k, d_v)`; the `...` are any number of
#   batch dimensions (also none). The result has shape `(..., seq_q, d_v)`.
# - `mask`, when given, is a boolean tensor broadcastable to `(..., seq_q, seq_k)`: `True` means "may attend",
#   `False` means the weight must be exactly 0 (set the score to `-inf` before the softmax).
#
# Hint: `k.transpose(-2, -1)`, `torch.softmax(..., dim=-1)`, `Tensor.masked_fill`.

# %% nbgrader={"grade": false, "grade_id": "sdpa", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sdpa_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the output has shape (..., seq_q, d_v) (1 point)"""
_q, _k, _v = torch.randn(5, 8), torch.randn(7, 8), torch.randn(7, 3)
assert scaled_dot_product_attention(_q, _k, _v).shape == (5, 3), "expected (seq_q, d_v) = (5, 3)"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(401)
for _batch in [(), (2,), (3, 2)]:
    _sq, _sk, _dk, _dv = (int(n) for n in torch.randint(1, 10, (4,), generator=_g))
    _out = scaled_dot_product_attention(torch.randn(*_batch, _sq, _dk, generator=_g),
                                        torch.randn(*_batch, _sk, _dk, generator=_g),
                                        torch.randn(*_batch, _sk, _dv, generator=_g))
    assert _out.shape == (*_batch, _sq, _dv), f"wrong shape {tuple(_out.shape)} for batch {_batch}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sdpa_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the values equal PyTorch's attention, batch dimensions included (2 points)"""
_q, _k, _v = torch.randn(2, 5, 16), torch.randn(2, 6, 16), torch.randn(2, 6, 4)
_expected = F.scaled_dot_product_attention(_q, _k, _v)
assert torch.allclose(scaled_dot_product_attention(_q, _k, _v), _expected, atol=1e-5), \
    "values differ from softmax(QKᵀ/√d_k)V: did you scale by 1/√d_k?"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward")
_g = torch.Generator().manual_seed(402)
for _batch in [(), (3,), (2, 3)]:
    _sq, _sk, _dv = (int(n) for n in torch.randint(1, 12, (3,), generator=_g))
    _dk = int(torch.randint(2, 70, (1,), generator=_g))
    _q = torch.randn(*_batch, _sq, _dk, generator=_g)
    _k = torch.randn(*_batch, _sk, _dk, generator=_g)
    _v = torch.randn(*_batch, _sk, _dv, generator=_g)
    _want = F.scaled_dot_product_attention(_q, _k, _v)
    with _hidden_forbidden(*_HIDDEN_RULES):
        _got = scaled_dot_product_attention(_q, _k, _v)
    assert torch.allclose(_got, _want, atol=1e-5), f"wrong values for batch {_batch}, d_k={_dk}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sdpa_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a boolean mask gives exactly zero weight where it is False (1 point)"""
_q, _k, _v = torch.randn(3, 4), torch.randn(3, 4), torch.eye(3)   # v = identity: the output IS the weights
_mask = torch.tensor([[True, False, False], [True, True, False], [False, True, True]])
_weights = scaled_dot_product_attention(_q, _k, _v, mask=_mask)
assert torch.all(_weights[~_mask] == 0), "masked positions must get weight 0"
assert torch.allclose(_weights.sum(-1), torch.ones(3)), "each row of weights must sum to 1"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward")
_g = torch.Generator().manual_seed(403)
for _batch in [(2,), (2, 3)]:
    _s, _d = int(torch.randint(2, 9, (1,), generator=_g)), 5
    _q, _k, _v = (torch.randn(*_batch, _s, _d, generator=_g) for _ in range(3))
    _mask = torch.rand(*_batch, _s, _s, generator=_g) > 0.5
    _mask[..., 0] = True
    _want = F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_mask)
    with _hidden_forbidden(*_HIDDEN_RULES):
        _got = scaled_dot_product_attention(_q, _k, _v, mask=_mask)
    assert torch.allclose(_got, _want, atol=1e-5), "wrong values with a random boolean mask"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the causal mask (4 points)
#
# Write `causal_mask(seq_q, seq_k)` that returns a **boolean** tensor of shape `(seq_q, seq_k)` that is `True`
# where query `i` may look at key `j`, that is where `j <= i` (each token sees itself and the past, never the
# future). When `seq_q != seq_k`, align it top-left like PyTorch's `is_causal=True`: query 0 sees key 0 only.
#
# Then write `causal_attention(q, k, v)`: attention with that mask (use your two functions).

# %% nbgrader={"grade": false, "grade_id": "causal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()
    ### END SOLUTION


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return scaled_dot_product_attention(q, k, v, mask=causal_mask(q.shape[-2], k.shape[-2]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mask_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""causal_mask is a boolean (seq_q, seq_k) tensor (1 point)"""
assert causal_mask(4, 4).dtype == torch.bool, "return a boolean tensor (True = may attend)"
assert causal_mask(3, 5).shape == (3, 5)
### BEGIN HIDDEN TESTS
for _sq, _sk in [(1, 1), (7, 7), (2, 9), (6, 3)]:
    assert causal_mask(_sq, _sk).shape == (_sq, _sk) and causal_mask(_sq, _sk).dtype == torch.bool
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mask_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""causal_mask lets query i see keys 0..i, itself included (1 point)"""
assert causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
### BEGIN HIDDEN TESTS
for _sq, _sk in [(1, 1), (5, 5), (2, 6), (7, 4), (11, 11)]:
    _ref = torch.tensor([[_j <= _i for _j in range(_sk)] for _i in range(_sq)])
    assert torch.equal(causal_mask(_sq, _sk), _ref), f"wrong mask for seq_q={_sq}, seq_k={_sk}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_causal_attention", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""causal_attention equals PyTorch's is_causal=True (2 points)"""
_q, _k, _v = torch.randn(2, 6, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8)
assert torch.allclose(causal_attention(_q, _k, _v), F.scaled_dot_product_attention(_q, _k, _v, is_causal=True),
                      atol=1e-5), "causal attention differs from PyTorch's"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_sdpa(q, k, v, mask=None):
    _scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        _scores = _scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(_scores, dim=-1) @ v


def _hidden_causal_mask(seq_q, seq_k):
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward")
_g = torch.Generator().manual_seed(404)
for _batch, _sq, _sk in [((), 1, 1), ((3,), 9, 9), ((2, 2), 4, 7), ((2,), 13, 13)]:
    _q = torch.randn(*_batch, _sq, 6, generator=_g)
    _k = torch.randn(*_batch, _sk, 6, generator=_g)
    _v = torch.randn(*_batch, _sk, 5, generator=_g)
    _want = F.scaled_dot_product_attention(_q, _k, _v, is_causal=True)
    with _hidden_forbidden(*_HIDDEN_RULES), _hidden_substituted(scaled_dot_product_attention=_hidden_sdpa,
                                                                 causal_mask=_hidden_causal_mask):
        _got = causal_attention(_q, _k, _v)  # judged on its own: your earlier functions are swapped for references
    assert torch.allclose(_got, _want, atol=1e-5), f"wrong causal attention for batch {_batch}, seq_q={_sq}, seq_k={_sk}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — causal multi-head self-attention (5 points)
#
# Write `multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads)` for `x` of shape `(batch, seq, d_model)`:
#
# 1. project: `q = x @ w_q`, `k = x @ w_k`, `v = x @ w_v` (each weight is `(d_model, d_model)`; no biases);
# 2. split each into `n_heads` heads: `(batch, seq, d_model) → (batch, n_heads, seq, d_head)` with
#    `d_head` = `d_model / n_heads` columns each — head `h` gets columns `h·d_head … (h+1)·d_head − 1`;
# 3. causal attention in every head at once (the head is just another batch dimension);
# 4. merge the heads back to `(batch, seq, d_model)` (head 0's columns first) and project with `w_o`.
#
# Hint: `reshape` to `(batch, seq, n_heads, d_head)`, then `transpose(1, 2)`. Merging is the reverse — a plain
# `reshape` of `(batch, n_heads, seq, d_head)` to `(batch, seq, d_model)` mixes heads and positions up.

# %% nbgrader={"grade": false, "grade_id": "mha", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multi_head_self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                              w_o: torch.Tensor, n_heads: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    batch, seq, d_model = x.shape
    d_head = d_model // n_heads

    def split(t):
        return t.reshape(batch, seq, n_heads, d_head).transpose(1, 2)

    out = causal_attention(split(x @ w_q), split(x @ w_k), split(x @ w_v))
    return out.transpose(1, 2).reshape(batch, seq, d_model) @ w_o
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "mha_reference", "locked": true, "schema_version": 3, "solution": false, "task": false}
def _reference_mha(x, w_q, w_k, w_v, w_o, n_heads):
    # torch.nn.MultiheadAttention with the same weights (it stores them as (out, in): transposed)
    d_model = x.shape[-1]
    ref = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        ref.out_proj.weight.copy_(w_o.T)
    future = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)   # True = blocked
    return ref(x, x, x, attn_mask=future, need_weights=False)[0]


# %% nbgrader={"grade": true, "grade_id": "test_mha_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the output has shape (batch, seq, d_model) (1 point)"""
_x = torch.randn(2, 5, 12)
_ws = [torch.randn(12, 12) / 12 ** 0.5 for _ in range(4)]
assert multi_head_self_attention(_x, *_ws, n_heads=3).shape == (2, 5, 12)
### BEGIN HIDDEN TESTS
for _b, _s, _d, _h in [(1, 1, 8, 2), (3, 7, 15, 5), (2, 4, 6, 1)]:
    _ws = [torch.randn(_d, _d) for _ in range(4)]
    assert multi_head_self_attention(torch.randn(_b, _s, _d), *_ws, n_heads=_h).shape == (_b, _s, _d)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mha_one_head", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with one head it is causal attention with projections (1 point)"""
_x = torch.randn(2, 6, 8)
_ws = [torch.randn(8, 8) / 8 ** 0.5 for _ in range(4)]
assert torch.allclose(multi_head_self_attention(_x, *_ws, n_heads=1), _reference_mha(_x, *_ws, 1), atol=1e-5)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_sdpa(q, k, v, mask=None):
    _scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        _scores = _scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(_scores, dim=-1) @ v


def _hidden_causal_mask(seq_q, seq_k):
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


def _hidden_causal_attention(q, k, v):
    return _hidden_sdpa(q, k, v, mask=_hidden_causal_mask(q.shape[-2], k.shape[-2]))


_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    causal_attention=_hidden_causal_attention)
_g = torch.Generator().manual_seed(405)
_x = torch.randn(3, 9, 10, generator=_g)
_ws = [torch.randn(10, 10, generator=_g) / 10 ** 0.5 for _ in range(4)]
_want = _reference_mha(_x, *_ws, 1)
with _hidden_forbidden(*_HIDDEN_RULES), _hidden_substituted(**_HIDDEN_REFS):
    _got = multi_head_self_attention(_x, *_ws, n_heads=1)
assert torch.allclose(_got, _want, atol=1e-5), "one head: causal attention of the projections, then w_o"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mha_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""with several heads it equals torch.nn.MultiheadAttention (3 points)"""
_x = torch.randn(2, 5, 12)
_ws = [torch.randn(12, 12) / 12 ** 0.5 for _ in range(4)]
assert torch.allclose(multi_head_self_attention(_x, *_ws, n_heads=3), _reference_mha(_x, *_ws, 3), atol=1e-5), \
    "differs from torch.nn.MultiheadAttention: check how you split and merge the heads"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_sdpa(q, k, v, mask=None):
    _scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        _scores = _scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(_scores, dim=-1) @ v


def _hidden_causal_mask(seq_q, seq_k):
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


def _hidden_causal_attention(q, k, v):
    return _hidden_sdpa(q, k, v, mask=_hidden_causal_mask(q.shape[-2], k.shape[-2]))


_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    causal_attention=_hidden_causal_attention)
_g = torch.Generator().manual_seed(406)
for _b, _s, _d, _h in [(1, 1, 8, 2), (3, 7, 15, 5), (2, 11, 24, 4), (4, 3, 18, 6)]:
    _x = torch.randn(_b, _s, _d, generator=_g)
    _ws = [torch.randn(_d, _d, generator=_g) / _d ** 0.5 for _ in range(4)]
    _want = _reference_mha(_x, *_ws, _h)
    with _hidden_forbidden(*_HIDDEN_RULES), _hidden_substituted(**_HIDDEN_REFS):
        _got = multi_head_self_attention(_x, *_ws, n_heads=_h)
    assert torch.allclose(_got, _want, atol=1e-4), f"wrong values for batch={_b}, seq={_s}, d_model={_d}, heads={_h}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart the kernel, run all cells, and submit. Lesson 05 puts this attention inside a full GPT-2 block.
