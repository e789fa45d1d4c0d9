# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 09 — diagnose a failing fine-tune
#
# Lesson 09 showed what LoRA's hyperparameters do to the loss curves. Here you turn that into a tool: given the
# training and validation curves of a run, say what went wrong. Then you keep a tuned run's behaviour when you
# change its rank, and measure which scale keeps the first step steady across ranks under SGD and under Adam.
#
# - Write your code between the lines marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Test cells show some checks; hidden checks use fresh random curves of each kind.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 45 minutes. 16 points.

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
    expect_equal(diagnose(*make_curves("healthy", seed=_s)), "healthy", message=f"healthy run {_s} misdiagnosed")
for _s in range(915, 920):  # every rule is a ratio: a loss measured in other units reads the same
    _t, _v = make_curves("healthy", seed=_s)
    expect_equal(diagnose([10 * _x for _x in _t], [10 * _x for _x in _v]), "healthy", message=f"healthy run {_s} x 10 misdiagnosed")


def _hidden_falling(start, end, steps, gen):
    # a noisy falling training curve whose first 3 and last 3 losses average exactly `start` and `end`
    _t = torch.linspace(0, 1, steps, dtype=torch.float64)
    _c = start + (end - start) * _t.sqrt() + 0.02 * start * torch.randn(steps, generator=gen, dtype=torch.float64)
    _c[:3] += start - _c[:3].mean()
    _c[-3:] += end - _c[-3:].mean()
    return _c.tolist()


_g = torch.Generator().manual_seed(90904)
for _ in range(5):  # a slow but real fall: the end at 82-88 % of the start is below the 90 % of "not_learning"
    _start = 4 + 6 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _ratio = 0.82 + 0.06 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _v = torch.linspace(1.05 * _start, 1.05 * _ratio * _start, 6, dtype=torch.float64).tolist()  # its last is its best
    expect_equal(diagnose(_hidden_falling(_start, _ratio * _start, 40, _g), _v), "healthy",
                 message=f"the training loss ends at {_ratio:.1%} of its start (below 90 %): not not_learning")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_overfitting", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""overfitting: train falls while validation turns up (2 points)"""
assert diagnose(*make_curves("overfitting", seed=1)) == "overfitting"
### BEGIN HIDDEN TESTS
for _s in range(920, 935):
    expect_equal(diagnose(*make_curves("overfitting", seed=_s)), "overfitting", message=f"overfitting run {_s} missed")
for _s in range(935, 940):  # every rule is a ratio: "10 % above the best", not 0.1 above it
    _t, _v = make_curves("overfitting", seed=_s)
    expect_equal(diagnose([_x / 10 for _x in _t], [_x / 10 for _x in _v]), "overfitting", message=f"overfitting run {_s} / 10 missed")


def _hidden_falling(start, end, steps, gen):
    # a noisy falling training curve whose first 3 and last 3 losses average exactly `start` and `end`
    _t = torch.linspace(0, 1, steps, dtype=torch.float64)
    _c = start + (end - start) * _t.sqrt() + 0.02 * start * torch.randn(steps, generator=gen, dtype=torch.float64)
    _c[:3] += start - _c[:3].mean()
    _c[-3:] += end - _c[-3:].mean()
    return _c.tolist()


_g = torch.Generator().manual_seed(90905)
for _ in range(5):  # the last validation loss 10.2-10.9 % above the best one: more than 10 % above it
    _start = 4 + 6 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _best = 0.5 * _start
    _rise = 1.102 + 0.007 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _v = [0.9 * _start, 0.7 * _start, _best, 1.03 * _best, 1.06 * _best, _rise * _best]
    expect_equal(diagnose(_hidden_falling(_start, 0.4 * _start, 40, _g), _v), "overfitting",
                 message=f"the last validation loss is {_rise - 1:.1%} above the best one (more than 10 %): overfitting")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_not_learning", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a flat training loss is not_learning (2 points)"""
assert diagnose(*make_curves("not_learning", seed=1)) == "not_learning"
### BEGIN HIDDEN TESTS
for _s in range(940, 955):
    expect_equal(diagnose(*make_curves("not_learning", seed=_s)), "not_learning", message=f"flat run {_s} missed")
expect_equal(diagnose([5.0] * 30, [5.0] * 5), "not_learning")


def _hidden_falling(start, end, steps, gen):
    # a noisy falling training curve whose first 3 and last 3 losses average exactly `start` and `end`
    _t = torch.linspace(0, 1, steps, dtype=torch.float64)
    _c = start + (end - start) * _t.sqrt() + 0.02 * start * torch.randn(steps, generator=gen, dtype=torch.float64)
    _c[:3] += start - _c[:3].mean()
    _c[-3:] += end - _c[-3:].mean()
    return _c.tolist()


