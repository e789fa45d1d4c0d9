"""Sinusoidal positional encoding (Vaswani et al., 2017) and its relative-position rotation.

    PE[p, 2i]   = sin(p * w_i)        w_i = 1 / base^(2i / d_model),   i = 0, 1, ..., d_model/2 - 1
    PE[p, 2i+1] = cos(p * w_i)

Each pair of columns (2i, 2i+1) is a point on the unit circle turning at angular speed w_i as p grows, so
moving k positions is the same rotation for every p: PE[p + k] = rotation_matrix(k, d_model) @ PE[p].
Lesson 03 builds these by hand; later lessons import them from here.
"""

from __future__ import annotations

import torch

BASE = 10000.0


def _check_d_model(d_model: int) -> None:
    if d_model <= 0 or d_model % 2:
        raise ValueError(f"d_model must be a positive even number (dimensions come in sin/cos pairs), got {d_model}")


def pe_frequencies(d_model: int, base: float = BASE) -> torch.Tensor:
    """Angular frequencies w_i = base^(-2i/d_model) for i = 0 ... d_model/2 - 1; float64 (d_model/2,)."""
    _check_d_model(d_model)
    i = torch.arange(d_model // 2, dtype=torch.float64)
    return base ** (-2 * i / d_model)


def sinusoidal_encoding(seq_len: int, d_model: int, base: float = BASE) -> torch.Tensor:
    """The sinusoidal position table, float32 (seq_len, d_model): sin in even columns, cos in odd ones."""
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * pe_frequencies(d_model, base)[None, :]
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()


def rotation_matrix(k: int | float, d_model: int, base: float = BASE) -> torch.Tensor:
    """The block-diagonal matrix R_k, float32 (d_model, d_model), with PE[p + k] = R_k @ PE[p] for every p.

    Block i acts on the pair (sin, cos) = (PE[p, 2i], PE[p, 2i+1]):
        [[ cos(k w_i), sin(k w_i)],
         [-sin(k w_i), cos(k w_i)]]
    It depends on the offset k only, not on p: attention can read relative positions with a linear map.
    """
    angles = k * pe_frequencies(d_model, base)
    cos, sin = torch.cos(angles), torch.sin(angles)
    rot = torch.zeros(d_model, d_model, dtype=torch.float64)
    even = torch.arange(0, d_model, 2)
    rot[even, even] = cos
    rot[even, even + 1] = sin
    rot[even + 1, even] = -sin
    rot[even + 1, even + 1] = cos
    return rot.float()
