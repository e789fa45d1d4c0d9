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
