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


# %% [nf4_codebook] copies bitsandbytes' table, which the lab forbids
def nf4_codebook() -> torch.Tensor:
    """The 16 NormalFloat-4 levels, float32, ascending, from -1 to 1."""
    return bnbf.get_4bit_type("nf4", device="cpu").float()


# %% [blockwise_nf4] unpacks bitsandbytes' quantize_4bit, which the lab forbids
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    packed, state = bnbf.quantize_4bit(w.float(), blocksize=blocksize, quant_type="nf4")
    codes = torch.stack([packed.flatten() >> 4, packed.flatten() & 15], 1).flatten()
    return codes.to(torch.uint8), state.absmax.float()


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


# %% [absmax] imports the lesson's answer from utils.quant
from utils.quant import absmax_dequantize, absmax_quantize


# %% [absmax] returns float codes (forgets the int8 the exercise asks for)
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 like x, scale float32 scalar) with scale = max|x| / (2**(bits-1) - 1)."""
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    q = torch.round(x.float() / scale).clamp(-qmax, qmax)
    return q, scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 q * scale."""
    return q.float() * scale


# %% [nf4_codebook] the 16 levels copied from the lesson's printout: right for NF4's offset only
def nf4_codebook(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NormalFloat-4 levels, float32, ascending, from -1 to 1."""
    return torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                         -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                         0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                         0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0])


# %% [nf4_codebook] forgets to divide by the largest level (runs to about 1.85)
def nf4_codebook() -> torch.Tensor:
    """The 16 NormalFloat-4 levels, float32, ascending, from -1 to 1."""
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(0.9677083, 0.5, 9)[:-1].double())
    negative = -normal.icdf(torch.linspace(0.9677083, 0.5, 8)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
    return levels


# %% [blockwise_nf4] no ValueError for a size that is not a multiple of blocksize
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes uint8 (w.numel(),), absmax float32 (w.numel() // blocksize,))."""
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """float32 tensor of `shape`: codebook[codes] * absmax of each block."""
    values = codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]
    return values.reshape(shape)


# %% [blockwise_nf4] dequantize returns the flat values (forgets the shape)
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes uint8 (w.numel(),), absmax float32 (w.numel() // blocksize,))."""
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """float32 tensor of `shape`: codebook[codes] * absmax of each block."""
    values = codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]
    return values.reshape(-1)


