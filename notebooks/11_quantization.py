# %% [markdown] slideshow={"slide_type": "slide"}
# # 11 · Quantization by hand
#
# Lesson 10 ended with the frozen base model as the biggest item of the LoRA bill. Quantization stores each weight
# in 8 or 4 bits instead of 16 or 32. This lesson builds it from scratch, down to the bit, and checks every code
# against `bitsandbytes`, the library QLoRA uses.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **You will be able to**
# - quantize and dequantize with absmax scaling in INT8 and INT4, and explain why one outlier ruins a whole tensor;
# - explain why block-wise scales fix that;
# - build the 16-value **NormalFloat-4** (NF4) codebook from quantiles of the normal distribution;
# - quantize real weights blockwise to NF4, bit-identical to `bitsandbytes.functional.quantize_4bit`;
# - compute what double quantization of the block scales saves (0.5 → 0.127 bit per weight).
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.*

# %% slideshow={"slide_type": "skip"}
from utils.notebook import setup  # first: importing it quiets bitsandbytes' import-time notice

import inspect

import bitsandbytes.functional as bnbf
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import IntSlider, SelectionSlider, interact

from utils.exercises import check
from utils.models import load_model
from utils.quant import (
    absmax_dequantize,
    absmax_dequantize_blockwise,
    absmax_quantize,
    absmax_quantize_blockwise,
    bits_per_param,
    dequantize_blockwise_codebook,
    dequantize_nf4,
    double_dequantize,
    double_quantize,
    fp4_codebook,
    int4_codebook,
    nf4_codebook,
    pack_4bit,
    quantize_blockwise_codebook,
    quantize_nf4,
    scale_bits_per_param,
    unpack_4bit,
)

