"""Your-turn checks of lesson 05 (the transformer block): LayerNorm, the pre-norm residual wiring, the parameters
of one GPT-2 block."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.exercises import as_number, exercise, expect_close


@exercise("05.1", hint="mean and variance over the last dimension (keepdim=True), the variance with 1/d "
          "(unbiased=False), eps inside the square root, then γ and β",
          done="your LayerNorm equals torch's for 4 shapes, near-constant rows included")
def _(layer_norm_by_hand) -> None:
    g = torch.Generator().manual_seed(8)
    for shape, eps in [((4, 8), 1e-5), ((2, 3, 16), 1e-5), ((1, 5), 1e-2), ((6, 32), 1e-5)]:
        d = shape[-1]
        x = 3 * torch.randn(*shape, generator=g) + 2
        x[..., 0, :] = 0.5 + 1e-3 * torch.randn(d, generator=g)   # a near-constant row: eps matters there
        gamma, beta = torch.randn(d, generator=g), torch.randn(d, generator=g)
        want = F.layer_norm(x.double(), (d,), gamma.double(), beta.double(), eps)
        got = layer_norm_by_hand(x.clone(), gamma.clone(), beta.clone(), eps)
        # normalized values are at most √d in size; the mean and the variance each sum d terms
        scale = max(want.abs().max().item(), d ** 0.5 * gamma.abs().max().item() + beta.abs().max().item())
        expect_close(got, want, reduction=2 * d, scale=scale, what=f"LayerNorm of a {shape} input (eps = {eps:g})")


class _Recorder(nn.Module):
    """A sublayer that is a fixed random linear map plus a tanh, so that wirings give different outputs."""

    def __init__(self, d: int, g: torch.Generator):
        super().__init__()
        self.weight = torch.randn(d, d, generator=g) / d ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.weight)


@exercise("05.2", hint="h = x + attn(ln_1(x)), then y = h + mlp(ln_2(h)): each sublayer reads the normalized "
          "stream and adds to the un-normalized one",
          done="your block wires the sublayers exactly like GPT-2, on 3 inputs")
def _(pre_norm_block_by_hand) -> None:
    g = torch.Generator().manual_seed(9)
    for shape in [(5, 8), (2, 4, 8), (1, 8)]:
        d = shape[-1]
        attn, mlp = _Recorder(d, g), _Recorder(d, g)
        ln_1, ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        with torch.no_grad():
            for ln in (ln_1, ln_2):
                ln.weight.copy_(1 + 0.5 * torch.randn(d, generator=g))
                ln.bias.copy_(0.5 * torch.randn(d, generator=g))
            x = 2 * torch.randn(*shape, generator=g) + 1
            h = x + attn(ln_1(x))
            want = h + mlp(ln_2(h))
            got = pre_norm_block_by_hand(x.clone(), attn, mlp, ln_1, ln_2)
        expect_close(got, want, reduction=4 * d, what=f"the block's output for a {shape} input")


@exercise("05.3", hint="c_attn is d x 3d and c_proj d x d, c_fc d x 4d and the MLP's c_proj 4d x d, every one with "
          "a bias; ln_1 and ln_2 have γ and β of d numbers each",
          )
def _(my_block_params) -> str:
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    my_block_params = as_number(my_block_params, "a whole number of parameters")
    if my_block_params != int(my_block_params):
        raise AssertionError(f"assign a whole number of parameters, got {my_block_params!r}")
    my_block_params = int(my_block_params)
    with torch.device("meta"):                                   # shapes only: no memory, no download
        truth = sum(p.numel() for p in GPT2Block(GPT2Config()).parameters())
    if my_block_params == 12 * 768 ** 2:
        raise AssertionError("12·768² counts the weight matrices; the biases and LayerNorms are missing")
    assert my_block_params == truth, (f"{my_block_params:,} is {'more' if my_block_params > truth else 'less'} "
                                      "than the number of parameters in one block of GPT-2 small")
    return f"right: {truth:,} parameters in one GPT-2 small block (12·d² + 13·d with d = 768)"
