# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 03 — sinusoidal positional encoding
#
# Lesson 03 built the sine/cosine position table and showed that moving `k` positions is one fixed rotation. Here you
# implement both, then go one step past the lesson: rotary position embedding (RoPE), and a measurement of what a
# learned position table knows beyond the length it was trained on.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes and offsets.
# - Allowed: any torch function (`torch.arange`, `torch.sin`, `torch.cos`, slicing, `torch.stack`, matmul, `norm`)
#   and `math`. Not allowed: the course's `utils.positional` module, which holds the lesson's reference table and
#   rotation, nor another library's position tables or rotary embedding (the model files of `transformers` hold
#   several); they cannot be imported while the hidden tests call your functions.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 55 minutes. Points: 18.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random

import torch


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — the table (6 points)
#
# Write `sinusoidal_encoding(seq_len, d_model)`, a **float32** tensor of shape `(seq_len, d_model)` with
#
# $$\mathrm{PE}[p, 2i] = \sin\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big), \qquad
# \mathrm{PE}[p, 2i+1] = \cos\!\Big(\frac{p}{10000^{2i/d_{\text{model}}}}\Big),$$
#
# for positions `p = 0 … seq_len − 1` and pair index `i = 0 … d_model/2 − 1` (**not** `0 … d_model − 1`: each `i`
# fills two columns). Raise `ValueError` if `d_model` is odd, or if either size is not positive. There is no maximum
# length (the hidden tests go past 5000 positions), and every call returns a new tensor: a caller may edit it in place
# without changing what the next call returns (so no cache that hands out the same tensor twice).

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_encoding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model).

    PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)), i = 0 ... d_model/2 - 1.
    Raises ValueError unless d_model is even and both sizes are positive.
    """
    ### BEGIN SOLUTION
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError(f"need seq_len > 0 and an even d_model > 0, got {seq_len}, {d_model}")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pe_shape_dtype", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""sinusoidal_encoding returns float32 (seq_len, d_model) (1 point)"""
_pe = sinusoidal_encoding(10, 8)
assert _pe.shape == (10, 8), "one row per position, one column per dimension"
assert _pe.dtype == torch.float32, "return float32"
### BEGIN HIDDEN TESTS
_rng = random.Random(701)
for _ in range(10):
    _s, _d = _rng.randint(1, 80), 2 * _rng.randint(1, 40)
    _pe = sinusoidal_encoding(_s, _d)
    expect_equal(tuple(_pe.shape), (_s, _d), message=f"wrong shape {tuple(_pe.shape)} for ({_s}, {_d})")
    expect_equal(str(_pe.dtype), "torch.float32", message=f"dtype {_pe.dtype}: return float32")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pe_first_pair", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""position 0 is (0, 1, 0, 1, ...) and the first pair is (sin p, cos p) (1 point)"""
