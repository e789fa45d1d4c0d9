"""Correct but unusual answers to lab09_hyperparameters: full marks each (tests/test_labs.py)."""


# %% [gain] float64 inside, the optimizer chosen from a dict, the drop as 1 - after / before
def first_step_gain(r, scale, optimizer, seed=0):
    x, y = (t.double() for t in make_problem(seed))
    a, b = (t.double().requires_grad_() for t in init_adapter(r, seed))
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=5.0), "adam": lambda p: torch.optim.Adam(p, lr=0.02)}
    step = make[optimizer]([a, b])
    first = torch.nn.functional.mse_loss(x @ (scale * b @ a).T, y)
    step.zero_grad()
    first.backward()
    step.step()
    second = torch.nn.functional.mse_loss(x @ (scale * b @ a).T, y)
    return float(1 - second.detach() / first.detach())


# %% [rslora] math.pow and an explicit float
def rslora_scale(r, alpha):
    if r < 1:
        raise ValueError(f"rank {r} < 1")
    return float(alpha * math.pow(r, -0.5))


# %% [diagnose] plain Python: math.isfinite, statistics.fmean, the drop as a share of the start
def diagnose(train_loss, val_loss):
    import statistics

    if not all(math.isfinite(v) for v in list(train_loss) + list(val_loss)):
        return "diverged"
    start, end = statistics.fmean(train_loss[:3]), statistics.fmean(train_loss[-3:])
    if end > start:
        return "diverged"
    if (start - end) / start < 0.1:
        return "not_learning"
    return "overfitting" if val_loss[-1] > 1.1 * min(val_loss) else "healthy"


# %% [alpha] the scale by division, the reference step size kept explicitly
def lora_scale(r, alpha):
    if not r >= 1:
        raise ValueError(f"rank {r} < 1")
    return float(alpha) / r


def alpha_for_rank(r, reference_r, reference_alpha):
    if r < 1 or reference_r < 1:
        raise ValueError("ranks start at 1")
    step = lora_scale(reference_r, reference_alpha) * reference_r      # (alpha / r) * r stays the same
    return step / r * r


# %% [diagnose] plain lists: sums over slices, all(map(math.isfinite, ...)), early returns in a loop over rules
def diagnose(train_loss, val_loss):
    if not all(map(math.isfinite, [*train_loss, *val_loss])):
        return "diverged"
    first, last = sum(train_loss[:3]) / len(train_loss[:3]), sum(train_loss[-3:]) / len(train_loss[-3:])
    rules = [("diverged", last > first), ("not_learning", last > 0.9 * first),
             ("overfitting", val_loss[-1] > 1.1 * min(val_loss))]
    for verdict, holds in rules:
        if holds:
            return verdict
    return "healthy"


# %% [gain] the one step written out by hand from autograd's gradients (SGD: lr g; Adam's first step: lr g / (|g| + eps)), float64
def first_step_gain(r, scale, optimizer, seed=0):
    x, y = (t.double() for t in make_problem(seed))
    a, b = (t.double().requires_grad_(True) for t in init_adapter(r, seed))
    mse = lambda a_, b_: ((x @ (scale * b_ @ a_).T - y) ** 2).mean()
    before = mse(a, b)
    ga, gb = torch.autograd.grad(before, (a, b))
    if optimizer == "sgd":
        step = lambda g: 5.0 * g
    elif optimizer == "adam":
        step = lambda g: 0.02 * g / (g.abs() + 1e-8)
    else:
        raise ValueError(optimizer)
    with torch.no_grad():
        after = mse(a - step(ga), b - step(gb))
    return float((before.detach() - after) / before.detach())


# %% [diagnose] plain Python floats: math.isfinite, statistics.fmean of the first/last three, min() of the list
def diagnose(train_loss, val_loss):
    import statistics
    if not all(math.isfinite(v) for v in list(train_loss) + list(val_loss)):
        return "diverged"
    start, end = statistics.fmean(train_loss[:3]), statistics.fmean(train_loss[-3:])
    if end > start:
        return "diverged"
    if end > 0.9 * start:
        return "not_learning"
    if val_loss[-1] > 1.1 * min(val_loss):
        return "overfitting"
    return "healthy"


# %% [gain] one step written by hand: torch.autograd.grad, then SGD / Adam's first step (m/(sqrt(v)+eps), bias-corrected)
def first_step_gain(r, scale, optimizer, seed=0):
    if optimizer not in ("sgd", "adam"):
        raise ValueError(optimizer)
    x, y = make_problem(seed)
    a, b = init_adapter(r, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    loss = lambda: ((x @ (scale * b @ a).T - y) ** 2).mean()
    before = loss()
    ga, gb = torch.autograd.grad(before, [a, b])
    with torch.no_grad():
        for p, g in ((a, ga), (b, gb)):
            if optimizer == "sgd":
                p -= 5.0 * g
            else:
                m = (1 - 0.9) * g / (1 - 0.9)
                v = (1 - 0.999) * g * g / (1 - 0.999)
                p -= 0.02 * m / (v.sqrt() + 1e-8)
        after = loss()
    return float((before.detach() - after) / before.detach())
