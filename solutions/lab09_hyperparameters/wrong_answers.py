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
