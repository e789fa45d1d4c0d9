# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 10 — precision and the memory budget
#
# Lesson 10 counted the bytes of a model and of its training. Here you write the arithmetic yourself.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 30 minutes. Points: 11.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random

import torch


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — the weights (2 points)
#
# Write `model_memory_gb(n_params, bits)`: the memory of `n_params` weights stored with `bits` bits each, in GB
# (1 GB = 10⁹ bytes). `bits` may be fractional (NF4 with double quantization is about 4.127 bits).

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
_rng = random.Random(1001)
for _ in range(20):
    _n, _b = _rng.uniform(1e6, 1e11), _rng.choice([32, 16, 8, 4, 4.127, 4.5])
    assert math.isclose(model_memory_gb(_n, _b), _n * _b / 8e9, rel_tol=1e-9), f"model_memory_gb({_n:.3g}, {_b})"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the training bill (6 points)
#
# Write `training_memory_gb(n_params, n_trainable, frozen_bits=16, trainable_bits=32)` returning a dict with the
# keys `"weights"`, `"gradients"`, `"optimizer"`, `"total"` (GB, 10⁹ bytes), for training with **Adam**:
#
# - **full fine-tune** (`n_trainable >= n_params`): every weight is trainable and stored with `trainable_bits`;
# - **LoRA** (`n_trainable < n_params`): the base's `n_params` weights are frozen and stored with `frozen_bits`;
#   the `n_trainable` adapter weights come *on top*, stored with `trainable_bits`;
# - every trainable weight has one gradient of `trainable_bits`, and Adam keeps **two** float32 states (m and v) for it;
# - when the trainable weights are stored in fewer than 32 bits (mixed precision), Adam updates an **fp32 master
#   copy** of them (lesson 10: 16-bit steps would round the updates away): 4 more bytes per trainable parameter,
#   counted under `"optimizer"`;
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
    assert math.isclose(_b["weights"], _n * _tb / 8e9, rel_tol=1e-9), "full fine-tune weights"
    assert math.isclose(_b["gradients"], _n * _tb / 8e9, rel_tol=1e-9), "full fine-tune gradients"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bill_lora_weights", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""LoRA: frozen base + adapter weights, gradients only for the adapter (2 points)"""
_bill = training_memory_gb(7e9, 8e6, frozen_bits=16)
assert math.isclose(_bill["weights"], 14.0 + 0.032), "14 GB of bf16 base + 8M fp32 adapter weights"
assert math.isclose(_bill["gradients"], 0.032), "only the adapter has gradients"
### BEGIN HIDDEN TESTS
_rng = random.Random(1003)
for _ in range(10):
    _n = _rng.uniform(1e8, 7e10)
    _k, _fb = _n * _rng.uniform(1e-4, 0.05), _rng.choice([16, 4.127, 32])
    _b = training_memory_gb(_n, _k, frozen_bits=_fb)
    assert math.isclose(_b["weights"], (_n * _fb / 8 + _k * 4) / 1e9, rel_tol=1e-9), "LoRA weights"
    assert math.isclose(_b["gradients"], _k * 4 / 1e9, rel_tol=1e-9), "LoRA gradients"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bill_optimizer", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Adam: two float32 states per trainable parameter (plus an fp32 master copy of 16-bit ones), none for frozen ones (2 points)"""
assert math.isclose(training_memory_gb(7e9, 7e9)["optimizer"], 56.0), "Adam's m and v: 8 bytes per trainable parameter"
assert math.isclose(training_memory_gb(7e9, 7e9, trainable_bits=16)["optimizer"], 84.0), \
    "16-bit trainable weights: m and v (8 bytes) plus an fp32 master copy (4 bytes)"
### BEGIN HIDDEN TESTS
_rng = random.Random(1004)
for _ in range(10):
    _n = _rng.uniform(1e8, 7e10)
    _k = _n * _rng.uniform(1e-4, 0.05)
    assert math.isclose(training_memory_gb(_n, _k)["optimizer"], _k * 8 / 1e9, rel_tol=1e-9), "LoRA: states for the adapter only"
    assert math.isclose(training_memory_gb(_n, _n, trainable_bits=16)["optimizer"], _n * 12 / 1e9, rel_tol=1e-9), \
        "16-bit weights: Adam's float32 m and v plus an fp32 master copy"
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
    assert math.isclose(_b["total"], (_n * 4.127 / 8 + _k * 16) / 1e9, rel_tol=1e-9), "QLoRA-style total"
    assert math.isclose(training_memory_gb(_n, _n)["total"], _n * 16 / 1e9, rel_tol=1e-9), "full fine-tune total"
    assert math.isclose(training_memory_gb(_n, _n, trainable_bits=16)["total"], _n * 16 / 1e9, rel_tol=1e-9), \
        "mixed-precision full fine-tune: 2 + 2 + 4 + 8 bytes"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — what accumulates (3 points)
#
# Write `accumulate(increment, steps, dtype)`: start from 0 and add `increment` `steps` times, **keeping the running
# sum in `dtype`** after every addition (as an optimizer does when it stores weights in that dtype). Return the
# final sum as a Python float. In float16, adding 0.0001 twenty thousand times does not give 2.

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
    assert abs(accumulate(_inc, _steps, torch.float32) - _inc * _steps) < 1e-3 * _inc * _steps
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_accumulate_half", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""float16 and bfloat16 stall: the running sum is rounded at every step (2 points)"""
_fp16 = accumulate(1e-4, 20_000, torch.float16)
print("float16:", _fp16)
assert _fp16 < 1.0, "in float16 the sum stalls far below 2.0"
### BEGIN HIDDEN TESTS
def _reference(increment, steps, dtype):
    _t, _s = torch.tensor(0.0, dtype=dtype), torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        _t = _t + _s
    return _t.item()

_rng = random.Random(1007)
for _dtype in (torch.float16, torch.bfloat16):
    for _ in range(2):
        _inc, _steps = _rng.uniform(1e-4, 1e-3), _rng.randint(2000, 6000)
        assert accumulate(_inc, _steps, _dtype) == _reference(_inc, _steps, _dtype), f"{_dtype} running sum"
### END HIDDEN TESTS
