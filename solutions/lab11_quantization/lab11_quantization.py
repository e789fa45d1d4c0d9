# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 11 — quantization by hand
#
# Lesson 11 built absmax quantization, the NF4 codebook and blockwise NF4 with double quantization. Here you write
# them yourself; the hidden tests compare your NF4 codes with `bitsandbytes` on tensors you have not seen.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random tensors.
# - Do not import `utils.quant` — that would be the lesson's answer, not yours — and do not call bitsandbytes'
#   quantization functions (`get_4bit_type`, `create_normal_map`, `quantize_4bit`, `dequantize_4bit`, `quantize_nf4`,
#   `quantize_fp4`, `quantize_blockwise`, `dequantize_blockwise`, or their `torch.ops.bitsandbytes` kernels): the
#   tests compare with them. All of them raise while the hidden tests call your functions.
# - Allowed: plain torch (`round`, `amax`, `argmin`, `reshape`, `Normal(…).icdf`, the bit operators `<<`, `>>`, `|`,
#   `&`, …), Python's `math`, and your own functions from earlier exercises. A hidden test that calls an earlier
#   exercise swaps in a correct version, so each exercise is graded on its own.
# - Exercise 5 asks for the bytes bitsandbytes stores, exercise 6 for a measurement and what it says.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 80 minutes. Points: 22.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random

import bitsandbytes.functional as bnbf  # the reference the tests compare with
import torch


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — absmax quantization (4 points)
#
# `absmax_quantize(x, bits=8)` returns `(q, scale)` with
#
# $$\text{scale} = \frac{\max|x|}{2^{\,\text{bits}-1} - 1}, \qquad q = \operatorname{round}(x / \text{scale})$$
#
# `q` is an **int8** tensor of `x`'s shape (values in −qmax … qmax), `scale` a float32 scalar tensor. Round to the
# **nearest** integer as `torch.round` does: an exact tie (a value halfway between two integers) goes to the **even**
# one, 2.5 → 2, 3.5 → 4, −0.5 → 0 (not always up). Called without `bits`, it quantizes to 8 bits.
# `absmax_dequantize(q, scale)` returns the float32 tensor `q · scale`. You may assume `x` is not all zeros.

# %% nbgrader={"grade": false, "grade_id": "absmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 like x, scale float32 scalar) with scale = max|x| / (2**(bits-1) - 1)."""
    ### BEGIN SOLUTION
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    q = torch.round(x.float() / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale
    ### END SOLUTION


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 q * scale."""
    ### BEGIN SOLUTION
    return q.float() * scale
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_absmax_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""int8 codes of x's shape, the largest magnitude maps to qmax (1 point)"""
_x = torch.tensor([0.5, -1.0, 0.25, 0.0])
_q, _s = absmax_quantize(_x, bits=8)
assert _q.dtype == torch.int8 and _q.shape == _x.shape, "q: int8, same shape as x"
assert math.isclose(_s.item(), 1 / 127, rel_tol=1e-6), "scale = max|x| / 127 for 8 bits"
assert _q[1].item() == -127
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1101)
for _bits in (8, 4, 6):
    _x = torch.randn(17, 23, generator=_g) * 3
    _q, _s = absmax_quantize(_x, bits=_bits)
    expect_equal(str(_q.dtype), "torch.int8", message=f"{_bits} bits: q is int8, not {_q.dtype}")
    expect_equal(tuple(_q.shape), (17, 23), message=f"{_bits} bits: q has x's shape, not {tuple(_q.shape)}")
    expect_equal(int(_q.abs().max()), 2 ** (_bits - 1) - 1, message=f"{_bits} bits: the largest |q| is qmax")
    expect_equal((str(_s.dtype), _s.dim()), ("torch.float32", 0),
                 message=f"scale: a float32 scalar (0-d) tensor, not {_s.dtype} {tuple(_s.shape)}")
