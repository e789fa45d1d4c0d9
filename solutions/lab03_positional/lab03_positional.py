# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 03 — sinusoidal positional encoding
#
# Lesson 03 built the sine/cosine position table and showed that moving `k` positions is one fixed rotation. Here you
# implement both.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes and offsets.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 30 minutes. Points: 10.

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
# fills two columns). Raise `ValueError` if `d_model` is odd, or if either size is not positive.

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
    assert _pe.shape == (_s, _d) and _pe.dtype == torch.float32, f"wrong shape or dtype for ({_s}, {_d})"
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
    assert torch.allclose(_pe[:, 1], torch.cos(torch.arange(float(_s))), atol=1e-6), "column 1 is cos(p)"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pe_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sinusoidal_encoding matches the formula on random sizes (3 points)"""
_pe = sinusoidal_encoding(4, 4)
print(_pe)
assert abs(_pe[3, 2].item() - math.sin(3 / 100)) < 1e-6, "PE[3, 2]: i = 1, so p / 10000^(2/4) = 3 / 100"
### BEGIN HIDDEN TESTS

def _hidden_reference_pe(seq_len, d_model):
    _pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    for _p in range(seq_len):
        for _i in range(d_model // 2):
            _a = _p / 10000 ** (2 * _i / d_model)
            _pe[_p, 2 * _i], _pe[_p, 2 * _i + 1] = math.sin(_a), math.cos(_a)
    return _pe

_rng = random.Random(703)
for _ in range(8):
    _s, _d = _rng.randint(1, 70), 2 * _rng.randint(1, 48)
    assert torch.allclose(sinusoidal_encoding(_s, _d).double(), _hidden_reference_pe(_s, _d), atol=1e-5), (
        f"values differ from the formula for seq_len={_s}, d_model={_d}")
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
    except ValueError:
        continue
    raise AssertionError(f"sinusoidal_encoding{_args} must raise ValueError")
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
# (`k` may be negative.)

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
    assert _R.shape == (_d, _d) and torch.allclose(_R @ _R.T, torch.eye(_d), atol=1e-4), "not orthogonal"
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

_rng = random.Random(802)
for _ in range(8):
    _d, _k = 2 * _rng.randint(1, 32), _rng.randint(-20, 20)
    _pe = _hidden_reference_pe(60, _d)
    _ps = torch.arange(max(0, -_k), min(60, 60 - _k))
    _R = rotation_matrix(_k, _d).double()
    assert torch.allclose(_pe[_ps] @ _R.T, _pe[_ps + _k], atol=1e-4), f"R_k @ PE[p] != PE[p + k] for d={_d}, k={_k}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Check the lesson's last claim with your own functions: `pe = sinusoidal_encoding(100, 32)`; is `pe @ pe.T` constant
# along each diagonal? What is its value on the main diagonal, and why?
