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


# %% [config] fan_in_fan_out read off the model's type (GPT-2 or not), not off the targeted modules
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=isinstance(model, GPT2LMHeadModel))


# %% [count] lets PEFT count (the notebook's peft_trainable)
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    return peft_trainable(model, LoraConfig(r=r, target_modules=list(target_modules)))


# %% [count] imports the course's reference from utils.lora
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    from utils.lora import lora_parameter_count, target_shapes
    return lora_parameter_count(target_shapes(model, target_modules), r)


# %% [train_adapter] wraps the model itself, not a copy (get_peft_model changes it)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(model, copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [train_adapter] never zeroes the gradients (they pile up step after step)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
    return adapter.eval()


# %% [train_adapter] one step too few (range(1, steps))
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(1, steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [train_adapter] calls utils.qa.train_loop on a one-batch list (one step, decaying learning rate)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    from utils.qa import train_loop
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    train_loop(adapter, [batch], max_steps=steps, lr=lr, progress=False)
    return adapter


# %% [reload_trainable] loads for inference, as the lesson did (nothing trainable)
def reload_trainable(base: nn.Module, adapter_dir: str | Path) -> PeftModel:
    return PeftModel.from_pretrained(base, adapter_dir)


# %% [reload_trainable] builds a fresh adapter from the saved config (the trained A and B never loaded)
def reload_trainable(base: nn.Module, adapter_dir: str | Path) -> PeftModel:
    return get_peft_model(base, LoraConfig.from_pretrained(adapter_dir))


# %% [reload_trainable] loads, then unfreezes every parameter
def reload_trainable(base: nn.Module, adapter_dir: str | Path) -> PeftModel:
    loaded = PeftModel.from_pretrained(base, adapter_dir)
    for parameter in loaded.parameters():
        parameter.requires_grad_(True)
    return loaded


# %% [merged_copy] merges the adapter itself (merge_and_unload without a copy)
def merged_copy(adapter: PeftModel) -> nn.Module:
    return adapter.merge_and_unload()


# %% [merged_copy] merges into a copy but returns the PeftModel (merge_adapter)
def merged_copy(adapter: PeftModel) -> nn.Module:
    copied = copy.deepcopy(adapter)
    copied.merge_adapter()
    return copied


# %% [merged_copy] unloads the copy without merging (drops the update)
def merged_copy(adapter: PeftModel) -> nn.Module:
    return copy.deepcopy(adapter).unload()


# %% [adapter_losses] "base" loss through get_base_model(), which still holds the LoRA layers
def adapter_losses(adapter: PeftModel, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    adapter.eval()
    with torch.no_grad():
        base = adapter.get_base_model()(**batch).loss.item()
        adapted = adapter(**batch).loss.item()
    return base, adapted


# %% [adapter_losses] returns the loss tensors, not Python floats
def adapter_losses(adapter: PeftModel, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    adapter.eval()
    with torch.no_grad():
        with adapter.disable_adapter():
            base = adapter(**batch).loss
        adapted = adapter(**batch).loss
    return base, adapted


# %% [adapter_losses] switches the adapter layers off and leaves them off
def adapter_losses(adapter: PeftModel, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    adapter.eval()
    with torch.no_grad():
        adapted = adapter(**batch).loss.item()
        adapter.base_model.disable_adapter_layers()
        base = adapter(**batch).loss.item()
    return base, adapted


# %% [count] matches the targets with PEFT's own matcher, imported from peft.tuners inside the function
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    from peft.tuners.tuners_utils import check_target_module_exists
    config = LoraConfig(target_modules=list(target_modules))
    return sum(r * sum(module.weight.shape) for name, module in model.named_modules()
               if name and check_target_module_exists(config, name))


# %% [config] fan_in_fan_out from the model's class name (GPT-2 but not its lm_head), not the targeted modules
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    is_conv1d = "gpt2" in type(model).__name__.lower() and "lm_head" not in target_modules
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=is_conv1d)


# %% [train_adapter] forgets weight_decay=0.0 (AdamW's default 0.01 shrinks A a little every step)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [train_adapter] seeds after get_peft_model (A comes from whatever state the generator was in)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [count] matches only names that end with "." + target (forgets "equals a target": a top-level lm_head counts 0)
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    total = 0
    for name, module in model.named_modules():
        if any(name.endswith("." + t) for t in target_modules):
            if isinstance(module, Conv1D):
                in_features, out_features = module.weight.shape
            else:
                out_features, in_features = module.weight.shape
            total += r * (in_features + out_features)
    return total


# %% [count] sums target by target: a module two targets match (["c_proj", "attn.c_proj"]) is counted twice
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    total = 0
    for target in target_modules:
        for name, module in model.named_modules():
            if name == target or name.endswith("." + target):
                total += r * sum(module.weight.shape)
    return total


# %% [config] lora_alpha=int(alpha) (PEFT's signature says lora_alpha: int): a fractional alpha is truncated
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    is_conv1d = any(isinstance(m, Conv1D) for n, m in model.named_modules()
                    if n and any(n == t or n.endswith("." + t) for t in target_modules))
    return LoraConfig(r=r, lora_alpha=int(alpha), lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=is_conv1d)


# %% [train_adapter] never calls adapter.train(): a base model that comes in eval mode trains with its own dropout off
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [train_adapter] clips the gradient norm to 1.0 each step (the exercise says: no clipping)
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    trainable = [p for p in adapter.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


# %% [adapter_losses] forgets adapter.eval(): an adapter handed over in train mode is measured with its dropout on
def adapter_losses(adapter: PeftModel, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    with torch.no_grad():
        with adapter.disable_adapter():
            base = adapter(**batch).loss.item()
        adapted = adapter(**batch).loss.item()
    return base, adapted


# %% [merged_copy] merges the adapter in place, copies it out (unload) and forgets to unmerge: the adapter stays merged
def merged_copy(adapter: PeftModel) -> nn.Module:
    adapter.merge_adapter()
    return copy.deepcopy(adapter).unload()
