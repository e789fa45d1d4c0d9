# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 09 — diagnose a failing fine-tune
#
# Lesson 09 showed what LoRA's hyperparameters do to the loss curves. Here you turn that into a tool: given the
# training and validation curves of a run, say what went wrong. Then you keep a tuned run's behaviour when you
# change its rank.
#
# - Write your code between the lines marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Test cells show some checks; hidden checks use fresh random curves of each kind.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 25 minutes. 10 points.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import torch


def make_curves(kind: str, seed: int, steps: int = 60, evals: int = 12) -> tuple[list[float], list[float]]:
    # Synthetic loss curves shaped like the runs of lesson 09 (train: every step; validation: `evals` points).
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(1, generator=g).item()
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    tv = torch.linspace(0, 1, evals, dtype=torch.float64)
    start, floor, speed = u(8.0, 14.0), u(0.8, 2.5), u(4.0, 9.0)
    noise = lambda n, s: s * torch.randn(n, generator=g, dtype=torch.float64)
    if kind == "healthy":
        train = floor + (start - floor) * torch.exp(-speed * t) + noise(steps, 0.05)
        val = floor * u(1.05, 1.2) + (start - floor) * torch.exp(-speed * tv) + noise(evals, 0.02)
    elif kind == "overfitting":
        train = 0.2 * floor + (start - 0.2 * floor) * torch.exp(-speed * t) + noise(steps, 0.05)
        v_min, turn = floor * u(1.1, 1.3), u(0.3, 0.5)
        val = v_min + (start - v_min) * torch.exp(-speed * tv / turn) + u(1.0, 3.0) * (tv - turn).clamp(min=0) ** 1.5
    elif kind == "not_learning":
        train = start * (1 - u(0.0, 0.04) * t) + noise(steps, 0.05)
        val = start * (1 - u(0.0, 0.03) * tv) + noise(evals, 0.02)
    elif kind == "diverged":
        blow = u(0.2, 0.6)
        train = start - 2 * torch.sin(math.pi * t) * (t < blow) + u(3, 8) * (t - blow).clamp(min=0) * 10 + noise(steps, 0.3)
        val = start + u(3, 8) * (tv - blow).clamp(min=0) * 10
        if u(0, 1) < 0.3:
            train[int(steps * 0.8):] = float("nan")
    else:
        raise ValueError(kind)
    return train.tolist(), val.tolist()


KINDS = ["healthy", "overfitting", "not_learning", "diverged"]
fig, axes = plt.subplots(1, 4, figsize=(14, 3), sharey=True)
for ax, kind in zip(axes, KINDS, strict=True):
    train, val = make_curves(kind, seed=0)
    ax.plot(train, label="train")
    ax.plot(torch.linspace(0, len(train) - 1, len(val)), val, "o-", label="validation")
    ax.set(title=kind, xlabel="step")
axes[0].set_ylabel("loss")
axes[0].legend()
plt.show()


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — read the curves (8 points)
#
# `diagnose(train_loss, val_loss)` gets the training loss of every step and the validation loss at a few evaluation
# points, and returns one of four strings:
#
# | return | what the curves show | typical cause (lesson 09) |
# |---|---|---|
# | `"diverged"` | a loss is NaN or infinite, or the training loss ends **higher** than it started | learning rate too high |
# | `"not_learning"` | the training loss barely moves: its end is above 90 % of its start | nothing trainable, `A = B = 0`, learning rate far too low |
# | `"overfitting"` | training loss falls, but the last validation loss is more than 10 % above the best one | tiny data set, too many steps, no dropout |
# | `"healthy"` | none of the above | — |
#
# Check them in this order. Steps are noisy: compare the **mean of the first 3** and the **mean of the last 3**
# training losses, not single values.

# %% nbgrader={"grade": false, "grade_id": "diagnose", "locked": false, "schema_version": 3, "solution": true, "task": false}
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """One of "diverged", "not_learning", "overfitting", "healthy" for a fine-tune's loss curves."""
    ### BEGIN SOLUTION
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    start = train[:3].mean()
    end = train[-3:].mean()
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    if val[-1] > 1.1 * val.min():
        return "overfitting"
    return "healthy"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_healthy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""healthy runs are called healthy (2 points)"""
assert diagnose(*make_curves("healthy", seed=1)) == "healthy"
### BEGIN HIDDEN TESTS
for _s in range(900, 915):
    assert diagnose(*make_curves("healthy", seed=_s)) == "healthy", f"healthy run {_s} misdiagnosed"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_overfitting", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""overfitting: train falls while validation turns up (2 points)"""