_g = torch.Generator().manual_seed(90906)
for _ in range(5):  # the end at 90.2-90.8 % of the start: above 90 %, so not_learning
    _start = 4 + 6 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _ratio = 0.902 + 0.006 * float(torch.rand(1, generator=_g, dtype=torch.float64))
    _v = torch.linspace(1.05 * _start, 1.05 * _ratio * _start, 6, dtype=torch.float64).tolist()
    expect_equal(diagnose(_hidden_falling(_start, _ratio * _start, 40, _g), _v), "not_learning",
                 message=f"the training loss ends at {_ratio:.1%} of its start (above 90 %): not_learning")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_diverged", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a loss that blows up or turns NaN is diverged (2 points)"""
assert diagnose(*make_curves("diverged", seed=1)) == "diverged"
assert diagnose([3.0, 2.5, 2.0, float("nan"), float("nan")], [3.0, 2.8]) == "diverged"
### BEGIN HIDDEN TESTS
for _s in range(960, 975):
    expect_equal(diagnose(*make_curves("diverged", seed=_s)), "diverged", message=f"diverging run {_s} missed")
expect_equal(diagnose([4.0, 3.0, 2.0, 1.5, 1.4, 1.3], [2.0, float("inf")]), "diverged")
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
# Both raise `ValueError` for a rank below 1 (for `alpha_for_rank`: either of its two ranks, `r` or `reference_r`).

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
    expect_close(lora_scale(_r, _a), _a / _r, rtol=0.0, atol=1e-12, message="the scale is alpha / r")
for _bad in (0, -4):
    try:
        lora_scale(_bad, 16)
        _raised = "nothing"
    except ValueError as _hidden_error:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"lora_scale(r={_bad}) must raise ValueError")
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
    expect_close((_a / _r) * _r, (_a0 / _r0) * _r0, rtol=0.0, atol=1e-9,
                 message="the step size (alpha / r) * r must stay the same")
for _bad in ((0, 8), (-3, 8), (8, 0), (8, -2)):
    try:
        alpha_for_rank(*_bad, 16)
        _raised = "nothing"
    except ValueError as _hidden_error:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"r, reference_r = {_bad}: a rank below 1 must raise ValueError")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — the rank-stabilised scale (2 points)
#
# Lesson 09's argument for `α/r` assumed Adam: every entry of `B` moves by about the learning rate, whatever its
# gradient. Plain SGD moves each entry by `lr × gradient`, and the gradient of `B` is itself multiplied by the scale,
# so under SGD the first step's effect grows like `scale² × r`. *rsLoRA* (Kalajdzievski, 2023; PEFT's
# `use_rslora=True`) therefore scales by `α/√r` instead of `α/r`.
#
# Write `rslora_scale(r, alpha)`: the rank-stabilised factor `α/√r` as a Python `float`; `ValueError` for a rank
# below 1. (`math` is allowed.)

# %% nbgrader={"grade": false, "grade_id": "rslora", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rslora_scale(r: int, alpha: float) -> float:
    """rsLoRA's factor alpha / sqrt(r) for B @ A."""
    ### BEGIN SOLUTION
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / math.sqrt(r)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rslora", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""rslora_scale is alpha / sqrt(r), a float, ValueError below rank 1 (2 points)"""
assert abs(rslora_scale(16, 8) - 2.0) < 1e-12
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(90903)
for _ in range(10):
    _r = int(torch.randint(2, 129, (1,), generator=_g))
    _a = float(torch.randint(1, 257, (1,), generator=_g))
    _got = rslora_scale(_r, _a)
    assert isinstance(_got, float), "a Python float"
    expect_close(_got, _a / math.sqrt(_r), rtol=0.0, atol=1e-9 * _a,
                 message=f"r = {_r}, alpha = {_a}: the scale is alpha / sqrt(r)")
for _bad in (0, -9):
    try:
        rslora_scale(_bad, 16)
        _raised = "nothing"
    except ValueError as _hidden_error:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"rslora_scale(r={_bad}) must raise ValueError")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — experiment: which scale keeps the first step steady across ranks? (4 points)
