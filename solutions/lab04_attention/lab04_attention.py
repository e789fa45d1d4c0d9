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
#   `F.multi_head_attention_forward`, nor the private kernels behind them such as
#   `torch._native_multi_head_attention`, nor another library's attention such as the ones in `transformers`, nor
#   the course's own `utils.attention`, lesson 04's answers) in your answers: the tests use them as the reference,
#   and they raise while the hidden tests call your functions.
#   Matrix products, `torch.softmax`, `masked_fill`, `reshape`/`transpose`, `torch.cat`, `tril`, comparisons, and
#   your own functions from earlier exercises are all fine (a test of a later exercise, visible checks included,
#   runs references of the earlier ones, so one mistake costs points once). The
#   `torch_…` references of the setup are PyTorch's, for those checks: your answers may not call them, nor
#   `nn.Transformer.generate_square_subsequent_mask`.
# - Exercises 4 and 5 go past the lesson (padding, a KV cache); exercise 6 is a small measurement.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 60 minutes. Points: 21. Runs in a few seconds on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import torch
import torch.nn.functional as F

torch.manual_seed(0)


# %% nbgrader={"grade": false, "grade_id": "torch_references", "locked": true, "schema_version": 3, "solution": false, "task": false}
from utils.rules import substituted


# PyTorch's own attention pieces, for the visible checks: a check of a later exercise runs them in place of your
# earlier functions (`with substituted(**TORCH_REFERENCES)`), so it judges that exercise alone. Your answers may not
# call them: they are built on the functions the hidden tests forbid.
def torch_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def torch_causal_mask(seq_q: int, seq_k: int) -> torch.Tensor:
    square = torch.nn.Transformer.generate_square_subsequent_mask(max(seq_q, seq_k))  # 0: may attend, -inf: not
    return (square == 0)[:seq_q, :seq_k]


def torch_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


TORCH_REFERENCES = dict(scaled_dot_product_attention=torch_attention, causal_mask=torch_causal_mask,
                        causal_attention=torch_causal_attention)


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
# - The scores may be large — hundreds, or far below `-1e4` — and the result must still be right (no NaN, and a
#   masked key never gets weight, however low the other scores are).
# - Leave `q`, `k` and `v` as they are (no in-place operations on them): the caller uses them again.
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
    expect_equal(tuple(_out.shape), (*_batch, _sq, _dv), message=f"wrong shape {tuple(_out.shape)} for batch {_batch}")
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_g = torch.Generator().manual_seed(402)
for _batch in [(), (3,), (2, 3)]:
    _sq, _sk, _dv = (int(n) for n in torch.randint(1, 12, (3,), generator=_g))
    _dk = int(torch.randint(2, 70, (1,), generator=_g))
    _q = torch.randn(*_batch, _sq, _dk, generator=_g)
    _k = torch.randn(*_batch, _sk, _dk, generator=_g)
    _v = torch.randn(*_batch, _sk, _dv, generator=_g)
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")):
        _got = scaled_dot_product_attention(_q, _k, _v)
    expect_close(_got, _want, atol=1e-5, message=f"wrong values for batch {_batch}, d_k={_dk}")
from utils.numerics import tolerance as _hidden_tolerance


def _hidden_sdpa_tolerance(q, k, v):
    # utils.numerics: a score q.k / sqrt(d_k) carries rounding ~ sqrt(d_k) u |q| |k| / sqrt(d_k); the softmax passes
    # a score error e on as at most 2 e max|v|, and the weighted sum of seq_k values adds its own
    _s = float(q.norm(dim=-1).max() * k.norm(dim=-1).max()) / q.shape[-1] ** 0.5
    return _hidden_tolerance(float(v.abs().max()) * (1 + 2 * _s), q.shape[-1] + k.shape[-2])