_x = torch.randn(9, 31, generator=_g) * 2
_q, _s = absmax_quantize(_x)  # no bits: the default, 8
expect_equal(int(_q.abs().max()), 127, message="absmax_quantize(x) without bits: 8 bits, the largest |q| is 127")
expect_close(float(_s), float(_x.abs().max()) / 127, rtol=1e-6, atol=0.0,
             message="absmax_quantize(x) without bits: scale = max|x| / 127")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_absmax_rounding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""codes are rounded to the nearest level, not truncated (2 points)"""
_q, _s = absmax_quantize(torch.tensor([1.0, 0.9, -0.9, 0.3]), bits=4)
print(_q)
assert _q.tolist() == [7, 6, -6, 2], "scale = 1/7: 0.9 * 7 = 6.3 -> 6, 0.3 * 7 = 2.1 -> 2"
_q, _s = absmax_quantize(torch.tensor([1.0, 0.69]), bits=4)
assert _q.tolist() == [7, 5], "4.83 rounds to 5"
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1102)
for _bits in (8, 4):
    _qmax = 2 ** (_bits - 1) - 1
    # x / scale kept at least 0.01 from every half-integer (x's largest magnitude unchanged), so every correct way
    # to divide (x / scale, x * (1 / scale), in float64) rounds to the same code and the codes are compared exactly
    _x = torch.randn(40, 64, generator=_g)
    _t = _x / (_x.abs().max() / _qmax)
    _f = _t - _t.floor()
    _x = torch.where((_f - 0.5).abs() < 0.01,
                     (_t.floor() + 0.5 + torch.where(_f < 0.5, -0.01, 0.01)) * (_x.abs().max() / _qmax), _x)
    with _hidden_forbidden(modules=("utils.quant",)):
        _q, _s = absmax_quantize(_x, bits=_bits)
    ### BEGIN REFERENCE
    _ref = torch.round(_x.double() / (_x.abs().max().double() / _qmax)).clamp(-_qmax, _qmax).to(torch.int64)
    ### END REFERENCE
    expect_equal(_q.to(torch.int64), _ref, message=f"{_bits}-bit codes differ from round(x / scale)")
# exact ties: max|x| = qmax * step with step a power of two, so scale = step exactly and x / scale (or x * (1 / scale))
# is exactly a half-integer: torch.round sends it to the even neighbour, 2.5 -> 2, -3.5 -> -4, 0.5 -> 0
for _bits, _step in ((8, 0.5), (4, 1.0)):
    _qmax = 2 ** (_bits - 1) - 1
    _x = torch.tensor([float(_qmax), 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, -3.5, 4.5, 5.5, -4.5]) * _step
    with _hidden_forbidden(modules=("utils.quant",)):
        _q, _s = absmax_quantize(_x, bits=_bits)
    ### BEGIN REFERENCE
    _ref = torch.round(_x.double() / _step).to(torch.int64)
    ### END REFERENCE
    expect_equal(_q.to(torch.int64), _ref, message=f"{_bits} bits, exact ties: round half to even (torch.round), "
                                                   f"not half up: {_q.tolist()}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_absmax_roundtrip", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""dequantize: error at most half a step (1 point)"""
_x = torch.linspace(-2, 2, 101)
_q, _s = absmax_quantize(_x, bits=8)
_back = absmax_dequantize(_q, _s)
assert _back.dtype == torch.float32 and _back.shape == _x.shape
assert (_back - _x).abs().max() <= _s / 2 + 1e-6, "round-trip error must be <= scale / 2"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1103)
for _bits in (8, 4, 3):
    _x = torch.randn(1000, generator=_g) * 5
    _q, _s = absmax_quantize(_x, bits=_bits)
    with _hidden_forbidden(modules=("utils.quant",)):
        _back = absmax_dequantize(_q, _s)
    # within half a step of x: the step is the reference's scale (atol is the reference kernel's), max|x| / qmax
    expect_close(_back, _x, rtol=0.0, atol=float(_s) / 2 + 1e-5, message=f"{_bits} bits: error > scale / 2")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the NF4 codebook (4 points)
#
# `nf4_codebook(offset=0.9677083)` returns the 16 NF4 levels, float32, ascending:
#
# 1. `offset` is the probability whose quantile becomes the largest level; NF4 uses 0.9677083, the default;
# 2. positive side: the standard-normal quantiles of `torch.linspace(offset, 0.5, 9)[:-1]` (8 values);
# 3. negative side: minus the quantiles of `torch.linspace(offset, 0.5, 8)[:-1]` (7 values);
# 4. add an exact 0, sort, divide by the largest value (so the levels run from −1 to 1).
#
# `torch.distributions.Normal(0.0, 1.0).icdf(p)` is the quantile function Φ⁻¹ (computing it in float64 is more
# accurate). The hidden tests also try other offsets, as bitsandbytes' `create_normal_map(offset)` does: the
# 16 numbers of the table cannot answer them, the recipe can.

