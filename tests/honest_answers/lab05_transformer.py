"""Correct but unusual answers to lab05_transformer: full marks each (tests/test_labs.py)."""


# %% [layer_norm] var(unbiased=False) and rsqrt, computed in float64 and cast back
def layer_norm(x, weight, bias, eps=1e-5):
    x64 = x.double()
    var, mean = torch.var_mean(x64, dim=-1, keepdim=True, unbiased=False)
    return ((x64 - mean) * torch.rsqrt(var + eps) * weight.double() + bias.double()).to(x.dtype)


# %% [gelu] the same formula with x * x * x and a precomputed constant
def gelu(x):
    c = (2.0 / math.pi) ** 0.5
    return x * 0.5 * (1.0 + torch.tanh(c * (x + 0.044715 * x * x * x)))


# %% [block_forward] the MLP taken apart: c_fc, your own gelu, c_proj
def block_forward(x, block):
    attn_out = block.attn(block.ln_1(x))
    h = x + (attn_out[0] if isinstance(attn_out, tuple) else attn_out)
    m = block.ln_2(h)
    return h + block.mlp.c_proj(gelu(block.mlp.c_fc(m)))


# %% [gpt2_parameter_count] counted per weight matrix in a dict, n_inner read with getattr
def gpt2_parameter_count(config):
    d = config.n_embd
    inner = getattr(config, "n_inner", None) or 4 * d
    sizes = {"wte": config.vocab_size * d, "wpe": config.n_positions * d, "ln_f": 2 * d}
    block = {"ln_1": 2 * d, "c_attn": d * 3 * d + 3 * d, "attn.c_proj": d * d + d, "ln_2": 2 * d,
             "c_fc": d * inner + inner, "mlp.c_proj": inner * d + d}
    return int(sum(sizes.values()) + config.n_layer * sum(block.values()))


# %% [gpt2_forward] positions from wpe.weight sliced, and the logits through lm_head
def gpt2_forward(model, ids):
    batch, seq = ids.shape
    if seq > model.config.n_positions:
        raise ValueError("sequence longer than n_positions")
    h = model.transformer.wte(ids) + model.transformer.wpe.weight[:seq].unsqueeze(0)
    for blk in model.transformer.h:
        h = block_forward(h, blk)
    return model.lm_head(model.transformer.ln_f(h))


# %% [layer_norm] one pass: the variance as E[x²] − E[x]², then rsqrt
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = (x * x).mean(-1, keepdim=True) - mean * mean
    return weight * (x - mean) * torch.rsqrt(var + eps) + bias


# %% [gpt2_forward] the final LayerNorm through your own layer_norm, with ln_f's own eps; positions as one row
def gpt2_forward(model, ids):
    t = model.transformer
    if ids.shape[-1] > t.wpe.num_embeddings:
        raise ValueError("more tokens than positions")
    h = t.wte(ids) + t.wpe(torch.arange(ids.shape[-1]))[None]
    for blk in t.h:
        h = block_forward(h, blk)
    return layer_norm(h, t.ln_f.weight, t.ln_f.bias, eps=t.ln_f.eps) @ t.wte.weight.T


# %% [layer_norm] torch.var_mean(correction=0), reshape to (-1, d) and back (reshape, unlike flatten(0, -2), takes 1-D)
def layer_norm(x, weight, bias, eps=1e-5):
    flat = x.reshape(-1, x.shape[-1])
    var, mean = torch.var_mean(flat, dim=1, correction=0, keepdim=True)
    return ((flat - mean) / torch.sqrt(var + eps) * weight + bias).reshape(x.shape)


# %% [layer_norm] numpy in float64, the result back in x's dtype
def layer_norm(x, weight, bias, eps=1e-5):
    import numpy as np
    a = x.detach().numpy().astype(np.float64)
    mu = a.mean(axis=-1, keepdims=True)
    var = ((a - mu) ** 2).mean(axis=-1, keepdims=True)
    out = (a - mu) / np.sqrt(var + eps) * weight.detach().numpy().astype(np.float64) + bias.detach().numpy().astype(np.float64)
    return torch.from_numpy(out).to(x.dtype)


# %% [layer_norm] centred vector's squared length by einsum, divided by d; x.unsqueeze(0) ... squeeze for the 1-D case
def layer_norm(x, weight, bias, eps=1e-5):
    one = x.dim() == 1
    if one:
        x = x.unsqueeze(0)
    c = x - x.mean(dim=-1, keepdim=True)
    var = torch.einsum("...d,...d->...", c, c)[..., None] / x.shape[-1]
    out = c * torch.rsqrt(var + eps) * weight + bias
    return out.squeeze(0) if one else out


# %% [gpt2_forward] wpe.weight sliced, ln_f written out with ln_f.eps, logits by F.linear with the tied weight
def gpt2_forward(model, ids):
    t = model.transformer
    seq = ids.shape[1]
    if seq > model.config.n_positions:
        raise ValueError("too long")
    h = t.wte.weight[ids] + t.wpe.weight[:seq]
    for blk in t.h:
        h = block_forward(h, blk)
    h = layer_norm(h, t.ln_f.weight, t.ln_f.bias, eps=t.ln_f.eps)
    return F.linear(h, t.wte.weight)


# %% [gpt2_forward] ln_f by your layer_norm with config.layer_norm_epsilon passed positionally; an einsum for the logits
def gpt2_forward(model, ids):
    cfg, t = model.config, model.transformer
    if ids.shape[-1] > cfg.n_positions:
        raise ValueError(f"at most {cfg.n_positions} tokens")
    pos = torch.arange(ids.shape[-1]).unsqueeze(0).expand_as(ids)
    h = t.wte(ids) + t.wpe(pos)
    for i in range(len(t.h)):
        h = block_forward(h, t.h[i])
    h = layer_norm(h, t.ln_f.weight, t.ln_f.bias, cfg.layer_norm_epsilon)
    return torch.einsum("bsd,vd->bsv", h, t.wte.weight)
