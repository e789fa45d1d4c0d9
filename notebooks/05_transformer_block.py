# %% [markdown] slideshow={"slide_type": "slide"}
# # 05 · The transformer block and GPT-2
#
# Attention lets tokens exchange information. A *transformer block* wraps it with three more ideas — LayerNorm,
# residual connections and a small MLP per token — and GPT-2 is nothing but a stack of identical blocks between an
# embedding and an output layer. We write one block by hand, prove it equals Hugging Face's `GPT2Block` with the
# same weights, then count every parameter of GPT-2 small from its config alone.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - write LayerNorm and say what it normalizes over;
# - explain the *pre-norm* residual layout GPT-2 uses, and why residuals matter;
# - write the MLP with GELU (GPT-2) and know SiLU (Llama), with numbers;
# - assemble a block, and a whole forward pass, that match the real model to float precision;
# - count GPT-2 small's 124,439,808 parameters by component, and the course model's.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.*

# %% slideshow={"slide_type": "skip"}
import inspect
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from utils.attention import merge_heads, scaled_dot_product_attention, split_heads
from utils.data import load_corpus
from utils.exercises import check
from utils.models import load_model
from utils.notebook import setup
from utils.numerics import block_reduction, close, forward_reduction
from utils.transformer import GPT2BlockByHand, gelu, layer_norm, parameter_census, silu

device = setup(seed=0)
model, tokenizer = load_model(device="cpu")  # CPU on purpose: small tensors we inspect
corpus = load_corpus()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. What is inside a GPT-2 block
#
# ```
# x ─┬─► LayerNorm ─► attention ─►(+)─┬─► LayerNorm ─► MLP ─►(+)─► out
#    └────────────── residual ────────┘└────────── residual ───┘
# ```
#
# $$h = x + \operatorname{Attn}(\operatorname{LN}_1(x)), \qquad y = h + \operatorname{MLP}(\operatorname{LN}_2(h))$$
#
# The normalization sits **before** each sublayer, inside the residual branch: this is *pre-norm*, and a final
# LayerNorm `ln_f` follows the last block. The original 2017 transformer normalized *after* adding the residual
# (post-norm); GPT-2 moved it. One seed says the normalization step could be "spectral normalization" placed after
# the feed-forward layer: GPT-2 has no spectral normalization anywhere. The model itself is the evidence:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 5.1 s. 90-minute path: block 3 shows the §6 census. Half-day path: block 4 (25 minutes for 05
# and 06) runs §5–6 live. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print(model.transformer.h[0])
kinds = sorted({type(m).__name__ for m in model.modules()})
print("module types in the whole model:", kinds)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. LayerNorm
#
# For each token's vector $x \in \mathbb{R}^d$ separately:
#
# $$\operatorname{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta,\qquad
# \mu = \tfrac1d\textstyle\sum_i x_i,\quad \sigma^2 = \tfrac1d\textstyle\sum_i (x_i-\mu)^2$$
#
# It averages over the **features** of one token (not over the batch, unlike BatchNorm), so it behaves the same
# for one sentence or a thousand. $\gamma$ and $\beta$ are learned, $d$ numbers each. The variance uses $1/d$, not
# $1/(d-1)$.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** LayerNorm normalises each token's vector on its own, then scales and shifts. Section
# timing: see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 05.1 · LayerNorm
#
# Before looking at the course's version: write `layer_norm_by_hand(x, gamma, beta, eps)` for `x` of shape
# `(..., d)` and `gamma`, `beta` of shape `(d,)`, following the formula above (mean and variance over the last
# dimension only, the variance with `1/d`, `eps` inside the square root).

