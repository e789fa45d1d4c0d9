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
