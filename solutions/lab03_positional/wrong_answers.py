"""Plausible-but-wrong answers to lab03_positional: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [sinusoidal_encoding] i over all of d_model: column index in the exponent
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model)."""
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    pe = torch.zeros(seq_len, d_model)
    for p in range(seq_len):
        for i in range(d_model):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return pe


# %% [sinusoidal_encoding] sin and cos swapped
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model).

    PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)), i = 0 ... d_model/2 - 1.
    Raises ValueError unless d_model is even and both sizes are positive.
    """
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError(f"need seq_len > 0 and an even d_model > 0, got {seq_len}, {d_model}")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.cos(angles)
    pe[:, 1::2] = torch.sin(angles)
    return pe.float()


# %% [sinusoidal_encoding] exponent i/d instead of 2i/d
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model).

    PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)), i = 0 ... d_model/2 - 1.
    Raises ValueError unless d_model is even and both sizes are positive.
    """
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError(f"need seq_len > 0 and an even d_model > 0, got {seq_len}, {d_model}")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()


# %% [sinusoidal_encoding] no size checks
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model).

    PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model)), i = 0 ... d_model/2 - 1.
    Raises ValueError unless d_model is even and both sizes are positive.
    """
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()


# %% [rotation_matrix] rotates the wrong way (block transposed)
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, -s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = s, c
    return R.float()


# %% [rotation_matrix] rotation frequency uses i/d
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = -s, c
    return R.float()


# %% [rotation_matrix] loses the minus sign: block [[cos, sin], [sin, cos]] is no rotation
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, s
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = s, c
    return R.float()


# %% [sinusoidal_encoding] computes in float64 and returns it (forgets the float32 the exercise asks for)
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model)."""
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError("bad sizes")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe


# %% [sinusoidal_encoding] imports the lesson's table from utils.positional, which the lab forbids
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model)."""
    from utils.positional import sinusoidal_encoding as lesson_table

    return lesson_table(seq_len, d_model).float()


# %% [rotation_matrix] imports the lesson's rotation from utils.positional, which the lab forbids
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    from utils.positional import rotation_matrix as lesson_rotation

    return lesson_rotation(k, d_model).float()


# %% [rope] turns every row by its index in the sequence, ignoring the positions given
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError("odd d")
    theta = torch.arange(x.shape[-2], dtype=torch.float64)[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
    out[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


# %% [rope] GPT-J's rotary embedding from transformers (its sin/cos table and rotate_every_two), which the lab forbids
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    from transformers.models.gptj.modeling_gptj import create_sinusoidal_positions, rotate_every_two

    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    table = create_sinusoidal_positions(int(positions.max()) + 1, d)[positions]  # (seq, d): sines, then cosines
    sin, cos = table[:, : d // 2].repeat_interleave(2, -1), table[:, d // 2:].repeat_interleave(2, -1)
    turned = rotate_every_two(x.reshape(-1, 1, *x.shape[-2:])).reshape(x.shape)  # pairs (-x_{2i+1}, x_{2i})
    return (x * cos + turned * sin).to(x.dtype)


# %% [rope] pairs column i with column i + d/2 (the "rotate half" layout), not 2i with 2i + 1
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError("odd d")
    theta = positions.double()[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    first, second = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


# %% [rope] turns clockwise (the sign of sin swapped)
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError("odd d")
    theta = positions.double()[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos + x[..., 1::2] * sin
    out[..., 1::2] = -x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


# %% [rope] adds the sine table instead of rotating (absolute positions, lengths change)
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError("odd d")
    theta = positions.double()[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    table = torch.stack([torch.sin(theta), torch.cos(theta)], -1).reshape(len(positions), d)
    return x + table.to(x.dtype)


# %% [rope] no ValueError for an odd d (the last column is left as it is)
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding."""
    d = x.shape[-1] // 2 * 2
    theta = positions.double()[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    out = x.clone()
    out[..., 0:d:2] = x[..., 0:d:2] * cos - x[..., 1:d:2] * sin
    out[..., 1:d:2] = x[..., 0:d:2] * sin + x[..., 1:d:2] * cos
    return out


# %% [neighbour_cosine_means] counts the pair (block - 1, block) that crosses the boundary as beyond
def neighbour_cosine_means(table: torch.Tensor, block: int) -> tuple[float, float]:
    """Mean neighbour cosine inside and beyond the block."""
    unit = table / table.norm(dim=1, keepdim=True)
    neighbours = (unit[:-1] * unit[1:]).sum(dim=1)
    return neighbours[: block - 1].mean().item(), neighbours[block - 1:].mean().item()


# %% [neighbour_cosine_means] dot products of neighbouring rows, not cosines
def neighbour_cosine_means(table: torch.Tensor, block: int) -> tuple[float, float]:
    """Mean neighbour cosine inside and beyond the block."""
    neighbours = (table[:-1] * table[1:]).sum(dim=1)
    return neighbours[: block - 1].mean().item(), neighbours[block:].mean().item()


# %% [neighbour_cosine_means] returns 0-d tensors, not floats
def neighbour_cosine_means(table: torch.Tensor, block: int) -> tuple[float, float]:
    """Mean neighbour cosine inside and beyond the block."""
    unit = table / table.norm(dim=1, keepdim=True)
    neighbours = (unit[:-1] * unit[1:]).sum(dim=1)
    return neighbours[: block - 1].mean(), neighbours[block:].mean()


# %% [measure_extrapolation] reads the learned table as the one that extrapolates
PE = sinusoidal_encoding(*W.shape)
learned = neighbour_cosine_means(W, block)
sinusoidal = neighbour_cosine_means(PE, block)
extrapolates = "learned"


# %% [measure_extrapolation] measures the learned table twice (W for both)
PE = sinusoidal_encoding(*W.shape)
learned = neighbour_cosine_means(W, block)
sinusoidal = neighbour_cosine_means(W, block)
extrapolates = "sinusoidal"


# %% [sinusoidal_encoding] the Annotated Transformer's buffer: a max_len = 5000 table, sliced (too short past 5000 positions)
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model)."""
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError(f"need seq_len > 0 and an even d_model > 0, got {seq_len}, {d_model}")
    max_len = 5000
    position = torch.arange(0, max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * -(math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe[:seq_len].float()


# %% [sinusoidal_encoding] memoised with functools.cache: every call returns the same tensor, so a caller's in-place edit poisons later calls
import functools


@functools.cache
def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, float32 (seq_len, d_model)."""
    if seq_len <= 0 or d_model <= 0 or d_model % 2:
        raise ValueError(f"need seq_len > 0 and an even d_model > 0, got {seq_len}, {d_model}")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.float()


