"""Your-turn checks of lesson 03 (sinusoidal positional encoding): the table without loops, a predicted
wavelength, moving a position vector by k without knowing its position."""

from __future__ import annotations

import math

import torch

from utils.exercises import as_number, exercise, expect_close
from utils.positional import pe_frequencies

# An angle p·ω computed in float32 through pow or exp/log carries a relative error of about ln(10000) ≈ 9 units of
# roundoff, so sin and cos of it are off by up to ~9·u·p. reduction=100 gives tolerance 4·√100·u·scale = 40·u·scale
# with scale = the largest angle: 4x the expected error, orders of magnitude below a wrong formula's (~0.1 to 1).
_ANGLE_REDUCTION = 100


def _table(seq_len: int, d_model: int) -> torch.Tensor:
    """The sinusoidal table from the formula, element by element, in float64 (independent of utils.positional)."""
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    for p in range(seq_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i], pe[p, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


@exercise("03.1", hint="positions as a column (seq, 1) times frequencies as a row (1, d/2) gives every angle at "
          "once; then pe[:, 0::2] = sin, pe[:, 1::2] = cos",
          done="your table equals the formula for 4 sizes, d_model = 2 to 64")
def _(pe_table_by_hand) -> None:
    for seq_len, d_model in [(4, 8), (50, 64), (1, 2), (7, 6)]:
        got = pe_table_by_hand(seq_len, d_model)
        expect_close(got, _table(seq_len, d_model), reduction=_ANGLE_REDUCTION, scale=max(seq_len - 1, 1),
                     what=f"the table for seq_len = {seq_len}, d_model = {d_model}")


@exercise("03.2", hint="pair i has ω_i = 10000^(-2i/d); one full turn of the clock hand takes 2π/ω_i positions",
)
def _(my_wavelength) -> str:
    my_wavelength = as_number(my_wavelength, "a number of positions")
    truth = 2 * math.pi / pe_frequencies(256)[64].item()
    assert abs(my_wavelength - truth) <= 0.01 * truth, (
        f"{my_wavelength:g} positions is not within 1% of the wavelength of pair 64 at d_model = 256")
    return f"right: 2π / ω_64 = {truth:.1f} positions (ω_64 = 10000^(-128/256) = 1/100)"


@exercise("03.3", hint="in each pair, (s, c) = (sin pω, cos pω) becomes (s·cos kω + c·sin kω, c·cos kω − s·sin kω)",
          done="your rotation moves PE(p) to PE(p + k) for 4 (p, k, d_model), without being told p")
def _(shift_by_hand) -> None:
    for p, k, d_model in [(3, 5, 16), (40, 1, 64), (0, 17, 8), (90, 30, 6)]:
        row = _table(p + 1, d_model)[p].float()
        got = shift_by_hand(row.clone(), k)
        expect_close(got, _table(p + k + 1, d_model)[p + k], reduction=_ANGLE_REDUCTION, scale=p + k,
                     what=f"the vector for p = {p}, k = {k}, d_model = {d_model}")
