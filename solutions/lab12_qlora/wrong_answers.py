"""Plausible-but-wrong answers to lab12_qlora: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [memory_budget_gb] forgets Adam's states (8 bytes per trainable parameter)
def memory_budget_gb(n_linear: float, n_other: float, n_adapter: float, method: str) -> float:
    if method == "full":
        return (n_linear + n_other) * 8 / 1e9
    if method == "lora":
        return ((n_linear + n_other) * 2 + n_adapter * 8) / 1e9
    if method == "qlora":
        return (n_linear * 4.127 / 8 + n_other * 2 + n_adapter * 8) / 1e9
    raise ValueError(f"unknown method {method!r}")


# %% [memory_budget_gb] QLoRA quantizes the embeddings too
def memory_budget_gb(n_linear: float, n_other: float, n_adapter: float, method: str) -> float:
    if method == "full":
        return (n_linear + n_other) * 16 / 1e9
    if method == "lora":
        return ((n_linear + n_other) * 2 + n_adapter * 16) / 1e9
    if method == "qlora":
        return ((n_linear + n_other) * 4.127 / 8 + n_adapter * 16) / 1e9
    raise ValueError(f"unknown method {method!r}")


# %% [count_parameters_4bit] counts the packed bytes of Linear4bit as its weights
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    n_quantized = sum(p.numel() for p in model.parameters() if p.dtype == torch.uint8)
    n_full = sum(p.numel() for p in model.parameters() if p.dtype != torch.uint8)
    return n_quantized, n_full


# %% [count_parameters_4bit] forgets to skip the packed uint8 weights in the full-precision count
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    n_quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    n_full = sum(p.numel() for p in model.parameters())
    return n_quantized, n_full


# %% [lora_parameter_count] counts A only (r x k), forgets B
def lora_parameter_count(shapes: list[tuple[int, int]], r: int) -> int:
    return sum(r * k for d, k in shapes)


# %% [lora_parameter_count] lesson 07's lora_parameter_count from utils.lora, which the exercise forbids
def lora_parameter_count(shapes: list[tuple[int, int]], r: int) -> int:
    from utils.lora import lora_parameter_count as lesson_count

    return lesson_count(shapes, r)


# %% [memory_budget_gb] full fine-tune at 12 bytes a parameter (forgets the fp32 master copy)
def memory_budget_gb(n_linear: float, n_other: float, n_adapter: float, method: str) -> float:
    if method == "full":
        return (n_linear + n_other) * 12 / 1e9
    if method == "lora":
        return ((n_linear + n_other) * 2 + n_adapter * 16) / 1e9
    if method == "qlora":
        return (n_linear * 4.127 / 8 + n_other * 2 + n_adapter * 16) / 1e9
    raise ValueError(f"method must be 'full', 'lora' or 'qlora', got {method!r}")


# %% [memory_budget_gb] no ValueError: every other method falls through to QLoRA
def memory_budget_gb(n_linear: float, n_other: float, n_adapter: float, method: str) -> float:
    if method == "full":
        return (n_linear + n_other) * 16 / 1e9
    if method == "lora":
        return ((n_linear + n_other) * 2 + n_adapter * 16) / 1e9
    return (n_linear * 4.127 / 8 + n_other * 2 + n_adapter * 16) / 1e9


# %% [snapshot_4bit] keeps a view of the bytes, not a copy (it changes with the weight)
def snapshot_4bit(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]:
    return {name: (module.weight, module.weight.data.untyped_storage().data_ptr(), module.weight.data)
            for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}


# %% [snapshot_4bit] also snapshots every plain nn.Linear
def snapshot_4bit(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]:
    return {name: (module.weight, module.weight.data.untyped_storage().data_ptr(), module.weight.data.clone())
            for name, module in model.named_modules() if isinstance(module, torch.nn.Linear | bnb.nn.Linear4bit)}


# %% [four_bit_untouched] compares the bytes only (a re-quantization to the same codes passes)
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    layers = {name: module for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    if layers.keys() != snapshot.keys():
        return False
    return all(torch.equal(layers[name].weight.data, saved) for name, (_, _, saved) in snapshot.items())


# %% [four_bit_untouched] same object and same bytes, but never looks at the address (new .data passes)
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    layers = {name: module for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    if layers.keys() != snapshot.keys():
        return False
    return all(layers[name].weight is weight and torch.equal(layers[name].weight.data, saved)
               for name, (weight, _, saved) in snapshot.items())


# %% [four_bit_untouched] same object at the same address, bytes never compared (in-place writes pass)
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    layers = {name: module for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    if layers.keys() != snapshot.keys():
        return False
    return all(layers[name].weight is weight and layers[name].weight.data.untyped_storage().data_ptr() == address
               for name, (weight, address, _) in snapshot.items())


# %% [four_bit_untouched] checks only the 4-bit layers still in the model (a replaced layer goes unseen)
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit) and name in snapshot:
            weight, address, saved = snapshot[name]
            if (module.weight is not weight or module.weight.data.untyped_storage().data_ptr() != address
                    or not torch.equal(module.weight.data, saved)):
                return False
    return True


# %% [train_steps] never zeroes the gradients (they pile up step after step)
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# %% [train_steps] records the loss after the update (one step late)
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            losses.append(model(**batch).loss.item())
    return losses


# %% [train_steps] keeps the loss tensors (not Python floats)
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.detach())
    return losses


# %% [nf4_logit_error] the absolute error, not divided by the largest logit
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return (logits4 - logits32).abs().max().item()


# %% [nf4_logit_error] the mean error instead of the largest
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return ((logits4 - logits32).abs().mean() / logits32.abs().max()).item()


# %% [nf4_logit_error] returns a 0-d tensor, not a float
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return (logits4 - logits32).abs().max() / logits32.abs().max()


# %% [count_parameters_4bit] counts from the config (12 d² per layer), not from the Linear4bit modules
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    cfg = model.config
    return cfg.n_layer * 12 * cfg.n_embd ** 2, sum(p.numel() for p in model.parameters() if p.dtype != torch.uint8)


# %% [lora_parameter_count] returns the count as a float
def lora_parameter_count(shapes: list[tuple[int, int]], r: int) -> int:
    return float(sum(r * (d + k) for d, k in shapes))


# %% [four_bit_untouched] checks the snapshot's names only (a 4-bit layer added later goes unseen)
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    for name, (weight, address, saved) in snapshot.items():
        try:
            now = model.get_submodule(name).weight
        except AttributeError:
            return False
        if now is not weight or now.data.untyped_storage().data_ptr() != address or not torch.equal(now.data, saved):
            return False
    return True


# %% [train_steps] forgets weight_decay=0.0 (AdamW's default 0.01 shrinks A a little every step)
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    history = []
    for _ in range(steps):
        step_loss = model(**batch).loss
        step_loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        history.append(step_loss.item())
    return history


# %% [count_parameters_4bit] two weights per packed byte, counted from the uint8 parameters (an odd in x out is rounded up: 3 x 5 gives 16)
def count_parameters_4bit(model):
    n_quantized = n_full = 0
    for p in model.parameters():
        if p.dtype == torch.uint8:
            n_quantized += 2 * p.numel()
        else:
            n_full += p.numel()
    return n_quantized, n_full


# %% [count_parameters_4bit] exact type check (type(m) is Linear4bit): its subclasses LinearNF4 / LinearFP4 are missed
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    n_quantized = sum(m.in_features * m.out_features for m in model.modules() if type(m) is bnb.nn.Linear4bit)
    n_full = sum(p.numel() for p in model.parameters() if p.dtype != torch.uint8)
    return n_quantized, n_full


# %% [count_parameters_4bit] full precision = the parameters that require grad (4-bit weights are frozen, so the rest must be...)
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    n_quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    n_full = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return n_quantized, n_full


# %% [count_parameters_4bit] full precision = float32 parameters only (bf16 / fp16 embeddings and norms are missed)
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    n_quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    n_full = sum(p.numel() for p in model.parameters() if p.dtype == torch.float32)
    return n_quantized, n_full


# %% [four_bit_untouched] same address and same bytes, but never checks that the weight is the same object
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    layers = {name: module for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    if layers.keys() != snapshot.keys():
        return False
    for name, (_, address, saved) in snapshot.items():
        now = layers[name].weight
        if now.data.untyped_storage().data_ptr() != address or not torch.equal(now.data, saved):
            return False
    return True


# %% [train_steps] forwards input_ids and labels only: the batch's attention_mask is dropped (left padding goes wrong)
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    history = []
    for _ in range(steps):
        step_loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        step_loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        history.append(step_loss.item())
    return history


# %% [nf4_logit_error] runs the models on input_ids only: a padded batch's attention_mask is dropped
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(batch["input_ids"]).logits
        logits4 = model4(batch["input_ids"]).logits
    return ((logits4 - logits32).abs().max() / logits32.abs().max()).item()


# %% [nf4_logit_error] the largest signed difference (no abs on the difference)
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return ((logits4 - logits32).max() / logits32.abs().max()).item()


# %% [nf4_logit_error] difference of the magnitudes, | |l4| - |l32| |, not the magnitude of the difference
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return ((logits4.abs() - logits32.abs()).abs().max() / logits32.abs().max()).item()


# %% [snapshot_4bit] tidy keys: PEFT's "base_model.model." prefix and ".base_layer" suffix stripped (not the named_modules names)
def snapshot_4bit(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]:
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            key = name.removeprefix("base_model.model.").removesuffix(".base_layer")
            out[key] = (module.weight, module.weight.data.untyped_storage().data_ptr(), module.weight.data.clone())
    return out