# %% nbgrader={"grade": false, "grade_id": "nf4_codebook", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nf4_codebook(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NormalFloat-4 levels, float32, ascending, from -1 to 1; the largest is the quantile of `offset`."""
    ### BEGIN SOLUTION
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1].double())
    negative = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
    return levels / levels.max()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nf4_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""16 ascending float32 levels from -1 to 1 (1 point)"""
_book = nf4_codebook()
print(_book)
assert _book.dtype == torch.float32 and _book.shape == (16,)
assert torch.all(_book[1:] > _book[:-1]), "ascending, no repeats"
assert _book[0].item() == -1.0 and _book[-1].item() == 1.0
### BEGIN HIDDEN TESTS
expect_equal(str(_book.dtype), "torch.float32", message=f"float32 levels, not {_book.dtype}")
expect_equal(tuple(_book.shape), (16,), message=f"16 levels, not shape {tuple(_book.shape)}")
expect_equal(bool(torch.all(_book[1:] > _book[:-1])), True, message="ascending, no repeats")
expect_equal((float(_book[0]), float(_book[-1])), (-1.0, 1.0), message="the levels run from -1 to 1")
expect_equal(bool(torch.equal(nf4_codebook(), _book)), True, message="deterministic")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_nf4_zero", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""an exact zero, 7 negative and 8 positive levels (1 point)"""
_book = nf4_codebook()
assert (_book == 0).sum().item() == 1, "NF4 has an exact 0"
### BEGIN HIDDEN TESTS
expect_equal(int((_book == 0).sum()), 1, message="NF4 has an exact 0")
expect_equal((int((_book < 0).sum()), int((_book > 0).sum())), (7, 8), message="7 negative, 8 positive levels")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_nf4_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the levels are normal quantiles: the table bitsandbytes uses, and the codebook of other offsets (2 points)"""
_book = nf4_codebook()
assert abs(_book[8].item() - 0.0796) < 1e-3, "the smallest positive level is about 0.0796"
assert abs(nf4_codebook(0.99)[8].item() - 0.0663) < 1e-3, "offset 0.99: the smallest positive level is about 0.0663"
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden

_offsets = (0.9, 0.95, 0.985, 0.995)
### BEGIN REFERENCE
from utils.quant import nf4_codebook as _hidden_nf4_codebook  # bitsandbytes' create_normal_map (tests/test_quant.py)

_ref = bnbf.get_4bit_type("nf4", device="cpu")
_refs = [_hidden_nf4_codebook(_offset) for _offset in _offsets]
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)):
    _book = nf4_codebook()
    _books = [nf4_codebook(_offset) for _offset in _offsets]
expect_close(_book, _ref, atol=1e-6, message="not the NF4 levels of bitsandbytes")
for _i, _offset in enumerate(_offsets):  # the expected values exist only in the reference kernel
    expect_close(_books[_i], _refs[_i], atol=1e-6, message=f"offset {_offset}: not the normal quantiles of that offset")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — blockwise NF4 (5 points)
#
# `quantize_nf4(w, codebook, blocksize=64)` returns `(codes, absmax)`:
#
# - flatten `w` row-major and cut it into blocks of `blocksize` consecutive values; raise `ValueError` if
#   `w.numel()` is not a multiple of `blocksize` (a row need not be: a `(4, 48)` weight makes 3 blocks of 64, the
#   second one spanning rows 1 and 2);
# - `w` may be float32, float16 or bfloat16: work in float32 whatever its dtype;
# - `absmax`: float32, one per block, the largest magnitude in the block (0 for a block of zeros);
# - divide each block by its absmax (a block of zeros stays zeros) and give every value the index of the **nearest**
#   level of `codebook` — `codes` is uint8 with one entry per element of `w`, in row-major order (not packed).
#
# `dequantize_nf4(codes, absmax, codebook, shape, blocksize=64)` returns the float32 tensor of `shape` with
# `codebook[code] · absmax of its block`.
#
# The codebook is passed in, so this exercise does not depend on exercise 2 (the tests use bitsandbytes' table).

# %% nbgrader={"grade": false, "grade_id": "blockwise_nf4", "locked": false, "schema_version": 3, "solution": true, "task": false}
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes uint8 (w.numel(),), absmax float32 (w.numel() // blocksize,))."""
    ### BEGIN SOLUTION
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax
    ### END SOLUTION


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """float32 tensor of `shape`: codebook[codes] * absmax of each block."""
    ### BEGIN SOLUTION
    values = codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]
    return values.reshape(shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_q_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""codes uint8 per element, absmax float32 per block, ValueError for a bad size (1 point)"""
_book = torch.linspace(-1, 1, 16)  # any ascending codebook works for this check
_codes, _absmax = quantize_nf4(torch.randn(4, 64), _book)
assert _codes.dtype == torch.uint8 and _codes.shape == (256,), "one uint8 code per element, flat"
assert _absmax.dtype == torch.float32 and _absmax.shape == (4,), "one float32 absmax per block of 64"
try:
    quantize_nf4(torch.randn(100), _book)
except ValueError:
    pass
else:
    raise AssertionError("100 elements is not a multiple of 64: raise ValueError")
assert quantize_nf4(torch.randn(2, 128), _book, blocksize=128)[1].shape == (2,), "blocksize=128: one absmax per 128"
### BEGIN HIDDEN TESTS
_c, _a = quantize_nf4(torch.randn(3, 256, generator=torch.Generator().manual_seed(1112)), _book, blocksize=128)
expect_equal((tuple(_c.shape), tuple(_a.shape)), ((768,), (6,)), message="blocksize 128: 768 codes, 6 absmax")
expect_equal(bool(int(_c.max()) <= 15), True, message="a code is an index into the 16 levels")
for _dtype in (torch.bfloat16, torch.float16):
    _c, _a = quantize_nf4(torch.randn(2, 128, generator=torch.Generator().manual_seed(1113)).to(_dtype), _book)
    expect_equal((str(_c.dtype), str(_a.dtype), tuple(_a.shape)), ("torch.uint8", "torch.float32", (4,)),
                 message=f"a {_dtype} weight: uint8 codes and a float32 absmax, not {_c.dtype} and {_a.dtype}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_q_absmax", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""absmax is the largest magnitude of each block (1 point)"""
_book = torch.linspace(-1, 1, 16)
_w = torch.zeros(128)
_w[3], _w[100] = -2.0, 0.5
_codes, _absmax = quantize_nf4(_w, _book)
assert _absmax.tolist() == [2.0, 0.5], "block 0: max |w| = 2, block 1: 0.5"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1104)
_w = torch.randn(32, 128, generator=_g)
_w[0, 0] = 50.0
_c, _a = quantize_nf4(_w, _book)
### BEGIN REFERENCE
_want = _w.reshape(-1, 64).abs().amax(dim=1)
### END REFERENCE
expect_close(_a, _want, message="one absmax per block, not one for the tensor")
_w = torch.randn(8, 96, generator=_g)
_w.view(-1)[64:192] = 0.0  # blocks 1 and 2 are all zeros
_c, _a = quantize_nf4(_w, _book)
### BEGIN REFERENCE
_want = _w.reshape(-1, 64).abs().amax(dim=1)
### END REFERENCE
expect_close(_a, _want, message="a block of zeros has absmax 0 (its largest magnitude), not a stand-in divisor")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_q_codes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""codes equal bitsandbytes' quantize_4bit(..., quant_type="nf4") (2 points)"""
_book = bnbf.get_4bit_type("nf4", device="cpu")
_w = torch.randn(8, 64, generator=torch.Generator().manual_seed(0))
_codes, _absmax = quantize_nf4(_w, _book)
_packed, _state = bnbf.quantize_4bit(_w, blocksize=64, quant_type="nf4")
_theirs = torch.stack([_packed.reshape(-1) >> 4, _packed.reshape(-1) & 15], dim=1).reshape(-1)  # high nibble first
print(f"codes equal to bitsandbytes: {(_codes == _theirs).float().mean():.2%}")
assert (_codes == _theirs).float().mean() > 0.999
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1105)
_mid = (_book[1:] + _book[:-1]) / 2  # the boundaries between NF4's levels
for _shape, _bs in [((64, 192), 64), ((33, 128), 64), ((16, 512), 128), ((5, 256), 256), ((4, 48), 64)]:
    _w = torch.randn(*_shape, generator=_g) * 0.02
    _w.view(-1)[7] = 0.5
    _w.view(-1)[_bs:2 * _bs] = 0.0  # a block of zeros stays zeros: every code is NF4's 0 (index 7), as in bitsandbytes
    # every w / absmax kept at least 1e-4 from a boundary (absmax unchanged), so every correct nearest-level rule
    # (argmin, midpoints, float64, w * (1 / absmax)) gives bitsandbytes' code and the codes are compared exactly
    _am = _w.reshape(-1, _bs).abs().amax(dim=1, keepdim=True).clamp(min=1e-30)
    _t = _w.reshape(-1, _bs) / _am
    _j = (_t.unsqueeze(-1) - _mid).abs().argmin(dim=-1)  # the nearest boundary
    _d = _t - _mid[_j]
    _w = (torch.where(_d.abs() < 1e-4, _mid[_j] + torch.where(_d < 0, -1e-4, 1e-4), _t) * _am).reshape(_shape)
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)):
        _codes, _absmax = quantize_nf4(_w, _book, blocksize=_bs)
    ### BEGIN REFERENCE
    _packed, _state = bnbf.quantize_4bit(_w, blocksize=_bs, quant_type="nf4")
    _theirs = torch.stack([_packed.flatten() >> 4, _packed.flatten() & 0xF], 1).flatten()
    ### END REFERENCE
    expect_equal(_codes.to(torch.int64), _theirs.to(torch.int64),
                 message=f"{_shape}, blocksize {_bs}: codes differ from bitsandbytes")
