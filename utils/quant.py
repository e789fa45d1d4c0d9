"""Quantization by hand (lesson 11): absmax INT8/INT4, blockwise scaling, the NF4 codebook, double quantization.

Everything here is plain torch so that a student can read it; `tests/test_quant.py` proves that the NF4 codes,
block scales and dequantized values are bit-identical to `bitsandbytes.functional.quantize_4bit(..., "nf4")`.

Conventions
- Blockwise functions flatten `w` in row-major order and cut it into blocks of `blocksize` consecutive values.
  `w.numel()` must be a multiple of `blocksize`: there is no padding, a clear `ValueError` says so instead.
- 4-bit codes are returned *unpacked*: one `uint8` in 0…15 per element. bitsandbytes packs two codes per byte,
  the first element in the high nibble (`byte = codes[0::2] << 4 | codes[1::2]`); see `pack_4bit`.
"""

from __future__ import annotations

import torch

NF4_OFFSET = 0.9677083  # (1 - 1/(2*15) + 1 - 1/(2*16)) / 2: keeps the extreme quantiles finite (QLoRA, App. E)
# bitsandbytes' functions and kernels that quantize or dequantize (4-bit, NF4/FP4, blockwise): what a hand-written
# quantizer must not call (lab 11's hidden tests forbid them by these names, `utils.rules.forbidden`)
BITSANDBYTES_QUANTIZERS = (
    "bitsandbytes.functional.get_4bit_type", "bitsandbytes.functional.quantize_4bit",
    "bitsandbytes.functional.dequantize_4bit", "bitsandbytes.functional.quantize_nf4",
    "bitsandbytes.functional.dequantize_nf4", "torch.ops.bitsandbytes.quantize_4bit",
    "torch.ops.bitsandbytes.dequantize_4bit", "bitsandbytes.functional.dequantize_blockwise",
    "bitsandbytes.backends.utils._get_4bit_code", "bitsandbytes.functional.quantize_blockwise",
    "torch.ops.bitsandbytes.quantize_blockwise", "torch.ops.bitsandbytes.dequantize_blockwise",
    "bitsandbytes.functional.quantize_fp4", "bitsandbytes.functional.dequantize_fp4",
    "bitsandbytes.functional.create_normal_map")


# ---------------------------------------------------------------- absmax (linear, symmetric) quantization

def _qmax(bits: int) -> int:
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    return 2 ** (bits - 1) - 1


def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-tensor quantization: `q = round(x / scale)` with `scale = max|x| / (2**(bits-1) - 1)`.

    x: any shape. Returns `(q, scale)`: `q` int8 of x's shape with values in [-qmax, qmax] (qmax = 127 for 8 bits,
    7 for 4 bits), `scale` a float32 scalar tensor. Rounds to the nearest level (ties to even), not toward zero.
    """
    qmax = _qmax(bits)                                                     # 127 for 8 bits, 7 for 4 bits
    absmax = x.detach().abs().max().float()                                # (): one scale for the whole tensor
    scale = absmax / qmax if absmax > 0 else torch.tensor(1.0)             # ()
    q = torch.round(x.float() / scale).clamp(-qmax, qmax).to(torch.int8)  # x's shape, int8
    return q, scale.to(torch.float32)


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Undo `absmax_quantize`: float32 `q * scale` (scale broadcasts: a scalar, or one per row/block)."""
    return q.float() * scale


def _blocks(w: torch.Tensor, blocksize: int) -> torch.Tensor:
    """`w` flattened row-major into `(n_blocks, blocksize)`; a clear error when the sizes do not divide."""
    if blocksize <= 0:
        raise ValueError(f"blocksize must be positive, got {blocksize}")
    if w.numel() == 0 or w.numel() % blocksize:
        raise ValueError(
            f"tensor of shape {tuple(w.shape)} has {w.numel()} elements, not a positive multiple of "
            f"blocksize={blocksize}; these helpers do not pad (bitsandbytes gives the tail its own short block)"
        )
    return w.detach().reshape(-1, blocksize).float()