# %% [rotation_matrix] angles in float32 (k times a float32 frequency): drifts for large |k|
def rotation_matrix(k: int, d_model: int) -> torch.Tensor:
    """The (d_model, d_model) matrix R_k with PE[p + k] = R_k @ PE[p] for every position p (float32)."""
    w = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    angle = k * w
    c, s = torch.cos(angle), torch.sin(angle)
    R = torch.zeros(d_model, d_model)
    idx = torch.arange(0, d_model, 2)
    R[idx, idx], R[idx, idx + 1], R[idx + 1, idx], R[idx + 1, idx + 1] = c, s, -s, c
    return R


# %% [rope] a Llama-style cos/sin cache for max_position_embeddings = 2048, indexed by the positions (raises past 2047)
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x (..., seq, d) with pair (2i, 2i+1) of row j turned by positions[j] * w_i."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    inv_freq = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    table = torch.arange(2048, dtype=torch.float64)[:, None] * inv_freq  # (2048, d/2)
    cos, sin = table.cos()[positions].to(x.dtype), table.sin()[positions].to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
    out[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


# %% [rope] reuses exercise 1's table, sinusoidal_encoding(max(positions) + 1, d)[positions]: a negative position indexes from the end
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x (..., seq, d) with pair (2i, 2i+1) of row j turned by positions[j] * w_i."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    table = sinusoidal_encoding(int(positions.max()) + 1, d)[positions]  # (seq, d): sin in even, cos in odd columns
    sin, cos = table[:, 0::2].to(x.dtype), table[:, 1::2].to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
    out[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


# %% [rope] HF-Llama style: inverse frequencies and angles in float32 (positions.float() * inv_freq): off by ~|p|·1e-7 rad, the lab asks for float64 angles
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x (..., seq, d) with pair (2i, 2i+1) of row j turned by positions[j] * w_i."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rope needs an even last dimension, got {d}")
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    theta = positions.float()[:, None] * inv_freq[None, :]
    cos, sin = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
    out[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


# %% [rope] float32 frequencies (the HF idiom inv_freq = 1 / 10000 ** (arange(0, d, 2).float() / d) ), angles then in float64: each ω_i rounded to float32 moves p·ω_i by up to |p|·ω_i·6e-8
def rope(x, positions):
    d = x.shape[-1]
    if d % 2:
        raise ValueError("d must be even")
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    theta = positions.double()[:, None] * inv_freq.double()
    c, s = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)
