"""Your-turn checks of lesson 11 (quantization by hand): absmax INT8, the NF4 lookup, packing two codes a byte."""

from __future__ import annotations

import torch

from utils.exercises import as_number, exercise, expect_tensor
from utils.exercises._answers import as_pair
from utils.quant import absmax_quantize, int4_codebook, nf4_codebook, pack_4bit


def _blocks(g: torch.Generator) -> list[torch.Tensor]:
    """Weight-like test blocks: small normal values, one with an outlier, one whose largest magnitude is negative."""
    plain = torch.randn(64, generator=g) * 0.02
    outlier = torch.randn(64, generator=g) * 0.02
    outlier[17] = 0.9
    negative = torch.randn(64, generator=g) * 0.02
    negative[40] = -0.5
    return [plain, outlier, negative, torch.randn(4, 16, generator=g)]


@exercise("11.1", hint="scale = max |x| / 127 (the largest MAGNITUDE, sign ignored); q = round(x / scale) as int8",
          done="your INT8 codes and scales match on 4 blocks (an outlier, a negative maximum, a 2-D block)")
def _(absmax_int8_by_hand) -> None:
    for x in _blocks(torch.Generator().manual_seed(11)):
        q, scale = as_pair(absmax_int8_by_hand(x.clone()), "(q, scale)")
        q = expect_tensor(q, "q", shape=tuple(x.shape), dtype=torch.int8)
        scale = as_number(scale, "scale")
        want_q, want_scale = absmax_quantize(x, bits=8)
        assert abs(scale - want_scale.item()) <= 1e-6 * want_scale.item(), (
            f"your scale {scale:.6g} is not max|x| / 127 for a block whose largest magnitude is "
            f"{x.abs().max().item():.3g}")
        exact = x.float() / want_scale                                         # x's shape: the unrounded codes
        at_tie = ((exact - exact.trunc()).abs() - 0.5).abs() < 1e-4            # x's shape: halfway between two codes
        wrong = (q.long() != want_q.long()) & ~at_tie
        assert not wrong.any(), (f"{int(wrong.sum())} of {x.numel()} codes are off (for x = "
                                 f"{x.reshape(-1)[wrong.reshape(-1)][0].item():.4f} you give "
                                 f"{q.reshape(-1)[wrong.reshape(-1)][0].item()}): round to the nearest integer")


@exercise("11.2", hint="divide the block by its absmax (max |x|), then for each value take the index of the "
                       "nearest level: (scaled[:, None] - codebook).abs().argmin(dim=1)",
          done="your codes pick the nearest level on 4 blocks, with the NF4 and the INT4 codebook")
def _(nearest_codes_by_hand) -> None:
    g = torch.Generator().manual_seed(12)
    for book_name, codebook in [("NF4", nf4_codebook()), ("INT4", int4_codebook())]:
        for block in _blocks(g)[:3]:
            codes, absmax = as_pair(nearest_codes_by_hand(block.clone(), codebook.clone()), "(codes, absmax)")
            codes = expect_tensor(codes, "codes", shape=(64,))
            assert not codes.is_floating_point(), f"codes should be integer indices, got dtype {codes.dtype}"
            assert 0 <= codes.min() and codes.max() < len(codebook), (
                f"codes index the {len(codebook)} levels: 0 to {len(codebook) - 1}, got {codes.min()} to {codes.max()}")
            absmax = as_number(absmax, "absmax")
            want_absmax = block.abs().max().item()
            assert abs(absmax - want_absmax) <= 1e-6 * want_absmax, (
                f"your absmax {absmax:.6g} is not the block's largest magnitude")
            scaled = block / want_absmax                                          # (64,) in [-1, 1]
            distance = (scaled[:, None] - codebook[None, :]).abs()                # (64, levels)
            chosen = distance.gather(1, codes.long()[:, None])[:, 0]              # (64,)
            wrong = chosen > distance.min(dim=1).values + 1e-6
            assert not wrong.any(), (
                f"{book_name}: {int(wrong.sum())} of 64 values do not get their nearest level (value / absmax = "
                f"{scaled[wrong][0].item():.4f} got level {codebook[codes.long()[wrong][0]].item():.4f})")


@exercise("11.3", hint="byte k = codes[2k] in the high nibble, codes[2k + 1] in the low one: "
                       "codes[0::2] << 4 | codes[1::2]",
          done="your bytes are bitsandbytes' layout for 3 code sequences")
def _(pack_by_hand) -> None:
    g = torch.Generator().manual_seed(13)
    for n in (2, 16, 128):
        codes = torch.randint(0, 16, (n,), generator=g, dtype=torch.uint8)
        got = expect_tensor(pack_by_hand(codes.clone()), f"the packed bytes of {n} codes", shape=(n // 2,))
        assert got.dtype == torch.uint8, f"bytes are torch.uint8, got {got.dtype}"
        want = pack_4bit(codes)
        differ = got != want
        assert not differ.any(), (f"{n} codes: byte {int(differ.nonzero()[0])} is {got[differ][0].item():08b} in "
                                  f"bits, bitsandbytes stores {want[differ][0].item():08b}")
