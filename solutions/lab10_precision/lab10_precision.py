# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 10 — precision and the memory budget
#
# Lesson 10 counted the bytes of a model and of its training, and showed what fp16 and bf16 round away. Here you
# write the arithmetic yourself, then go one step past the lesson: choose a loss scale, and measure which 16-bit
# format rounds a given tensor better.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes and tensors.
# - Allowed: everything in Python, `math` and `torch` (`.to(dtype)`, `torch.finfo`, loops over candidate values, …).
#   Not allowed: the course's `utils.memory`, which holds the lesson's `model_memory_gb` and training bill; it cannot
#   be imported while the hidden tests call your functions. The hidden tests judge your functions on inputs you have
#   not seen, so a number copied from a printed output earns nothing.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 50 minutes. Points: 17.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random

import torch


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — the weights (2 points)
#
# Write `model_memory_gb(n_params, bits)`: the memory of `n_params` weights stored with `bits` bits each, in GB
# (1 GB = 10⁹ bytes). `bits` may be fractional (NF4 with double quantization is about 4.127 bits). The memory is
# exactly `n_params × bits / 8` bytes, not rounded to whole bytes: 3 weights of 4 bits are 1.5 bytes, 1.5 × 10⁻⁹ GB.

# %% nbgrader={"grade": false, "grade_id": "model_memory_gb", "locked": false, "schema_version": 3, "solution": true, "task": false}
def model_memory_gb(n_params: float, bits: float) -> float:
    """Memory of n_params weights of `bits` bits each, in GB (10**9 bytes)."""
    ### BEGIN SOLUTION
    return n_params * bits / 8 / 1e9
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_model_memory_gb", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""model_memory_gb: params x bits / 8 bytes, in units of 1e9 bytes (2 points)"""
assert math.isclose(model_memory_gb(7e9, 16), 14.0), "7B parameters in fp16 take 14 GB"
assert math.isclose(model_memory_gb(13e9, 32), 52.0)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(1001)
for _ in range(20):
    _n, _b = _rng.uniform(1e6, 1e11), _rng.choice([32, 16, 8, 4, 4.127, 4.5])
    with _hidden_forbidden(modules=("utils.memory",)):
        _got = model_memory_gb(_n, _b)
    expect_close(_got, _n * _b / 8e9, rtol=1e-9, atol=0.0, message=f"model_memory_gb({_n:.3g}, {_b}) = {_got}")
for _n, _b in ((3, 4), (1, 4.127), (5, 4.5), (7, 1), (1001, 4)):  # tiny sizes: a fraction of a byte is not rounded
    with _hidden_forbidden(modules=("utils.memory",)):
        _got = model_memory_gb(_n, _b)
    expect_close(_got, _n * _b / 8e9, rtol=1e-9, atol=0.0,
                 message=f"model_memory_gb({_n}, {_b}) = {_got}: n_params x bits / 8 bytes, not rounded to whole bytes")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the training bill (6 points)
#
# Write `training_memory_gb(n_params, n_trainable, frozen_bits=16, trainable_bits=32)` returning a dict with the
# keys `"weights"`, `"gradients"`, `"optimizer"`, `"total"` (GB, 10⁹ bytes), for training with **Adam**:
#
# - **full fine-tune** (`n_trainable >= n_params`): nothing is frozen; the `n_trainable` weights are all trainable
#   and stored with `trainable_bits` (also when `n_trainable` is larger than `n_params`);
# - **LoRA** (`n_trainable < n_params`): the base's `n_params` weights are frozen and stored with `frozen_bits`;
#   the `n_trainable` adapter weights come *on top*, stored with `trainable_bits` (as in a full fine-tune: 16-bit
#   adapters have 16-bit weights and gradients);
# - every trainable weight has one gradient of `trainable_bits`, and Adam keeps **two** float32 states (m and v) for it;
# - when the trainable weights are stored in fewer than 32 bits (mixed precision), Adam updates an **fp32 master
#   copy** of them (lesson 10: 16-bit steps would round the updates away): 4 more bytes per trainable parameter,
#   counted under `"optimizer"`; with 32 bits or more (fp64 too) there is no master copy;
# - frozen weights have neither gradients nor optimizer states; `total` is the sum of the three items.
#
# Check: a full fine-tune costs 16 bytes per parameter, in fp32 (4 + 4 + 8) and in 16 bits (2 + 2 + 4 + 8).

