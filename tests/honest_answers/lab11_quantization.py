"""Correct but unusual answers to lab11_quantization: full marks each (tests/test_labs.py)."""


# %% [absmax] qmax by a bit shift, division replaced by a multiplication with 1 / scale
def absmax_quantize(x, bits=8):
    qmax = (1 << (bits - 1)) - 1
    scale = (x.abs().amax() / qmax).to(torch.float32)
    return (x * (1 / scale)).round().clamp(-qmax, qmax).to(torch.int8), scale


def absmax_dequantize(q, scale):
    return q.to(torch.float32).mul(scale)


# %% [nf4_codebook] the normal quantiles from Python's statistics.NormalDist, in float64; its own name for offset
from statistics import NormalDist


def nf4_codebook(p_max=0.9677083):
    phi_inv = NormalDist().inv_cdf
    pos = [phi_inv(p) for p in torch.linspace(p_max, 0.5, 9)[:-1].tolist()]
    neg = [-phi_inv(p) for p in torch.linspace(p_max, 0.5, 8)[:-1].tolist()]
    levels = torch.tensor(sorted(neg + [0.0] + pos), dtype=torch.float64)
    return (levels / levels.max()).float()


# %% [blockwise_nf4] nearest level by bucketize on the midpoints between levels; a loop over blocks
def quantize_nf4(w, codebook, blocksize=64):
    if w.numel() % blocksize != 0:
        raise ValueError("numel is not a multiple of blocksize")
    flat = w.flatten().float()
    mids = (codebook[1:] + codebook[:-1]) / 2
    codes, absmax = [], []
    for start in range(0, flat.numel(), blocksize):
        block = flat[start:start + blocksize]
        m = block.abs().max()
        absmax.append(m)
        scaled = block / m if m > 0 else block
        codes.append(torch.bucketize(scaled, mids))
    return torch.cat(codes).to(torch.uint8), torch.stack(absmax)


def dequantize_nf4(codes, absmax, codebook, shape, blocksize=64):
    return (codebook[codes.long()] * absmax.repeat_interleave(blocksize)).reshape(shape)


# %% [pack_nf4] view as (n / 2, 2), multiply the high code by 16
def pack_nf4(codes):
    codes = codes.flatten().to(torch.int64)
    if codes.numel() % 2 == 1:
        raise ValueError("odd number of codes")
    if ((codes < 0) | (codes > 15)).any():
        raise ValueError("codes must fit in 4 bits")
    pairs = codes.view(-1, 2)
    return (pairs[:, :1] * 16 + pairs[:, 1:]).to(torch.uint8)


# %% [absmax] numpy in float64: np.rint (half to even, like torch.round), converted back to torch at the end
import numpy as np


def absmax_quantize(x, bits=8):
    a = x.detach().cpu().numpy().astype(np.float64)
    qmax = 2 ** (bits - 1) - 1
    scale = np.float32(np.abs(a).max() / qmax)
    q = np.clip(np.rint(a / np.float64(scale)), -qmax, qmax).astype(np.int8)
    return torch.from_numpy(q), torch.tensor(scale, dtype=torch.float32)


def absmax_dequantize(q, scale):
    return torch.from_numpy(q.numpy().astype(np.float32) * np.float32(scale.item()))


# %% [nf4_codebook] probabilities stepped in Python floats (no torch.linspace), quantiles from statistics.NormalDist
from statistics import NormalDist


def nf4_codebook(offset=0.9677083):
    inv = NormalDist().inv_cdf
    positive = [inv(offset + (0.5 - offset) * i / 8) for i in range(8)]
    negative = [-inv(offset + (0.5 - offset) * i / 7) for i in range(7)]
    levels = sorted(negative + [0.0] + positive)
    top = max(levels)
    return torch.tensor([v / top for v in levels], dtype=torch.float32)


# %% [blockwise_nf4] 0 / 0 = NaN in a block of zeros replaced by 0 with nan_to_num; searchsorted on the midpoints
def quantize_nf4(w, codebook, blocksize=64):
    n = w.numel()
    if n % blocksize != 0:
        raise ValueError(f"{n} is not a multiple of {blocksize}")
    blocks = w.float().contiguous().view(n // blocksize, blocksize)
    absmax = blocks.abs().max(dim=1).values
    scaled = torch.nan_to_num(blocks / absmax.unsqueeze(1), nan=0.0)
    mids = (codebook[:-1] + codebook[1:]) / 2
    codes = torch.searchsorted(mids, scaled.flatten().contiguous())
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes, absmax, codebook, shape, blocksize=64):
    per_block = codes.numel() // absmax.numel()
    values = codebook.index_select(0, codes.flatten().long()).view(-1, per_block) * absmax.view(-1, 1)
    return values.reshape(tuple(shape))


# %% [double_quant] each block of scales quantized with exercise 1's absmax_quantize, in a loop
def scale_bits_per_param(blocksize=64, double_quant=False, blocksize2=256):
    bits = 32.0 / blocksize
    if double_quant:
        bits = 8.0 / blocksize + 32.0 / blocksize / blocksize2
    return bits


def double_quantize(absmax, blocksize2=256):
    offset = absmax.float().sum() / absmax.numel()
    qs, scales = [], []
    for block in (absmax.float() - offset).split(blocksize2):
        q, s = absmax_quantize(block, bits=8)
        qs.append(q)
        scales.append(s)
    return torch.stack(qs), torch.stack(scales), offset


def double_dequantize(q, scales, offset):
    return torch.cat([absmax_dequantize(qi, si) for qi, si in zip(q, scales)]) + offset


# %% [error_ratio] float64 throughout; INT4 by exercise 1's absmax_quantize applied block by block
def nf4_int4_error_ratio(w, blocksize=64):
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_back = dequantize_nf4(codes, absmax, book, w.shape, blocksize).double().reshape(-1, blocksize)
    blocks = w.reshape(-1, blocksize)
    int4_back = torch.stack([absmax_dequantize(*absmax_quantize(b, bits=4)) for b in blocks]).double()
    exact = blocks.double()
    ratio = ((nf4_back - exact).abs().mean() / (int4_back - exact).abs().mean()).item()
    return ratio, ("NF4" if ratio < 1 else "INT4")
