"""Plausible-but-wrong answers to lab01_tokens: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [one_hot] one-hot transposed (vocab, seq), as the seed draws it
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t].

    ids: a list of ints or a 1-D integer tensor. Raises ValueError if an id is outside [0, vocab_size).
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    out = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    out[torch.arange(len(ids)), ids] = 1.0
    return out.T


# %% [one_hot] no range check: negative ids silently index from the end
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t]."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    out = torch.zeros(len(ids), vocab_size)
    out[torch.arange(len(ids)), ids] = 1.0
    return out


# %% [one_hot] returns torch's int64 one-hot
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: (len(ids), vocab_size)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("id out of range")
    return torch.nn.functional.one_hot(ids, vocab_size)


# %% [one_hot] calls torch's one_hot, which the exercise forbids
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("id out of range")
    return torch.nn.functional.one_hot(ids, vocab_size).float()


# %% [one_hot_memory_bytes] counts bits, then divides by 8 (a float)
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens."""
    bits = n_tokens * vocab_size * bytes_per_value * 8
    return bits / 8


# %% [one_hot_memory_bytes] counts numbers, not bytes
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens."""
    return n_tokens * vocab_size


# %% [one_hot_memory_bytes] hard-codes fp32
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens."""
    return n_tokens * vocab_size * 4


# %% [chars_per_token] averages each text's ratio instead of pooling
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts`."""
    ratios = [len(text) / len(tokenizer.encode(text)) for text in texts]
    return sum(ratios) / len(ratios)


# %% [chars_per_token] tokens per character (inverted)
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts`."""
    return sum(len(tokenizer.encode(t)) for t in texts) / sum(len(t) for t in texts)


# %% [one_hot] torch's one_hot kept in a default argument, so renaming F.one_hot in the test does not reach it
import torch.nn.functional as F


def one_hot(ids, vocab_size: int, _torch_one_hot=F.one_hot) -> torch.Tensor:
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    return _torch_one_hot(ids, vocab_size).float()


# %% [one_hot] the course's own one_hot, imported from utils.tokenization (which the lab forbids)
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    from utils.tokenization import one_hot as course_one_hot
    return course_one_hot(ids, vocab_size)


# %% [chars_per_token] encodes all texts joined into one string (tokens merge across the seams)
def chars_per_token(texts: list[str]) -> float:
    joined = "".join(texts)
    return len(joined) / len(tokenizer.encode(joined))


# %% [chars_per_token] strips each text first (leading and trailing spaces are characters too)
def chars_per_token(texts: list[str]) -> float:
    texts = [t.strip() for t in texts]
    return sum(len(t) for t in texts) / sum(len(tokenizer.encode(t)) for t in texts)


# %% [chars_per_token] returns a 0-d tensor, not a float
def chars_per_token(texts: list[str]) -> float:
    chars = torch.tensor([len(t) for t in texts], dtype=torch.float64)
    tokens = torch.tensor([len(tokenizer.encode(t)) for t in texts], dtype=torch.float64)
    return chars.sum() / tokens.sum()


# %% [one_hot] range check with ids.min()/ids.max() on every input: crashes on an empty sequence (0 ids)
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t]."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    out = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    out[torch.arange(len(ids)), ids] = 1.0
    return out


# %% [one_hot] checks the range while converting a list, but trusts a tensor (a negative id in a tensor marks the last column)
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t]."""
    if not isinstance(ids, torch.Tensor):
        if any(i < 0 or i >= vocab_size for i in ids):
            raise ValueError(f"token ids must lie in [0, {vocab_size})")
        ids = torch.tensor(ids, dtype=torch.long)
    out = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    out[torch.arange(len(ids)), ids] = 1.0
    return out


# %% [one_hot] scatter_ with the ids as given: a tensor of int16 or uint8 ids raises (scatter_ wants int64 or int32)
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t]."""
    if not isinstance(ids, torch.Tensor):
        ids = torch.tensor(ids, dtype=torch.long)
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    return torch.zeros(len(ids), vocab_size).scatter_(1, ids[:, None], 1.0)


# %% [one_hot_memory_bytes] counts bits, divides by 8 and converts back with int(): float rounding past 2**53 bytes
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens (fp32 by default: 4 bytes per number)."""
    bits = n_tokens * vocab_size * bytes_per_value * 8
    return int(bits / 8)


# %% [one_hot_memory_bytes] int(np.prod(...)): numpy's int64 wraps around past 2**63 bytes
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens (fp32 by default: 4 bytes per number)."""
    import numpy as np

    return int(np.prod([n_tokens, vocab_size, bytes_per_value]))


# %% [chars_per_token] encodes the texts in one batch call with truncation=True (a text past 128 tokens loses its tail)
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts` together (each text encoded on its own by `tokenizer`)."""
    ids = tokenizer(texts, truncation=True)["input_ids"]
    return sum(len(text) for text in texts) / sum(len(i) for i in ids)


# %% [chars_per_token] memoises each text's count in a dict and sums the dict: a repeated text counts once
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts` together (each text encoded on its own by `tokenizer`)."""
    counts = {}
    for text in texts:
        if text not in counts:
            counts[text] = len(tokenizer.encode(text))
    return sum(len(text) for text in counts) / sum(counts.values())


# %% [chars_per_token] skips the texts that encode to more than 128 tokens ("longer than the model's context")
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts` together (each text encoded on its own by `tokenizer`)."""
    n_chars = n_tokens = 0
    for text in texts:
        ids = tokenizer.encode(text)
        if len(ids) <= tokenizer.model_max_length:
            n_chars += len(text)
            n_tokens += len(ids)
    return n_chars / n_tokens
