"""Correct but unusual answers to lab03_positional: full marks each (tests/test_labs.py)."""


# %% [sinusoidal_encoding] sin and cos stacked on a last axis of 2, then flattened into pairs (float32 throughout)
def sinusoidal_encoding(seq_len, d_model):
    if not (seq_len > 0 and d_model > 0 and d_model % 2 == 0):
        raise ValueError("need positive sizes and an even d_model")
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2).float() / d_model)
    angles = torch.outer(torch.arange(seq_len).float(), freqs)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(seq_len, d_model)


# %% [rotation_matrix] torch.block_diag of 2x2 blocks
def rotation_matrix(k, d_model):
    blocks = []
    for i in range(d_model // 2):
        a = k * 10000.0 ** (-2 * i / d_model)
        blocks.append(torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]))
    return torch.block_diag(*blocks).float()


# %% [rope] complex numbers: each pair as one complex number, multiplied by exp(i theta)
def rope(x, positions):
    d = x.shape[-1]
    if d % 2 == 1:
        raise ValueError("odd d")
    theta = positions.double()[:, None] * 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    turned = pairs * torch.polar(torch.ones_like(theta), theta)
    return torch.view_as_real(turned).reshape(x.shape).to(x.dtype)


# %% [rope] each row times its own rotation matrix from exercise 2 (a row vector times R_p turns it by p)
def rope(x, positions):
    d = x.shape[-1]
    if d % 2:
        raise ValueError("odd d")
    rows = [x[..., j:j + 1, :] @ rotation_matrix(int(p), d).to(x.dtype) for j, p in enumerate(positions.tolist())]
    return torch.cat(rows, dim=-2)


# %% [sinusoidal_encoding] numpy in float64 (np.outer of positions and frequencies), converted at the end
def sinusoidal_encoding(seq_len, d_model):
    import numpy as np

    if seq_len < 1 or d_model < 1 or d_model % 2 != 0:
        raise ValueError("seq_len and d_model must be positive, d_model even")
    freqs = 1.0 / np.power(10000.0, np.arange(0, d_model, 2) / d_model)
    angles = np.outer(np.arange(seq_len), freqs)
    table = np.empty((seq_len, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return torch.from_numpy(table).to(torch.float32)


# %% [rotation_matrix] R_1 raised to the k-th power (torch.linalg.matrix_power, in float64; a negative k inverts it)
def rotation_matrix(k, d_model):
    R1 = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        w = 10000.0 ** (-2 * i / d_model)
        R1[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(w), math.sin(w)], [-math.sin(w), math.cos(w)]],
                                                             dtype=torch.float64)
    return torch.linalg.matrix_power(R1, k).float()


# %% [rope] GPT-J's "rotate every two" written by hand: x * cos + (-x_odd, x_even) * sin, the angles repeated per pair
def rope(x, positions):
    d = x.shape[-1]
    if d % 2:
        raise ValueError("d must be even")
    w = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    theta = (positions.double()[:, None] * w).repeat_interleave(2, dim=-1)  # (seq, d): angle i twice
    swapped = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    return (x * theta.cos().to(x.dtype) + swapped * theta.sin().to(x.dtype)).to(x.dtype)


# %% [neighbour_cosine_means] F.cosine_similarity of shifted tables and Python's statistics.fmean, returned as a list
def neighbour_cosine_means(table, block):
    import statistics

    cos = torch.nn.functional.cosine_similarity(table[:-1].double(), table[1:].double(), dim=1).tolist()
    return [statistics.fmean(cos[:block - 1]), statistics.fmean(cos[block:])]


# %% [rope] pairs the columns with x.view(..., d/2, 2) and torch.stack (view works: the last axis stays contiguous after a transpose)
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x (..., seq, d) with pair (2i, 2i+1) of row j turned by positions[j] * w_i."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    theta = positions.double()[:, None] / 10000 ** (2 * torch.arange(d // 2, dtype=torch.float64) / d)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    pairs = x.view(*x.shape[:-1], d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).view(x.shape)


