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
