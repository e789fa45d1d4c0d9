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


# %% [accumulate] cumsum of a 16-bit tensor: fast, but the running sum is not rounded to dtype after every addition
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    return torch.full((steps,), increment, dtype=dtype).cumsum(0)[-1].item()


# %% [loss_scale] a formula on paper: the S that lifts the smallest gradient to 2**-24, missing that fp16 rounds up to it
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    if nonzero.numel() == 0:
        return 1.0
    k = max(0, math.ceil(-24 - math.log2(nonzero.abs().min().item())))
    if torch.isinf((nonzero * 2.0 ** k).to(torch.float16)).any():
        raise ValueError("the large gradients overflow")
    return 2.0 ** k


# %% [loss_scale] asks for fp16's smallest *normal* number (finfo.tiny) instead of any non-zero value
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    tiny = torch.finfo(torch.float16).tiny
    for k in range(65):
        scaled = (nonzero * 2.0 ** k).to(torch.float16)
        if torch.all(scaled.abs() >= tiny):
            if torch.isinf(scaled).any():
                raise ValueError("the large gradients overflow")
            return 2.0 ** k
    raise ValueError("no scale is enough")


# %% [loss_scale] never checks for overflow: returns a scale that turns the large gradients into inf
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(65):
        if torch.all((nonzero * 2.0 ** k).to(torch.float16) != 0):
            return 2.0 ** k
    raise ValueError("no scale is enough")


# %% [loss_scale] forgets that zeros stay zeros: a zero gradient is never rescued, so it raises
def smallest_loss_scale(grads: torch.Tensor) -> float:
    values = grads.float().reshape(-1)
    for k in range(65):
        scaled = (values * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf(scaled).any():
                raise ValueError("the large gradients overflow")
            return 2.0 ** k
    raise ValueError("no scale is enough")


# %% [loss_scale] returns the exponent k (an int), not the scale 2**k
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(65):
        scaled = (nonzero * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf(scaled).any():
                raise ValueError("the large gradients overflow")
            return k
    raise ValueError("no scale is enough")


# %% [rounding_errors] absolute error |stored - x| instead of the relative error
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = (x.to(torch.float16).double() - exact).abs().mean().item()
    bf16_error = (x.to(torch.bfloat16).double() - exact).abs().mean().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [rounding_errors] divides by the stored value instead of the exact one
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16 = x.to(torch.float16).double()
    bf16 = x.to(torch.bfloat16).double()
    fp16_error = ((fp16 - exact).abs() / fp16.abs()).mean().item()
    bf16_error = ((bf16 - exact).abs() / bf16.abs()).mean().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [rounding_errors] the largest relative error instead of the mean
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).max().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).max().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [rounding_errors] no tie: equal errors read as "bfloat16"
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean().item()
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [rounding_errors] measures, then reads "float16" whatever the numbers say (more mantissa bits must win)
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean().item()
    return fp16_error, bf16_error, "float16"


# %% [rounding_errors] returns 0-d tensors, not floats
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [model_memory_gb] the course's own model_memory_gb from utils.memory, which the lab forbids
def model_memory_gb(n_params: float, bits: float) -> float:
    from utils.memory import model_memory_gb as course_memory_gb
    return course_memory_gb(n_params, bits)


# %% [training_memory_gb] the fp32 master copy counted for every parameter of the model, frozen base included
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                       trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    master_bytes = n_params * 4 if trainable_bits < 32 else 0.0
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9, "gradients": trainable_bytes / 1e9,
            "optimizer": (n_trainable * 8 + master_bytes) / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [accumulate] returns the 0-d tensor, not a Python float
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    total = torch.tensor(0.0, dtype=dtype)
    step = torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        total = total + step
    return total


# %% [loss_scale] stops one short: tries k = 0 ... 63 (range(64))
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(64):
        scaled = (nonzero * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf(scaled).any():
                raise ValueError("the large gradients overflow fp16")
            return 2.0 ** k
    raise ValueError("no power of two is enough")


# %% [loss_scale] overflow judged by > 65,504 on paper, not by the cast (65,510 rounds down to 65,504)
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(65):
        scaled = nonzero * 2.0 ** k
        if torch.all(scaled.to(torch.float16) != 0):
            if scaled.numel() and scaled.abs().max() > 65504:
                raise ValueError("the large gradients overflow fp16")
            return 2.0 ** k
    raise ValueError("no power of two is enough")


# %% [rounding_errors] the relative errors computed in float32, not float64
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    fp16_error = ((x.to(torch.float16).float() - x).abs() / x.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).float() - x).abs() / x.abs()).mean().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [model_memory_gb] rounds up to whole bytes (math.ceil of the byte count) before converting to GB
def model_memory_gb(n_params: float, bits: float) -> float:
    """Memory of n_params weights of `bits` bits each, in GB (10**9 bytes)."""
    return math.ceil(n_params * bits / 8) / 1e9