_pe = sinusoidal_encoding(10, 8)
assert torch.allclose(_pe[0], torch.tensor([0.0, 1.0] * 4)), "sin(0) = 0 in even columns, cos(0) = 1 in odd columns"
assert torch.allclose(_pe[:, 0], torch.sin(torch.arange(10.0)), atol=1e-6), "column 0 is sin(p) (frequency 1)"
### BEGIN HIDDEN TESTS
_rng = random.Random(702)
for _ in range(5):
    _s, _d = _rng.randint(2, 60), 2 * _rng.randint(1, 30)
    _pe = sinusoidal_encoding(_s, _d)
    expect_close(_pe[:, 1], torch.cos(torch.arange(float(_s))), atol=1e-6, message="column 1 is cos(p)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pe_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sinusoidal_encoding matches the formula on random sizes (3 points)"""
_pe = sinusoidal_encoding(4, 4)
print(_pe)
assert abs(_pe[3, 2].item() - math.sin(3 / 100)) < 1e-6, "PE[3, 2]: i = 1, so p / 10000^(2/4) = 3 / 100"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_reference_pe(seq_len, d_model):
    _pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    for _p in range(seq_len):
        for _i in range(d_model // 2):
            _a = _p / 10000 ** (2 * _i / d_model)
            _pe[_p, 2 * _i], _pe[_p, 2 * _i + 1] = math.sin(_a), math.cos(_a)
    return _pe


### END REFERENCE
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(703)
for _ in range(8):
    _s, _d = _rng.randint(1, 70), 2 * _rng.randint(1, 48)
    with _hidden_forbidden("utils.exercises.lesson03._table",
                           "transformers.models.distilbert.modeling_distilbert._create_sinusoidal_embeddings",
                           "transformers.models.xlm.modeling_xlm.create_sinusoidal_embeddings",
                           "transformers.models.flaubert.modeling_flaubert.create_sinusoidal_embeddings",
                           "transformers.models.videomae.modeling_videomae.get_sinusoid_encoding_table",
                           "transformers.models.gptj.modeling_gptj.create_sinusoidal_positions",
                           modules=("utils.positional", "transformers")):
        _got = sinusoidal_encoding(_s, _d)
    expect_close(_got.double(), _hidden_reference_pe(_s, _d),
                 atol=1e-5, message=f"values differ from the formula for seq_len={_s}, d_model={_d}")
with _hidden_forbidden("utils.exercises.lesson03._table",
                       "transformers.models.distilbert.modeling_distilbert._create_sinusoidal_embeddings",
                       "transformers.models.xlm.modeling_xlm.create_sinusoidal_embeddings",
                       "transformers.models.flaubert.modeling_flaubert.create_sinusoidal_embeddings",
                       "transformers.models.videomae.modeling_videomae.get_sinusoid_encoding_table",
                       "transformers.models.gptj.modeling_gptj.create_sinusoidal_positions",
                       modules=("utils.positional", "transformers")):
    _long = sinusoidal_encoding(6000, 2)  # past any fixed-size table; d_model 2: the angle is p itself, exact in float32
    _first = sinusoidal_encoding(12, 6)
    _first.add_(1.0)  # the caller edits its table in place ...
    _second = sinusoidal_encoding(12, 6)  # ... which must not change the next call's
expect_close(_long.double(), _hidden_reference_pe(6000, 2), atol=1e-5,
             message=f"seq_len=6000: got shape {tuple(_long.shape)}, or wrong values past 5000 positions")
expect_close(_second.double(), _hidden_reference_pe(12, 6), atol=1e-5,
             message="editing one call's table changed the next call's: return a new tensor every call")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pe_errors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""odd d_model and non-positive sizes raise ValueError (1 point)"""
try:
    sinusoidal_encoding(4, 5)
except ValueError:
    pass
else:
    raise AssertionError("d_model = 5 cannot be split into sin/cos pairs: raise ValueError")
### BEGIN HIDDEN TESTS
for _args in [(3, 7), (10, 1), (0, 4), (-3, 4), (4, 0), (4, -2)]:
    try:
        sinusoidal_encoding(*_args)
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"sinusoidal_encoding{_args} must raise ValueError")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — moving k positions is a rotation (4 points)
#
# For one pair with frequency `ω_i = 1/10000^{2i/d}`, the angle-addition formulas give
#
# $$\begin{pmatrix} \sin((p+k)\omega_i) \\ \cos((p+k)\omega_i) \end{pmatrix}
# = \begin{pmatrix} \cos k\omega_i & \sin k\omega_i \\ -\sin k\omega_i & \cos k\omega_i \end{pmatrix}
# \begin{pmatrix} \sin p\omega_i \\ \cos p\omega_i \end{pmatrix}.$$
#
# Write `rotation_matrix(k, d_model)`: the float32 `(d_model, d_model)` block-diagonal matrix `R_k` with this 2×2 block
# at rows/columns `2i, 2i+1` for every pair, zeros elsewhere, so that `R_k @ PE[p] == PE[p + k]` for **every** `p`.
# (`k` may be negative, and large: the hidden tests go up to |k| = 10⁶. Compute the frequencies `ω_i` and the angles
# `k·ω_i` in float64 and round only the finished matrix to float32: in float32 an angle is off by up to about
# |k|·10⁻⁷ radians, 0.06 at k = 10⁶, and `R_k`'s entries with it. A float32 `ω_i` multiplied in float64 is off just
# as much: `torch.arange(0, d, 2) / d` is float32 unless you ask for `dtype=torch.float64`.)

# %% nbgrader={"grade": false, "grade_id": "rotation_matrix", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    ### BEGIN SOLUTION
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = -s, c
    return R.float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rotation_orthogonal", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""R_k is a rotation: orthogonal, and R_0 is the identity (1 point)"""
_R = rotation_matrix(3, 6)
assert _R.shape == (6, 6) and torch.allclose(_R @ _R.T, torch.eye(6), atol=1e-5), "R_k R_k^T must be the identity"
assert torch.allclose(rotation_matrix(0, 6), torch.eye(6), atol=1e-6), "moving 0 positions changes nothing"
### BEGIN HIDDEN TESTS
_rng = random.Random(801)
for _ in range(5):
    _d, _k = 2 * _rng.randint(1, 40), _rng.randint(-50, 50)
    _R = rotation_matrix(_k, _d)
    expect_equal(tuple(_R.shape), (_d, _d), message=f"shape {tuple(_R.shape)}, want (d_model, d_model)")
    expect_close(_R @ _R.T, torch.eye(_d), atol=1e-4, message="not orthogonal")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rotation_shifts", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""R_k @ PE[p] == PE[p + k] for every p (3 points)"""
_p, _k = torch.arange(20.0), 1
_pair_p = torch.stack([torch.sin(_p), torch.cos(_p)])  # (2, 20): the pair i = 0 of d_model = 2
_pair_pk = torch.stack([torch.sin(_p + _k), torch.cos(_p + _k)])
assert torch.allclose(rotation_matrix(_k, 2) @ _pair_p, _pair_pk, atol=1e-5), "the 2x2 block turns p into p + k"
### BEGIN HIDDEN TESTS

def _hidden_reference_pe(seq_len, d_model):
    _pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    for _p in range(seq_len):
        for _i in range(d_model // 2):
            _a = _p / 10000 ** (2 * _i / d_model)
            _pe[_p, 2 * _i], _pe[_p, 2 * _i + 1] = math.sin(_a), math.cos(_a)
    return _pe

from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(802)
for _ in range(8):
    _d, _k = 2 * _rng.randint(1, 32), _rng.randint(-20, 20)
    _pe = _hidden_reference_pe(60, _d)
    _ps = torch.arange(max(0, -_k), min(60, 60 - _k))
    with _hidden_forbidden(modules=("utils.positional",)):
        _R = rotation_matrix(_k, _d).double()
    expect_close(_pe[_ps] @ _R.T, _pe[_ps + _k], atol=1e-4, message=f"R_k @ PE[p] != PE[p + k] for d={_d}, k={_k}")
def _hidden_pe_rows(positions, d_model):  # the rows PE[p] for any positions, in float64
    _angles = positions.double()[:, None] * 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([torch.sin(_angles), torch.cos(_angles)], -1).reshape(len(positions), d_model)


from utils.numerics import tolerance as _hidden_tolerance

_ps = torch.arange(10)
for _d, _k in [(8, 10 ** 6), (12, -777_777), (6, 4099)]:  # large k: the angles k * w_i must be right in float64
    _pe = _hidden_pe_rows(_ps, _d)
    with _hidden_forbidden(modules=("utils.positional",)):
        _R = rotation_matrix(_k, _d).double()
    ### BEGIN REFERENCE
    _want = _hidden_pe_rows(_ps + _k, _d)
    ### END REFERENCE
    # R_k rounded to float32 (entries at most 1), each entry of R_k @ PE[p] a sum of two products
    expect_close(_pe @ _R.T, _want, rtol=0.0, atol=_hidden_tolerance(1.0, 2),
                 message=f"R_k @ PE[p] != PE[p + k] for d={_d}, k={_k}: compute the angles k * w_i in float64")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — rotate the queries and keys instead: RoPE (4 points)
#
# The lesson ended with a remark: newer models (Llama among them) add no position vector at all. They **rotate** each
# query and key by an angle proportional to its position (rotary position embedding, RoPE). For a vector `x` of even
# length `d` at position `p`, with `ω_i = 10000^{−2i/d}` as before, every pair of columns `(2i, 2i+1)` turns by the
# angle `θ = p·ω_i`:
#
# $$x'_{2i} = x_{2i}\cos\theta - x_{2i+1}\sin\theta, \qquad x'_{2i+1} = x_{2i}\sin\theta + x_{2i+1}\cos\theta.$$
#
# Write `rope(x, positions)` for `x` of shape `(..., seq, d)` (any number of batch dimensions, also none) and an
# integer tensor `positions` of shape `(seq,)` (not necessarily `0 … seq − 1`): row `j` of every batch entry turns by
# its own `positions[j]`. Return a tensor of `x`'s shape and dtype. Raise `ValueError` if `d` is odd.
#
# `positions` may hold any integers: large ones (the hidden tests go past 2048, up to 5000, so no table of a fixed
# length) and negative ones (they turn the other way). The result must be right to float32 rounding at every
# position, for float32 and float64 `x` alike: compute the frequencies `ω_i` and the angles `p·ω_i` in float64, as in
# exercise 2 (rounding the finished cos and sin to float32 is fine). Angles computed in float32, or from float32
# frequencies, as some libraries' RoPE does it (`inv_freq = 1 / 10000 ** (torch.arange(0, d, 2).float() / d)`), are
# off by up to about |p|·10⁻⁷ radians (5·10⁻⁴ at p = 5000): that loses the value points and the relative-position
# point.
#
# Why bother: rotations keep lengths, and the dot product of a query turned by `p·ω` with a key turned by `s·ω`
# depends only on `p − s`. Attention scores then see **relative** positions, whatever the absolute ones are.
# Allowed: any torch function (`torch.cos`, `torch.sin`, `torch.stack`, slicing `x[..., 0::2]`, complex numbers).

# %% nbgrader={"grade": false, "grade_id": "rope", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x (..., seq, d) with pair (2i, 2i+1) of row j turned by positions[j] * w_i."""
    ### BEGIN SOLUTION
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    i = torch.arange(d // 2, dtype=torch.float64)
    theta = positions.double()[:, None] / 10000 ** (2 * i / d)  # (seq, d/2)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., seq, d/2) each
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rope_basics", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""rope keeps shape, dtype and lengths, leaves position 0 alone, and rejects an odd d (1 point)"""
_x = torch.randn(2, 5, 8)
_out = rope(_x, torch.arange(5))
assert _out.shape == _x.shape and _out.dtype == _x.dtype, "same shape and dtype as x"
assert torch.allclose(_out[:, 0], _x[:, 0]), "position 0: angle 0, nothing turns"
assert torch.allclose(_out.norm(dim=-1), _x.norm(dim=-1), atol=1e-5), "a rotation keeps every row's length"
try:
    rope(torch.randn(3, 5), torch.arange(3))
except ValueError:
    pass
else:
    raise AssertionError("d = 5 has no pairs to turn: raise ValueError")
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(901)
for _shape, _dtype in [((7, 6), torch.float32), ((3, 4, 10), torch.float64), ((1, 1, 2, 2), torch.float32)]:
    _x = torch.randn(*_shape, generator=_g, dtype=_dtype)
    with _hidden_forbidden(modules=("transformers",)):  # GPT-J's rotate_every_two and sin/cos table are RoPE's
        _out = rope(_x, torch.randint(0, 500, (_shape[-2],), generator=_g))
    expect_equal(tuple(_out.shape), _shape, message=f"shape {tuple(_out.shape)} for x of shape {_shape}")
    expect_equal(str(_out.dtype), str(_dtype), message=f"dtype {_out.dtype} for x of dtype {_dtype}")
    expect_close(_out.norm(dim=-1), _x.norm(dim=-1), atol=1e-4, message="lengths must not change")
for _d in (1, 3, 9):
    try:
        rope(torch.randn(2, _d, generator=_g), torch.arange(2))
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"d = {_d}: raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rope_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""rope turns each pair by the formula's angle (2 points)"""
_x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])  # one row, d = 4: w_0 = 1, w_1 = 1/100
_out = rope(_x, torch.tensor([3]))
print(_out)
assert torch.allclose(_out, torch.tensor([[math.cos(3), math.sin(3), math.cos(0.03), math.sin(0.03)]]), atol=1e-6), \
    "pair i turns by p * w_i, counter-clockwise: (1, 0) -> (cos, sin)"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_rope(x, positions):
    _d = x.shape[-1]
    _w = 10000.0 ** (-torch.arange(0, _d, 2, dtype=torch.float64) / _d)
    _theta = positions.double()[:, None] * _w  # (seq, d/2)
    _pairs = x.double().reshape(*x.shape[:-1], _d // 2, 2)
    _c, _s = torch.cos(_theta), torch.sin(_theta)
    _turned = torch.stack([_pairs[..., 0] * _c - _pairs[..., 1] * _s, _pairs[..., 0] * _s + _pairs[..., 1] * _c], -1)
    return _turned.reshape(x.shape)


### END REFERENCE
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(902)
for _shape in [(9, 2), (4, 12), (2, 6, 16), (2, 3, 5, 8)]:
    _x = torch.randn(*_shape, generator=_g)
    _pos = torch.randint(0, 200, (_shape[-2],), generator=_g)  # any positions, in any order
    with _hidden_forbidden(modules=("transformers",)):  # GPT-J's rotate_every_two and sin/cos table are RoPE's
        _got = rope(_x, _pos)
    expect_close(_got.double(), _hidden_rope(_x, _pos), atol=1e-4,
                 message=f"wrong values for x of shape {_shape}: pair (2i, 2i+1), angle positions[j] * 10000^(-2i/d)")
from utils.numerics import tolerance as _hidden_tolerance

for _shape in [(9, 16), (2, 7, 10)]:  # positions past 2048, up to 5000, and negative ones
    _x = torch.randn(*_shape, generator=_g)
    _pos = torch.cat([torch.tensor([2048, 4999, -1, -4321]), torch.randint(-5000, 5000, (_shape[-2] - 4,), generator=_g)])
    with _hidden_forbidden(modules=("transformers",)):
        _got = rope(_x, _pos)
    # float32 rounding of cos, sin and the products, summed (a rotation matrix sums d products, most of them 0)
    expect_close(_got.double(), _hidden_rope(_x, _pos), rtol=0.0,
                 atol=_hidden_tolerance(float(_x.abs().max()), _shape[-1]),
                 message=f"wrong values at positions {_pos.tolist()}: any integer, large or negative; "
                         "the angles p * w_i in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rope_relative", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with RoPE, a query-key score depends only on the distance p - s (1 point)"""
_q, _k = torch.randn(1, 16), torch.randn(1, 16)


def _score(p: int, s: int) -> float:
    return (rope(_q, torch.tensor([p])) @ rope(_k, torch.tensor([s])).T).item()


print(f"score(7, 3) = {_score(7, 3):.4f}, score(57, 53) = {_score(57, 53):.4f}, score(3, 7) = {_score(3, 7):.4f}")
assert abs(_score(7, 3) - _score(57, 53)) < 1e-4, "same distance 4, same score"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(903)
for _ in range(5):
    _d = 2 * int(torch.randint(1, 20, (), generator=_g))
    _q, _k = torch.randn(6, _d, generator=_g, dtype=torch.float64), torch.randn(6, _d, generator=_g, dtype=torch.float64)
    _p, _s = torch.randint(0, 100, (6,), generator=_g), torch.randint(0, 100, (6,), generator=_g)
    _shift = int(torch.randint(1, 1000, (), generator=_g))
    _scores = (rope(_q, _p) * rope(_k, _s)).sum(-1)
    _shifted = (rope(_q, _p + _shift) * rope(_k, _s + _shift)).sum(-1)
    assert torch.allclose(_scores, _shifted, atol=1e-6), "moving both positions by the same amount changes a score"
    assert not torch.allclose(_scores, (_q * _k).sum(-1), atol=1e-3), "the score must depend on the distance p - s"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — experiment: what does each table know beyond its training length? (4 points)
#
# Section 7 of the lesson: the bundled model learned its position table `W` (`wpe`, `128 × 256`) on blocks of only
# `block = 64` tokens. Measure what that means for neighbouring positions, which should look alike.
#
# Write `neighbour_cosine_means(table, block)` for a table of shape `(n, d)` and `0 < block < n − 1`. It returns
# a tuple of two Python floats:
# 1. the mean cosine similarity between rows `p` and `p + 1` for every pair **inside** the block (both `< block`:
#    `p = 0 … block − 2`);
# 2. the same mean for every pair **beyond** it (both `≥ block`: `p = block … n − 2`).
#
# The cell after it measures both tables with your function: `learned` for `W`, `sinusoidal` for your sine table
# `PE` of the same shape. Read the numbers and set `extrapolates` to the **one word** `"learned"` or `"sinusoidal"`:
# the table whose neighbouring positions still look alike beyond the training length.
#
# Graded: your function on fresh random tables, and your numbers within **0.01** of the reference, plus the word.

# %% nbgrader={"grade": false, "grade_id": "setup_model", "locked": true, "schema_version": 3, "solution": false, "task": false}
import json
from pathlib import Path

from utils.models import load_model, resolve_model_path

model, tokenizer = load_model(device="cpu")
W = model.transformer.wpe.weight.detach()  # the learned position table (n_positions, d_model)
_log = Path(resolve_model_path()) / "training_log.json"
block = json.loads(_log.read_text())["block"] if _log.is_file() else W.shape[0] // 2  # pretraining block length
print(f"wpe: {tuple(W.shape)}; pretraining block length: {block}")


# %% nbgrader={"grade": false, "grade_id": "neighbour_cosine_means", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neighbour_cosine_means(table: torch.Tensor, block: int) -> tuple[float, float]:
    """(mean cos(table[p], table[p+1]) over pairs inside [0, block), the same over pairs inside [block, n))."""
    ### BEGIN SOLUTION
    unit = table / table.norm(dim=1, keepdim=True)
    neighbours = (unit[:-1] * unit[1:]).sum(dim=1)  # (n - 1,): pair p = (p, p + 1)
    return neighbours[: block - 1].mean().item(), neighbours[block:].mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "measure_extrapolation", "locked": false, "schema_version": 3, "solution": true, "task": false}
PE = sinusoidal_encoding(*W.shape)  # your sine table, the same shape as W
learned = neighbour_cosine_means(W, block)
sinusoidal = neighbour_cosine_means(PE, block)
### BEGIN SOLUTION
extrapolates = "sinusoidal"
### END SOLUTION
print(f"learned wpe: {learned[0]:.3f} inside the block, {learned[1]:.3f} beyond it")
print(f"sinusoidal:  {sinusoidal[0]:.3f} inside the block, {sinusoidal[1]:.3f} beyond it -> {extrapolates}")


# %% nbgrader={"grade": true, "grade_id": "test_neighbour_cosine_means", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""neighbour_cosine_means splits the neighbouring pairs at the block (2 points)"""
_t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, -1.0]])
# pairs: (0,1) cos 1 | (1,2) crosses the block: counted nowhere | (2,3) cos 1, (3,4) cos -1
assert torch.allclose(torch.tensor(neighbour_cosine_means(_t, 2)), torch.tensor([1.0, 0.0])), "inside 1, beyond 0"
assert all(type(_m) is float for _m in neighbour_cosine_means(_t, 2)), "return two Python floats"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_means(table, block):
    _u = table.double() / table.double().norm(dim=1, keepdim=True)
    _c = [float(_u[_p] @ _u[_p + 1]) for _p in range(table.shape[0] - 1)]
    _inside, _beyond = _c[: block - 1], _c[block:]
    return sum(_inside) / len(_inside), sum(_beyond) / len(_beyond)


### END REFERENCE
_g = torch.Generator().manual_seed(904)
for _ in range(5):
    _n, _d = int(torch.randint(6, 60, (), generator=_g)), int(torch.randint(2, 20, (), generator=_g))
    _table = torch.randn(_n, _d, generator=_g) * (0.1 + torch.rand(_n, 1, generator=_g))
    _table[: _n // 2] += 3 * torch.randn(_d, generator=_g)  # the first half shares a direction: the halves differ
    _b = int(torch.randint(2, _n - 2, (), generator=_g))
    ### BEGIN REFERENCE
    _want = _hidden_means(_table, _b)
    ### END REFERENCE
    _got = neighbour_cosine_means(_table, _b)
    assert len(_got) == 2 and all(type(_m) is float for _m in _got), "return a tuple of two Python floats"
    for _j in (0, 1):
        expect_close(_got[_j], _want[_j], rtol=0.0, atol=1e-4,
                     message=f"n={_n}, block={_b}: got ({_got[0]:.4f}, {_got[1]:.4f}): off by more than 1e-4")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_extrapolation_measured", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the four means of the bundled model's wpe and the sine table, within 0.01, and the word (2 points)"""
assert extrapolates in ("learned", "sinusoidal"), "one word: 'learned' or 'sinusoidal'"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_means(table, block):
    _u = table.double() / table.double().norm(dim=1, keepdim=True)
    _c = [float(_u[_p] @ _u[_p + 1]) for _p in range(table.shape[0] - 1)]
    _inside, _beyond = _c[: block - 1], _c[block:]
    return sum(_inside) / len(_inside), sum(_beyond) / len(_beyond)


def _hidden_pe(seq_len, d_model):
    _angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (
        torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([torch.sin(_angles), torch.cos(_angles)], -1).reshape(seq_len, d_model)


_W = model.transformer.wpe.weight.detach()
_means = {"learned": _hidden_means(_W, block), "sinusoidal": _hidden_means(_hidden_pe(*_W.shape), block)}
### END REFERENCE
for _name, _got in (("learned", learned), ("sinusoidal", sinusoidal)):
    for _j in (0, 1):
        expect_close(float(_got[_j]), _means[_name][_j], rtol=0.0, atol=0.01,
                     message=f"{_name}: got ({float(_got[0]):.3f}, {float(_got[1]):.3f}): off by more than 0.01")
expect_equal(extrapolates, max(_means, key=lambda _name: _means[_name][1]),
             message="which table's neighbours still look alike beyond the block?")
### END HIDDEN TESTS


# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Check the lesson's last claim with your own functions: `pe = sinusoidal_encoding(100, 32)`; is `pe @ pe.T` constant
# along each diagonal? What is its value on the main diagonal, and why?
