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


# %% [layer_norm] torch's rms_norm of the centred input: a library normalization, which the lab forbids
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return F.rms_norm(x - x.mean(dim=-1, keepdim=True), (x.shape[-1],), weight, eps) + bias


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


# %% [layer_norm] the course's own layer_norm from utils.transformer, which the lab forbids
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    from utils.transformer import layer_norm as course_layer_norm

    return course_layer_norm(x, weight, bias, eps)


# %% [gelu] the course's own gelu, imported once at the top of the cell
from utils.transformer import gelu


# %% [block_forward] the course's GPT2BlockByHand built from the block's weights
def block_forward(x: torch.Tensor, block) -> torch.Tensor:
    from utils.transformer import GPT2BlockByHand

    return GPT2BlockByHand.from_hf(block)(x)


# %% [gpt2_parameter_count] the course's parameter_census, which the lab forbids
def gpt2_parameter_count(config: GPT2Config) -> int:
    from utils.transformer import parameter_census

    return parameter_census(config)["total"]


# %% [gpt2_forward] forgets the position embeddings
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.shape[-1] > model.config.n_positions:
        raise ValueError("too long")
    h = model.transformer.wte(ids)
    for block in model.transformer.h:
        h = block_forward(h, block)
    return model.transformer.ln_f(h) @ model.transformer.wte.weight.T


# %% [gpt2_forward] skips the final LayerNorm ln_f
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.shape[-1] > model.config.n_positions:
        raise ValueError("too long")
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for block in model.transformer.h:
        h = block_forward(h, block)
    return h @ model.transformer.wte.weight.T


# %% [gpt2_forward] positions counted from 1
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.shape[-1] > model.config.n_positions:
        raise ValueError("too long")
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(1, ids.shape[-1] + 1))
    for block in model.transformer.h:
        h = block_forward(h, block)
    return model.lm_head(model.transformer.ln_f(h))


# %% [gpt2_forward] calls the model itself, which the lab forbids
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.shape[-1] > model.config.n_positions:
        raise ValueError("too long")
    return model(ids).logits


# %% [gpt2_forward] runs each block by calling it instead of block_forward
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    if ids.shape[-1] > model.config.n_positions:
        raise ValueError("too long")
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for block in model.transformer.h:
        out = block(h)
        h = out[0] if isinstance(out, tuple) else out
    return model.transformer.ln_f(h) @ model.transformer.wte.weight.T


# %% [gpt2_forward] no check of the length (wpe raises an IndexError, not a ValueError)
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for block in model.transformer.h:
        h = block_forward(h, block)
    return model.transformer.ln_f(h) @ model.transformer.wte.weight.T


# %% [agreement_without_block] the fraction of CHANGED predictions
@torch.no_grad()
def agreement_without_block(model: GPT2LMHeadModel, ids: torch.Tensor, k: int) -> float:
    full = model(ids).logits.argmax(-1)
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for i, block in enumerate(model.transformer.h):
        if i != k:
            h = block_forward(h, block)
    skipped = model.lm_head(model.transformer.ln_f(h)).argmax(-1)
    return (skipped != full).float().mean().item()


# %% [agreement_without_block] skips block k + 1 (counts blocks from 1)
@torch.no_grad()
def agreement_without_block(model: GPT2LMHeadModel, ids: torch.Tensor, k: int) -> float:
    full = model(ids).logits.argmax(-1)
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for i, block in enumerate(model.transformer.h, start=1):
        if i != k:
            h = block_forward(h, block)
    skipped = model.lm_head(model.transformer.ln_f(h)).argmax(-1)
    return (skipped == full).float().mean().item()


# %% [agreement_without_block] returns a 0-d tensor, not a float
@torch.no_grad()
def agreement_without_block(model: GPT2LMHeadModel, ids: torch.Tensor, k: int) -> float:
    full = model(ids).logits.argmax(-1)
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for i, block in enumerate(model.transformer.h):
        if i != k:
            h = block_forward(h, block)
    return (model.lm_head(model.transformer.ln_f(h)).argmax(-1) == full).float().mean()