_g = torch.Generator().manual_seed(412)
for _batch, _scale in [((), 100.0), ((2,), 300.0), ((2, 2), 1.0)]:  # scores of hundreds: exp overflows float32
    _q = _scale * torch.randn(*_batch, 6, 8, generator=_g)
    _k = torch.randn(*_batch, 7, 8, generator=_g)
    _v = torch.randn(*_batch, 7, 5, generator=_g)
    _inputs = (_q.clone(), _k.clone(), _v.clone())
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")):
        _got = scaled_dot_product_attention(_q, _k, _v)
        _again = scaled_dot_product_attention(_q, _k, _v)  # the same tensors again: the same answer
    _tol = _hidden_sdpa_tolerance(_inputs[0], _inputs[1], _inputs[2])
    expect_close(_got, _want, rtol=0.0, atol=_tol, message=f"scores up to ~{_scale:g}s: wrong values (NaN? a softmax "
                                                          "by hand must subtract each row's maximum)")
    expect_equal((_q, _k, _v), _inputs, message="q, k or v changed: do not modify the inputs in place")
    expect_close(_again, _want, rtol=0.0, atol=_tol, message="a second call on the same q, k, v gives another answer")
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_g = torch.Generator().manual_seed(403)
for _batch in [(2,), (2, 3)]:
    _s, _d = int(torch.randint(2, 9, (1,), generator=_g)), 5
    _q, _k, _v = (torch.randn(*_batch, _s, _d, generator=_g) for _ in range(3))
    _mask = torch.rand(*_batch, _s, _s, generator=_g) > 0.5
    _mask[..., 0] = True
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_mask)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")):
        _got = scaled_dot_product_attention(_q, _k, _v, mask=_mask)
    expect_close(_got, _want, atol=1e-5, message="wrong values with a random boolean mask")
from utils.numerics import tolerance as _hidden_tolerance