# a bfloat16 weight: the codes of its values in float32. Values within 1e-4 of a boundary (after the cast to bf16)
# are set to 0 (an exact level; a block's largest magnitude sits at +-1, far from every boundary)
_w = (torch.randn(16, 128, generator=_g) * 0.02).to(torch.bfloat16)
_t = _w.float().reshape(-1, 64) / _w.float().reshape(-1, 64).abs().amax(dim=1, keepdim=True)
_near = ((_t.unsqueeze(-1) - _mid).abs() < 1e-4).any(dim=-1).reshape(_w.shape)
_w = torch.where(_near, torch.zeros_like(_w), _w)
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)):
    _codes, _absmax = quantize_nf4(_w, _book)
### BEGIN REFERENCE
_packed, _state = bnbf.quantize_4bit(_w.float(), blocksize=64, quant_type="nf4")
_theirs = torch.stack([_packed.flatten() >> 4, _packed.flatten() & 0xF], 1).flatten()
_want = _w.float().reshape(-1, 64).abs().amax(dim=1)
### END REFERENCE
expect_equal(_codes.to(torch.int64), _theirs.to(torch.int64), message="bfloat16 weight: codes differ from bitsandbytes")
expect_equal(_absmax, _want, message=f"bfloat16 weight: absmax float32, the largest magnitudes ({_absmax.dtype})")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_q_dequant", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""dequantize: codebook[code] * absmax, in the original shape (1 point)"""
_book = torch.linspace(-1, 1, 16)
_back = dequantize_nf4(torch.tensor([0, 15, 8, 7], dtype=torch.uint8), torch.tensor([2.0, 4.0]), _book, (2, 2), blocksize=2)
assert _back.shape == (2, 2) and torch.allclose(_back, torch.tensor([[-2.0, 2.0], [4 * _book[8], 4 * _book[7]]]))
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1106)
_c = torch.randint(0, 16, (6 * 64,), generator=_g).to(torch.uint8)
_a = torch.rand(6, generator=_g) + 0.1
### BEGIN REFERENCE
_ref = (_book[_c.long()].reshape(6, 64) * _a[:, None]).reshape(3, 128)
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)):
    _back = dequantize_nf4(_c, _a, _book, (3, 128))
