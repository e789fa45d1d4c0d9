"""Correct but unusual answers to lab01_tokens: full marks each (tests/test_labs.py)."""


# %% [one_hot] rows of the identity matrix, the range checked with Python's min and max
def one_hot(ids, vocab_size):
    ids = [int(i) for i in ids]
    if ids and (min(ids) < 0 or max(ids) >= vocab_size):
        raise ValueError("token id out of range")
    return torch.eye(vocab_size)[ids].reshape(len(ids), vocab_size)


# %% [one_hot] scatter_ along dim 1
def one_hot(ids, vocab_size):
    ids = torch.tensor(list(map(int, ids)), dtype=torch.int64)
    if ((ids < 0) | (ids >= vocab_size)).any():
        raise ValueError("out of range")
    return torch.zeros(len(ids), vocab_size).scatter_(1, ids.unsqueeze(1), 1.0)


# %% [chars_per_token] one loop, two counters, and a float division at the end
def chars_per_token(texts):
    chars = tokens = 0
    for text in texts:
        chars += len(text)
        tokens += len(tokenizer(text)["input_ids"])
    return float(chars) / tokens


# %% [one_hot] comparison with torch.arange (broadcasting), the range checked in plain Python, empty input handled
def one_hot(ids, vocab_size):
    ids = [int(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"ids {bad[:3]} outside [0, {vocab_size})")
    column = torch.tensor(ids, dtype=torch.long).reshape(-1, 1)
    return (column == torch.arange(vocab_size)).to(torch.float32)


# %% [one_hot] a row at a time in a Python loop, after a check that warns before raising
def one_hot(ids, vocab_size):
    import warnings

    ids = torch.as_tensor(ids).long().flatten()
    out = torch.zeros((ids.numel(), vocab_size), dtype=torch.float32)
    for t, i in enumerate(ids.tolist()):
        if i < 0 or i >= vocab_size:
            warnings.warn(f"bad id {i}", stacklevel=2)
            raise ValueError(f"token id {i} at position {t} is not in [0, {vocab_size})")
        out[t, i] = 1
    return out


# %% [one_hot_memory_bytes] math.prod of the three sizes, with an int() for safety
def one_hot_memory_bytes(n_tokens, vocab_size, bytes_per_value=4):
    import math

    return int(math.prod((n_tokens, vocab_size, bytes_per_value)))


# %% [chars_per_token] one batch call of the tokenizer (no padding, no truncation) and an exact Fraction
def chars_per_token(texts):
    from fractions import Fraction

    ids = tokenizer(list(texts))["input_ids"]
    return float(Fraction(sum(map(len, texts)), sum(map(len, ids))))