# %% [agreement_without_block] skips the block's MLP only, not the whole block
@torch.no_grad()
def agreement_without_block(model: GPT2LMHeadModel, ids: torch.Tensor, k: int) -> float:
    full = model(ids).logits.argmax(-1)
    h = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[-1]))
    for i, block in enumerate(model.transformer.h):
        h = h + block.attn(block.ln_1(h))[0]
        if i != k:
            h = h + block.mlp(block.ln_2(h))
    return (model.lm_head(model.transformer.ln_f(h)).argmax(-1) == full).float().mean().item()


# %% [block_ablation] the block with the HIGHEST agreement (the least needed)
agreements = [agreement_without_block(model, sentence_ids, k) for k in range(model.config.n_layer)]
most_needed_block = max(range(len(agreements)), key=agreements.__getitem__)


# %% [block_ablation] numbers typed in from another run instead of measured
agreements = [0.3, 0.9, 0.9, 0.9]
most_needed_block = 0


# %% [layer_norm] group_norm with one group over the last dimension: the library normalises, which the lab forbids
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    d = x.shape[-1]
    return F.group_norm(x.reshape(-1, 1, d), 1, eps=eps).reshape(x.shape) * weight + bias


# %% [gelu] a GPT-2 block's own activation module (transformers' NewGELUActivation), which the lab forbids
def gelu(x: torch.Tensor) -> torch.Tensor:
    return random_block().mlp.act(x)


# %% [gpt2_parameter_count] counts GPT2Attention and GPT2MLP built on the meta device, which the lab forbids
def gpt2_parameter_count(config: GPT2Config) -> int:
    from transformers.models.gpt2.modeling_gpt2 import GPT2MLP, GPT2Attention

    d = config.n_embd
    with torch.device("meta"):
        attn, mlp = GPT2Attention(config), GPT2MLP(config.n_inner or 4 * d, config)
    per_block = sum(p.numel() for p in [*attn.parameters(), *mlp.parameters()]) + 4 * d
    return config.vocab_size * d + config.n_positions * d + config.n_layer * per_block + 2 * d


# %% [block_forward] GPT2Block.forward kept in a default argument, where renaming the method does not reach it
from transformers.models.gpt2.modeling_gpt2 import GPT2Block


def block_forward(x: torch.Tensor, block, _forward=GPT2Block.forward) -> torch.Tensor:
    out = _forward(block, x)
    return out[0] if isinstance(out, tuple) else out


# %% [layer_norm] default eps 1e-6 (T5's / Llama's) instead of GPT-2's 1e-5: only the default is wrong, eps=0.5 is honoured
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


# %% [layer_norm] flattens the leading dimensions with flatten(0, -2): raises on a 1-D x (no leading dimension)
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    rows = x.flatten(0, -2)  # (N, d)
    mean = rows.mean(dim=1, keepdim=True)
    var = ((rows - mean) ** 2).mean(dim=1, keepdim=True)
    return ((rows - mean) / torch.sqrt(var + eps) * weight + bias).reshape(x.shape)


# %% [gpt2_forward] the final LayerNorm through your own layer_norm with its default eps (ignores config.layer_norm_epsilon)
def gpt2_forward(model: GPT2LMHeadModel, ids: torch.Tensor) -> torch.Tensor:
    seq = ids.shape[-1]
    if seq > model.config.n_positions:
        raise ValueError(f"{seq} tokens, but the model has only {model.config.n_positions} positions")
    t = model.transformer
    h = t.wte(ids) + t.wpe(torch.arange(seq, device=ids.device))
    for block in t.h:
        h = block_forward(h, block)
    return layer_norm(h, t.ln_f.weight, t.ln_f.bias) @ t.wte.weight.T
