"""Your-turn checks of lesson 12 (QLoRA): the storage of a QLoRA model, and what a merge into the 4-bit base keeps."""

from __future__ import annotations

import math

import torch

from utils.exercises import as_number, exercise, expect_close
from utils.quant import bits_per_param, dequantize_nf4, quantize_nf4


@exercise("12.2", hint="linear weights: 4-bit codes + an 8-bit scale per 64 + a 32-bit scale per 64 · 256; "
                       "embeddings and norms: 16 bits; the adapter: 32 bits; then divide by 8 for bytes",
          done="your storage matches for 4 models, with and without an adapter")
def _(qlora_bytes_by_hand) -> None:
    nf4 = bits_per_param(4, blocksize=64, double_quant=True)              # 4 + 8/64 + 32/(64·256) bits
    for n_linear, n_other, n_adapter in [(2.8e9, 0.39e9, 4_587_520), (25.99e9, 1.24e9, 0), (1e6, 1e6, 1e6),
                                         (4_718_592, 1_141_248, 294_912)]:
        got = as_number(qlora_bytes_by_hand(n_linear, n_other, n_adapter), "the number of bytes")
        want = n_linear * nf4 / 8 + n_other * 16 / 8 + n_adapter * 32 / 8
        assert math.isclose(got, want, rel_tol=1e-9), (
            f"{n_linear:g} linear, {n_other:g} other and {n_adapter:g} adapter parameters: you return "
            f"{got:,.0f} bytes, which is not that storage")


@exercise("12.1", hint="NF4 the base (quantize_nf4, dequantize_nf4), add delta, then the merge must store the sum "
                       "in NF4 again: quantize and dequantize once more",
          done="your merged weight is what a 4-bit base stores after the merge, for 3 layers")
def _(merged_4bit_weight_by_hand) -> None:
    g = torch.Generator().manual_seed(14)
    for shape in [(64, 32), (96, 64), (8, 128)]:
        W = torch.randn(shape, generator=g) * 0.02                              # (out, in)
        delta = torch.randn(shape, generator=g) * 2e-4                          # smaller than one NF4 step, like ΔW
        base = dequantize_nf4(*quantize_nf4(W, 64), shape, 64)                  # what the 4-bit base computes with
        want = dequantize_nf4(*quantize_nf4(base + delta, 64), shape, 64)       # re-quantized after the merge
        got = merged_4bit_weight_by_hand(W.clone(), delta.clone())
        expect_close(got, want, reduction=2, what=f"the merged weight of shape {shape}")