expect_close(_back, _ref, message="dequantize: codebook[code] * absmax of its block, in the shape asked for")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — double quantization (3 points)
#
# 1. `scale_bits_per_param(blocksize=64, double_quant=False, blocksize2=256)`: extra bits per weight spent on block
#    scales. Without double quantization a float32 absmax per block (32 / blocksize); with it an 8-bit scale per
#    block plus a float32 scale per `blocksize2` blocks. (QLoRA: 0.5 → ≈ 0.127.)
# 2. `double_quantize(absmax, blocksize2=256)` → `(q, scales, offset)`: subtract the mean (`offset`, float32 scalar)
#    from the scales, then 8-bit absmax quantization **per block of `blocksize2` scales**: `q` int8 of shape
#    `(n // blocksize2, blocksize2)`, `scales` float32 `(n // blocksize2,)`.
#    `double_dequantize(q, scales, offset)` returns the approximate absmax, float32 `(n,)`.

# %% nbgrader={"grade": false, "grade_id": "double_quant", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scale_bits_per_param(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Extra bits per weight for the block scales."""
    ### BEGIN SOLUTION
    if not double_quant:
        return 32 / blocksize
    return 8 / blocksize + 32 / (blocksize * blocksize2)
    ### END SOLUTION


def double_quantize(absmax: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q int8 (n // blocksize2, blocksize2), scales float32 (n // blocksize2,), offset float32 scalar)."""
    ### BEGIN SOLUTION
    offset = absmax.float().mean()
    blocks = (absmax.float() - offset).reshape(-1, blocksize2)
    scales = blocks.abs().amax(dim=1) / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(blocks / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales, offset
    ### END SOLUTION


def double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """The approximate absmax, float32 (n,)."""
    ### BEGIN SOLUTION
    return (q.float() * scales[:, None]).reshape(-1) + offset
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_overhead_bits", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""0.5 bit without, about 0.127 with double quantization (1 point)"""
assert math.isclose(scale_bits_per_param(64), 0.5)
assert round(scale_bits_per_param(64, double_quant=True), 3) == 0.127
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

for _bs in (32, 64, 128, 256):
    for _bs2 in (128, 256):
        with _hidden_forbidden(modules=("utils.quant",)):  # lesson 11's scale_bits_per_param
            _with, _without = scale_bits_per_param(_bs, True, _bs2), scale_bits_per_param(_bs, False, _bs2)
        expect_close(float(_with), 8 / _bs + 32 / (_bs * _bs2), rtol=1e-9, atol=0.0,
                     message=f"double quantization, blocksize {_bs}, blocksize2 {_bs2}: {_with}")
        expect_close(float(_without), 32 / _bs, rtol=1e-9, atol=0.0,
                     message=f"no double quantization, blocksize {_bs}: {_without}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_double_quant", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""double quantization: int8 per block of scales, error at most half a step (2 points)"""
_absmax = torch.rand(512, generator=torch.Generator().manual_seed(0)) * 0.1 + 0.01
_q, _scales, _offset = double_quantize(_absmax)
assert _q.dtype == torch.int8 and _q.shape == (2, 256) and _scales.shape == (2,)
_back = double_dequantize(_q, _scales, _offset)
print(f"largest error of a scale: {(_back - _absmax).abs().max():.2e}")
assert _back.shape == (512,) and (_back - _absmax).abs().max() <= _scales.max() / 2 + 1e-7
assert double_quantize(_absmax, blocksize2=128)[0].shape == (4, 128), "blocksize2=128: 4 blocks of 128 scales"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1107)
for _n, _bs2 in ((1024, 256), (768, 128)):
    _absmax = torch.rand(_n, generator=_g) * torch.rand(1, generator=_g) + 0.001
    with _hidden_forbidden(modules=("utils.quant",)):
        _q, _scales, _offset = double_quantize(_absmax, blocksize2=_bs2)
    expect_equal(tuple(_q.shape), (_n // _bs2, _bs2), message=f"q: (n // blocksize2, blocksize2), not {tuple(_q.shape)}")
    expect_equal((str(_q.dtype), str(_scales.dtype), str(torch.as_tensor(_offset).dtype)),
                 ("torch.int8", "torch.float32", "torch.float32"),
                 message=f"q int8, scales and offset float32: not {_q.dtype}, {_scales.dtype}, "
                         f"{torch.as_tensor(_offset).dtype}")
    ### BEGIN REFERENCE
    _want_offset = _absmax.mean().item()
    ### END REFERENCE
    expect_close(float(_offset), _want_offset, rtol=1e-5, atol=0.0, message="offset: the mean of the scales")
    with _hidden_forbidden(modules=("utils.quant",)):
        _back = double_dequantize(_q, _scales, _offset).reshape(-1, _bs2)
    expect_equal(str(_back.dtype), "torch.float32", message=f"double_dequantize: float32, not {_back.dtype}")
    for _i in range(_n // _bs2):  # within half a step of each block (atol: the reference kernel's step of the block)
        expect_close(_back[_i], _absmax.reshape(-1, _bs2)[_i], rtol=0.0, atol=float(_scales[_i]) / 2 + 1e-7,
                     message=f"error > half a step in block {_i}")
    # the step is the block's absmax / 127, so each block uses the whole int8 range (not a larger, coarser step)
    ### BEGIN REFERENCE
    _want = (_absmax - _absmax.mean()).reshape(-1, _bs2).abs().amax(dim=1) / 127
    ### END REFERENCE
    expect_close(_scales, _want, rtol=1e-5, message="scales are not absmax / 127 per block")
    expect_equal(_q.abs().amax(dim=1).to(torch.int64), torch.full((_n // _bs2,), 127),
                 message="each block's largest |q| is 127")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — two codes per byte, as bitsandbytes stores them (3 points)
#
# Your `quantize_nf4` returns one uint8 per weight, but a 4-bit code only needs half a byte. bitsandbytes'
# `quantize_4bit` stores **two codes per byte**; the lesson (and the test under exercise 3) only *unpacked* its
# bytes. Now write the other direction.
#
# `pack_nf4(codes)` takes a 1-D tensor of codes (any integer dtype, values 0 … 15, in row-major order) and returns
# exactly the tensor bitsandbytes stores: **uint8, shape `(n // 2, 1)`**, byte `i` holding code `2i` in its high
# nibble (the upper 4 bits) and code `2i + 1` in its low nibble. Raise `ValueError` when the number of codes is odd
# or when a code does not fit in 4 bits (below 0 or above 15) — such a code would spill into its neighbour's nibble.
# Check the codes as they are given, before any cast: 256 is out of range even though it wraps to 0 in uint8. No codes
# at all (n = 0) is an even number: it packs into an empty uint8 tensor of shape `(0, 1)`.
#
# Work it out on paper first: codes `[1, 2]` become the byte `0x12` = 18.

# %% nbgrader={"grade": false, "grade_id": "pack_nf4", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    """Two 4-bit codes per byte, high nibble first: (n,) codes -> uint8 (n // 2, 1), bitsandbytes' layout."""
    ### BEGIN SOLUTION
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError(f"an odd number of codes ({codes.numel()}) cannot fill whole bytes")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    codes = codes.to(torch.uint8)
    return ((codes[0::2] << 4) | codes[1::2]).reshape(-1, 1)  # (n // 2, 1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pack_bytes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the bytes equal what bitsandbytes' quantize_4bit stores (2 points)"""
assert pack_nf4(torch.tensor([1, 2, 15, 0])).flatten().tolist() == [0x12, 0xF0], "code 2i in the high nibble"
_w = torch.randn(8, 64, generator=torch.Generator().manual_seed(5))
_packed, _state = bnbf.quantize_4bit(_w, blocksize=64, quant_type="nf4")
_codes = torch.stack([_packed.flatten() >> 4, _packed.flatten() & 15], dim=1).flatten()  # unpacked as in exercise 3
_mine = pack_nf4(_codes)  # packed back: the same bytes?
print(f"{_w.numel()} weights -> {_mine.numel()} bytes; bitsandbytes stores {_packed.numel()} bytes; "
      f"first byte: yours {_mine.flatten()[0].item():#04x}, theirs {_packed.flatten()[0].item():#04x}")
assert torch.equal(_mine.flatten(), _packed.flatten()), "your bytes differ from bitsandbytes'"
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(1108)
for _shape, _bs in [((48, 128), 64), ((7, 256), 128), ((3, 64), 64)]:
    _w = torch.randn(*_shape, generator=_g)
    _packed, _state = bnbf.quantize_4bit(_w, blocksize=_bs, quant_type="nf4")  # the reference bytes
    _codes = torch.stack([_packed.flatten() >> 4, _packed.flatten() & 0xF], 1).flatten()  # the codes they hold
    for _dtype in (torch.uint8, torch.int64):
        with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)):
            _mine = pack_nf4(_codes.to(_dtype))
        expect_equal(_mine.flatten().to(torch.int64), _packed.flatten().to(torch.int64),
                     message=f"{_shape}, {_dtype} codes: bytes differ from bitsandbytes'")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pack_checks", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""uint8 of shape (n // 2, 1) like bitsandbytes; ValueError for an odd count or a code above 15 (1 point)"""
_mine = pack_nf4(torch.tensor([3, 4, 5, 6, 7, 8], dtype=torch.uint8))
assert _mine.dtype == torch.uint8 and tuple(_mine.shape) == (3, 1), "uint8, shape (n // 2, 1) as bitsandbytes stores"
try:
    pack_nf4(torch.tensor([1, 2, 3]))
except ValueError:
    pass
else:
    raise AssertionError("3 codes do not fill whole bytes: raise ValueError")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1109)
_codes = torch.randint(0, 16, (2 * 37,), generator=_g)
_bytes = pack_nf4(_codes)
expect_equal((str(_bytes.dtype), tuple(_bytes.shape)), ("torch.uint8", (37, 1)),
             message="uint8 (n // 2, 1) for int64 codes too")
for _bad in (torch.tensor([16, 0]), torch.tensor([3, -1]), torch.tensor([0, 1, 2, 3, 4]),
             torch.tensor([256, 0]), torch.tensor([1, -256]), torch.tensor([4, 5, 2 ** 40, 7])):
    try:
        pack_nf4(_bad)
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"pack_nf4({_bad.tolist()}) must raise ValueError")
try:
    _bytes = pack_nf4(torch.tensor([], dtype=torch.int64))
    _empty = (str(_bytes.dtype), tuple(_bytes.shape))
except Exception as _e:  # noqa: BLE001 -- any error is the answer being graded here
    _empty = f"{type(_e).__name__}: {_e}"
expect_equal(_empty, ("torch.uint8", (0, 1)), message=f"no codes: an empty uint8 (0, 1) tensor, not {_empty}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex6_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — experiment: when does NF4 beat INT4? (3 points)
#
# NF4 places its levels where normally distributed weights are dense. Measure what that buys, and when it does not.
#
# `nf4_int4_error_ratio(w, blocksize=64)` returns `(ratio, better)`:
#
# - quantize `w` twice, both blockwise with one absmax per block of `blocksize` consecutive values (row-major):
#   **NF4** with the levels of `nf4_codebook()`, and **INT4**: absmax with 4 bits, levels −7 … 7, i.e. each value
#   rounded to the nearest multiple of `block absmax / 7`;
# - dequantize both; `ratio` = mean |error| of NF4 / mean |error| of INT4, a Python `float` (mean absolute error,
#   not squared);
# - `better` = `"NF4"` if `ratio < 1`, otherwise `"INT4"`;
# - `w` may hold blocks of zeros (pruned weights): both formats store such a block exactly (its absmax is 0, every
#   value dequantizes to 0), so it adds no error to either mean, and no NaN.
#
# You may reuse your exercises 1–3. The hidden tests grade `ratio` against a reference to a relative **0.1 %**
# (`math.isclose(ratio, reference, rel_tol=1e-3)`), on fresh tensors drawn from different distributions, so the
# right reading depends on the tensor. Try a uniform tensor too: which wins, and why?

# %% nbgrader={"grade": false, "grade_id": "error_ratio", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    """(mean |error| NF4 / mean |error| INT4, "NF4" or "INT4": the one with the lower error)."""
    ### BEGIN SOLUTION
    nf4_levels = nf4_codebook()
    codes, absmax = quantize_nf4(w, nf4_levels, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, nf4_levels, w.shape, blocksize) - w).abs().mean()
    int4_book = torch.arange(-7, 8, dtype=torch.float32) / 7  # absmax INT4: the multiples of absmax / 7
    codes, absmax = quantize_nf4(w, int4_book, blocksize)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape, blocksize) - w).abs().mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ratio_value", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the error ratio, measured: NF4 / INT4 mean |error| within 0.1 % of the reference (2 points)"""