# %% nbgrader={"grade": false, "grade_id": "training_memory_gb", "locked": false, "schema_version": 3, "solution": true, "task": false}
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                     trainable_bits: float = 32) -> dict:
    """{"weights", "gradients", "optimizer", "total"} in GB for training with Adam (see the instructions)."""
    ### BEGIN SOLUTION
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    master_bytes = n_trainable * 4 if trainable_bits < 32 else 0.0  # fp32 copy that Adam updates
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": (n_trainable * 2 * 4 + master_bytes) / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bill_full_weights", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""full fine-tune: weights and gradients (1 point)"""
_bill = training_memory_gb(7e9, 7e9)
assert set(_bill) == {"weights", "gradients", "optimizer", "total"}, "keys: weights, gradients, optimizer, total"
assert math.isclose(_bill["weights"], 28.0) and math.isclose(_bill["gradients"], 28.0), "fp32 weights and gradients: 4 bytes each"
### BEGIN HIDDEN TESTS
_rng = random.Random(1002)
for _ in range(10):
    _n, _tb = _rng.uniform(1e8, 7e10), _rng.choice([32, 16])
    _b = training_memory_gb(_n, _n, frozen_bits=_rng.choice([16, 4.127]), trainable_bits=_tb)
    expect_close(_b["weights"], _n * _tb / 8e9, rtol=1e-9, atol=0.0, message="full fine-tune weights")
    expect_close(_b["gradients"], _n * _tb / 8e9, rtol=1e-9, atol=0.0, message="full fine-tune gradients")
for _ in range(3):  # n_trainable > n_params is a full fine-tune too (>=): nothing frozen, no base counted twice
    _n, _tb = _rng.uniform(1e8, 7e10), _rng.choice([32, 16])
    _k = _n * _rng.uniform(1.01, 2.0)
    _b = training_memory_gb(_n, _k, frozen_bits=16, trainable_bits=_tb)
    expect_close(_b["weights"], _k * _tb / 8e9, rtol=1e-9, atol=0.0,
                 message="n_trainable > n_params: a full fine-tune (>=), no frozen base weights")
    expect_close(_b["gradients"], _k * _tb / 8e9, rtol=1e-9, atol=0.0, message="n_trainable > n_params: gradients")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bill_lora_weights", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""LoRA: frozen base + adapter weights, gradients only for the adapter (2 points)"""
_bill = training_memory_gb(7e9, 8e6, frozen_bits=16)
assert math.isclose(_bill["weights"], 14.0 + 0.032), "14 GB of bf16 base + 8M fp32 adapter weights"
assert math.isclose(_bill["gradients"], 0.032), "only the adapter has gradients"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(1003)
for _ in range(10):
    _n = _rng.uniform(1e8, 7e10)
    _k, _fb = _n * _rng.uniform(1e-4, 0.05), _rng.choice([16, 4.127, 32])
    with _hidden_forbidden(modules=("utils.memory",)):
        _b = training_memory_gb(_n, _k, frozen_bits=_fb)
    expect_close(_b["weights"], (_n * _fb / 8 + _k * 4) / 1e9, rtol=1e-9, atol=0.0, message="LoRA weights")
    expect_close(_b["gradients"], _k * 4 / 1e9, rtol=1e-9, atol=0.0, message="LoRA gradients")