_g = torch.Generator().manual_seed(413)
for _batch in [(2,), (2, 3)]:  # every score far below -1e4 (a last coordinate of -500 against 100): ordinary spread
    _s, _d = 6, 5
    _q, _k, _v = (torch.randn(*_batch, _s, _d, generator=_g) for _ in range(3))
    _q[..., -1], _k[..., -1] = -500.0, 100.0  # each score shifted by -500 * 100 / sqrt(5), about -22000
    _mask = torch.rand(*_batch, _s, _s, generator=_g) > 0.5
    _mask[..., 0] = True
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_mask)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")):
        _got = scaled_dot_product_attention(_q, _k, _v, mask=_mask)
    # as in test_sdpa_values: score rounding ~ u |q| |k| / sqrt(d_k), passed on as at most 2 e max|v|
    _scores = float(_q.norm(dim=-1).max() * _k.norm(dim=-1).max()) / _d ** 0.5
    expect_close(_got, _want, rtol=0.0, atol=_hidden_tolerance(float(_v.abs().max()) * (1 + 2 * _scores), _d + _s),
                 message="scores far below -1e4: a masked key got weight (mask with -inf, not a large negative number)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the causal mask (4 points)
#
# Write `causal_mask(seq_q, seq_k)` that returns a **boolean** tensor of shape `(seq_q, seq_k)` that is `True`
# where query `i` may look at key `j`, that is where `j <= i` (each token sees itself and the past, never the
# future). When `seq_q != seq_k`, align it top-left like PyTorch's `is_causal=True`: query 0 sees key 0 only. Any
# sizes: there is no maximum context length (the hidden tests go past 1024).
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
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_MASK_RULES = ("torch.nn.Transformer.generate_square_subsequent_mask",
                      "torch.nn.modules.transformer._generate_square_subsequent_mask")
for _sq, _sk in [(1, 1), (7, 7), (2, 9), (6, 3), (3, 1500), (1500, 2)]:  # past a 1024-token context too
    with _hidden_forbidden(*_HIDDEN_MASK_RULES, modules=("utils.attention",)):  # torch_causal_mask is PyTorch's, not yours
        _got = causal_mask(_sq, _sk)
    expect_equal(tuple(_got.shape), (_sq, _sk), message=f"causal_mask({_sq}, {_sk}) has shape {tuple(_got.shape)}")
    expect_equal(str(_got.dtype), "torch.bool", message="return a boolean tensor (True = may attend)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mask_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""causal_mask lets query i see keys 0..i, itself included (1 point)"""
assert causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_MASK_RULES = ("torch.nn.Transformer.generate_square_subsequent_mask",
                      "torch.nn.modules.transformer._generate_square_subsequent_mask")
for _sq, _sk in [(1, 1), (5, 5), (2, 6), (7, 4), (11, 11), (4, 1300), (1300, 3)]:  # past a 1024-token context too
    ### BEGIN REFERENCE
    _ref = torch.tensor([[_j <= _i for _j in range(_sk)] for _i in range(_sq)])
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_MASK_RULES, modules=("utils.attention",)):  # torch_causal_mask is PyTorch's, not yours
        _got = causal_mask(_sq, _sk)
    expect_equal(_got, _ref, message=f"wrong mask for seq_q={_sq}, seq_k={_sk}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_causal_attention", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""causal_attention equals PyTorch's is_causal=True (2 points)"""
_q, _k, _v = torch.randn(2, 6, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8)
with substituted(scaled_dot_product_attention=torch_attention, causal_mask=torch_causal_mask):
    _got = causal_attention(_q, _k, _v)  # built on PyTorch's pieces: this checks causal_attention alone
assert torch.allclose(_got, F.scaled_dot_product_attention(_q, _k, _v, is_causal=True), atol=1e-5), \
    "causal attention differs from PyTorch's"
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_g = torch.Generator().manual_seed(404)
for _batch, _sq, _sk in [((), 1, 1), ((3,), 9, 9), ((2, 2), 4, 7), ((2,), 13, 13)]:
    _q = torch.randn(*_batch, _sq, 6, generator=_g)
    _k = torch.randn(*_batch, _sk, 6, generator=_g)
    _v = torch.randn(*_batch, _sk, 5, generator=_g)
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v, is_causal=True)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), \
            _hidden_substituted(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask):
        _got = causal_attention(_q, _k, _v)  # judged on its own: your earlier functions are swapped for references
    expect_close(_got, _want, atol=1e-5, message=f"wrong causal attention for batch {_batch}, seq_q={_sq}, seq_k={_sk}")
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
with substituted(**TORCH_REFERENCES):
    assert multi_head_self_attention(_x, *_ws, n_heads=3).shape == (2, 5, 12)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(412)
