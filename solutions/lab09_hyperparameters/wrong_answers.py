"""Plausible-but-wrong answers to lab09_hyperparameters: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [alpha] keeps alpha / r fixed (the alpha = 2r rule) when r changes
def lora_scale(r: int, alpha: float) -> float:
    """The factor LoRA multiplies B @ A by."""
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / r


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    """The lora_alpha for rank r that keeps the step size of a run tuned at (reference_r, reference_alpha)."""
    if r < 1 or reference_r < 1:
        raise ValueError("ranks must be positive")
    return reference_alpha * r / reference_r


# %% [alpha] scale without the division by r (seed 003)
def lora_scale(r: int, alpha: float) -> float:
    """The factor LoRA multiplies B @ A by."""
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    """The lora_alpha for rank r that keeps the step size of a run tuned at (reference_r, reference_alpha)."""
    if r < 1 or reference_r < 1:
        raise ValueError("ranks must be positive")
    return reference_alpha


# %% [diagnose] looks at the training loss only (cannot see overfitting)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """One of "diverged", "not_learning", "overfitting", "healthy" for a fine-tune's loss curves."""
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
    return "healthy"


# %% [diagnose] calls every rising validation loss overfitting (checks it first)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """One of "diverged", "not_learning", "overfitting", "healthy" for a fine-tune's loss curves."""
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    if val[-1] > 1.1 * val.min():
        return "overfitting"
    start = train[:3].mean()
    end = train[-3:].mean()
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    return "healthy"


# %% [diagnose] compares single first and last values (noise, NaN)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """One of "diverged", "not_learning", "overfitting", "healthy" for a fine-tune's loss curves."""
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    start = train[0]
    end = train[-1]
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    if val[-1] > 1.1 * val.min():
        return "overfitting"
    return "healthy"


# %% [diagnose] calls any rise of the validation loss overfitting (no 10 % margin: noise trips it)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """One of "diverged", "not_learning", "overfitting", "healthy" for a fine-tune's loss curves."""
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
    if val[-1] > val.min():
        return "overfitting"
    return "healthy"


# %% [alpha] right formulas, but lora_scale returns a negative or infinite scale for a rank below 1 (no ValueError)
def lora_scale(r: int, alpha: float) -> float:
    return alpha / r if r else float("inf")


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    if r < 1 or reference_r < 1:
        raise ValueError("ranks must be positive")
    return reference_alpha


# %% [rslora] alpha / r again (rsLoRA read as the usual scale)
def rslora_scale(r: int, alpha: float) -> float:
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / r


# %% [rslora] right value, but no ValueError below rank 1 (r = 0 gives a ZeroDivisionError)
def rslora_scale(r: int, alpha: float) -> float:
    return alpha / r ** 0.5


# %% [rslora] returns a tensor, not a float
def rslora_scale(r: int, alpha: float) -> float:
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / torch.sqrt(torch.tensor(float(r)))


# %% [gain] trains B only (one step cannot tell) but with Adam whatever the optimizer argument says
def first_step_gain(r: int, scale: float, optimizer: str, seed: int = 0) -> float:
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    b.requires_grad_(True)
    opt = torch.optim.Adam([b], lr=0.02)
    before = ((x @ (scale * b @ a).T - y) ** 2).mean()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = ((x @ (scale * b @ a).T - y) ** 2).mean()
    return (before - after).item() / before.item()


# %% [gain] the absolute loss drop, not the relative one
def first_step_gain(r: int, scale: float, optimizer: str, seed: int = 0) -> float:
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.SGD([a, b], lr=5.0) if optimizer == "sgd" else torch.optim.Adam([a, b], lr=0.02)
    before = ((x @ (scale * b @ a).T - y) ** 2).mean()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = ((x @ (scale * b @ a).T - y) ** 2).mean()
    return (before - after).item()


# %% [gain] leaves the scale out of the forward (the scale then cannot matter)
def first_step_gain(r: int, scale: float, optimizer: str, seed: int = 0) -> float:
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.SGD([a, b], lr=5.0) if optimizer == "sgd" else torch.optim.Adam([a, b], lr=0.02)
    before = ((x @ (b @ a).T - y) ** 2).mean()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = ((x @ (b @ a).T - y) ** 2).mean()
    return (before - after).item() / before.item()