for _ in range(5):  # 16-bit (or 8-bit) adapters: their weights and gradients in trainable_bits, not always fp32
    _n = _rng.uniform(1e8, 7e10)
    _k, _fb, _tb = _n * _rng.uniform(1e-4, 0.05), _rng.choice([16, 4.127]), _rng.choice([16, 8])
    with _hidden_forbidden(modules=("utils.memory",)):
        _b = training_memory_gb(_n, _k, frozen_bits=_fb, trainable_bits=_tb)
    expect_close(_b["weights"], (_n * _fb / 8 + _k * _tb / 8) / 1e9, rtol=1e-9, atol=0.0,
                 message=f"LoRA weights with {_tb}-bit adapters: the adapter in trainable_bits")
    expect_close(_b["gradients"], _k * _tb / 8 / 1e9, rtol=1e-9, atol=0.0,
                 message=f"LoRA gradients with {_tb}-bit adapters: trainable_bits each")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bill_optimizer", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Adam: two float32 states per trainable parameter (plus an fp32 master copy of 16-bit ones), none for frozen ones (2 points)"""
assert math.isclose(training_memory_gb(7e9, 7e9)["optimizer"], 56.0), "Adam's m and v: 8 bytes per trainable parameter"
assert math.isclose(training_memory_gb(7e9, 7e9, trainable_bits=16)["optimizer"], 84.0), \
    "16-bit trainable weights: m and v (8 bytes) plus an fp32 master copy (4 bytes)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(1004)