for _b, _s, _d, _h in [(1, 1, 8, 2), (3, 7, 15, 5), (2, 4, 6, 1)]:
    _ws = [torch.randn(_d, _d, generator=_g) for _ in range(4)]
    _got = multi_head_self_attention(torch.randn(_b, _s, _d, generator=_g), *_ws, n_heads=_h)
    expect_equal(tuple(_got.shape), (_b, _s, _d), message=f"shape {tuple(_got.shape)}, want (batch, seq, d_model)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mha_one_head", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with one head it is causal attention with projections (1 point)"""
_x = torch.randn(2, 6, 8)
_ws = [torch.randn(8, 8) / 8 ** 0.5 for _ in range(4)]
with substituted(**TORCH_REFERENCES):
    _got = multi_head_self_attention(_x, *_ws, n_heads=1)
assert torch.allclose(_got, _reference_mha(_x, *_ws, 1), atol=1e-5)
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    causal_attention=_hidden_causal_attention)
_g = torch.Generator().manual_seed(405)
_x = torch.randn(3, 9, 10, generator=_g)
_ws = [torch.randn(10, 10, generator=_g) / 10 ** 0.5 for _ in range(4)]
### BEGIN REFERENCE
_want = _reference_mha(_x, *_ws, 1)
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), _hidden_substituted(**_HIDDEN_REFS):
    _got = multi_head_self_attention(_x, *_ws, n_heads=1)
expect_close(_got, _want, atol=1e-5, message="one head: causal attention of the projections, then w_o")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mha_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""with several heads it equals torch.nn.MultiheadAttention (3 points)"""
_x = torch.randn(2, 5, 12)
_ws = [torch.randn(12, 12) / 12 ** 0.5 for _ in range(4)]
with substituted(**TORCH_REFERENCES):
    _got = multi_head_self_attention(_x, *_ws, n_heads=3)
assert torch.allclose(_got, _reference_mha(_x, *_ws, 3), atol=1e-5), \
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    causal_attention=_hidden_causal_attention)
_g = torch.Generator().manual_seed(406)
for _b, _s, _d, _h in [(1, 1, 8, 2), (3, 7, 15, 5), (2, 11, 24, 4), (4, 3, 18, 6)]:
    _x = torch.randn(_b, _s, _d, generator=_g)
    _ws = [torch.randn(_d, _d, generator=_g) / _d ** 0.5 for _ in range(4)]
    ### BEGIN REFERENCE
    _want = _reference_mha(_x, *_ws, _h)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), _hidden_substituted(**_HIDDEN_REFS):
        _got = multi_head_self_attention(_x, *_ws, n_heads=_h)
    expect_close(_got, _want, atol=1e-4, message=f"wrong values for batch={_b}, seq={_s}, d_model={_d}, heads={_h}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — a batch of sequences of different lengths: the padding mask (3 points)
#
# A batch holds prompts of different lengths. For generation they are **left**-padded to a common `seq`: sequence
# `b` has `lengths[b]` real tokens at positions `seq − lengths[b] … seq − 1`, filler before them, so that every
# prompt ends at the last position, where the next token is predicted. The filler must change nothing: a real token
# may attend only to real tokens of its own sequence, and only to the past. (The causal mask alone does not do
# that here: the filler lies in every real token's past.)
#
# Write `padding_causal_mask(lengths, seq)`: for an integer tensor `lengths` of shape `(batch,)` (each between 1 and
# `seq`), the **boolean** tensor of shape `(batch, seq, seq)` that is `True` where query `i` of sequence `b` may
# attend to key `j`: `j <= i` **and** key `j` is real (`j >= seq − lengths[b]`). A filler query would then see
# nothing at all (a row of `-inf`, a softmax of NaN); let it see **itself only** (`j == i`) instead.
#
# Then write `padded_causal_attention(q, k, v, lengths)` for `q`, `k`, `v` of shape `(batch, seq, d)`: attention
# with that mask. The outputs at the real positions must equal causal attention on the sequence without its
# padding, whatever the filler rows hold; the output at a filler position is what that mask gives there: its own
# value row `v[b, i]` (it sees only itself). Comparisons and broadcasting (`torch.arange(seq)[None, :] >= ...`),
# `torch.eye`, your `causal_mask` and `scaled_dot_product_attention` are all fine.

# %% nbgrader={"grade": false, "grade_id": "padding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def padding_causal_mask(lengths: torch.Tensor, seq: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    real_keys = torch.arange(seq)[None, :] >= seq - lengths[:, None]  # (batch, seq): key j is not filler
    itself = torch.eye(seq, dtype=torch.bool)[None, :, :]  # (1, seq, seq): a filler query keeps its own key
    return causal_mask(seq, seq)[None, :, :] & (real_keys[:, None, :] | itself)  # (batch, seq, seq)
    ### END SOLUTION


def padded_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return scaled_dot_product_attention(q, k, v, mask=padding_causal_mask(lengths, q.shape[-2]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_padding_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""padding_causal_mask: causal, no real token looks at filler, a filler query sees itself (1 point)"""
with substituted(causal_mask=torch_causal_mask):
    _m = padding_causal_mask(torch.tensor([3, 1]), 3)
assert _m.dtype == torch.bool and _m.shape == (2, 3, 3), "a boolean (batch, seq, seq) mask"
assert _m[0].tolist() == [[True, False, False], [True, True, False], [True, True, True]], "length 3: plain causal"
assert _m[1].tolist() == [[True, False, False], [False, True, False], [False, False, True]], \
    "length 1: the real token (position 2) sees only itself; filler positions 0 and 1 see themselves"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_causal_mask(seq_q, seq_k):
    return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()


_g = torch.Generator().manual_seed(407)
for _b, _s in [(1, 1), (4, 6), (3, 11), (5, 2)]:
    _lengths = torch.randint(1, _s + 1, (_b,), generator=_g)
    ### BEGIN REFERENCE
    _ref = torch.tensor([[[_j <= _i and (_j >= _s - int(_lengths[_n]) or _j == _i) for _j in range(_s)]
                          for _i in range(_s)] for _n in range(_b)])
    ### END REFERENCE
    with _hidden_substituted(causal_mask=_hidden_causal_mask):
        _got = padding_causal_mask(_lengths, _s)
    expect_equal(str(_got.dtype), "torch.bool", message="return a boolean mask")
    expect_equal(_got, _ref, message=f"wrong mask for lengths {_lengths.tolist()}, seq {_s}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_padded_attention", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""padded_causal_attention: real positions equal attention on the unpadded sequence (2 points)"""
_q, _k, _v = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 3)
with substituted(**TORCH_REFERENCES):
    _out = padded_causal_attention(_q, _k, _v, torch.tensor([5, 2]))
assert torch.allclose(_out[1, 3:], torch_causal_attention(_q[1, 3:], _k[1, 3:], _v[1, 3:]), atol=1e-5), \
    "sequence 1 has 2 real tokens (positions 3, 4): their outputs must not see the 3 filler positions"
assert not _out.isnan().any(), "no NaN anywhere: a filler query sees itself"
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


def _hidden_padding_mask(lengths, seq):
    _real = (torch.arange(seq)[None, :] >= seq - lengths[:, None])[:, None, :]
    return _hidden_causal_mask(seq, seq)[None] & (_real | torch.eye(seq, dtype=torch.bool)[None])


_HIDDEN_RULES = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    padding_causal_mask=_hidden_padding_mask)
from utils.numerics import tolerance as _hidden_tolerance

_g = torch.Generator().manual_seed(408)
for _b, _s, _d in [(3, 7, 5), (4, 10, 8), (1, 4, 3)]:
    _q, _k, _v = (torch.randn(_b, _s, _d, generator=_g) for _ in range(3))
    _lengths = torch.randint(1, _s + 1, (_b,), generator=_g)
    _lengths[0] = 1 if _b > 1 else _lengths[0]
    _k2, _v2 = _k.clone(), _v.clone()
    for _n in range(_b):  # other filler content: the real outputs must not move
        _k2[_n, : _s - int(_lengths[_n])] = 100 * torch.randn(_s - int(_lengths[_n]), _d, generator=_g)
        _v2[_n, : _s - int(_lengths[_n])] = 100 * torch.randn(_s - int(_lengths[_n]), _d, generator=_g)
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), _hidden_substituted(**_HIDDEN_REFS):
        _got, _got2 = padded_causal_attention(_q, _k, _v, _lengths), padded_causal_attention(_q, _k2, _v2, _lengths)
    expect_equal(bool(_got.isnan().any()), False, message="NaN in the output: a filler query must see itself")
    for _n in range(_b):
        _r = slice(_s - int(_lengths[_n]), _s)  # the real positions
        ### BEGIN REFERENCE
        _want = F.scaled_dot_product_attention(_q[_n, _r], _k[_n, _r], _v[_n, _r], is_causal=True)
        ### END REFERENCE
        expect_close(_got[_n, _r], _want, atol=1e-5, message=f"{_r.stop - _r.start} real tokens in {_s}: wrong values")
        expect_close(_got2[_n, _r], _want, atol=1e-5, message="the filler's content changed a real output")
        _fill = slice(0, _s - int(_lengths[_n]))  # the filler positions: each sees itself only, its output is its value
        ### BEGIN REFERENCE
        _want_fill, _want_fill2 = _v[_n, _fill], _v2[_n, _fill]
        ### END REFERENCE
        expect_close(_got[_n, _fill], _want_fill, rtol=0.0, atol=_hidden_tolerance(float(_v.abs().max()), _s),
                     message="a filler position's output is its own value row (the mask lets it see itself only)")
        expect_close(_got2[_n, _fill], _want_fill2, rtol=0.0, atol=_hidden_tolerance(float(_v2.abs().max()), _s),
                     message="a filler position's output is its own value row (the mask lets it see itself only)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — generating one token at a time: the KV cache (3 points)
#
# When a model generates, it adds one token per step. Recomputing attention over the whole prefix every step
# repeats work: the keys and values of earlier tokens never change. A **KV cache** keeps them.
#
# Write `attend_with_cache(q_new, k_new, v_new, cache=None)`:
# - `q_new`, `k_new` `(..., n, d_k)` and `v_new` `(..., n, d_v)` belong to the `n` newest tokens (`n = 1` when
#   generating; a longer chunk when the prompt is read);
# - `cache` is `None` (nothing seen yet) or the pair `(k_past, v_past)` of **all** `t` earlier tokens, `(..., t, d_k)`
#   and `(..., t, d_v)`, however many (no window: the hidden tests go past 1024 tokens);
# - return `(out, (k_all, v_all))`: `k_all`, `v_all` are past and new concatenated along the sequence axis (past
#   first), and `out` `(..., n, d_v)` is causal attention of the new queries over **all** keys. New query `j` sits at
#   position `t + j`, so it may see keys `0 … t + j`.
#
# Feeding a sequence through the cache in any chunks must give exactly what `causal_attention` gives on the whole
# sequence. Careful: `causal_mask(n, t + n)` is aligned top-left (query 0 sees key 0 only): that is not the mask
# here. `torch.cat`, `Tensor.tril` (with its `diagonal` argument), and your earlier functions are fine.

# %% nbgrader={"grade": false, "grade_id": "kv_cache", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attend_with_cache(q_new: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor,
                      cache: tuple[torch.Tensor, torch.Tensor] | None = None
                      ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    ### BEGIN SOLUTION
    if cache is not None:
        k_new = torch.cat([cache[0], k_new], dim=-2)  # (..., t + n, d_k)
        v_new = torch.cat([cache[1], v_new], dim=-2)  # (..., t + n, d_v)
    n, total = q_new.shape[-2], k_new.shape[-2]
    mask = torch.ones(n, total, dtype=torch.bool).tril(total - n)  # query j sees keys 0 ... t + j
    return scaled_dot_product_attention(q_new, k_new, v_new, mask=mask), (k_new, v_new)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_kv_cache_grows", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the cache holds every key and value seen so far, past first (1 point)"""
_k, _v = torch.randn(4, 6), torch.randn(4, 3)
with substituted(**TORCH_REFERENCES):
    _out, _cache = attend_with_cache(torch.randn(2, 6), _k[:2], _v[:2])
    _out, _cache = attend_with_cache(torch.randn(2, 6), _k[2:], _v[2:], _cache)
assert torch.equal(_cache[0], _k) and torch.equal(_cache[1], _v), "after two chunks the cache holds all 4 tokens"
assert _out.shape == (2, 3), "one output row per new query"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(409)
for _batch in [(), (2,), (2, 3)]:
    _k, _v = torch.randn(*_batch, 9, 4, generator=_g), torch.randn(*_batch, 9, 5, generator=_g)
    _cache, _start = None, 0
    for _n in (3, 1, 1, 4):
        _out, _cache = attend_with_cache(torch.randn(*_batch, _n, 4, generator=_g), _k[..., _start:_start + _n, :],
                                         _v[..., _start:_start + _n, :], _cache)
        _start += _n
        expect_equal(tuple(_out.shape), (*_batch, _n, 5), message=f"out has shape (..., n, d_v): batch {_batch}, n {_n}")
        expect_equal(_cache[0], _k[..., :_start, :], message="the cache's keys are past and new keys, past first")
        expect_equal(_cache[1], _v[..., :_start, :], message="the cache's values are past and new values, past first")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_kv_cache_equals_full", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""attention through the cache, in any chunks, equals full causal attention (2 points)"""
_q, _k, _v = torch.randn(6, 8), torch.randn(6, 8), torch.randn(6, 8)
_cache, _rows = None, []
for _t in range(6):  # one token at a time, as in generation
    with substituted(**TORCH_REFERENCES):
        _out, _cache = attend_with_cache(_q[_t:_t + 1], _k[_t:_t + 1], _v[_t:_t + 1], _cache)
    _rows.append(_out)
assert torch.allclose(torch.cat(_rows), torch_causal_attention(_q, _k, _v), atol=1e-5), \
    "token by token != full attention"
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
                 "torch.nn.functional.multi_head_attention_forward", "torch._native_multi_head_attention")