import utils.quant as _lesson  # the lesson's exercises 1-3 stand in for yours, so this test checks exercise 6 alone
from utils.rules import substituted

_LESSON = dict(nf4_codebook=_lesson.nf4_codebook, quantize_nf4=_lesson.quantize_blockwise_codebook,
               dequantize_nf4=_lesson.dequantize_blockwise_codebook, absmax_quantize=_lesson.absmax_quantize,
               absmax_dequantize=_lesson.absmax_dequantize)
_w = torch.randn(64, 256, generator=torch.Generator().manual_seed(6))
with substituted(**_LESSON):
    _ratio, _better = nf4_int4_error_ratio(_w, blocksize=64)
print(f"normal weights: NF4 / INT4 mean |error| = {_ratio:.3f} -> {_better} is better")
assert isinstance(_ratio, float), "ratio: a Python float (float(...) of a 0-d tensor)"
assert 0.75 < _ratio < 0.85, "on normal weights NF4's error is about 0.8 of INT4's"
### BEGIN HIDDEN TESTS
from utils.quant import BITSANDBYTES_QUANTIZERS as _HIDDEN_RULES
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted

_HIDDEN_NF4 = bnbf.get_4bit_type("nf4", device="cpu").float()


def _hidden_codebook() -> torch.Tensor:
    return _HIDDEN_NF4.clone()