for _ in range(10):
    _n = _rng.uniform(1e8, 7e10)
    _k = _n * _rng.uniform(1e-4, 0.05)
    with _hidden_forbidden(modules=("utils.memory",)):
        _lora, _full16 = training_memory_gb(_n, _k)["optimizer"], training_memory_gb(_n, _n, trainable_bits=16)["optimizer"]
        _low = [training_memory_gb(_n, _k, trainable_bits=_tb)["optimizer"] for _tb in (16, 8)]
    expect_close(_lora, _k * 8 / 1e9, rtol=1e-9, atol=0.0, message="LoRA: states for the adapter only")
    expect_close(_full16, _n * 12 / 1e9, rtol=1e-9, atol=0.0,
                 message="16-bit weights: Adam's float32 m and v plus an fp32 master copy")
    for _tb, _got in zip((16, 8), _low, strict=True):
        # a 16-bit (or 8-bit) adapter: the master copy is the adapter's, never the frozen base's
        expect_close(_got, _k * 12 / 1e9, rtol=1e-9, atol=0.0,
                     message=f"LoRA with {_tb}-bit adapter weights: m, v and a master copy, adapter only")
    with _hidden_forbidden(modules=("utils.memory",)):
        _wide = training_memory_gb(_n, _k, trainable_bits=64)["optimizer"], \
            training_memory_gb(_n, _n, trainable_bits=64)["optimizer"]
    expect_close(_wide, (_k * 8 / 1e9, _n * 8 / 1e9), rtol=1e-9, atol=0.0,
                 message="64-bit trainable weights: m and v only, no fp32 master copy (only below 32 bits)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bill_total", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""total: 16 bytes per parameter for a full fp32 fine-tune (1 point)"""
assert math.isclose(training_memory_gb(7e9, 7e9)["total"], 112.0)
### BEGIN HIDDEN TESTS
_rng = random.Random(1005)
for _ in range(10):
    _n = _rng.uniform(1e8, 7e10)
    _k = _n * _rng.uniform(1e-4, 0.05)
    _b = training_memory_gb(_n, _k, frozen_bits=4.127)
    expect_close(_b["total"], (_n * 4.127 / 8 + _k * 16) / 1e9, rtol=1e-9, atol=0.0, message="QLoRA-style total")
    expect_close(training_memory_gb(_n, _n)["total"], _n * 16 / 1e9, rtol=1e-9, atol=0.0,
                 message="full fine-tune total")
    expect_close(training_memory_gb(_n, _n, trainable_bits=16)["total"], _n * 16 / 1e9, rtol=1e-9, atol=0.0,
                 message="mixed-precision full fine-tune: 2 + 2 + 4 + 8 bytes")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — what accumulates (3 points)
#
# Write `accumulate(increment, steps, dtype)`: start from 0 and add `increment` `steps` times, **keeping the running
# sum in `dtype`** after every addition (as an optimizer does when it stores weights in that dtype). Return the
# final sum as a Python float. In float16, adding 0.0001 twenty thousand times does not give 2. This holds for every
# dtype, float32 included: its sum drifts from `increment × steps` too, only far less (adding 0.1 twenty thousand
# times in float32 gives about 1999.66).

# %% nbgrader={"grade": false, "grade_id": "accumulate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    """Sum `increment` `steps` times with the running total stored in `dtype`; returns a float."""
    ### BEGIN SOLUTION
    total = torch.tensor(0.0, dtype=dtype)
    step = torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        total = total + step
    return total.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_accumulate_fp32", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""float32 accumulates almost exactly (1 point)"""
assert abs(accumulate(1e-4, 2000, torch.float32) - 0.2) < 1e-4
### BEGIN HIDDEN TESTS
_rng = random.Random(1006)
for _ in range(3):
    _inc, _steps = _rng.uniform(1e-4, 1e-2), _rng.randint(100, 1500)
    _got = accumulate(_inc, _steps, torch.float32)
    expect_close(_got, _inc * _steps, rtol=1e-3, atol=0.0, message=f"{_steps} steps of {_inc:.3g} in float32: {_got}")
### BEGIN REFERENCE
def _hidden_accumulate32(increment, steps):
    _t, _s = torch.tensor(0.0, dtype=torch.float32), torch.tensor(increment, dtype=torch.float32)
    for _ in range(steps):
        _t = _t + _s
    return _t.item()


### END REFERENCE
for _ in range(2):  # long sums: the float32 running sum drifts from increment * steps by > 1e-5 (relative)
    _inc, _steps = _rng.uniform(0.01, 0.2), _rng.randint(15_000, 25_000)
    _got = accumulate(_inc, _steps, torch.float32)
    ### BEGIN REFERENCE
    _want = _hidden_accumulate32(_inc, _steps)
    ### END REFERENCE
    # a few float32 ulps (2**-24 each): the sum kept in float32 step by step, not exact in a Python float
    expect_close(_got, _want, rtol=16 * 2.0 ** -24, atol=0.0,
                 message=f"{_steps} steps of {_inc:.3g}: {_got} is not the float32 running sum (kept in float32?)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_accumulate_half", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""float16 and bfloat16 stall: the running sum is rounded at every step (2 points)"""
_fp16 = accumulate(1e-4, 20_000, torch.float16)
print("float16:", _fp16)
assert _fp16 < 1.0, "in float16 the sum stalls far below 2.0"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_accumulate(increment, steps, dtype):
    _t, _s = torch.tensor(0.0, dtype=dtype), torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        _t = _t + _s
    return _t.item()


### END REFERENCE
_rng = random.Random(1007)
for _dtype in (torch.float16, torch.bfloat16):
    for _ in range(2):
        _inc, _steps = _rng.uniform(1e-4, 1e-3), _rng.randint(2000, 6000)
        _got = accumulate(_inc, _steps, _dtype)
        assert type(_got) is float, f"return a Python float (.item()), not {type(_got).__name__}"
        expect_equal(_got, _hidden_accumulate(_inc, _steps, _dtype), message=f"{_dtype} running sum")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — the smallest loss scale (3 points)
#
# The lesson multiplied one tiny fp16 gradient by a loss scale `S = 2¹⁴` so that it did not underflow to 0. Which
# `S` is enough? Write `smallest_loss_scale(grads)`:
#
# - `grads` is a float32 tensor of exact gradient values (any shape);
# - try `S = 2**k` for `k = 0, 1, 2, …` and return the **smallest** `S` (a Python float) for which **every non-zero**
#   gradient, multiplied by `S` (in float32) and then cast to float16, is still non-zero; zeros stay zeros and do not
#   count. (A power of two only moves the exponent, so multiplying by `S` in float32 rounds nothing.)
# - if, at that smallest `S` (`S = 1` included), some scaled gradient overflows (casts to `inf` or `-inf`), no power
#   of two can save this tensor in fp16: raise `ValueError`. Also raise `ValueError` if `k = 64` is still not enough.
#
# Careful: float16's smallest number is the subnormal 2⁻²⁴ ≈ 6 × 10⁻⁸, and a value just *above half* of it rounds
# *up* to it instead of to 0. Casting (`.to(torch.float16)`) is the judge, not a formula on paper.

# %% nbgrader={"grade": false, "grade_id": "loss_scale", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smallest_loss_scale(grads: torch.Tensor) -> float:
    """The smallest S = 2**k (k = 0 ... 64) with every non-zero gradient * S non-zero in float16."""
    ### BEGIN SOLUTION
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(65):
        scaled = (nonzero * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf(scaled).any():
                raise ValueError(f"at S = 2**{k} the small gradients survive but the large ones overflow fp16")
            return 2.0 ** k
    raise ValueError("even S = 2**64 leaves a gradient at 0 in fp16")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_loss_scale", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the smallest power of two that keeps every non-zero gradient non-zero in fp16 (2 points)"""
assert smallest_loss_scale(torch.tensor([0.5, -1e-3, 0.0])) == 1.0, "nothing underflows: S = 1"
_s = smallest_loss_scale(torch.tensor([1e-8, 0.25]))
print(f"1e-8 needs S = {_s:g}; in fp16: {torch.tensor(1e-8 * _s).half().item():.3e}, "
      f"with S / 2: {torch.tensor(1e-8 * _s / 2).half().item():.3e}")
assert _s == 4.0, "1e-8 * 2 rounds to 0 in fp16, 1e-8 * 4 does not"
assert isinstance(_s, float)
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_scale(grads):
    _v = grads.double().reshape(-1)
    _v = _v[_v != 0]
    for _k in range(65):
        _h = (_v * 2.0 ** _k).float().half()
        if bool((_h != 0).all()):
            return 2.0 ** _k


### END REFERENCE
_g = torch.Generator().manual_seed(1008)
for _lo, _hi in ((-34, -20), (-40, -6), (-27, -25), (-60, -45), (-12, -3), (-30, -24)):
    _x = torch.exp2(torch.empty(300).uniform_(_lo, _hi, generator=_g)) * torch.randn(300, generator=_g).sign()
    _x[::17] = 0.0
    ### BEGIN REFERENCE
    _want = _hidden_scale(_x)
    ### END REFERENCE
    _got = smallest_loss_scale(_x.clone())
    assert isinstance(_got, float), f"return a Python float, not {type(_got).__name__}"
    expect_equal(_got, _want, message=f"gradients between 2**{_lo} and 2**{_hi}: S = {_got} is not the smallest")
expect_equal(smallest_loss_scale(torch.tensor([2.0 ** -88, -2.0 ** -80])), 2.0 ** 64,
             message="k = 64 is the last one tried, and it is enough")
# the smallest magnitude is negative: 2**-40 needs 2**16 (2**-40 * 2**15 = 2**-25 rounds to 0), 2**-30 only 2**6
expect_equal(smallest_loss_scale(torch.tensor([2.0 ** -30, -2.0 ** -40, 0.0, 0.5])), 2.0 ** 16,
             message="a negative gradient must survive too: the non-zero values, whatever their sign")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_loss_scale_overflow", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""ValueError when the scale that rescues the small gradients overflows the large ones (1 point)"""
try:
    smallest_loss_scale(torch.tensor([1e-9, 4000.0]))
except ValueError:
    pass
else:
    raise AssertionError("1e-9 needs S = 32, which sends 4000 to 128,000: above fp16's 65,504, so raise ValueError")
assert smallest_loss_scale(torch.tensor([1e-9, 1000.0])) == 32.0, "1000 * 32 = 32,000 still fits in fp16"

### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1009)
for _ in range(3):
    _x = torch.exp2(torch.empty(200).uniform_(-36, 14, generator=_g))
    try:
        smallest_loss_scale(_x)
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError",
                 message="gradients from 2**-36 to 2**14: the rescuing scale overflows the large ones")
_x = torch.tensor([2.0 ** -30, 16.0, -3.0])  # 2**-30 * 2**5 is half of fp16's smallest step (rounds to 0): S = 2**6
expect_equal(smallest_loss_scale(_x), 2.0 ** 6, message="16 * 2**6 = 1024 stays finite: no reason for ValueError")
_x = torch.tensor([2.0 ** -30, 1023.59375])  # 1023.59375 * 2**6 = 65,510 is above 65,504 but rounds DOWN to it in fp16
expect_equal(smallest_loss_scale(_x), 2.0 ** 6,
             message="65,510 casts to fp16's 65,504, not to inf: the cast is the judge, not > 65,504")
expect_equal(smallest_loss_scale(torch.zeros(5)), 1.0, message="all zeros: nothing to rescue, S = 1")
try:  # 2**-89 * 2**64 = 2**-25, half of fp16's smallest step: rounds to 0 even at k = 64
    smallest_loss_scale(torch.tensor([2.0 ** -89, 1.0]))
    _raised = "nothing"
except ValueError:
    _raised = "ValueError"
expect_equal(_raised, "ValueError", message="2**-89 needs more than 2**64: raise ValueError")
for _x, _why in ((torch.tensor([2.0 ** -30, -4000.0]), "-4000 * 2**6 = -256,000 casts to -inf: overflow by magnitude"),
                 (torch.tensor([1e5, 0.5]), "1e5 overflows fp16 already at S = 1 (the smallest S): raise ValueError"),
                 (torch.tensor([-7e4]), "-70,000 overflows fp16 already at S = 1: raise ValueError")):
    try:
        smallest_loss_scale(_x)
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=_why)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — experiment: fp16 or bf16 for this tensor? (3 points)
#
# fp16 has 3 more mantissa bits than bf16, bf16 has fp16's 3 missing exponent bits. Which matters depends on the
# numbers. Measure it: `rounding_errors(x)` returns `(fp16_error, bf16_error, better)`:
#
# - `x` is a float32 tensor without zeros; store it in each format (`x.to(dtype)`) and compare with `x`;
# - each error is the **mean relative error** `mean(|stored − x| / |x|)`, computed in **float64**, as a Python
#   `float` (a value that overflows to `inf` has an infinite error, so the mean is `inf`);
# - `better` is `"float16"` or `"bfloat16"`, whichever **measured** error is strictly smaller, and `"tie"` only when
#   they are exactly equal (`==`: two errors that agree to four digits and differ after are not a tie).
#
# The hidden tests grade both errors against a reference to a relative **10⁻⁹** (`math.isclose(..., rel_tol=1e-9)`:
# float64 arithmetic lands within 10⁻¹³ of it, float32 arithmetic is off by about 10⁻⁷)
# and the reading on fresh tensors of different sizes of numbers. Before you run it: which format wins for
# weights near 1, for gradients near 10⁻⁶, for activations near 10⁵?

