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