_HIDDEN_REFS = dict(scaled_dot_product_attention=_hidden_sdpa, causal_mask=_hidden_causal_mask,
                    causal_attention=_hidden_causal_attention)
_g = torch.Generator().manual_seed(410)
for _batch, _chunks in [((), (1, 1, 1, 1, 1)), ((2,), (4, 1, 1, 3)), ((2, 3), (2, 5, 1)), ((3,), (7,))]:
    _s = sum(_chunks)
    _q, _k, _v = (torch.randn(*_batch, _s, 6, generator=_g) for _ in range(3))
    ### BEGIN REFERENCE
    _want = F.scaled_dot_product_attention(_q, _k, _v, is_causal=True)
    ### END REFERENCE
    _cache, _start, _rows = None, 0, []
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), _hidden_substituted(**_HIDDEN_REFS):
        for _n in _chunks:
            _part = slice(_start, _start + _n)
            _out, _cache = attend_with_cache(_q[..., _part, :], _k[..., _part, :], _v[..., _part, :], _cache)
            _rows.append(_out)
            _start += _n
    expect_close(torch.cat(_rows, dim=-2), _want,
                 atol=1e-5, message=f"chunks {_chunks}, batch {_batch}: cached attention differs from full causal attention")
from utils.numerics import tolerance as _hidden_tolerance

