"""Correct but unusual answers to lab10_precision: full marks each (tests/test_labs.py)."""


# %% [training_memory_gb] bytes per parameter in a table, then one multiplication per item
def training_memory_gb(n_params, n_trainable, frozen_bits=16, trainable_bits=32):
    full = n_trainable >= n_params
    per_trainable = {"weights": trainable_bits / 8, "gradients": trainable_bits / 8,
                     "optimizer": 8 + (4 if trainable_bits < 32 else 0)}
    bill = {key: n_trainable * b / 1e9 for key, b in per_trainable.items()}
    if not full:
        bill["weights"] += n_params * frozen_bits / 8 / 1e9
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill


# %% [accumulate] the running sum kept as a 1-element tensor, updated in place with add_
def accumulate(increment, steps, dtype):
    total = torch.zeros(1, dtype=dtype)
    inc = torch.full((1,), increment, dtype=dtype)
    for _ in range(steps):
        total.add_(inc)
    return float(total[0])


# %% [loss_scale] a while loop over k, judged on the smallest non-zero magnitude only (rounding is monotone)
def smallest_loss_scale(grads):
    mags = grads.abs().flatten()
    mags = mags[mags > 0]
    if mags.numel() == 0:
        return 1.0
    k = 0
    while (mags.min() * 2.0 ** k).half() == 0:
        k += 1
        if k > 64:
            raise ValueError("no power of two up to 2**64 is enough")
    if torch.isinf((mags.max() * 2.0 ** k).half()):
        raise ValueError("the scale overflows the largest gradient")
    return float(2 ** k)


# %% [accumulate] the Python float added to the dtype tensor in place (torch rounds each sum to dtype)
def accumulate(increment, steps, dtype):
    total = torch.zeros((), dtype=dtype)
    for _ in range(steps):
        total += increment
    return float(total)


# %% [rounding_errors] numpy in float64; fp16 by numpy's astype, bf16 emulated by round-to-nearest-even on the float32 bits
import numpy as np


def rounding_errors(x):
    f32 = x.detach().cpu().numpy().astype(np.float32).ravel()
    exact = f32.astype(np.float64)
    with np.errstate(over="ignore"):
        fp16 = f32.astype(np.float16).astype(np.float64)
    bits = f32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    bf16 = rounded.view(np.float32).astype(np.float64)
    e16 = float(np.mean(np.abs(fp16 - exact) / np.abs(exact)))
    eb16 = float(np.mean(np.abs(bf16 - exact) / np.abs(exact)))
    better = "tie" if e16 == eb16 else ("float16" if e16 < eb16 else "bfloat16")
    return e16, eb16, better


# %% [accumulate] stops early once the running sum no longer changes (a stalled sum stays stalled)
def accumulate(increment, steps, dtype):
    total = torch.zeros((), dtype=dtype)
    step = torch.tensor(increment, dtype=dtype)
    for _ in range(steps):
        new = total + step
        if torch.equal(new, total):
            break
        total = new
    return total.item()


# %% [loss_scale] exact thresholds on paper: non-zero in fp16 iff |g| * S > 2**-25, finite iff |g| * S < 65520
def smallest_loss_scale(grads):
    mags = [abs(v) for v in grads.double().flatten().tolist() if v != 0.0]
    if not mags:
        return 1.0
    small, large = min(mags), max(mags)
    for k in range(65):
        if small * 2.0 ** k > 2.0 ** -25:            # exactly 2**-25 ties to even: 0
            if large * 2.0 ** k >= 65520.0:          # halfway to 2**16 rounds to inf
                raise ValueError("the scale that rescues the small gradients overflows the large ones")
            return float(2 ** k)
    raise ValueError("2**64 is not enough")


# %% [training_memory_gb] counted in bits, with a warning when n_trainable exceeds n_params
import warnings


def training_memory_gb(n_params, n_trainable, frozen_bits=16, trainable_bits=32):
    if n_trainable > n_params:
        warnings.warn("more trainable parameters than the model has: treated as a full fine-tune", stacklevel=2)
    frozen = 0 if n_trainable >= n_params else n_params * frozen_bits
    weights = frozen + n_trainable * trainable_bits
    gradients = n_trainable * trainable_bits
    optimizer = n_trainable * (64 + (32 if trainable_bits < 32 else 0))
    bill = {"weights": weights / 8e9, "gradients": gradients / 8e9, "optimizer": optimizer / 8e9}
    bill["total"] = bill["weights"] + bill["gradients"] + bill["optimizer"]
    return bill
