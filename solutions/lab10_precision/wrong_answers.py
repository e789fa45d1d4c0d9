"""Plausible-but-wrong answers to lab10_precision: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [training_memory_gb] forgets Adam's optimizer states
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                     trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9, "gradients": trainable_bytes / 1e9, "optimizer": 0.0}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [training_memory_gb] Adam states and gradients for every parameter, frozen ones too
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                     trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": max(n_params, n_trainable) * trainable_bits / 8 / 1e9,
            "optimizer": max(n_params, n_trainable) * 8 / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [training_memory_gb] no fp32 master copy for 16-bit trainable weights
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                     trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": n_trainable * 2 * 4 / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [accumulate] sums exactly and rounds only at the end
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    return torch.tensor(increment * steps, dtype=dtype).item()


# %% [model_memory_gb] GiB instead of GB (divides by 2**30)
def model_memory_gb(n_params: float, bits: float) -> float:
    return n_params * bits / 8 / 2**30


# %% [training_memory_gb] forgets the full fine-tune case: the base counted in frozen_bits, then again as trainable
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
        trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = n_params * frozen_bits / 8
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": n_trainable * 2 * 4 / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [accumulate] ignores dtype: always keeps the running sum in float16
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    total = torch.tensor(0.0, dtype=torch.float16)
    step = torch.tensor(increment, dtype=torch.float16)
    for _ in range(steps):
        total = total + step
    return total.item()