def _hidden_quantize(w, codebook, blocksize=64):
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    return (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1).to(torch.uint8), absmax


def _hidden_dequantize(codes, absmax, codebook, shape, blocksize=64):
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


def _hidden_absmax_quantize(x, bits=8):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    return torch.round(x.float() / scale).clamp(-qmax, qmax).to(torch.int8), scale


### BEGIN REFERENCE
def _hidden_ratio(w, blocksize):
    blocks = w.reshape(-1, blocksize).double()
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    nf4 = _HIDDEN_NF4.double()
    safe = torch.where(absmax > 0, absmax, torch.ones_like(absmax))  # a block of zeros: 0 / 1, every value 0
    nf4_back = nf4[(blocks / safe).unsqueeze(-1).sub(nf4).abs().argmin(dim=-1)] * absmax
    int4_back = torch.round(blocks / (safe / 7)) * (absmax / 7)
    return ((nf4_back - blocks).abs().mean() / (int4_back - blocks).abs().mean()).item()


### END REFERENCE
_HIDDEN_REFS = dict(nf4_codebook=_hidden_codebook, quantize_nf4=_hidden_quantize, dequantize_nf4=_hidden_dequantize,
                    absmax_quantize=_hidden_absmax_quantize, absmax_dequantize=lambda q, scale: q.float() * scale)
