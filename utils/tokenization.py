"""Tokens as numbers: the one-hot matrix, what it would cost, and how many characters a token holds.

Lesson 01 builds these by hand; later lessons import them from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


def one_hot(ids: Sequence[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The one-hot matrix of a token sequence.

    ids: a list of ints or a 1-D integer tensor of length seq, each in [0, vocab_size).
    Returns a float32 tensor (seq, vocab_size): row t is all zeros except a 1 in column ids[t].
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    ids = torch.as_tensor(ids)
    if ids.numel() == 0:
        ids = ids.long()  # torch.as_tensor([]) is float32; an empty sequence is still a valid sequence
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (seq,), got shape {tuple(ids.shape)}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
    ids = ids.long()
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}); got min {ids.min().item()}, max {ids.max().item()}"
        )
    out = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    out[torch.arange(len(ids)), ids] = 1.0
    return out


def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens: n_tokens * vocab_size * bytes_per_value."""
    for name, value in (("n_tokens", n_tokens), ("vocab_size", vocab_size), ("bytes_per_value", bytes_per_value)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    return int(n_tokens) * int(vocab_size) * int(bytes_per_value)


def chars_per_token(texts: Iterable[str], tokenizer) -> float:
    """Average number of characters per token over `texts` (each text encoded on its own, no special tokens).

    This is the exchange rate between text size and sequence length: n_tokens ≈ n_chars / chars_per_token.
    """
    n_chars = n_tokens = 0
    for text in texts:
        n_chars += len(text)
        n_tokens += len(tokenizer.encode(text, add_special_tokens=False))
    if n_tokens == 0:
        raise ValueError("no tokens: texts is empty or holds only empty strings")
    return n_chars / n_tokens


def format_bytes(n_bytes: float) -> str:
    """A byte count in decimal units (1 kB = 1000 B), e.g. '1.75 GB', as in 'a 0.5 MB text'."""
    units = ("B", "kB", "MB", "GB", "TB")
    power = 0
    while abs(n_bytes) >= 1000 and power < len(units) - 1:
        n_bytes /= 1000
        power += 1
    return f"{n_bytes:.0f} B" if power == 0 else f"{n_bytes:.2f} {units[power]}"


def train_bpe_merges(words: Iterable[str], n_merges: int) -> list[tuple[str, str]]:
    """The first `n_merges` merges BPE training learns from `words` (one entry per occurrence, pre-split).

    Each word starts as its list of characters. Each round counts every pair of adjacent symbols over all words
    (a word that occurs 5 times counts 5 times), takes the most frequent pair (ties: the pair that sorts first),
    records it and replaces every occurrence of it, left to right, by the joined symbol. Stops early when no word
    has two symbols left. On the course corpus, pre-split by the tokenizer's own pre-tokenizer, this reproduces the
    bundled tokenizer's first merges (lesson 01 prints how many of them).
    """
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    spelled = {word: list(word) for word in counts}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: dict[tuple[str, str], int] = {}
        for word, symbols in spelled.items():
            for pair in zip(symbols[:-1], symbols[1:], strict=True):
                pairs[pair] = pairs.get(pair, 0) + counts[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        for word, symbols in spelled.items():
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            spelled[word] = merged
    return merges
