"""Plausible-but-wrong answers to lab08_peft: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [config] passes the scale alpha / r as lora_alpha (PEFT divides again)
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    """A LoraConfig with the largest rank that fits `budget`, lora_alpha = alpha, no dropout."""
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    is_conv1d = any(isinstance(m, Conv1D) for n, m in model.named_modules()
                    if n and any(n == t or n.endswith("." + t) for t in target_modules))
    return LoraConfig(r=r, lora_alpha=alpha / r, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=is_conv1d)


# %% [count] assumes every target is square (d_model x d_model)
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    """Trainable parameters PEFT's LoRA with rank r on `target_modules` (suffix match) adds to `model`."""
    total = 0
    for name, module in model.named_modules():
        if name and any(name == t or name.endswith("." + t) for t in target_modules):
            if isinstance(module, Conv1D):
                in_features, out_features = module.weight.shape
            else:
                out_features, in_features = module.weight.shape
            total += r * 2 * in_features
    return total


# %% [rank] rounds the rank up (over budget)
def largest_rank(model: nn.Module, target_modules: list[str], budget: int) -> int:
    """The largest r whose LoRA parameter count fits in `budget` (0 if even r = 1 does not fit)."""
    per_rank = lora_parameter_count_for(model, target_modules, 1)
    if per_rank == 0:
        raise ValueError(f"no module matches {target_modules}")
    return -(-budget // per_rank)


# %% [config] fan_in_fan_out always False
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    """A LoraConfig with the largest rank that fits `budget`, lora_alpha = alpha, no dropout."""
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    is_conv1d = any(isinstance(m, Conv1D) for n, m in model.named_modules()
                    if n and any(n == t or n.endswith("." + t) for t in target_modules))
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=False)


# %% [count] matches targets by substring ('fc' in name)
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    total = 0
    for name, module in model.named_modules():
        if name and any(t in name for t in target_modules) and hasattr(module, "weight"):
            if isinstance(module, Conv1D):
                in_features, out_features = module.weight.shape
            else:
                out_features, in_features = module.weight.shape
            total += r * (in_features + out_features)
    return total


# %% [count] matches targets with endswith but without the dot
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    total = 0
    for name, module in model.named_modules():
        if name and any(name.endswith(t) for t in target_modules):
            if isinstance(module, Conv1D):
                in_features, out_features = module.weight.shape
            else:
                out_features, in_features = module.weight.shape
            total += r * (in_features + out_features)
    return total


# %% [config] no ValueError when not even rank 1 fits (returns r = 0)
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    r = largest_rank(model, target_modules, budget)
    is_conv1d = any(isinstance(m, Conv1D) for n, m in model.named_modules()
                    if n and any(n == t or n.endswith("." + t) for t in target_modules))
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=is_conv1d)
