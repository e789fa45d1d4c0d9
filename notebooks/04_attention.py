# %% [markdown] slideshow={"slide_type": "slide"}
# # 04 · Attention
#
# Embeddings give each token a vector that knows nothing about its neighbours: "Paris" gets the same vector in
# "The capital of France is Paris" and in "Paris is a city". Attention is the step where every token looks at the
# others and mixes in what it needs. This lesson builds it from three matrix products and a softmax.
#
# **After this lesson you can**
# - explain what the query, key and value projections do, and compute them for a real sentence;
# - write $\operatorname{softmax}(QK^\top/\sqrt{d_k})\,V$ by hand and show it equals `torch.nn.functional.scaled_dot_product_attention`;
# - say why the $1/\sqrt{d_k}$ is there (one of the seeds drops it) and what happens without it;
# - build the causal mask, split a model's width into heads and merge them back;
# - read attention heatmaps of the course's trained model on a sentence from its corpus.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.*

# %% slideshow={"slide_type": "skip"}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider, IntSlider, interact

from utils.attention import (
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from utils.data import load_corpus
from utils.exercises import check
from utils.models import load_model
from utils.notebook import setup
from utils.numerics import close
from utils.plotting import heatmap

device = setup(seed=0)
# "eager" attention is the plain PyTorch path that can return the attention weights we want to look at
model, tokenizer = load_model(device="cpu", attn_implementation="eager")  # CPU on purpose: we inspect it
corpus = load_corpus()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The idea: every token asks a question
#
# Think of a library. Every token publishes a **key** (what it is about) and a **value** (what it would hand over),
# and every token also has a **query** (what it is looking for). A token compares its query with every key; the
# better the match, the more of that token's value it takes. Its new vector is a weighted average of values.
#
# All three are linear projections of the same input vectors `X` of shape `(seq, d_model)`:
#
# $$Q = X W_Q,\quad K = X W_K,\quad V = X W_V \qquad W_Q, W_K \in \mathbb{R}^{d_\text{model}\times d_k},\;
# W_V \in \mathbb{R}^{d_\text{model}\times d_v}$$
#
# Nothing in the architecture says "this head detects questions": the projections are learned, and what a head
# does is whatever lowered the training loss.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 5.7 s. 90-minute path: block 3 (15 minutes for 04 and 05) runs §2 live and shows the §6
# heatmaps. Half-day path: block 3 (30 minutes for 03 and 04, 04 whole). Section timing: see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "subslide"}
# Let us take a real sentence from the corpus the course model was trained on, and the model's own first-layer
# projections. GPT-2 stores `W_Q, W_K, W_V` side by side in one matrix `c_attn` of shape `(d_model, 3·d_model)`
# and applies a LayerNorm (`ln_1`, lesson 05) before it.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
sentence = next(line for line in corpus if line.startswith("The capital of"))
ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
tokens = [tokenizer.decode(i) for i in ids[0]]
print(sentence)
print(tokens)

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
block = model.transformer.h[0]
d_model, n_heads = model.config.n_embd, model.config.n_head
with torch.no_grad():
    positions = torch.arange(ids.shape[1])
    x = model.transformer.wte(ids[0]) + model.transformer.wpe(positions)  # (seq, d_model): lessons 02-03
    q, k, v = block.attn.c_attn(block.ln_1(x)).split(d_model, dim=-1)      # each (seq, d_model)
print("X:", tuple(x.shape), " Q:", tuple(q.shape), " K:", tuple(k.shape), " V:", tuple(v.shape))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The formula, one step at a time
#
# $$\text{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# | step | shape | meaning |
# |---|---|---|
# | $\text{scores} = QK^\top / \sqrt{d_k}$ | `(seq_q, seq_k)` | how well query *i* matches key *j* |
# | $\text{weights} = \operatorname{softmax}(\text{scores})$ row by row | `(seq_q, seq_k)` | each row is a probability distribution |
# | $\text{out} = \text{weights}\; V$ | `(seq_q, d_v)` | each output is a weighted average of the values |
#
# The model uses 4 heads of $d_k = 64$; we start with the first head, the first 64 columns.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the 90-minute path (docs/workshops.md, block 3): our attention equals torch
# SDPA. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
d_k = d_model // n_heads
q0, k0, v0 = q[:, :d_k], k[:, :d_k], v[:, :d_k]   # head 0

scores = q0 @ k0.T / math.sqrt(d_k)
weights = torch.softmax(scores, dim=-1)
out = weights @ v0
print("scores", tuple(scores.shape), " weights", tuple(weights.shape), " out", tuple(out.shape))
print("every row of weights sums to 1:", close(weights.sum(-1), torch.ones(len(tokens)), reduction=2 * len(tokens)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Three lines. The course keeps this as `utils.attention.scaled_dot_product_attention` (any leading batch dims,
# optional causal mask) and checks it against PyTorch's own implementation:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
ours = scaled_dot_product_attention(q0, k0, v0)
torch_ref = F.scaled_dot_product_attention(q0, k0, v0)
# "==" up to float32 rounding (utils.numerics; lesson 07 derives it): d_k products per score, seq per softmax and sum
print("by hand == utils:", close(out, ours, reduction=d_k + 2 * len(tokens)))
print("utils == torch SDPA:", close(ours, torch_ref, reduction=d_k + 2 * len(tokens)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 04.1 · attention for a whole batch
#
# The three lines above handle one head of one sentence, `(seq, d_k)`. Write `attention_by_hand(q, k, v)` for
# tensors with any leading dimensions: `q` is `(..., seq_q, d_k)`, `k` is `(..., seq_k, d_k)`, `v` is
# `(..., seq_k, d_v)`; return $\operatorname{softmax}(QK^\top/\sqrt{d_k})\,V$ of shape `(..., seq_q, d_v)`. Careful: on a 3-D tensor `k.T`
# reverses *all* the dimensions.

# %% tags=["your-turn"]
def attention_by_hand(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    ...  # your code here: (..., seq_q, d_v)

# %% tags=["your-turn-check"]
check("04.1", attention_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def attention_by_hand(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
#     scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (..., seq_q, seq_k)
#     return torch.softmax(scores, dim=-1) @ v                     # each query's weights over the keys sum to 1
# ```
# `@` treats every dimension but the last two as a batch, so the same two lines serve one head, many heads and many
# sentences; only the transpose has to name its two dimensions.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Why divide by $\sqrt{d_k}$?
#
# One seed writes attention as $\operatorname{softmax}(QK^\top)\,V$, without the scale. That is not what transformers compute, and
# the difference is not cosmetic.
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, then $q \cdot k$ is a sum of $d_k$ such
# products, so its variance is $d_k$ and its standard deviation $\sqrt{d_k}$. Dividing by $\sqrt{d_k}$ brings the scores
# back to standard deviation 1 whatever the head size. Let us measure it:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Without the scale the scores' spread grows with d_k and the softmax saturates; the widget
# shows the temperature at its default in the deck. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
print(" d_k   std(q·k)   std(q·k/√d_k)")
for dk in (4, 16, 64, 256, 1024):
    qs, ks = torch.randn(20_000, dk, generator=g), torch.randn(20_000, dk, generator=g)
    dots = (qs * ks).sum(-1)
    print(f"{dk:4d}   {dots.std():8.2f}   {(dots / math.sqrt(dk)).std():8.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Large scores make the softmax *saturate*: almost all weight goes to one key, and the gradient through the
# softmax almost vanishes (a near one-hot softmax barely changes when its inputs move), so the head stops learning.
# Below: one row of 10 random scores with $d_k = 256$, with and without the scale.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
dk = 256
qs, ks = torch.randn(1, dk, generator=g), torch.randn(10, dk, generator=g)
raw = (qs @ ks.T)[0]
fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, (name, row) in zip(axes, {"softmax(q·k)  — no scale": raw,
                                  "softmax(q·k / √d_k)": raw / math.sqrt(dk)}.items(), strict=True):
    ax.bar(range(10), torch.softmax(row, -1))
    ax.set(title=name, xlabel="key j", ylabel="attention weight")
plt.tight_layout()
print(f"largest weight without the scale: {torch.softmax(raw, -1).max():.3f}, "
      f"with it: {torch.softmax(raw / math.sqrt(dk), -1).max():.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Try it: the temperature of the softmax
#
# Dividing the scores by a number $T$ is a *temperature*: $T = \sqrt{d_k}$ is what attention uses, small $T$ sharpens
# the distribution towards the best key, large $T$ flattens it towards a plain average. Drag the slider; the bars
# are head 0's attention weights for the last token of our sentence.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
raw_scores = (q0 @ k0.T)[-1]   # last token's query against every key, unscaled


def show_temperature(temperature=8.0):
    w = torch.softmax(raw_scores / temperature, dim=-1)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(range(len(tokens)), w)
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right")
    ax.set(ylim=(0, 1), ylabel="attention weight", xlabel="key token",
           title=f"T = {temperature:.1f} (√d_k = {math.sqrt(d_k):.0f}); entropy {torch.special.entr(w).sum():.2f} nats")
    plt.show()


interact(show_temperature, temperature=FloatSlider(value=math.sqrt(d_k), min=0.5, max=40, step=0.5));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The causal mask: no peeking at the future
#
# A language model is trained to predict token *t + 1* from tokens *0 … t*. If position *t* could attend to
# position *t + 1*, it would just copy the answer. So every score above the diagonal is set to $-\infty$ before the
# softmax, and its weight becomes exactly 0. Query *i* sees keys `0 … i`.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The causal mask sets every score above the diagonal to −∞ before the softmax. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print(causal_mask(5, 5).int())
masked = scores.masked_fill(~causal_mask(len(tokens), len(tokens)), float("-inf"))
causal_weights = torch.softmax(masked, dim=-1)
print("weights above the diagonal are 0:", bool((causal_weights.triu(1) == 0).all()))
print("first token attends only to itself:", causal_weights[0, 0].item() == 1.0)

# %% [markdown] slideshow={"slide_type": "subslide"}
# When there are more keys than queries (`seq_q ≠ seq_k`), where does the diagonal go? PyTorch's
# `is_causal=True` aligns it **top-left**: query *i* sees keys `0 … i`. (A key-value cache during generation
# needs the other alignment, where the last query sees every key; that is passed as an explicit mask.) Our
# helper does the same as PyTorch:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
print(causal_mask(3, 5).int())
qa, ka, va = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
same = close(scaled_dot_product_attention(qa, ka, va, causal=True),
             F.scaled_dot_product_attention(qa, ka, va, is_causal=True), reduction=8 + 2 * 5)
print("causal, seq_q=3, seq_k=5, equal to torch SDPA:", same)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 04.2 · the causal mask
#
# Write `causal_mask_by_hand(seq_q, seq_k)`: a `(seq_q, seq_k)` **bool** tensor, `True` where query `i` may look at
# key `j`, aligned top-left like PyTorch's `is_causal=True` (query `i` sees keys `0 … i`), for square and non-square
# shapes.

# %% tags=["your-turn"]
def causal_mask_by_hand(seq_q: int, seq_k: int) -> torch.Tensor:
    ...  # your code here: a (seq_q, seq_k) bool tensor

# %% tags=["your-turn-check"]
check("04.2", causal_mask_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def causal_mask_by_hand(seq_q: int, seq_k: int) -> torch.Tensor:
#     return torch.ones(seq_q, seq_k, dtype=torch.bool).tril()   # keep the diagonal and everything below it
# ```
# `tril` keeps entry $(i, j)$ when $j \le i$. `triu(1)` is the complement: the positions set to $-\infty$.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Many heads
#
# One head produces one weighted average per token: one "question" at a time. GPT-2 runs `n_heads` smaller
# heads in parallel: it cuts the `d_model` columns of `Q`, `K`, `V` into `n_heads` blocks of $d_k = d_{\text{model}} / n_{\text{heads}}$,
# attends in each block independently, and glues the outputs back side by side before one output projection.
# The cost is the same as one big head; the gain is several attention patterns per layer.
#
# `split_heads` is a reshape plus a transpose: `(seq, d_model) → (seq, n_heads, d_k) → (n_heads, seq, d_k)`.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Heads cut d_model into n_heads blocks of d_k and run in parallel. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
qh, kh, vh = (split_heads(t, n_heads) for t in (q, k, v))
print("split:", tuple(q.shape), "->", tuple(qh.shape))
print("head 0 of the split == the first 64 columns:", torch.equal(qh[0], q0))
heads_out = scaled_dot_product_attention(qh, kh, vh, causal=True)   # all heads at once: a batch dim
print("attended:", tuple(heads_out.shape), " merged:", tuple(merge_heads(heads_out).shape))
print("merge_heads(split_heads(q)) == q:", torch.equal(merge_heads(qh), q))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 04.3 · split into heads
#
# Write `split_heads_by_hand(x, n_heads)`: `x` is `(seq, d_model)`; return `(n_heads, seq, d_k)` with
# $d_k = d_{\text{model}} / n_{\text{heads}}$, where head $h$ holds columns $h d_k, \dots, (h+1) d_k - 1$ of every token. A single `reshape`
# to the final shape has the right shape and the wrong numbers: the check looks at the numbers.

# %% tags=["your-turn"]
def split_heads_by_hand(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    ...  # your code here: (n_heads, seq, d_k)

# %% tags=["your-turn-check"]
check("04.3", split_heads_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def split_heads_by_hand(x: torch.Tensor, n_heads: int) -> torch.Tensor:
#     seq, d_model = x.shape
#     return x.view(seq, n_heads, d_model // n_heads).transpose(0, 1)   # (seq, h, d_k) -> (h, seq, d_k)
# ```
# The `view` cuts each token's row into `n_heads` consecutive blocks; the transpose makes the head the leading (batch)
# dimension. `x.reshape(n_heads, seq, d_k)` instead reads the memory in order and deals whole tokens out to heads.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# Is this really what the model computes? Ask the model for its own attention weights (`output_attentions=True`)
# and compare with ours, computed from the same input with nothing but the formula:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
with torch.no_grad():
    model_weights = model(ids, output_attentions=True).attentions   # one (batch, heads, seq, seq) per layer
ours_weights = attention_weights(qh, kh, causal=True)
print("layers:", len(model_weights), " shape:", tuple(model_weights[0].shape))
# the model recomputes LayerNorm (2 x d_model terms) and the projection (d_model) before the scores and softmax
print("layer 0, our weights == the model's:",
      close(ours_weights, model_weights[0][0], reduction=3 * d_model + d_k + len(tokens)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# `utils.attention.MultiHeadAttention(d_model, n_heads, causal=True)` packages the whole thing as a module:
# project, split, attend, merge, project back (GPT-2 fuses the three input projections into `c_attn`; same
# arithmetic). The tests check it against `torch.nn.MultiheadAttention` and Hugging Face's `GPT2Attention`.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
mha = MultiHeadAttention(d_model=48, n_heads=3, causal=True)
xs = torch.randn(2, 7, 48)     # (batch, seq, d_model)
print(mha)
print("output:", tuple(mha(xs).shape), f" parameters: {sum(p.numel() for p in mha.parameters()):,}"
      f" = 4 × (48·48 + 48)")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. What the trained model looks at
#
# Each heatmap is one head of one layer: row *i* is the distribution of token *i*'s attention over the tokens it may
# see (the causal mask leaves the upper triangle empty). Rows sum to 1.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 90-minute path: show these heatmaps (docs/workshops.md, block 3); rows sum to 1. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
def show_layer(layer=0):
    fig, axes = plt.subplots(1, n_heads, figsize=(4.2 * n_heads, 4))
    for h, ax in enumerate(axes):
        heatmap(model_weights[layer][0, h], xlabels=tokens, ylabels=tokens if h == 0 else None, ax=ax,
                title=f"layer {layer}, head {h}", xlabel="key (attended to)",
                ylabel="query (attending)" if h == 0 else "", colorbar=False, vmin=0, vmax=1)
    plt.tight_layout()
    plt.show()


show_layer(0)  # the static picture (slides, the committed notebook); the slider below redraws it
interact(show_layer, layer=IntSlider(value=0, min=0, max=len(model_weights) - 1));

# %% [markdown] slideshow={"slide_type": "subslide"}
# Things to look for (they depend on the checkpoint, so look rather than trust a sentence): heads that put most
# weight on the token itself (a bright diagonal), heads that look at the previous token (a bright line just below
# the diagonal), heads that park their weight on the first token when nothing else is useful. And one question
# with a measurable answer: the token " is" has to predict the capital, so somewhere the country's name must
# reach it. Which layer and head carries it? (The largest number below is this checkpoint's answer.)

# %% slideshow={"slide_type": "subslide"}
before_answer = tokens.index(" is")   # the position that has to predict the capital
country = before_answer - 1            # the country's token, just before it
for layer, weights_l in enumerate(model_weights):
    row = weights_l[0, :, before_answer, country]          # every head's weight on the country
    h = int(row.argmax())
    print(f"layer {layer}: head {h} gives {tokens[country]!r} {row[h]:.2f} of the attention of ' is'")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Q has shape `(10, 64)` and K has shape `(12, 64)`. What is the shape of `QKᵀ`, and which dimension does the
#    softmax run over?
# 2. Your head size doubles from 64 to 128. Without the $1/\sqrt{d_k}$, by what factor does the typical size of a score grow?
# 3. In a causal model, how many keys does the 5th token (index 4) see?
# 4. A model has $d_{\text{model}} = 256$ and 4 heads. How many columns does each head's query have, and what does
#    `merge_heads` return for a `(4, 9, 64)` tensor?
#
# <details><summary>Answers</summary>
#
# 1. `(10, 12)`; over the last dimension, the keys: each query's weights sum to 1.
# 2. By √2 ≈ 1.41 (the standard deviation grows like √d_k).
# 3. Five: indices 0 to 4.
# 4. 64 columns; a `(9, 256)` tensor.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Attention turns each token's vector into a weighted average of value vectors; the weights come from how well
#   its query matches every key: $\operatorname{softmax}(QK^\top/\sqrt{d_k})\,V$.
# - The $1/\sqrt{d_k}$ keeps the scores at unit scale whatever the head size; without it the softmax saturates and stops
#   learning. The seed formula without it is wrong.
# - The causal mask sets future positions to $-\infty$ before the softmax (top-left aligned, like PyTorch).
# - Multi-head attention is a reshape: split `d_model` into heads, attend in each, merge back, project.
# - Our by-hand weights are the course model's own, to float precision.
#
# Next: lesson 05 wraps attention with LayerNorm, residual connections and an MLP into a GPT-2 block.
