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


# %% [gpt2_parameter_count] counts the tied output layer a second time
def gpt2_parameter_count(config: GPT2Config) -> int:
    d, inner = config.n_embd, config.n_inner or 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * inner + inner + inner * d + d
    layernorms = 2 * 2 * d
    lm_head = config.vocab_size * d
    return embeddings + config.n_layer * (attention + mlp + layernorms) + 2 * d + lm_head


# %% [gpt2_parameter_count] MLP width fixed at 4 d (ignores n_inner)
def gpt2_parameter_count(config: GPT2Config) -> int:
    d, inner = config.n_embd, 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    attention = d * 3 * d + 3 * d + d * d + d
    mlp = d * inner + inner + inner * d + d
    layernorms = 2 * 2 * d
    return embeddings + config.n_layer * (attention + mlp + layernorms) + 2 * d


# %% [layer_norm] divides by the variance instead of the standard deviation
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / (var + eps) * weight + bias


# %% [layer_norm] calls torch's layer_norm, which the lab forbids
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


# %% [gelu] calls torch's gelu, which the lab forbids
def gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


# %% [block_forward] calls the block itself
def block_forward(x: torch.Tensor, block) -> torch.Tensor:
    return block(x)


# %% [gpt2_parameter_count] builds the model on the meta device and counts
def gpt2_parameter_count(config: GPT2Config) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in GPT2LMHeadModel(config).parameters())


# %% [gpt2_parameter_count] a float count (divides by 1e0 on the way)
def gpt2_parameter_count(config: GPT2Config) -> int:
    d, inner = config.n_embd, config.n_inner or 4 * config.n_embd
    embeddings = config.vocab_size * d + config.n_positions * d
    per_layer = (d * 3 * d + 3 * d + d * d + d) + (d * inner + inner + inner * d + d) + 4 * d
    return float(embeddings + config.n_layer * per_layer + 2 * d)


# %% [block_forward] forgets the [0]: the attention returns a tuple
def block_forward(x: torch.Tensor, block) -> torch.Tensor:
    h = x + block.attn(block.ln_1(x))
    return h + block.mlp(block.ln_2(h))