def absmax_quantize_blockwise(x: torch.Tensor, bits: int = 8, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization with one scale per block of `blocksize` consecutive values.

    Returns `(q, scales)`: `q` int8 of shape `(n_blocks, blocksize)`, `scales` float32 `(n_blocks,)`.
    An outlier now only coarsens its own block instead of the whole tensor.
    """
    qmax = _qmax(bits)
    blocks = _blocks(x, blocksize)                                               # (n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)                                            # (n_blocks,)
    scales = torch.where(absmax > 0, absmax / qmax, torch.ones_like(absmax))     # (n_blocks,)
    q = torch.round(blocks / scales[:, None]).clamp(-qmax, qmax).to(torch.int8)  # (n_blocks, blocksize)
    return q, scales


def absmax_dequantize_blockwise(q: torch.Tensor, scales: torch.Tensor, shape: torch.Size | tuple) -> torch.Tensor:
    """Undo `absmax_quantize_blockwise`: float32 tensor of `shape`."""
    return (q.float() * scales[:, None]).reshape(shape)  # (n_blocks, blocksize) -> shape


# ---------------------------------------------------------------- 4-bit codebooks

def nf4_codebook(offset: float = NF4_OFFSET) -> torch.Tensor:
    """The 16 NormalFloat-4 levels (float32, ascending, from -1 to 1), built from quantiles of N(0, 1).

    8 positive levels are quantiles at probabilities linspace(offset, 0.5, 9)[:-1], 7 negative ones at
    linspace(offset, 0.5, 8)[:-1] (mirrored), plus an exact zero; all divided by the largest. The asymmetry
    (8 positive, 7 negative) buys an exact 0 with 16 codes. With the default offset (the probability of the
    largest level), equal bit for bit to bitsandbytes' NF4 table; any offset, to its create_normal_map.
    """
    if not 0.5 < offset < 1.0:
        raise ValueError(f"offset is the probability of the largest level, between 0.5 and 1; got {offset}")
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1].double())
    negative = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
    return levels / levels.max()


def int4_codebook() -> torch.Tensor:
    """Uniform symmetric 4-bit levels k/7 for k = -7…7 (15 levels, float32): absmax INT4 as a codebook."""
    return torch.arange(-7, 8, dtype=torch.float32) / 7


def fp4_codebook() -> torch.Tensor:
    """FP4 (E2M1: sign, 2 exponent bits, 1 mantissa bit) levels ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} / 6, ascending.

    15 distinct float32 values (+0 and -0 coincide). bitsandbytes' "fp4" type is a variant of this grid whose
    smallest non-zero level is 1/192 instead of 1/12; the lesson compares error, not codes, for FP4.
    """
    magnitudes = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]) / 6
    return torch.cat([-magnitudes.flip(0)[:-1], magnitudes])


# ---------------------------------------------------------------- blockwise codebook quantization (NF4, FP4, INT4)

def quantize_blockwise_codebook(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each block into [-1, 1] by its absmax, then snap every value to the nearest codebook level.

    w: any shape, numel a multiple of blocksize. codebook: ascending float32 levels in [-1, 1].
    Returns `(codes, absmax)`: `codes` uint8 `(w.numel(),)` indices into `codebook` in row-major order,
    `absmax` float32 `(w.numel() // blocksize,)`. Ties between two levels go to the lower one, and the
    scaling multiplies by `1 / absmax` (not divides): both exactly as bitsandbytes does, so codes match.
    """
    blocks = _blocks(w, blocksize)                                                   # (n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)                                                # (n_blocks,)
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=1e-38))[:, None], -1, 1)  # (n_blocks, blocksize)
    midpoints = (codebook[:-1] + codebook[1:]) / 2                                   # (levels - 1,)
    codes = torch.bucketize(scaled.reshape(-1), midpoints)                           # (w.numel(),)
    return codes.to(torch.uint8), absmax