# %% [training_memory_gb] full fine-tune only when n_trainable == n_params (the spec says >=): more trainable than base counts the base twice
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                       trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable == n_params else n_params * frozen_bits / 8
    master_bytes = n_trainable * 4 if trainable_bits < 32 else 0.0
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": (n_trainable * 2 * 4 + master_bytes) / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [training_memory_gb] LoRA adapters always stored (and differentiated) in fp32, trainable_bits only used for a full fine-tune
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                       trainable_bits: float = 32) -> dict:
    full = n_trainable >= n_params
    adapter_bits = trainable_bits if full else 32          # "LoRA adapters are fp32"
    trainable_bytes = n_trainable * adapter_bits / 8
    frozen_bytes = 0.0 if full else n_params * frozen_bits / 8
    master_bytes = n_trainable * 4 if trainable_bits < 32 else 0.0
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": (n_trainable * 8 + master_bytes) / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [training_memory_gb] master copy whenever trainable_bits != 32 (fp64 trainable weights get an fp32 "master copy" too)
def training_memory_gb(n_params: float, n_trainable: float, frozen_bits: float = 16,
                       trainable_bits: float = 32) -> dict:
    trainable_bytes = n_trainable * trainable_bits / 8
    frozen_bytes = 0.0 if n_trainable >= n_params else n_params * frozen_bits / 8
    master_bytes = n_trainable * 4 if trainable_bits != 32 else 0.0
    bill = {"weights": (frozen_bytes + trainable_bytes) / 1e9,
            "gradients": trainable_bytes / 1e9,
            "optimizer": (n_trainable * 8 + master_bytes) / 1e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [accumulate] only 16-bit dtypes are rounded: for float32 (and float64) the sum is kept in a Python float
def accumulate(increment: float, steps: int, dtype: torch.dtype) -> float:
    if dtype not in (torch.float16, torch.bfloat16):
        return float(increment * steps)            # "float32 accumulates exactly anyway"
    total = torch.tensor(0.0, dtype=dtype)
    step = torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        total = total + step
    return total.item()


# %% [loss_scale] overflow checked on the largest gradient by value (max), not by magnitude: a huge negative gradient is missed
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    for k in range(65):
        if torch.all((nonzero * 2.0 ** k).to(torch.float16) != 0):
            if nonzero.numel() and torch.isinf((nonzero.max() * 2.0 ** k).to(torch.float16)):
                raise ValueError("the largest gradient overflows fp16")
            return 2.0 ** k
    raise ValueError("even S = 2**64 leaves a gradient at 0 in fp16")


# %% [loss_scale] early exit: if nothing underflows at S = 1, returns 1.0 without checking for overflow
def smallest_loss_scale(grads: torch.Tensor) -> float:
    nonzero = grads.float().reshape(-1)
    nonzero = nonzero[nonzero != 0]
    if torch.all(nonzero.to(torch.float16) != 0):
        return 1.0                                   # no scaling needed, nothing to check
    for k in range(1, 65):
        scaled = (nonzero * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf(scaled).any():
                raise ValueError("the large gradients overflow fp16")
            return 2.0 ** k
    raise ValueError("even S = 2**64 leaves a gradient at 0 in fp16")


# %% [loss_scale] only the positive gradients are rescued (grads > 0 instead of != 0)
def smallest_loss_scale(grads: torch.Tensor) -> float:
    values = grads.float().reshape(-1)
    positive = values[values > 0]
    for k in range(65):
        scaled = (positive * 2.0 ** k).to(torch.float16)
        if torch.all(scaled != 0):
            if torch.isinf((values * 2.0 ** k).to(torch.float16)).any():
                raise ValueError("the large gradients overflow fp16")
            return 2.0 ** k
    raise ValueError("even S = 2**64 leaves a gradient at 0 in fp16")


# %% [rounding_errors] "tie" when the two errors are merely close (math.isclose, rel_tol=1e-3), not equal
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean().item()
    if math.isclose(fp16_error, bf16_error, rel_tol=1e-3):
        return fp16_error, bf16_error, "tie"
    return fp16_error, bf16_error, "float16" if fp16_error < bf16_error else "bfloat16"


# %% [rounding_errors] the reading from a rule of thumb (any value outside fp16's normal range -> bfloat16), not from the measured errors
def rounding_errors(x: torch.Tensor) -> tuple[float, float, str]:
    exact = x.double()
    fp16_error = ((x.to(torch.float16).double() - exact).abs() / exact.abs()).mean().item()
    bf16_error = ((x.to(torch.bfloat16).double() - exact).abs() / exact.abs()).mean().item()
    if fp16_error == bf16_error:
        return fp16_error, bf16_error, "tie"
    fp16 = torch.finfo(torch.float16)
    outside = bool((x.abs() > fp16.max).any() or (x.abs() < fp16.tiny).any())
    return fp16_error, bf16_error, "bfloat16" if outside else "float16"