# %% [gain_ratios] gain at r = 4 over gain at r = 64 (the ratio upside down)
GAIN_RATIOS = {}
for _optimizer in ("sgd", "adam"):
    for _name, _scale_of in (("alpha/r", lora_scale), ("alpha/sqrt(r)", rslora_scale)):
        GAIN_RATIOS[(_optimizer, _name)] = (first_step_gain(4, _scale_of(4, 4), _optimizer)
                                            / first_step_gain(64, _scale_of(64, 4), _optimizer))
STEADY = {_optimizer: min(("alpha/r", "alpha/sqrt(r)"), key=lambda name: abs(GAIN_RATIOS[(_optimizer, name)] - 1))
          for _optimizer in ("sgd", "adam")}


# %% [gain_ratios] right ratios, but the lesson's rule read for both optimizers (alpha / r steady everywhere)
GAIN_RATIOS = {}
for _optimizer in ("sgd", "adam"):
    for _name, _scale_of in (("alpha/r", lora_scale), ("alpha/sqrt(r)", rslora_scale)):
        GAIN_RATIOS[(_optimizer, _name)] = (first_step_gain(64, _scale_of(64, 4), _optimizer)
                                            / first_step_gain(4, _scale_of(4, 4), _optimizer))
STEADY = {"sgd": "alpha/r", "adam": "alpha/r"}


# %% [diagnose] overfitting as an absolute rise of 0.1 over the best validation loss (not 10 % of it)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    start, end = train[:3].mean(), train[-3:].mean()
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    if val[-1] - val.min() > 0.1:
        return "overfitting"
    return "healthy"


# %% [diagnose] "barely moves" read as a drop of less than 10 % of the END value (threshold start / 1.1, not 0.9 start)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    start, end = train[:3].mean(), train[-3:].mean()
    if end > start:
        return "diverged"
    if start - end < 0.1 * end:
        return "not_learning"
    if val[-1] > 1.1 * val.min():
        return "overfitting"
    return "healthy"


# %% [diagnose] overfitting as a rise of more than 10 % of the LAST validation loss (threshold best / 0.9, not 1.1 best)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    start, end = train[:3].mean(), train[-3:].mean()
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    if val[-1] - val.min() > 0.1 * val[-1]:
        return "overfitting"
    return "healthy"


# %% [diagnose] not_learning when the loss falls by less than 20 % (0.8 of the start, the table's 90 % misread)
def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    train = torch.tensor(train_loss, dtype=torch.float64)
    val = torch.tensor(val_loss, dtype=torch.float64)
    if not torch.isfinite(train).all() or not torch.isfinite(val).all():
        return "diverged"
    start, end = train[:3].mean(), train[-3:].mean()
    if end > start:
        return "diverged"
    if end > 0.8 * start:
        return "not_learning"
    if val[-1] > 1.1 * val.min():
        return "overfitting"
    return "healthy"


# %% [alpha] alpha_for_rank checks only the new rank: a reference_r below 1 is accepted
def lora_scale(r: int, alpha: float) -> float:
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / r


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    if r < 1:
        raise ValueError("the rank must be positive")
    return reference_alpha


# %% [alpha] alpha_for_rank rejects only a rank of exactly 0 (a negative rank goes through)
def lora_scale(r: int, alpha: float) -> float:
    if r < 1:
        raise ValueError("the rank must be positive")
    return alpha / r


def alpha_for_rank(r: int, reference_r: int, reference_alpha: float) -> float:
    if r == 0 or reference_r == 0:
        raise ValueError("ranks must be positive")
    return reference_alpha


# %% [gain] AdamW instead of Adam (its default weight_decay=0.01 shrinks A on the first step)
def first_step_gain(r: int, scale: float, optimizer: str, seed: int = 0) -> float:
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([a, b], lr=5.0)
    elif optimizer == "adam":
        opt = torch.optim.AdamW([a, b], lr=0.02)
    else:
        raise ValueError(optimizer)
    before = ((x @ (scale * b @ a).T - y) ** 2).mean()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = ((x @ (scale * b @ a).T - y) ** 2).mean()
    return (before.item() - after.item()) / before.item()
