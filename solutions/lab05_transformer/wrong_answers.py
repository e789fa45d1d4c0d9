"""Plausible-but-wrong answers to lab05_transformer: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [block_forward] post-norm instead of pre-norm
def block_forward(x: torch.Tensor, block) -> torch.Tensor:
    h = block.ln_1(x + block.attn(x)[0])
    return block.ln_2(h + block.mlp(h))


# %% [layer_norm] unbiased variance in LayerNorm (torch.var default)
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


# %% [gelu] exact erf GELU instead of GPT-2's tanh approximation
def gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


# %% [count_parameters] counts the tied output layer a second time
def count_parameters(config: GPT2Config) -> int:
    d, inner = config.n_embd, config.n_inner or 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * inner + inner + inner * d + d
    layernorms = 2 * 2 * d
    lm_head = config.vocab_size * d
    return embeddings + config.n_layer * (attention + mlp + layernorms) + 2 * d + lm_head


# %% [count_parameters] MLP width fixed at 4 d (ignores n_inner)
def count_parameters(config: GPT2Config) -> int:
    d, inner = config.n_embd, 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * inner + inner + inner * d + d
    layernorms = 2 * 2 * d
    return embeddings + config.n_layer * (attention + mlp + layernorms) + 2 * d
