"""utils.positional against the formula written out independently, and the relative-position rotation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from utils.positional import pe_frequencies, rotation_matrix, sinusoidal_encoding


def reference_pe(seq_len: int, d_model: int) -> np.ndarray:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...), i = 0 ... d/2 - 1, with plain loops."""
    pe = np.zeros((seq_len, d_model))
    for p in range(seq_len):
        for i in range(d_model // 2):
            angle = p / math.pow(10000.0, 2 * i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


@pytest.mark.parametrize(("seq_len", "d_model"), [(1, 2), (7, 4), (50, 16), (33, 38), (128, 256)])
def test_matches_the_formula_written_with_loops(seq_len, d_model):
    pe = sinusoidal_encoding(seq_len, d_model)
    assert pe.dtype == torch.float32 and pe.shape == (seq_len, d_model)
    np.testing.assert_allclose(pe.numpy(), reference_pe(seq_len, d_model), atol=1e-6)


def test_first_row_and_first_pair():
    pe = sinusoidal_encoding(10, 8)
    assert pe[0].tolist() == [0.0, 1.0] * 4  # position 0: sin 0 = 0, cos 0 = 1
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(10.0)))  # i = 0: frequency 1 rad per position


@pytest.mark.parametrize(("seq_len", "d_model"), [(4, 3), (4, 0), (0, 4), (-2, 4), (4, -2)])
def test_bad_sizes_are_value_errors(seq_len, d_model):
    with pytest.raises(ValueError):
        sinusoidal_encoding(seq_len, d_model)


def test_frequencies_run_over_half_the_dimensions():
    w = pe_frequencies(64)
    assert w.shape == (32,) and w[0] == 1.0
    assert w[-1] == pytest.approx(10000.0 ** (-62 / 64))
    assert torch.all(w[1:] < w[:-1])


def test_every_row_is_unit_circle_pairs():
    pe = sinusoidal_encoding(100, 32).double()
    pairs = pe.view(100, 16, 2)
    assert torch.allclose(pairs.pow(2).sum(-1), torch.ones(100, 16, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_shift_by_k_is_the_same_rotation_for_every_position(seed):
    g = torch.Generator().manual_seed(seed)
    d_model = 2 * int(torch.randint(1, 40, (), generator=g))
    k = int(torch.randint(-30, 30, (), generator=g))
    pe = sinusoidal_encoding(200, d_model).double()
    rot = rotation_matrix(k, d_model).double()
    p = torch.arange(max(0, -k), min(200, 200 - k))
    assert torch.allclose(pe[p] @ rot.T, pe[p + k], atol=1e-5)


def test_rotation_is_orthogonal_and_composes():
    r3, r4, r7 = (rotation_matrix(k, 16).double() for k in (3, 4, 7))
    assert torch.allclose(r3 @ r3.T, torch.eye(16, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(r3 @ r4, r7, atol=1e-6)
    assert torch.allclose(rotation_matrix(0, 16), torch.eye(16))


def test_dot_product_depends_only_on_the_distance():
    pe = sinusoidal_encoding(120, 64).double()
    gram = pe @ pe.T
    for offset in (0, 1, 5, 40):
        diag = torch.diagonal(gram, offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4)
    assert gram[0, 0] == pytest.approx(32.0)  # d_model/2 pairs, each of unit length