# %% tags=["your-turn"]
def layer_norm_by_hand(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    ...  # your code here: same shape as x

# %% tags=["your-turn-check"]
check("05.1", layer_norm_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def layer_norm_by_hand(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
#     mu = x.mean(dim=-1, keepdim=True)                          # (..., 1): one mean per token
#     var = x.var(dim=-1, keepdim=True, unbiased=False)          # 1/d, not 1/(d - 1)
#     return gamma * (x - mu) / torch.sqrt(var + eps) + beta
# ```
# `keepdim=True` keeps a size-1 last axis so the subtraction broadcasts per token. Without `unbiased=False`, torch
# divides by $d - 1$; on a nearly constant row, `eps` decides the result. The course's version follows.
# </details>

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(layer_norm))

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
sentence = next(line for line in corpus if line.startswith("The capital of"))
ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
with torch.no_grad():
    hidden = model(ids, output_hidden_states=True).hidden_states   # embeddings, then after each block
x = hidden[1][0]                                                      # (seq, d_model), after block 0
ln = model.transformer.h[1].ln_1
normed = layer_norm(x, torch.ones(x.shape[-1]), torch.zeros(x.shape[-1]))
print(f"before: per-token mean {x.mean(-1).abs().max():.2f} (max |.|), std {x.std(-1).min():.2f} … {x.std(-1).max():.2f}")
print(f"after:  per-token mean {normed.mean(-1).abs().max():.2f} (max |.|), "
      f"std {normed.std(-1, unbiased=False).min():.2f} … {normed.std(-1, unbiased=False).max():.2f}")
# "==" up to float32 rounding (utils.numerics, derived in lesson 07): the mean and the variance each sum d_model terms
print("by hand == torch's LayerNorm with the model's γ, β:",
      close(layer_norm(x, ln.weight, ln.bias, ln.eps), ln(x), reduction=2 * x.shape[-1]))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Residual connections
#
# Each sublayer *adds* its output to its input instead of replacing it. Two consequences:
#
# - the gradient of `x + f(x)` with respect to `x` is `1 + f'(x)`: there is always a direct path back to the early
#   layers, so deep stacks still train;
# - the vector that runs through the stack — the *residual stream* — is a shared workspace that every block reads
#   (through its LayerNorm) and writes to (by adding).
#
# The norm of the stream grows as blocks add to it (the plot's last point is after the final LayerNorm, which
# rescales it); LayerNorm is what keeps each sublayer's *input* at a fixed scale.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Each sublayer adds to its input: the residual stream. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
norms = [h[0].norm(dim=-1).mean().item() for h in hidden]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(len(norms)), norms, marker="o")
ax.set(xlabel="depth (0 = embeddings, i = after block i; last includes ln_f)", ylabel="mean ‖token vector‖",
       title=f"the residual stream through the course model: '{sentence}'")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 05.2 · the residual wiring
#
# Write `pre_norm_block_by_hand(x, attn, mlp, ln_1, ln_2)`: the four arguments after `x` are modules you can call
# like functions (`attn(t)`, `ln_1(t)`, …), each returning a tensor of the same shape as its input. Wire them as
# GPT-2 does (the two equations of section 1) and return the block's output.

# %% tags=["your-turn"]
def pre_norm_block_by_hand(x, attn, mlp, ln_1, ln_2):
    ...  # your code here: the block's output, same shape as x

# %% tags=["your-turn-check"]
check("05.2", pre_norm_block_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def pre_norm_block_by_hand(x, attn, mlp, ln_1, ln_2):
#     h = x + attn(ln_1(x))      # attention reads the normalized stream, adds to the raw one
#     return h + mlp(ln_2(h))    # the MLP reads h (not x), normalized by its own LayerNorm
# ```
# The post-norm layout of 2017 would be `LN(x + sublayer(x))`: the normalization sits on the residual path itself.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The MLP and its activation
#
# After attention has mixed information *between* tokens, the MLP processes each token *on its own*:
# $d_{\text{model}} \to 4 d_{\text{model}} \to d_{\text{model}}$ with a non-linearity in the middle. Without it the MLP's two matrices would
# collapse into one: $W_2(W_1 x + b_1) + b_2 = (W_2 W_1)x + (W_2 b_1 + b_2)$ is a single $d_{\text{model}} \to d_{\text{model}}$ linear map, and the
# 4× widening would buy nothing. (The block as a whole would still not be linear: attention's softmax and LayerNorm
# are non-linear. The activation is what lets the MLP, the per-token part, compute more than one matrix can.)
#
# GPT-2 uses **GELU** in its tanh approximation (`activation_function = "gelu_new"` in the config):
#
# $$\operatorname{GELU}(x) \approx \tfrac12 x\left(1 + \tanh\!\left(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\right)\right)$$
#
# Llama and most recent models use **SiLU** (also called swish): $\operatorname{SiLU}(x) = x \cdot \sigma(x) = x / (1 + e^{-x})$.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Without the non-linearity the MLP's two matrices would collapse into one. Section timing:
# see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
xs = torch.linspace(-4, 4, 401)
fig, ax = plt.subplots(figsize=(7, 4))
for name, ys in {"ReLU": F.relu(xs), "GELU (tanh, GPT-2)": gelu(xs), "GELU (exact erf)": F.gelu(xs),
                 "SiLU (Llama)": silu(xs)}.items():
    ax.plot(xs, ys, label=name, linestyle="--" if "exact" in name else "-")
ax.set(xlabel="x", ylabel="activation(x)", title="activation functions")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
print(f"largest gap between tanh-GELU and exact GELU on [-4, 4]: {(gelu(xs) - F.gelu(xs)).abs().max():.1e}")
print("our gelu == torch's tanh approximation:", close(gelu(xs), F.gelu(xs, approximate="tanh"), reduction=8))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 003 lists five SiLU values rounded to two decimals. Recomputed (σ is the sigmoid):

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
seed_values = {-2: -0.24, -1: -0.27, 0: 0.0, 1: 0.73, 2: 1.76}
print("   x   σ(x)    SiLU(x)   seed   agrees to 2 decimals")
for x_val, claimed in seed_values.items():
    t = torch.tensor(float(x_val))
    value = silu(t).item()
    print(f"{x_val:4d}  {torch.sigmoid(t).item():.4f}  {value:8.4f}  {claimed:5.2f}   {round(value, 2) == claimed}")
print("our silu == torch.nn.functional.silu:", close(silu(xs), F.silu(xs), reduction=4))


# %% [markdown] slideshow={"slide_type": "subslide"}
# The seed's values are right. Note the dip: SiLU is not monotonic, its minimum is about −0.278 near x = −1.28,
# so small negative inputs pass a little negative signal instead of being cut to 0 like ReLU.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. One block by hand
#
# Now everything together, with the course model's weights read directly from its layer 0. Two details of
# Hugging Face's GPT-2: the three projections `W_Q, W_K, W_V` are fused in one `c_attn`, and its linear layers are
# `Conv1D` modules whose weight is stored as `(in, out)`, so $y = xW + b$ (no transpose).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 4): one block by hand equals
# Hugging Face's. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
def block_by_hand(x: torch.Tensor, block) -> torch.Tensor:
    # x: (seq, d_model); block: a Hugging Face GPT2Block whose weights we read
    d_model, n_heads = x.shape[-1], block.attn.num_heads
    # attention sublayer, pre-norm, with a residual
    a = layer_norm(x, block.ln_1.weight, block.ln_1.bias, block.ln_1.eps)
    q, k, v = (a @ block.attn.c_attn.weight + block.attn.c_attn.bias).split(d_model, dim=-1)
    heads = scaled_dot_product_attention(*(split_heads(t, n_heads) for t in (q, k, v)), causal=True)
    x = x + merge_heads(heads) @ block.attn.c_proj.weight + block.attn.c_proj.bias
    # MLP sublayer, pre-norm, with a residual
    m = layer_norm(x, block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
    m = gelu(m @ block.mlp.c_fc.weight + block.mlp.c_fc.bias)
    return x + m @ block.mlp.c_proj.weight + block.mlp.c_proj.bias


# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
with torch.no_grad():
    ours = block_by_hand(hidden[0][0], model.transformer.h[0])
    theirs = model.transformer.h[0](hidden[0])[0]      # Hugging Face's GPT2Block, same input
print("shape:", tuple(ours.shape))
K = block_reduction(model.config)          # terms summed along the longest path through one block
print("block by hand == HF GPT2Block:", close(ours, theirs, reduction=K))
print("… and == the model's hidden state after block 0:", close(ours, hidden[1][0], reduction=K))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The course keeps a module version, `utils.transformer.GPT2BlockByHand` (separate `nn.Linear` layers, built from an
# HF block by `from_hf`). The tests check it against `GPT2Block` on random configurations; here, on the trained
# model, all blocks chained with the final LayerNorm and the output layer give the model's logits:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
blocks = [GPT2BlockByHand.from_hf(b) for b in model.transformer.h]
with torch.no_grad():
    pos = torch.arange(ids.shape[1])
    h = model.transformer.wte(ids) + model.transformer.wpe(pos)      # lessons 02 and 03
    for b in blocks:
        h = b(h)
    h = model.transformer.ln_f(h)
    logits = h @ model.transformer.wte.weight.T                       # tied output layer: the embedding matrix
    reference = model(ids).logits
print("logits:", tuple(logits.shape), " equal to the model's:", close(logits, reference, reduction=forward_reduction(model.config)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 05.3 · predict the size of one block
#
# Before the next section counts them: how many parameters does **one block** of GPT-2 small hold ($d = 768$)?
# List its layers from the printout of section 1 (each linear layer has a weight and a bias; each LayerNorm a `γ`
# and a `β`), add them up, and assign the exact number.

# %% tags=["your-turn"]
my_block_params = None  # one GPT-2 small block, d = 768: an int

# %% tags=["your-turn-check"]
check("05.3", my_block_params)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# my_block_params = sum([
#     768 * 2304 + 2304,   # attn.c_attn: d -> 3d, weight and bias
#     768 * 768 + 768,     # attn.c_proj: d -> d
#     768 * 3072 + 3072,   # mlp.c_fc: d -> 4d
#     3072 * 768 + 768,    # mlp.c_proj: 4d -> d
#     2 * (768 + 768),     # ln_1 and ln_2: γ and β each
# ])
# ```
# Attention's `c_attn` and `c_proj`, the MLP's `c_fc` and `c_proj`, two LayerNorms: $12d^2 + 13d$. The matrices
# are almost everything; the biases and LayerNorms add 0.14%.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Counting GPT-2's parameters
#
# Everything is a matrix or a vector whose size follows from the config. With $d$ = `n_embd`, $V$ = `vocab_size`,
# $P$ = `n_positions`, $L$ = `n_layer`, one GPT-2 holds the parameters of the table on the next slide.
# GPT-2 small's config is the default `GPT2Config()`; we never download a weight.

# %% [markdown] slideshow={"slide_type": "subslide"}
# | component | per block | once |
# |---|---|---|
# | token + position embeddings | | $Vd + Pd$ |
# | attention: `c_attn` ($d \to 3d$) + `c_proj` ($d \to d$), with biases | $3d^2 + 3d + d^2 + d$ | |
# | MLP: `c_fc` ($d \to 4d$) + `c_proj` ($4d \to d$), with biases | $8d^2 + 5d$ | |
# | LayerNorms: `ln_1`, `ln_2` ($\gamma$ and $\beta$) | $4d$ | `ln_f`: $2d$ |
# | output layer | | 0: tied to the token embedding |

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The census of GPT-2 124M: show it on the 90-minute path, run it on the half-day path
# (docs/workshops.md). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
config = GPT2Config()
print(f"GPT-2 small: d={config.n_embd}, layers={config.n_layer}, heads={config.n_head}, "
      f"vocab={config.vocab_size:,}, positions={config.n_positions}")
census = parameter_census(config)
for part, n in census.items():
    print(f"{part:>11}: {n:>12,}  {100 * n / census['total']:5.1f} %")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Checked against PyTorch: build the real `GPT2LMHeadModel` on the *meta* device (shapes only, no memory, no
# download) and sum `numel()` of its parameters. `model.parameters()` lists the tied embedding/output matrix once.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
with torch.device("meta"):
    gpt2_small = GPT2LMHeadModel(config)
print(f"sum of numel over GPT2LMHeadModel(GPT2Config()): {sum(p.numel() for p in gpt2_small.parameters()):,}")
print("lm_head shares the embedding's storage:",
      gpt2_small.lm_head.weight is gpt2_small.transformer.wte.weight)

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
course = parameter_census(model.config)
fig, ax = plt.subplots(figsize=(8, 3))
parts = [p for p in census if p not in ("total", "lm_head")]
for row, c in enumerate((census, course)):
    left = 0.0
    for part in parts:
        share = 100 * c[part] / c["total"]
        ax.barh(row, share, left=left, label=part if row == 0 else None)
        left += share
ax.set_yticks([0, 1], ["GPT-2 small\n124.4 M", f"course model\n{course['total'] / 1e6:.1f} M"])
ax.set(xlabel="share of parameters (%)", title="where the parameters are")
ax.legend(ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.3))
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
for part, n in course.items():
    print(f"course model {part:>11}: {n:>10,}")
print("census == sum of numel of the bundled model:", course["total"] == sum(p.numel() for p in model.parameters()))

# %% [markdown] slideshow={"slide_type": "fragment"}
# In GPT-2 small the blocks hold two thirds of the weights, the MLPs twice as much as attention ($8d^2$ vs $4d^2$
# per block). The course model's vocabulary is 12 times smaller than GPT-2's, so its embeddings take a smaller share
# and the blocks an even larger one.
# LoRA (lesson 07) will train a tiny fraction of these numbers, and this table is how we will count it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. LayerNorm on a `(batch, seq, d)` tensor: over which dimension are mean and variance taken?
# 2. A block is $y = x + \operatorname{MLP}(\operatorname{LN}(x))$. Is this pre-norm or post-norm? Write the post-norm version.
# 3. For $d = 1024$ (GPT-2 medium), how many parameters does one block's attention hold? Its MLP?
# 4. Why does a tied output layer add 0 parameters but not 0 computation?
#
# <details><summary>Answers</summary>
#
# 1. Over `d`, the last dimension: each token is normalized on its own.
# 2. Pre-norm. Post-norm: $y = \operatorname{LN}(x + \operatorname{MLP}(x))$.
# 3. Attention $4 \cdot 1024^2 + 4 \cdot 1024 = 4{,}198{,}400$; MLP $8 \cdot 1024^2 + 5 \cdot 1024 = 8{,}393{,}728$.
# 4. The same matrix is reused, so no new numbers, but the $d \times V$ product for the logits is still computed.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A GPT-2 block: $h = x + \operatorname{Attn}(\operatorname{LN}_1(x))$, $y = h + \operatorname{MLP}(\operatorname{LN}_2(h))$, pre-norm, plus a final `ln_f`. LayerNorm, not
#   spectral normalization.
# - LayerNorm normalizes each token over its features; residuals keep a direct path for gradients and a shared
#   stream for information.
# - The MLP ($d \to 4d \to d$) uses GELU's tanh approximation in GPT-2; Llama uses SiLU (seed 003's values check out).
# - Our hand-written block and full forward pass equal the real model to float precision.
# - GPT-2 small has 124,439,808 parameters, computed from `GPT2Config()` alone and confirmed by PyTorch.
#
# Next: lesson 06 trains these parameters.
