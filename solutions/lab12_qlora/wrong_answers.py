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
