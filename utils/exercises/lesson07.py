"""Your-turn checks of lesson 07 (LoRA by hand): the forward pass, the parameter count, a Conv1D merge."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.exercises import exercise, expect_close
from utils.lora import lora_parameter_count

# (d, k, r) = (out, in, rank): square first (a transposed weight raises no error there), non-square both ways, r = 1
_SHAPES = [(6, 6, 3), (8, 5, 2), (3, 10, 1), (16, 12, 4)]


def _factors(d: int, k: int, r: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A (r, k) and B (d, r), both random: B != 0, as after some training."""
    return torch.randn(r, k, generator=g), torch.randn(d, r, generator=g)


@exercise("07.1", hint="the frozen path is x @ W.T; the adapter adds (alpha / r) * x @ A.T @ B.T",
          done="your LoRA forward pass matches on 4 layer shapes (square and not, r = 1 to 4)")
def _(lora_forward_by_hand) -> None:
    g = torch.Generator().manual_seed(7)
    for d, k, r in _SHAPES:
        x, W = torch.randn(3, k, generator=g), torch.randn(d, k, generator=g)  # (batch, k), (d, k)
        A, B = _factors(d, k, r, g)
        alpha = 2.0 * r + 1                                                      # alpha / r != alpha, != 1
        want = F.linear(x, W) + (alpha / r) * F.linear(F.linear(x, A), B)        # (batch, d)
        terms = x.abs() @ W.abs().T + (alpha / r) * (x.abs() @ A.abs().T) @ B.abs().T  # sizes of the summed terms
        got = lora_forward_by_hand(x.clone(), W.clone(), A.clone(), B.clone(), alpha, r)
        expect_close(got, want, reduction=k + r, scale=terms.max().item(),
                     what=f"the output for W of shape (d, k) = ({d}, {k}), r = {r}, alpha = {alpha:g}")


@exercise("07.2", hint="B is d x r and A is r x k: count the entries of both",
          done="your count matches for 5 layers, from 3 x 7 to 4096 x 1024")
def _(lora_params_by_hand) -> None:
    for d, k, r in [(1000, 1000, 16), (512, 2048, 8), (2304, 768, 4), (3, 7, 1), (4096, 1024, 64)]:
        got = lora_params_by_hand(d, k, r)
        want = lora_parameter_count([(d, k)], r)
        if got == d * k:
            raise AssertionError(f"for a {d} x {k} layer you counted d·k = {got:,}: that is the full weight, "
                                 "which LoRA freezes; count what LoRA trains")
        assert got == want, (f"for a {d} x {k} layer at r = {r} you counted {got!r}, which is not the number of "
                             "entries of A and B")


@exercise("07.3", hint="B @ A is (out, in); a Conv1D weight is (in, out): add the scaled update transposed",
          done="your merge gives the adapted layer's weight for 4 shapes, the square one included")
def _(merge_conv1d_by_hand) -> None:
    g = torch.Generator().manual_seed(3)
    for d, k, r in _SHAPES:
        weight = torch.randn(k, d, generator=g)                # Conv1D storage: (in, out)
        A, B = _factors(d, k, r, g)
        alpha = 2.0 * r + 1
        want = weight + (alpha / r) * (B @ A).T                # (in, out)
        got = merge_conv1d_by_hand(weight.clone(), A.clone(), B.clone(), alpha, r)
        terms = weight.abs() + (alpha / r) * (B.abs() @ A.abs()).T
        expect_close(got, want, reduction=r + 1, scale=terms.max().item(),
                     what=f"the merged (in, out) = ({k}, {d}) weight at r = {r}")