assert diagnose(*make_curves("overfitting", seed=1)) == "overfitting"
### BEGIN HIDDEN TESTS
for _s in range(920, 935):
    assert diagnose(*make_curves("overfitting", seed=_s)) == "overfitting", f"overfitting run {_s} missed"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_not_learning", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a flat training loss is not_learning (2 points)"""
assert diagnose(*make_curves("not_learning", seed=1)) == "not_learning"
### BEGIN HIDDEN TESTS
for _s in range(940, 955):
    assert diagnose(*make_curves("not_learning", seed=_s)) == "not_learning", f"flat run {_s} missed"
assert diagnose([5.0] * 30, [5.0] * 5) == "not_learning"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_diverged", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a loss that blows up or turns NaN is diverged (2 points)"""
assert diagnose(*make_curves("diverged", seed=1)) == "diverged"
assert diagnose([3.0, 2.5, 2.0, float("nan"), float("nan")], [3.0, 2.8]) == "diverged"
### BEGIN HIDDEN TESTS
for _s in range(960, 975):
    assert diagnose(*make_curves("diverged", seed=_s)) == "diverged", f"diverging run {_s} missed"
assert diagnose([4.0, 3.0, 2.0, 1.5, 1.4, 1.3], [2.0, float("inf")]) == "diverged"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — change the rank, keep the learning rate (2 points)
#
# - `lora_scale(r, alpha)`: the factor LoRA multiplies `B·A` by.
# - `alpha_for_rank(r, reference_r, reference_alpha)`: a run with rank `reference_r` and `lora_alpha =
#   reference_alpha` trains well with Adam at its learning rate. You want rank `r` **with the same learning rate**.
#   Which `lora_alpha` keeps the size of the adapter's steps the same? (Lesson 09, section 2: under Adam each entry of
#   `B` moves by about `lr` per step, and the output update sums `r` of them times the scale.)
#
# Both raise `ValueError` for a rank below 1.

# %% nbgrader={"grade": false, "grade_id": "alpha", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lora_scale(r: int, alpha: float) -> float:
    """The factor LoRA multiplies B @ A by."""
    ### BEGIN SOLUTION
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / r
    ### END SOLUTION


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    """The lora_alpha for rank r that keeps the step size of a run tuned at (reference_r, reference_alpha)."""
    ### BEGIN SOLUTION
    if r < 1 or reference_r < 1:
        raise ValueError("ranks must be positive")
    return reference_alpha
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_lora_scale", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""lora_scale is alpha / r (1 point)"""
assert lora_scale(8, 16) == 2.0
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(90902)
for _ in range(10):
    _r = int(torch.randint(1, 129, (1,), generator=_g))
    _a = float(torch.randint(1, 257, (1,), generator=_g))
    assert abs(lora_scale(_r, _a) - _a / _r) < 1e-12, "the scale is alpha / r"
for _bad in (0, -4):
    try:
        lora_scale(_bad, 16)
        raise AssertionError(f"lora_scale(r={_bad}) must raise ValueError")
    except ValueError as _expected_error:
        pass
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_alpha_for_rank", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""alpha_for_rank keeps the step size: scale x r stays the same (1 point)"""
assert alpha_for_rank(8, reference_r=8, reference_alpha=16) == 16
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(90901)
for _ in range(10):
    _r, _r0 = (int(v) for v in torch.randint(1, 129, (2,), generator=_g))
    _a0 = float(torch.randint(1, 257, (1,), generator=_g))
    _a = alpha_for_rank(_r, _r0, _a0)
    assert abs((_a / _r) * _r - (_a0 / _r0) * _r0) < 1e-9, "the step size (alpha / r) * r must stay the same"
try:
    alpha_for_rank(0, 8, 16)
    raise AssertionError("r = 0 must raise ValueError")
except ValueError as _expected_error:
    pass
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Try your `diagnose` on the curves lesson 09 plotted, and read its verdicts critically. The too-high learning rates
# there do **not** come out `"diverged"`: their loss jumps in the first steps but still ends far below where it
# started (the lesson prints the last losses), so the rule "ends higher than it started" calls them healthy. A
# learning rate can be too high without diverging; what gives it away is the comparison with the good run. Nor can
# the tiny-data runs come out `"overfitting"`: the lesson measured their validation loss once, at the end, and the
# rule needs several evaluations to see the validation loss turn up. Restart & Run All, then submit.
