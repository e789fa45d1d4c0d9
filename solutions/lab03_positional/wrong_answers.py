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