_chunks = (1100, 3, 1)  # past a 1024-token context: every key stays in the cache
_s = sum(_chunks)
_q, _k, _v = (torch.randn(_s, 6, generator=_g) for _ in range(3))
### BEGIN REFERENCE
_want = F.scaled_dot_product_attention(_q, _k, _v, is_causal=True)
### END REFERENCE
_cache, _start, _rows = None, 0, []
with _hidden_forbidden(*_HIDDEN_RULES, modules=("transformers", "utils.attention")), _hidden_substituted(**_HIDDEN_REFS):
    for _n in _chunks:
        _part = slice(_start, _start + _n)
        _out, _cache = attend_with_cache(_q[_part], _k[_part], _v[_part], _cache)
        _rows.append(_out)
        _start += _n
# utils.numerics: score rounding ~ u |q| |k| / sqrt(d_k), passed on as at most 2 e max|v|, and a weighted sum of
# up to 1104 values
_scores = float(_q.norm(dim=-1).max() * _k.norm(dim=-1).max()) / 6 ** 0.5
expect_close(torch.cat(_rows, dim=-2), _want, rtol=0.0,
             atol=_hidden_tolerance(float(_v.abs().max()) * (1 + 2 * _scores), 6 + _s),
             message=f"chunks {_chunks}: cached attention differs from full causal attention past 1024 tokens "
                     "(the cache keeps every key)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex6_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — experiment: how much work does the cache save? (2 points)
#
# Count the attention **score entries** (one entry = one query-key dot product, masked or not) computed while
# generating `n` tokens one at a time, starting from nothing:
# - **without a cache**, step `t` (1, 2, …, n) recomputes causal attention over the whole prefix of `t` tokens;
# - **with the cache**, step `t` computes one new query against `t` keys.
#
# Write `cache_savings(n)`: run both loops on random `q`, `k`, `v` of shape `(n, 8)` with your `causal_attention` and
# `attend_with_cache`, count the entries each computes (the score matrix of a call has `seq_q × seq_k` entries:
# read them off the shapes of what you pass in), and return `(entries without cache) / (entries with cache)` as a
# Python `float`. The cell then measures `savings_256`, the ratio for 256 tokens.
#
# Graded: `cache_savings` on fresh `n`, within **1e-6** relative of the reference, and `savings_256`.

# %% nbgrader={"grade": false, "grade_id": "savings", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cache_savings(n: int) -> float:
    ### BEGIN SOLUTION
    q, k, v = torch.randn(n, 8), torch.randn(n, 8), torch.randn(n, 8)
    without, with_cache, cache = 0, 0, None
    for t in range(1, n + 1):
        causal_attention(q[:t], k[:t], v[:t])
        without += t * t
        _, cache = attend_with_cache(q[t - 1:t], k[t - 1:t], v[t - 1:t], cache)
        with_cache += 1 * cache[0].shape[-2]
    return without / with_cache
    ### END SOLUTION


savings_256 = cache_savings(256)
print(f"generating 256 tokens: the cache computes {savings_256:.1f}x fewer score entries")


# %% nbgrader={"grade": true, "grade_id": "test_cache_savings", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""cache_savings counts the score entries of both loops (2 points)"""
with substituted(**TORCH_REFERENCES):
    assert abs(cache_savings(1) - 1.0) < 1e-9, "one token: both compute one entry"
assert type(savings_256) is float, "a Python float"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_sdpa(q, k, v, mask=None):
    _scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        _scores = _scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(_scores, dim=-1) @ v


def _hidden_causal_attention(q, k, v):
    return _hidden_sdpa(q, k, v, mask=torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril())


def _hidden_attend_with_cache(q_new, k_new, v_new, cache=None):
    if cache is not None:
        k_new, v_new = torch.cat([cache[0], k_new], dim=-2), torch.cat([cache[1], v_new], dim=-2)
    _mask = torch.ones(q_new.shape[-2], k_new.shape[-2], dtype=torch.bool).tril(k_new.shape[-2] - q_new.shape[-2])
    return _hidden_sdpa(q_new, k_new, v_new, mask=_mask), (k_new, v_new)


### BEGIN REFERENCE
def _hidden_savings(n):
    return sum(_t * _t for _t in range(1, n + 1)) / sum(range(1, n + 1))


### END REFERENCE
expect_close(savings_256, _hidden_savings(256), rtol=1e-6, atol=0.0, message=f"savings_256: {savings_256}")
_g = torch.Generator().manual_seed(411)
for _n in torch.randint(2, 60, (3,), generator=_g).tolist():
    with _hidden_substituted(causal_attention=_hidden_causal_attention, attend_with_cache=_hidden_attend_with_cache):
        _got = cache_savings(_n)
    assert type(_got) is float, "return a Python float"
    expect_close(_got, _hidden_savings(_n), rtol=1e-6, atol=0.0, message=f"n = {_n}: got {_got}")
### END HIDDEN TESTS


# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart the kernel, run all cells, and submit. Lesson 05 puts this attention inside a full GPT-2 block.