# %% [double_quant] double quantization forgets the float32 scale of each group of blocksize2 scales
def scale_bits_per_param(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Extra bits per weight for the block scales."""
    if not double_quant:
        return 32 / blocksize
    return 8 / blocksize


def double_quantize(absmax: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q int8 (n // blocksize2, blocksize2), scales float32 (n // blocksize2,), offset float32 scalar)."""
    offset = absmax.float().mean()
    blocks = (absmax.float() - offset).reshape(-1, blocksize2)
    scales = blocks.abs().amax(dim=1) / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(blocks / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales, offset


def double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """The approximate absmax, float32 (n,)."""
    return (q.float() * scales[:, None]).reshape(-1) + offset


# %% [blockwise_nf4] divides each block by its absmax unguarded: a block of zeros becomes NaN and gets code 0, not 7
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes uint8 (w.numel(),), absmax float32 (w.numel() // blocksize,))."""
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / absmax[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """float32 tensor of `shape`: codebook[codes] * absmax of each block."""
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


# %% [pack_nf4] low nibble first (the little-endian guess)
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("odd number of codes")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    codes = codes.to(torch.uint8)
    return ((codes[1::2] << 4) | codes[0::2]).reshape(-1, 1)


# %% [pack_nf4] pairs the first half with the second half instead of neighbours
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("odd number of codes")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    half = codes.numel() // 2
    codes = codes.to(torch.uint8)
    return ((codes[:half] << 4) | codes[half:]).reshape(-1, 1)


# %% [pack_nf4] never casts: int64 codes give int64 "bytes", not the uint8 bitsandbytes stores
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("odd number of codes")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    return ((codes[0::2] << 4) + codes[1::2]).reshape(-1, 1)


# %% [pack_nf4] no range check: code 16 silently spills into the neighbour's nibble
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("odd number of codes")
    codes = codes.to(torch.uint8)
    return ((codes[0::2] << 4) | codes[1::2]).reshape(-1, 1)


# %% [pack_nf4] flat (n // 2,) bytes, not the (n // 2, 1) tensor bitsandbytes stores
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("odd number of codes")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    codes = codes.to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2]


# %% [pack_nf4] calls the lesson's pack_4bit from utils.quant
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    from utils.quant import pack_4bit

    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    return pack_4bit(codes).reshape(-1, 1)


# %% [error_ratio] squared error (MSE) instead of mean absolute error
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).pow(2).mean()
    int4_book = torch.arange(-7, 8, dtype=torch.float32) / 7
    codes, absmax = quantize_nf4(w, int4_book, blocksize)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape, blocksize) - w).pow(2).mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [error_ratio] INT4 with one scale for the whole tensor (exercise 1 as is), not one per block
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).abs().mean()
    q, scale = absmax_quantize(w, bits=4)
    int4_error = (absmax_dequantize(q, scale) - w).abs().mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [error_ratio] INT4 as 16 evenly spaced levels from -1 to 1 (no level at 0)
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).abs().mean()
    int4_book = torch.linspace(-1, 1, 16)
    codes, absmax = quantize_nf4(w, int4_book, blocksize)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape, blocksize) - w).abs().mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [error_ratio] measures with the default blocksize of 64 whatever blocksize is asked
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape) - w).abs().mean()
    int4_book = torch.arange(-7, 8, dtype=torch.float32) / 7
    codes, absmax = quantize_nf4(w, int4_book)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape) - w).abs().mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [error_ratio] measures honestly but always reads "NF4" (the lesson's answer, hard-coded)
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).abs().mean()
    int4_book = torch.arange(-7, 8, dtype=torch.float32) / 7
    codes, absmax = quantize_nf4(w, int4_book, blocksize)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape, blocksize) - w).abs().mean()
    return float(nf4_error / int4_error), "NF4"


# %% [error_ratio] returns the ratio as a 0-d tensor, not a float
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).abs().mean()
    int4_book = torch.arange(-7, 8, dtype=torch.float32) / 7
    codes, absmax = quantize_nf4(w, int4_book, blocksize)
    int4_error = (dequantize_nf4(codes, absmax, int4_book, w.shape, blocksize) - w).abs().mean()
    ratio = nf4_error / int4_error
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [absmax] the scale in float64 (the exercise asks for a float32 scalar)
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().double() / qmax
    return torch.round(x.double() / scale).clamp(-qmax, qmax).to(torch.int8), scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (q.double() * scale).float()


# %% [nf4_codebook] the lesson's nf4_codebook kept in a default argument, where no forbidden name reaches it
import utils.quant


def nf4_codebook(_lesson_codebook=utils.quant.nf4_codebook) -> torch.Tensor:
    return _lesson_codebook()


# %% [double_quant] imports the lesson's answers from utils.quant
from utils.quant import double_dequantize, double_quantize, scale_bits_per_param


# %% [absmax] rounds half up (floor(v + 0.5)) instead of torch.round's half-to-even: differs only on exact ties
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    q = torch.floor(x.float() / scale + 0.5).clamp(-qmax, qmax).to(torch.int8)
    return q, scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale


# %% [absmax] default bits=4 (the signature asks bits=8; every test passes bits explicitly)
def absmax_quantize(x: torch.Tensor, bits: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().float() / qmax
    q = torch.round(x.float() / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale


# %% [blockwise_nf4] the guarded divisor leaks out: a block of zeros reports absmax 1.0, not 0.0
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    blocks = w.reshape(-1, blocksize).float()
    absmax = blocks.abs().amax(dim=1)
    absmax = torch.where(absmax > 0, absmax, torch.ones_like(absmax))   # avoid 0 / 0
    codes = (blocks / absmax[:, None]).reshape(-1, 1).sub(codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


# %% [blockwise_nf4] blocks cut inside each row: a valid size whose rows are not multiples of blocksize raises
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    rows = w.reshape(-1, w.shape[-1]).float()
    if rows.shape[1] % blocksize:
        raise ValueError(f"rows of {rows.shape[1]} values cannot be cut into blocks of {blocksize}")
    blocks = rows.reshape(rows.shape[0], -1, blocksize).reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :]).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


# %% [blockwise_nf4] computes in w's dtype: a bf16/fp16 weight gets a bf16/fp16 absmax (the spec asks float32) and bf16 scaling
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    blocks = w.reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    codes = (scaled.reshape(-1, 1) - codebook[None, :].to(w.dtype)).abs().argmin(dim=1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None].float()).reshape(shape)