#
# A toy layer, no model: `make_problem(seed)` gives inputs `X` (512, 128) and targets `Y` (512, 128) of a random
# linear map; `init_adapter(r, seed)` gives LoRA's `A` (r, 128, random) and `B` (128, r, zeros) for that problem.
# The layer's output is `X @ (scale · B @ A)ᵀ` and the loss is the mean squared error `((output − Y)²).mean()`.
#
# 1. `first_step_gain(r, scale, optimizer, seed=0)`: make the problem and the adapter, make **both** `A` and `B`
#    trainable, take **one** step of `torch.optim.SGD(..., lr=5.0)` (`optimizer="sgd"`) or
#    `torch.optim.Adam(..., lr=0.02)` (`optimizer="adam"`), and return the **relative** loss drop
#    `(loss_before − loss_after) / loss_before` as a Python `float` (float32 is fine; graded to a relative 10⁻³).
# 2. `GAIN_RATIOS`: a dict with the keys `("sgd", "alpha/r")`, `("sgd", "alpha/sqrt(r)")`, `("adam", "alpha/r")`,
#    `("adam", "alpha/sqrt(r)")`, each the gain at `r = 64` divided by the gain at `r = 4`, with `α = 4` and the
#    scale named in the key (`lora_scale` or `rslora_scale`), seed 0 (graded to a relative 10⁻³).
# 3. `STEADY`: a dict `{"sgd": ..., "adam": ...}` naming, for each optimizer, the scale (`"alpha/r"` or
#    `"alpha/sqrt(r)"`) whose ratio is closer to 1 — the one that lets you change `r` without retuning.
#
# Before you run it: which scale does each optimizer want?

# %% nbgrader={"grade": false, "grade_id": "setup_gain", "locked": true, "schema_version": 3, "solution": false, "task": false}
def make_problem(seed: int, n: int = 512, width: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    # Inputs (n, width) and the targets (n, width) of a random linear map: what the adapter should learn.
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, width, generator=g)
    w_true = torch.randn(width, width, generator=g) / math.sqrt(width)
    return x, x @ w_true.T  # (n, width)