_g = torch.Generator().manual_seed(1110)
_cases = [(torch.randn(96, 128, generator=_g) * 0.05, 64), (torch.rand(64, 192, generator=_g) * 2 - 1, 64),
          (torch.randn(32, 512, generator=_g) ** 3, 128), (torch.rand(40, 256, generator=_g) - 0.3, 256)]
_w = torch.randn(32, 128, generator=_g) * 0.05
_w[5:8] = 0.0  # pruned rows: six blocks of zeros, stored exactly by both formats
_cases.append((_w, 64))
for _w, _bs in _cases:
    ### BEGIN REFERENCE
    _want = _hidden_ratio(_w, _bs)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.quant",)), _hidden_substituted(**_HIDDEN_REFS):
        _ratio, _better = nf4_int4_error_ratio(_w.clone(), blocksize=_bs)
    assert isinstance(_ratio, float), "ratio: a Python float"
    expect_close(_ratio, _want, rtol=1e-3, atol=0.0, message=f"blocksize {_bs}: ratio {_ratio:.4f}, not the reference's")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ratio_reading", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the reading: "NF4" or "INT4", whichever has the lower error on this tensor (1 point)"""
import utils.quant as _lesson  # the lesson's exercises 1-3 stand in for yours, so this test checks exercise 6 alone
from utils.rules import substituted

_LESSON = dict(nf4_codebook=_lesson.nf4_codebook, quantize_nf4=_lesson.quantize_blockwise_codebook,
               dequantize_nf4=_lesson.dequantize_blockwise_codebook, absmax_quantize=_lesson.absmax_quantize,
               absmax_dequantize=_lesson.absmax_dequantize)
with substituted(**_LESSON):
    _ratio, _better = nf4_int4_error_ratio(torch.randn(32, 64, generator=torch.Generator().manual_seed(7)))
assert _better in ("NF4", "INT4"), 'better: the string "NF4" or "INT4"'
assert _better == "NF4", "normal weights: NF4 has the lower error"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted

_HIDDEN_NF4 = bnbf.get_4bit_type("nf4", device="cpu").float()


def _hidden_reading_quantize(w, codebook, blocksize=64):
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    return (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1).to(torch.uint8), absmax


def _hidden_reading_dequantize(codes, absmax, codebook, shape, blocksize=64):
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


def _hidden_reading_absmax(x, bits=8):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    return torch.round(x.float() / scale).clamp(-qmax, qmax).to(torch.int8), scale


_HIDDEN_REFS = dict(nf4_codebook=lambda: _HIDDEN_NF4.clone(), quantize_nf4=_hidden_reading_quantize,
                    dequantize_nf4=_hidden_reading_dequantize, absmax_quantize=_hidden_reading_absmax,
                    absmax_dequantize=lambda q, scale: q.float() * scale)
_g = torch.Generator().manual_seed(1111)
for _w, _want in ((torch.rand(48, 128, generator=_g) * 2 - 1, "INT4"), (torch.randn(48, 128, generator=_g), "NF4"),
                  (torch.rand(16, 256, generator=_g) * 4 - 2, "INT4")):
    with _hidden_substituted(**_HIDDEN_REFS):
        _ratio, _better = nf4_int4_error_ratio(_w)
    expect_equal(_better, _want, message=f"this tensor: {_want} has the lower error, not {_better}")
### END HIDDEN TESTS