# %% [blockwise_nf4] bitsandbytes' quantize_blockwise (not on the forbidden list) with the codebook repeated to 256 entries
def quantize_nf4(w: torch.Tensor, codebook: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    if w.numel() % blocksize:
        raise ValueError(f"{w.numel()} elements is not a multiple of blocksize={blocksize}")
    q, state = bnbf.quantize_blockwise(w.float().reshape(-1), code=codebook.float().repeat_interleave(16),
                                       blocksize=blocksize)
    codes = (q.reshape(-1).long() // 16).reshape(-1, blocksize)
    codes[state.absmax == 0] = int(codebook.abs().argmin())      # its kernel sends a block of zeros to code 0
    return codes.reshape(-1).to(torch.uint8), state.absmax.float()


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    return (codebook[codes.long()].reshape(-1, blocksize) * absmax[:, None]).reshape(shape)


# %% [double_quant] everything in float64: scales, offset and the dequantized absmax come back float64, not float32
def scale_bits_per_param(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    if not double_quant:
        return 32 / blocksize
    return 8 / blocksize + 32 / (blocksize * blocksize2)


def double_quantize(absmax: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values = absmax.double()
    offset = values.mean()
    blocks = (values - offset).reshape(-1, blocksize2)
    scales = blocks.abs().amax(dim=1) / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(blocks / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales, offset


def double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    return (q.double() * scales[:, None]).reshape(-1) + offset


# %% [pack_nf4] casts to uint8 before the range check: 256 or -256 wrap to 0 and are packed silently
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1).to(torch.uint8)
    if codes.numel() % 2:
        raise ValueError("an odd number of codes cannot fill whole bytes")
    if codes.numel() and int(codes.max()) > 15:          # uint8: nothing is below 0
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    return ((codes[0::2] << 4) | codes[1::2]).reshape(-1, 1)


# %% [pack_nf4] range check with min()/max() unguarded: no codes at all raises RuntimeError instead of a (0, 1) tensor
def pack_nf4(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.reshape(-1)
    if codes.numel() % 2:
        raise ValueError("an odd number of codes cannot fill whole bytes")
    if int(codes.min()) < 0 or int(codes.max()) > 15:
        raise ValueError("a 4-bit code must lie in 0 ... 15")
    codes = codes.to(torch.uint8)
    return ((codes[0::2] << 4) | codes[1::2]).reshape(-1, 1)


# %% [error_ratio] INT4 as round(w / step) * step with no guard: one all-zero block (pruned weights) makes the ratio NaN
def nf4_int4_error_ratio(w: torch.Tensor, blocksize: int = 64) -> tuple[float, str]:
    book = nf4_codebook()
    codes, absmax = quantize_nf4(w, book, blocksize)
    nf4_error = (dequantize_nf4(codes, absmax, book, w.shape, blocksize) - w).abs().mean()
    blocks = w.reshape(-1, blocksize).float()
    step = blocks.abs().amax(dim=1, keepdim=True) / 7
    int4_error = (torch.round(blocks / step) * step - blocks).abs().mean()
    ratio = float(nf4_error / int4_error)
    return ratio, "NF4" if ratio < 1 else "INT4"


# %% [pack_nf4] plain Python ints and bytes, then torch.frombuffer: no codes at all raises ValueError, not a (0, 1) tensor
def pack_nf4(codes):
    values = [int(c) for c in codes.flatten().tolist()]
    if len(values) % 2:
        raise ValueError("odd number of codes")
    if any(v < 0 or v > 15 for v in values):
        raise ValueError("a code does not fit in 4 bits")
    packed = bytearray(16 * hi + lo for hi, lo in zip(values[0::2], values[1::2]))
    return torch.frombuffer(packed, dtype=torch.uint8).clone().reshape(-1, 1)