def dequantize_blockwise_codebook(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor,
                                  shape: torch.Size | tuple, blocksize: int = 64) -> torch.Tensor:
    """Look each code up in `codebook` and multiply by its block's absmax: float32 tensor of `shape`."""
    n = int(torch.Size(shape).numel())
    if codes.numel() != n:
        raise ValueError(f"{codes.numel()} codes cannot fill shape {tuple(shape)} ({n} elements)")
    if n % blocksize or absmax.numel() != n // blocksize:
        raise ValueError(f"shape {tuple(shape)} with blocksize={blocksize} needs {n / blocksize:g} block scales, "
                         f"got {absmax.numel()}")
    values = codebook[codes.reshape(-1).long()].reshape(-1, blocksize)  # (n_blocks, blocksize)
    return (values * absmax.float()[:, None]).reshape(shape)           # scaled back, then -> shape


def quantize_nf4(w: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise NF4: `(codes, absmax)` with codes uint8 in 0…15, one per element of w (row-major, unpacked),
    absmax float32, one per block. Raises ValueError if `w.numel()` is not a multiple of `blocksize`."""
    return quantize_blockwise_codebook(w, nf4_codebook(), blocksize)  # codes (w.numel(),), absmax (n_blocks,)


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, shape: torch.Size | tuple,
                   blocksize: int = 64) -> torch.Tensor:
    """Undo `quantize_nf4`: float32 tensor of `shape` (`nf4_codebook()[code] * absmax` of the code's block)."""
    return dequantize_blockwise_codebook(codes, absmax, nf4_codebook(), shape, blocksize)  # (n,) codes -> shape


def pack_4bit(codes: torch.Tensor) -> torch.Tensor:
    """Two 4-bit codes per byte, bitsandbytes' layout: the first code in the high nibble. `(n,)` → `(n // 2,)`."""
    if codes.numel() % 2:
        raise ValueError(f"need an even number of codes to pack, got {codes.numel()}")
    codes = codes.reshape(-1).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2]


def unpack_4bit(packed: torch.Tensor) -> torch.Tensor:
    """Undo `pack_4bit`: `(n,)` bytes → `(2n,)` codes, high nibble first."""
    packed = packed.reshape(-1).to(torch.uint8)
    return torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)


# ---------------------------------------------------------------- double quantization and its bookkeeping

def double_quantize(absmax: torch.Tensor, blocksize: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize the block scales themselves: subtract their mean, then 8-bit absmax in blocks of `blocksize`.

    absmax: float32 `(n_blocks,)`, n_blocks a multiple of blocksize. Returns `(q, scales, offset)`: `q` int8
    `(n_blocks // blocksize, blocksize)`, `scales` float32 per block of scales, `offset` the float32 mean.
    (bitsandbytes uses a non-linear 8-bit "dynamic" code for this step; the memory saving is the same.)
    """
    offset = absmax.float().mean()
    q, scales = absmax_quantize_blockwise(absmax.float() - offset, bits=8, blocksize=blocksize)
    return q, scales, offset


def double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Undo `double_quantize`: the approximate block scales, float32 `(n_blocks,)`."""
    return absmax_dequantize_blockwise(q, scales, (q.numel(),)) + offset


def scale_bits_per_param(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256,
                         scale_bits: int = 32, quantized_scale_bits: int = 8) -> float:
    """Extra bits per weight spent on block scales.

    Without double quantization: one fp32 scale per block, 32/64 = 0.5 bit. With it: an 8-bit scale per block
    plus one fp32 scale per `blocksize2` blocks, 8/64 + 32/(64·256) ≈ 0.127 bit (QLoRA, Section 3).
    """
    if not double_quant:
        return scale_bits / blocksize
    return quantized_scale_bits / blocksize + scale_bits / (blocksize * blocksize2)


def bits_per_param(bits: int = 4, blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Storage per quantized weight: the code plus its share of the block scales (4.5 or ≈ 4.127 for NF4)."""
    return bits + scale_bits_per_param(blocksize, double_quant, blocksize2)