device = setup()
model, tokenizer = load_model(device="cpu")  # CPU on purpose: we quantize its weights by hand
W = model.transformer.h[0].mlp.c_fc.weight.detach().clone()  # real weights of the course model
print("a real weight matrix:", tuple(W.shape), f"{W.numel():,} values")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Absmax quantization
#
# Map the largest magnitude to the largest integer and round everything else:
#
# $$\text{scale} = \frac{\max_i |x_i|}{2^{b-1}-1}, \qquad q_i = \operatorname{round}\!\left(\frac{x_i}{\text{scale}}\right), \qquad \hat x_i = q_i \cdot \text{scale}$$
#
# For 8 bits the integers run from −127 to 127, for 4 bits from −7 to 7. We store $q$ (1 byte or half a byte) and
# one float $\text{scale}$. Rounding to the *nearest* integer bounds the error by half a step, $\text{scale} / 2$.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 6.7 s. Half-day path: block 7 (30 minutes for 10, 11, 12) runs §3–5 live (NF4 by hand).
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
x = torch.tensor([0.12, -0.53, 0.97, 0.004, -1.21, 0.66])
for bits in (8, 4):
    q, scale = absmax_quantize(x, bits=bits)
    back = absmax_dequantize(q, scale)
    print(f"INT{bits}: scale {scale.item():.5f}  q {q.tolist()}")
    print(f"      back {[round(v, 4) for v in back.tolist()]}  max error {(back - x).abs().max().item():.4f}"
          f" <= scale/2 = {scale.item() / 2:.4f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 11.1 · absmax INT8 by hand
#
# Quantize a tensor `x` (any shape) to INT8 with one absmax scale, following the formula above: return `(q, scale)`,
# `q` an `int8` tensor of `x`'s shape and `scale` a float. The check compares with `absmax_quantize` on blocks with an
# outlier and with a negative largest value. (The next cell prints the course's version: try first.)

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def absmax_int8_by_hand(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    ...  # your code here: scale = max|x| / 127, q = round(x / scale)


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("11.1", absmax_int8_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def absmax_int8_by_hand(x):
#     scale = x.abs().max().item() / 127                  # the largest magnitude maps to 127
#     q = torch.round(x / scale).to(torch.int8)           # nearest integer, then stored in one byte
#     return q, scale
# ```
# `x.max()` instead of `x.abs().max()` breaks on a block whose largest value is negative (it lands outside −127…127),
# and `.to(torch.int8)` without `round` truncates toward zero: up to a full step of error instead of half.
# </details>

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(absmax_quantize))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. One outlier ruins a whole tensor
#
# Real weight matrices contain a few values far larger than the rest. With a single scale, the outlier sets the
# step size for everyone: the ordinary small weights all round to 0. Splitting the tensor into **blocks** of 64
# consecutive values, each with its own scale, confines the damage to one block.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** One outlier sets the step for everyone; blocks of 64 contain the damage. The deck shows the
# histogram at the sliders' defaults. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
w = W.reshape(-1).clone()
w[1000] = 40 * w.abs().max()  # plant one outlier
for bits in (8, 4):
    q, s = absmax_quantize(w, bits=bits)
    per_tensor = (absmax_dequantize(q, s) - w).abs().mean()
    qb, sb = absmax_quantize_blockwise(w, bits=bits, blocksize=64)
    blockwise = (absmax_dequantize_blockwise(qb, sb, w.shape) - w).abs().mean()
    zeros = (q == 0).float().mean()
    print(f"INT{bits}: mean |error| per-tensor {per_tensor:.6f} ({zeros:.0%} of weights became 0)   "
          f"blocks of 64 {blockwise:.6f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The price of blockwise scales: one extra float per block. With fp32 scales and blocks of 64, that is
# 32 / 64 = 0.5 extra bit per weight — we come back to it in section 5.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. NormalFloat-4: put the levels where the weights are
#
# INT4 spaces its 15 levels evenly between −1 and 1. But trained weights are roughly **normally distributed**:
# most of them sit near 0, few near the extremes. Evenly spaced levels waste codes on the tails.
#
# NF4 chooses the levels so that each one is responsible for the same share of a normal distribution: the levels
# are **quantiles** of N(0, 1), rescaled to [−1, 1]. Look at the course model's weights, each divided by its
# block's absmax — that is what a 4-bit code has to represent:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 7): NF4 puts its levels where
# normal weights are. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
blocks = W.reshape(-1, 64)
normalized = (blocks / blocks.abs().amax(dim=1, keepdim=True)).reshape(-1)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(normalized.numpy(), bins=120, density=True, alpha=0.6, label="weights / block absmax")
for v in int4_codebook():
    ax.axvline(v, color="tab:red", lw=0.8, ymax=0.3)
for v in nf4_codebook():
    ax.axvline(v, color="k", lw=0.8, ymin=0.3, ymax=0.6)
ax.plot([], [], color="tab:red", label="INT4 levels (evenly spaced)")
ax.plot([], [], color="k", label="NF4 levels (normal quantiles)")
ax.set(xlabel="value / block absmax", ylabel="density", title="Where the levels sit vs where the weights are")
ax.legend(fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Building the codebook, step by step
#
# We need 16 codes and want an exact **0** (padding and zero weights must stay zero). A symmetric set of quantiles
# has no 0, so NF4 is slightly asymmetric: 8 positive levels, 7 negative ones, and 0.
#
# 1. Positive side: probabilities evenly spaced from `offset` down to 0.5, 9 of them, drop the last (0.5 would
#    give 0). Negative side: the same with 8, mirrored.
# 2. `offset = 0.9677` instead of 1: the quantile of probability 1 is +∞. The value is the default `offset` of
#    bitsandbytes' `create_normal_map`, the function that builds its NF4 table; the QLoRA paper does not print it,
#    and bitsandbytes' docstring calls it empirically chosen. One reading reproduces it to every printed digit:
#    the mean of $1 - 1/(2 \cdot 15)$ and $1 - 1/(2 \cdot 16)$, the centres of the last bins for 15 and 16 levels. The cell
#    reads the default from bitsandbytes and computes that mean.
# 3. Take the normal quantile $\Phi^{-1}(p)$ of each probability, add 0, sort, divide by the largest → range [−1, 1].

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
offset = inspect.signature(bnbf.create_normal_map).parameters["offset"].default
print("bitsandbytes' offset:", offset, "| mean of 1 − 1/30 and 1 − 1/32:", f"{(1 - 1 / 30 + 1 - 1 / 32) / 2:.7f}")
normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
p_pos = torch.linspace(offset, 0.5, 9)[:-1]
p_neg = torch.linspace(offset, 0.5, 8)[:-1]
print("positive probabilities:", [round(p, 4) for p in p_pos.tolist()])
quantiles = torch.cat([-normal.icdf(p_neg.double()), torch.zeros(1, dtype=torch.float64), normal.icdf(p_pos.double())])
levels = quantiles.float().sort().values
levels = levels / levels.max()
print("NF4 levels:", [round(v, 4) for v in levels.tolist()])

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same recipe lives in `utils.quant.nf4_codebook()`. Is it really the table bitsandbytes uses — to the last bit
# of every float32?

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
bnb_nf4 = bnbf.get_4bit_type("nf4", device="cpu")
print("equal to bitsandbytes' NF4 table, bit for bit:", torch.equal(levels, bnb_nf4), torch.equal(nf4_codebook(), bnb_nf4))

# %% [markdown] slideshow={"slide_type": "slide"}
# (Bit-exactness needs the same arithmetic: float32 probabilities, float64 quantiles, normalization in float32.)
#
# ## 4. Blockwise NF4, by hand
#
# For each block of 64 consecutive weights (row-major):
#
# 1. `absmax` = the block's largest magnitude, kept in float32;
# 2. scale the block into [−1, 1];
# 3. each value gets the code of the **nearest** NF4 level (the boundaries are the midpoints between levels);
# 4. dequantize: $\text{codebook}[\text{code}] \times \text{absmax}$.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path: blockwise NF4 by hand, equal to bitsandbytes. Section
# timing: see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 11.2 · the codebook lookup
#
# Steps 1–3 for one block: given a block of 64 weights and a codebook (16 ascending levels in [−1, 1]), return
# `(codes, absmax)`: `absmax` the block's largest magnitude, `codes` a `(64,)` integer tensor, each the index of the
# level nearest to `value / absmax`. The check uses NF4 and INT4 codebooks. (The next cell prints the course's
# version.)

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def nearest_codes_by_hand(block: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, float]:
    ...  # your code here


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("11.2", nearest_codes_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def nearest_codes_by_hand(block, codebook):
#     absmax = block.abs().max()
#     scaled = block / absmax                                        # (64,) in [-1, 1]
#     codes = (scaled[:, None] - codebook[None, :]).abs().argmin(dim=1)   # (64, 16) distances -> (64,)
#     return codes, absmax.item()
# ```
# A table of all distances is the plainest nearest-neighbour search; `utils.quant` uses `torch.bucketize` on the
# midpoints between levels instead, which gives the same codes without the `(64, 16)` table.
# </details>

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(quantize_nf4))
print(inspect.getsource(dequantize_nf4))

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
codes, absmax = quantize_nf4(W, blocksize=64)
W_nf4 = dequantize_nf4(codes, absmax, W.shape)
print("codes:", codes.dtype, tuple(codes.shape), "first 12:", codes[:12].tolist())
print("absmax:", tuple(absmax.shape), "first 3:", [round(v, 4) for v in absmax[:3].tolist()])
print(f"mean |error| {(W_nf4 - W).abs().mean():.6f}   relative to mean |w| {(W_nf4 - W).abs().mean() / W.abs().mean():.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked against bitsandbytes
#
# `bitsandbytes.functional.quantize_4bit` packs **two codes per byte**, the first element in the high nibble.
# We unpack its bytes and compare every code, every block scale and every dequantized value:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
packed, state = bnbf.quantize_4bit(W, blocksize=64, quant_type="nf4")
their_codes = unpack_4bit(packed)
print(f"bitsandbytes: {packed.numel():,} bytes for {W.numel():,} weights; first byte {packed.reshape(-1)[0].item():#04x}"
      f" = codes {their_codes[0].item()} and {their_codes[1].item()}")
print(f"codes identical: {(codes == their_codes).float().mean():.2%}")
print("absmax identical:", torch.equal(absmax, state.absmax))
print("dequantized identical:", torch.equal(W_nf4, bnbf.dequantize_4bit(packed, state).reshape(W.shape)))
print("our packing = theirs:", torch.equal(pack_4bit(codes), packed.reshape(-1)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 11.3 · two codes per byte
#
# Pack a `(n,)` tensor of 4-bit codes (`uint8`, values 0…15, `n` even) into `(n // 2,)` bytes the way bitsandbytes
# stores them: the first code of each pair in the **high** nibble. Return a `uint8` tensor; the check compares with
# `pack_4bit`.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def pack_by_hand(codes: torch.Tensor) -> torch.Tensor:
    ...  # your code here


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("11.3", pack_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def pack_by_hand(codes):
#     return (codes[0::2] << 4) | codes[1::2]        # (n // 2,): even positions high, odd positions low
# ```
# Shifting by 4 multiplies by 16, so `codes[0::2] * 16 + codes[1::2]` is the same byte. The order is a convention:
# with the nibbles swapped every weight would be read as its neighbour.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Double quantization: shrinking the scales
#
# Each block of 64 weights carries a float32 absmax: 32 / 64 = **0.5 bit per weight** on top of the 4 bits. For a
# 7B model that is 0.44 GB of scales. QLoRA quantizes the scales themselves: subtract their mean, store each in
# **8 bits**, with one float32 second-level scale per block of **256** scales:
#
# $$\frac{8}{64} + \frac{32}{64 \cdot 256} \approx 0.127 \text{ bit per weight}$$

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path: double quantization shrinks the scales' 0.5 bit per weight.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
for dq in (False, True):
    print(f"double quant {str(dq):<5}: scales {scale_bits_per_param(64, dq):.3f} bit/weight, "
          f"NF4 total {bits_per_param(4, 64, dq):.3f} bit/weight, 7B scales {7e9 * scale_bits_per_param(64, dq) / 8 / 1e9:.3f} GB")

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
q2, scales2, offset2 = double_quantize(absmax, blocksize=256)
absmax_back = double_dequantize(q2, scales2, offset2)
rel = ((absmax_back - absmax).abs() / absmax).max()
W_dq = dequantize_nf4(codes, absmax_back, W.shape)
print(f"{absmax.numel()} scales -> {q2.numel()} int8 + {scales2.numel()} float32 + 1 mean")
print(f"largest relative error of a scale: {rel:.4f}")
print(f"mean |error| of the weights: NF4 {(W_nf4 - W).abs().mean():.6f}, NF4 + double quant {(W_dq - W).abs().mean():.6f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The weights barely notice: a scale off by a fraction of a percent moves 64 values by that fraction, far below the
# 4-bit rounding itself. (bitsandbytes stores the 8-bit scales with a non-linear "dynamic" 8-bit code instead of our
# linear INT8; the bits saved are the same.)

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
_, nested = bnbf.quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=True)
print("bitsandbytes with double quant: scales stored as", nested.absmax.dtype, "| second-level blocksize",
      nested.state2.blocksize, "| second-level scales", nested.state2.absmax.numel())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. INT4 vs FP4 vs NF4 on real weights
#
# Three 4-bit codebooks, same blocks of 64, same absmax scaling — only the levels differ. FP4 (E2M1: 1 sign,
# 2 exponent, 1 mantissa bit) packs levels densely near 0 like a float.
#
# A 4-bit code has 16 slots, but not every codebook fills them: INT4 uses −7…7 (symmetric, so one code is spare)
# and E2M1 has a +0 and a −0 that are the same number. The cell counts the distinct levels. The FP4 here is the
# textbook E2M1 grid ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} / 6. It is **not** bitsandbytes' `fp4` type, whose smallest
# non-zero level is smaller (the last line prints it), so the FP4 errors below are those of E2M1, not of
# bitsandbytes' fp4.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** INT4, FP4 and NF4 on the same blocks: only the levels differ. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
books = {"INT4 (absmax)": int4_codebook(), "FP4 (E2M1)": fp4_codebook(), "NF4": nf4_codebook()}
bnb_fp4 = bnbf.get_4bit_type("fp4", device="cpu")
for name, book in {**books, "bitsandbytes fp4": bnb_fp4}.items():
    print(f"{name:<17} {book.unique().numel():>2} distinct levels, smallest non-zero |level| "
          f"{book.abs()[book != 0].min():.5f}")

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
errors = {}
for name, book in books.items():
    c, a = quantize_blockwise_codebook(W, book, 64)
    errors[name] = (dequantize_blockwise_codebook(c, a, book, W.shape, 64) - W).reshape(-1)
    print(f"{name:<14} mean |error| {errors[name].abs().mean():.6f}   RMS {errors[name].pow(2).mean().sqrt():.6f}")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(-0.03, 0.03, 121)
for name, err in errors.items():
    ax.hist(err.numpy(), bins=bins, histtype="step", lw=1.5, label=f"{name} (MAE {err.abs().mean():.5f})")
ax.set(xlabel="dequantized − original weight", ylabel="count", title="4-bit quantization error on c_fc of layer 0")
ax.legend(fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Try it: bits and block size
#
# Drag the sliders: absmax quantization with `bits` bits and one scale per `blocksize` values ("tensor" = one
# scale for the whole matrix), on the same real weights with one planted outlier.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
w_outlier = W.reshape(-1).clone()
w_outlier[1000] = 40 * W.abs().max()


def error_histogram(bits=4, blocksize=64):
    if blocksize == "tensor":
        q, s = absmax_quantize(w_outlier, bits=bits)
        err = absmax_dequantize(q, s) - w_outlier
    else:
        q, s = absmax_quantize_blockwise(w_outlier, bits=bits, blocksize=blocksize)
        err = absmax_dequantize_blockwise(q, s, w_outlier.shape) - w_outlier
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(err.numpy(), bins=np.linspace(-0.1, 0.1, 101), color="tab:blue")
    ax.set(xlabel="dequantized − original weight", ylabel="count", yscale="log",
           title=f"INT{bits}, scale per {blocksize}: mean |error| {err.abs().mean():.5f}")
    plt.show()


interact(error_histogram, bits=IntSlider(value=4, min=2, max=8, description="bits"),
         blocksize=SelectionSlider(options=[16, 32, 64, 128, 256, 1024, 4096, "tensor"], value=64,
                                   description="block size"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Why is the INT4 error bounded by `scale / 2` — and why does rounding toward zero (`trunc`) double it?
# 2. Your 4-bit codebook has 16 levels evenly spaced in [−1, 1]. Why is that *not* NF4?
# 3. How many bytes does a 4096 × 4096 matrix take in NF4 with double quantization?
#
# Answer to 3:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
n = 4096 * 4096
print(f"{n * bits_per_param(4, 64, double_quant=True) / 8 / 2**20:.2f} MiB  (vs {n * 2 / 2**20:.0f} MiB in bf16)")

# %% [markdown] slideshow={"slide_type": "slide"}
# 1. Nearest rounding moves a value at most half a step; truncation can move it almost a full step, always toward
# 0, which also biases every weight downward in magnitude. 2. NF4 places its levels at normal quantiles (dense
# near 0) and has 8 positive, 7 negative levels and an exact 0. 3. Printed above: 4.127 bits × 16.8 M weights.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Absmax quantization: $q = \operatorname{round}(x / \text{scale})$, $\text{scale} = \max\lvert x\rvert / (2^{b-1} - 1)$; error $\le \text{scale} / 2$.
# - One scale per block of 64 keeps an outlier from flattening everything else (cost: 0.5 bit/weight in fp32).
# - NF4's 16 levels are normal quantiles — lowest error on normally distributed weights of the three 4-bit codes.
# - Our blockwise NF4 codes, scales and dequantized values are bit-identical to bitsandbytes.
# - Double quantization stores the scales in 8 bits: 0.5 → 0.127 bit per weight, 4.127 bits in total.
# - Next: QLoRA — a whole model in NF4, with LoRA adapters trained on top.