# %% [sinusoidal_encoding] the PyTorch tutorial's div_term = exp(-ln(10000) * 2i / d), all in float32
def sinusoidal_encoding(seq_len, d_model):
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    position = torch.arange(0, seq_len, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


# %% [sinusoidal_encoding] an lru_cache'd float64 builder; every call returns a float32 copy (.float() of float64 is new)
import functools


@functools.cache
def _pe64(seq_len, d_model):
    i = torch.arange(0, d_model, 2, dtype=torch.float64)
    ang = torch.outer(torch.arange(seq_len, dtype=torch.float64), torch.pow(10000.0, -i / d_model))
    return torch.stack([ang.sin(), ang.cos()], dim=-1).flatten(1)


def sinusoidal_encoding(seq_len, d_model):
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    return _pe64(seq_len, d_model).to(torch.float32)


# %% [sinusoidal_encoding] a growing float32 cache, sliced and cloned on every call, plus a print
_PE_CACHE = {}


def sinusoidal_encoding(seq_len, d_model):
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    table = _PE_CACHE.get(d_model)
    if table is None or table.shape[0] < seq_len:
        n = max(seq_len, 2 * (0 if table is None else table.shape[0]))
        a = torch.arange(n, dtype=torch.float64)[:, None] / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        table = torch.empty(n, d_model, dtype=torch.float64)
        table[:, ::2], table[:, 1::2] = a.sin(), a.cos()
        table = table.float()
        _PE_CACHE[d_model] = table
        print(f"(position table grown to {n} rows)")
    return table[:seq_len].clone()


# %% [rotation_matrix] Python floats (math.cos/math.sin are float64) written entry by entry
def rotation_matrix(k, d_model):
    R = torch.zeros(d_model, d_model, dtype=torch.float32)
    for i in range(d_model // 2):
        a = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(a), math.sin(a)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = -s, c
    return R


# %% [rotation_matrix] angles reduced modulo 2*pi in float64 (math.remainder), blocks placed by index_put
def rotation_matrix(k, d_model):
    w = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    a = torch.remainder(k * w, 2 * math.pi)
    c, s = torch.cos(a), torch.sin(a)
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    ev = torch.arange(0, d_model, 2)
    R[ev, ev], R[ev, ev + 1], R[ev + 1, ev], R[ev + 1, ev + 1] = c, s, -s, c
    return R.to(torch.float32)


# %% [rope] everything in float64, cast back to x's dtype at the end; the ValueError first
def rope(x, positions):
    d = x.shape[-1]
    if d % 2:
        raise ValueError("d must be even")
    xd = x.to(torch.float64)
    theta = positions.to(torch.float64).unsqueeze(-1) * torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    x0, x1 = xd[..., 0::2], xd[..., 1::2]
    out = torch.empty_like(xd)
    out[..., 0::2] = x0 * theta.cos() - x1 * theta.sin()
    out[..., 1::2] = x0 * theta.sin() + x1 * theta.cos()
    return out.to(x.dtype)


# %% [rope] a float64 cos/sin table grown to max |p| + 1 on demand; a negative p uses sin(-t) = -sin(t)
_ROPE_CACHE = {}


def rope(x, positions):
    d = x.shape[-1]
    if d % 2:
        raise ValueError("d must be even")
    need = int(positions.abs().max()) + 1 if positions.numel() else 1
    cos, sin = _ROPE_CACHE.get(d, (torch.empty(0, d // 2, dtype=torch.float64),) * 2)
    if cos.shape[0] < need:
        a = torch.arange(need, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        cos, sin = a.cos(), a.sin()
        _ROPE_CACHE[d] = (cos, sin)
    c = cos[positions.abs()].to(x.dtype)
    s = (sin[positions.abs()] * positions.sign().to(torch.float64)[:, None]).to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)
