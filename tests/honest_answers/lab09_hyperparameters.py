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
