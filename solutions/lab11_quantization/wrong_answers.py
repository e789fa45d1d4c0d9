"""Plausible-but-wrong answers to lab11_quantization: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [absmax] rounds toward zero (trunc) instead of to the nearest level
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    q = torch.trunc(x.float() / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale


# %% [nf4_codebook] uniform 4-bit levels labelled NF4
def nf4_codebook() -> torch.Tensor:
    """NF4: 16 levels between -1 and 1."""
    return torch.linspace(-1, 1, 16)


# %% [blockwise_nf4] no blockwise scaling: one absmax for the whole tensor
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    if w.numel() % blocksize:
        raise ValueError("not a multiple of blocksize")
    scale = w.abs().max().float()
    codes = (w.reshape(-1, 1).float() / scale - codebook[None, :]).abs().argmin(dim=1)
    absmax = scale.repeat(w.numel() // blocksize)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    values = codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]
    return values.reshape(shape)


# %% [double_quant] double quantization without / 127: the int8 step is the block's whole range
def scale_bits_per_param(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Extra bits per weight for the block scales."""
    if not double_quant:
        return 32 / blocksize
    return 8 / blocksize + 32 / (blocksize * blocksize2)


def double_quantize(absmax: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q int8 (n // blocksize2, blocksize2), scales float32 (n // blocksize2,), offset float32 scalar)."""
    offset = absmax.float().mean()
    blocks = (absmax.float() - offset).reshape(-1, blocksize2)
    scales = blocks.abs().amax(dim=1)  # forgot / 127: one step spans the whole block
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(blocks / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales, offset


def double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """The approximate absmax, float32 (n,)."""
    return (q.float() * scales[:, None]).reshape(-1) + offset