# %% nbgrader={"grade": false, "grade_id": "rounding_errors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    """(mean relative error of x in fp16, the same in bf16, "float16" | "bfloat16" | "tie")."""
    ### BEGIN SOLUTION
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rounding_errors", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the two mean relative errors, measured in float64, within 1e-6 of the reference (2 points)"""
_fp16, _bf16, _better = rounding_errors(torch.randn(10_000, generator=torch.Generator().manual_seed(10)))
print(f"x ~ N(0, 1): fp16 {_fp16:.2e}, bf16 {_bf16:.2e} -> {_better}")
assert isinstance(_fp16, float) and isinstance(_bf16, float), "Python floats (.item())"
assert 1e-4 < _fp16 < 3e-4 and 1e-3 < _bf16 < 2e-3, "near 1 the mean relative error is about eps / 6: fp16 2e-4, bf16 1.4e-3"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_errors(x):
    _exact = x.double()
    return tuple(((x.to(_d).double() - _exact).abs() / _exact.abs()).mean().item()
                 for _d in (torch.float16, torch.bfloat16))


### END REFERENCE
_g = torch.Generator().manual_seed(1010)
for _x in (torch.randn(3000, generator=_g) * 0.02, torch.randn(64, 48, generator=_g) * 3e-6,
           torch.rand(2000, generator=_g) * 9e4 + 1e4, torch.exp2(torch.randint(-20, 20, (500,), generator=_g).float())):
    _x = torch.where(_x == 0, torch.ones_like(_x), _x)
    ### BEGIN REFERENCE
    _want = _hidden_errors(_x)
    ### END REFERENCE
    _got = rounding_errors(_x.clone())
    assert all(isinstance(_v, float) for _v in _got[:2]), "errors: Python floats"
    # as tensors: torch.allclose takes two equal infinities as close (float16 overflows above 65,504: its error is
    # inf there), as the old `_a == _b or math.isclose(_a, _b, rel_tol=1e-9)` did
    expect_close(torch.tensor([float(_v) for _v in _got[:2]], dtype=torch.float64),
                 torch.tensor(_want, dtype=torch.float64), rtol=1e-9, atol=0.0,
                 message=f"(fp16, bf16) errors ({_got[0]:.10e}, {_got[1]:.10e}): off (computed in float64?)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rounding_reading", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the reading: the format with the strictly smaller error, or "tie" (1 point)"""
_fp16, _bf16, _better = rounding_errors(torch.tensor([0.1, 0.3, -2.7]))
assert _better in ("float16", "bfloat16", "tie")
assert _better == "float16", "near 1, fp16's 10 mantissa bits beat bf16's 7"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1011)
for _x, _want in ((torch.rand(500, generator=_g) * 1e-6 + 1e-7, "bfloat16"),  # fp16 subnormals: few digits left
                  (torch.rand(500, generator=_g) + 0.5, "float16"),
                  (torch.rand(500, generator=_g) * 1e5 + 7e4, "bfloat16"),  # above 65,504: fp16 overflows
                  (torch.tensor([0.5, -4.0, 2.0 ** -10, 1024.0]), "tie")):  # powers of two: both store them exactly
    _got = rounding_errors(_x)
    expect_equal(_got[2], _want, message=f"this tensor: {_want}, not {_got[2]}")
_g = torch.Generator().manual_seed(1012)
# a near-tie: fp16 1.48349e-3, bf16 1.48366e-3 (1.2e-4 apart, far above float64's rounding): not equal, not a "tie"
_x = torch.cat([torch.rand(400, generator=_g) + 0.5, torch.rand(29, generator=_g) * 2e-6 + 1e-7, torch.tensor([3.23e-7])])
_got = rounding_errors(_x)
expect_equal(_got[2], "float16", message=f"errors close but not equal: the smaller one wins, not {_got[2]}")
# one value below fp16's smallest normal (3e-5 is an fp16 subnormal) among values near 1: fp16 still has the smaller
# mean error (1.9e-4 against bf16's 1.5e-3): the measurement decides, not the range of the values
_g = torch.Generator().manual_seed(1013)
_x = torch.cat([torch.rand(500, generator=_g) + 0.5, torch.tensor([3e-5])])
_got = rounding_errors(_x)
expect_equal(_got[2], "float16", message=f"measured: fp16's mean error is the smaller one here, not {_got[2]}")
### END HIDDEN TESTS