def init_adapter(r: int, seed: int, width: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    # LoRA's start: A (r, width) random with rows of norm about 1, B (width, r) zeros, so B @ A = 0.
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(r, width, generator=g) / math.sqrt(width), torch.zeros(width, r)


# %% nbgrader={"grade": false, "grade_id": "gain", "locked": false, "schema_version": 3, "solution": true, "task": false}
def first_step_gain(r: int, scale: float, optimizer: str, seed: int = 0) -> float:
    """Relative drop of the toy layer's MSE after one SGD (lr 5) or Adam (lr 0.02) step on A and B."""
    ### BEGIN SOLUTION
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    if optimizer == "sgd":
        adapter_opt = torch.optim.SGD([a, b], lr=5.0)
    elif optimizer == "adam":
        adapter_opt = torch.optim.Adam([a, b], lr=0.02)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")

    def loss() -> torch.Tensor:
        return ((x @ (scale * b @ a).T - y) ** 2).mean()  # (n, width) -> ()

    before = loss()
    adapter_opt.zero_grad()
    before.backward()
    adapter_opt.step()
    after = loss().item()
    return (before.item() - after) / before.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gain", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""first_step_gain: one SGD or Adam step on A and B, the relative loss drop, within 1e-3 of the reference (2 points)"""
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_gain(r, scale, optimizer, seed):
    _x, _y = make_problem(seed)
    _x, _y = _x.double(), _y.double()
    _a, _b = (t.double().requires_grad_(True) for t in init_adapter(r, seed))
    _opt = (torch.optim.SGD([_a, _b], lr=5.0) if optimizer == "sgd" else torch.optim.Adam([_a, _b], lr=0.02))
    _before = ((_x @ (scale * _b @ _a).T - _y) ** 2).mean()
    _opt.zero_grad()
    _before.backward()
    _opt.step()
    _after = ((_x @ (scale * _b @ _a).T - _y) ** 2).mean().detach()
    return float((_before.detach() - _after) / _before.detach())


### END REFERENCE
### END HIDDEN TESTS


_gain = first_step_gain(4, 1.0, "sgd", seed=0)
print(f"r = 4, scale 1, one SGD step: the loss drops by {_gain:.2%}")
assert isinstance(_gain, float) and 0 < _gain < 1, "a relative drop: a float between 0 and 1"
### BEGIN HIDDEN TESTS
# (4, 8.0, "adam"): a scale so large that Adam's first step overshoots, and the gain is small (0.1 % of the loss at
# seed 36): the relative 1e-3 sees the optimizer's details there (AdamW's default weight decay of 0.01 shrinks A)
for _r, _scale, _opt_name, _seed in ((8, 0.5, "sgd", 31), (32, 4 / math.sqrt(32), "sgd", 32), (2, 1.5, "adam", 33),
                                     (16, 0.25, "adam", 34), (64, 4 / 64, "adam", 35), (4, 8.0, "adam", 0),
                                     (4, 8.0, "adam", 36)):
    ### BEGIN REFERENCE
    _want = _hidden_gain(_r, _scale, _opt_name, _seed)
    ### END REFERENCE
    _got = first_step_gain(_r, _scale, _opt_name, seed=_seed)
    assert isinstance(_got, float), "a Python float"
    expect_close(_got, _want, rtol=1e-3, atol=0.0,
                 message=f"r = {_r}, scale {_scale:.3g}, {_opt_name}, seed {_seed}: gain {_got:.5f} is off by more than 0.1 %")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "gain_ratios", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
GAIN_RATIOS = {}
for _optimizer in ("sgd", "adam"):
    for _name, _scale_of in (("alpha/r", lora_scale), ("alpha/sqrt(r)", rslora_scale)):
        GAIN_RATIOS[(_optimizer, _name)] = (first_step_gain(64, _scale_of(64, 4), _optimizer)
                                            / first_step_gain(4, _scale_of(4, 4), _optimizer))
STEADY = {_optimizer: min(("alpha/r", "alpha/sqrt(r)"),
                          key=lambda name: abs(GAIN_RATIOS[(_optimizer, name)] - 1))
          for _optimizer in ("sgd", "adam")}
### END SOLUTION
for _key, _ratio in GAIN_RATIOS.items():
    print(f"{_key[0]:4s} with {_key[1]:13s}: gain at r = 64 / gain at r = 4 = {_ratio:.3f}")
print("steady across ranks:", STEADY)

# %% nbgrader={"grade": true, "grade_id": "test_gain_ratios", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the four ratios within 1e-3 of the reference, and which scale keeps each optimizer steady (2 points)"""
assert set(GAIN_RATIOS) == {(o, s) for o in ("sgd", "adam") for s in ("alpha/r", "alpha/sqrt(r)")}, "four keys"
assert set(STEADY) == {"sgd", "adam"} and set(STEADY.values()) <= {"alpha/r", "alpha/sqrt(r)"}
### BEGIN HIDDEN TESTS
# (its own copy of test_gain's reference: what a hidden test binds never leaves that test)
### BEGIN REFERENCE
def _hidden_gain(r, scale, optimizer, seed):
    _x, _y = make_problem(seed)
    _x, _y = _x.double(), _y.double()
    _a, _b = (t.double().requires_grad_(True) for t in init_adapter(r, seed))
    _opt = (torch.optim.SGD([_a, _b], lr=5.0) if optimizer == "sgd" else torch.optim.Adam([_a, _b], lr=0.02))
    _before = ((_x @ (scale * _b @ _a).T - _y) ** 2).mean()
    _opt.zero_grad()
    _before.backward()
    _opt.step()
    _after = ((_x @ (scale * _b @ _a).T - _y) ** 2).mean().detach()
    return float((_before.detach() - _after) / _before.detach())


### END REFERENCE


_keys = [(_o, _n) for _o in ("sgd", "adam") for _n in ("alpha/r", "alpha/sqrt(r)")]
### BEGIN REFERENCE
_scales = {"alpha/r": lambda r: 4 / r, "alpha/sqrt(r)": lambda r: 4 / math.sqrt(r)}
_want_ratios = {(_o, _n): _hidden_gain(64, _scales[_n](64), _o, 0) / _hidden_gain(4, _scales[_n](4), _o, 0)
                for _o, _n in _keys}
_steady = {_o: min(("alpha/r", "alpha/sqrt(r)"), key=lambda name: abs(_want_ratios[(_o, name)] - 1))
           for _o in ("sgd", "adam")}
### END REFERENCE
for _key in _keys:
    expect_close(float(GAIN_RATIOS[_key]), _want_ratios[_key], rtol=1e-3, atol=0.0,
                 message=f"{_key}: ratio {float(GAIN_RATIOS[_key]):.4f} is off by more than 0.1 %")
for _o in ("sgd", "adam"):
    expect_equal(STEADY[_o], _steady[_o], message=f"{_o}: STEADY names the scale whose ratio is closer to 1")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Try your `diagnose` on the curves lesson 09 plotted, and read its verdicts critically. The too-high learning rates
# there do **not** come out `"diverged"`: their loss jumps in the first steps but still ends far below where it
# started (the lesson prints the last losses), so the rule "ends higher than it started" calls them healthy. A
# learning rate can be too high without diverging; what gives it away is the comparison with the good run. Nor can
# the tiny-data runs come out `"overfitting"`: the lesson measured their validation loss once, at the end, and the
# rule needs several evaluations to see the validation loss turn up.
#
# Exercise 4 is the reason PEFT offers both scales: the rule "keep α fixed when you change `r`" is an Adam rule.
# Under SGD the same rule shrinks the first step as `r` grows, and rsLoRA's `α/√r` is the one that holds it steady.
# (Try more steps, or `r = 1`, and see how far one step's picture carries.) Restart & Run All, then submit.
