# %% [markdown] slideshow={"slide_type": "slide"}
# # 03 · Sinusoidal positional encoding
#
# Attention (lesson 04) compares every token with every other token, and nothing in that comparison says *where*
# a token stands: *without a mask*, shuffle the words and each one meets the same partners. (GPT-2's causal mask,
# lesson 04, already leaks some order: each token sees only the tokens before it, so a shuffle changes who meets
# whom, and causal models trained without any position vectors do pick up some order from the mask alone.)
# Explicit position is still what both kinds of model use: it is added to the embeddings. The original
# Transformer adds a fixed table of sines and cosines; GPT-2 learns its table instead.
# This lesson builds the first, checks its key property, and looks at the second inside the bundled model.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - write $\mathrm{PE}[p, 2i] = \sin(p / 10000^{2i/d})$, $\mathrm{PE}[p, 2i+1] = \cos(p / 10000^{2i/d})$ with the
#   right index range ($i = 0, \dots, d/2 - 1$) and implement it;
# - read the heatmap and the waves: fast pairs for nearby positions, slow pairs for far ones;
# - show that moving by $k$ positions is the *same rotation* for every position, and that
#   $\mathrm{PE}(p) \cdot \mathrm{PE}(q)$ depends only on $p - q$;
# - compare with GPT-2's learned position embeddings, including the positions our model never trained.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`. Lab: `labs/lab03_positional`.*

# %% slideshow={"slide_type": "skip"}
import json
import math
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from utils.exercises import check
from utils.models import load_model, resolve_model_path
from utils.notebook import setup
from utils.numerics import close
from utils.plotting import heatmap, plot_curves
from utils.positional import pe_frequencies, rotation_matrix, sinusoidal_encoding

device = setup(seed=0)
model, tokenizer = load_model(device="cpu")  # CPU on purpose: small tensors we inspect
SEQ, D = model.config.n_positions, model.config.n_embd  # 128 positions, 256 dimensions in the bundled model

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Without position, order is invisible
#
# Anything that treats the token vectors as an unordered collection (a sum, a mean, attention without positions
# and without a mask) cannot tell *"Paris is the capital of France"* from *"France is the capital of Paris"*:
# same tokens, same bag of vectors. Adding a position vector to each token makes the two bags different.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 4.9 s. 90-minute path: block 2 shows the heatmap and the waves from the slides. Half-day
# path: block 3 (30 minutes for 03 and 04) runs §2 and §5 live. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
E = model.transformer.wte.weight.detach()
a = torch.tensor(tokenizer.encode(" Paris is the capital of France"))
b = torch.tensor(tokenizer.encode(" France is the capital of Paris"))
print("same tokens, different order:", sorted(a.tolist()) == sorted(b.tolist()) and a.tolist() != b.tolist())


def as_bag(vectors: torch.Tensor) -> list:
    # The vectors as an unordered collection: all an order-blind layer can use.
    return sorted(map(tuple, vectors.tolist()))


print("bags of embeddings equal:", as_bag(E[a]) == as_bag(E[b]))
pe = sinusoidal_encoding(len(a), D)
bag_gap = (torch.tensor(as_bag(E[a] + pe)) - torch.tensor(as_bag(E[b] + pe))).abs().max().item()
print(f"after adding positions, the two sorted bags differ by up to {bag_gap:.2f} (order is now visible)")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The formula
#
# For position $p = 0, 1, \dots$ and **pair index** $i = 0, 1, \dots, d/2 - 1$:
#
# $$\mathrm{PE}[p, 2i] = \sin(p\,\omega_i), \qquad \mathrm{PE}[p, 2i+1] = \cos(p\,\omega_i), \qquad
# \omega_i = \frac{1}{10000^{2i/d}}.$$
#
# The $d$ columns come in $d/2$ pairs; pair $i$ is one sine and one cosine of the *same* frequency $\omega_i$.
# The frequencies fall geometrically from $\omega_0 = 1$ radian per position (a wavelength of $2\pi \approx 6.3$
# positions) to $\omega_{d/2-1} = 10000^{-(d-2)/d}$, just above $1/10000$ (a wavelength a little under
# $2\pi \cdot 10000$; section 5
# prints the exact one).
#
# By hand, with loops, for a small table:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 3). The pair index runs to d/2 − 1,
# not d − 1: the seed's reading overruns the table. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
def pe_by_hand(seq_len: int, d_model: int) -> torch.Tensor:
    pe = torch.zeros(seq_len, d_model)
    for p in range(seq_len):
        for i in range(d_model // 2):  # pair index: 0 ... d/2 - 1
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


small = pe_by_hand(4, 8)
print(small)
print("equals utils.positional.sinusoidal_encoding:", close(small, sinusoidal_encoding(4, 8), reduction=1))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 03.1 · the table without loops
#
# Two nested Python loops are slow for `128 × 256` entries. Write `pe_table_by_hand(seq_len, d_model)` that builds
# the same float32 `(seq_len, d_model)` table with tensor operations only: all the angles `p · ω_i` at once as a
# `(seq_len, d_model / 2)` matrix, then the sines into the even columns and the cosines into the odd ones.

# %% tags=["your-turn"]
def pe_table_by_hand(seq_len: int, d_model: int) -> torch.Tensor:
    ...  # your code here: a (seq_len, d_model) tensor, no Python loop

# %% tags=["your-turn-check"]
check("03.1", pe_table_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def pe_table_by_hand(seq_len: int, d_model: int) -> torch.Tensor:
#     i = torch.arange(d_model // 2)                              # pair index 0 ... d/2 - 1
#     omega = 10000.0 ** (-2 * i / d_model)                       # (d/2,)
#     angles = torch.arange(seq_len)[:, None] * omega[None, :]    # (seq, d/2): every p · ω_i
#     pe = torch.zeros(seq_len, d_model)
#     pe[:, 0::2] = torch.sin(angles)                             # columns 0, 2, 4, ...
#     pe[:, 1::2] = torch.cos(angles)                             # columns 1, 3, 5, ...
#     return pe
# ```
# Broadcasting a column of positions against a row of frequencies is the loop, done by the tensor library.
# `utils.positional.sinusoidal_encoding` is this function.
# </details>


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Correcting the seed: `i` does not run over all of `d_model`
#
# The seed text states the same two formulas but lets `i` range over `0, 1, …, d_model − 1`. Taken literally, the
# loop writes to columns `2i` and `2i + 1` up to `2·d_model − 1`, which do not exist:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
def pe_seed_literal(seq_len: int, d_model: int) -> torch.Tensor:
    pe = torch.zeros(seq_len, d_model)
    for p in range(seq_len):
        for i in range(d_model):  # the seed's range
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i] = math.sin(angle)
            pe[p, 2 * i + 1] = math.cos(angle)
    return pe


try:
    pe_seed_literal(4, 8)
except IndexError as err:
    print("IndexError:", err)


# %% [markdown] slideshow={"slide_type": "subslide"}
# The tempting "fix" — use the column index `j` itself in the exponent, sine for even `j`, cosine for odd `j` — runs,
# but it is a different table: the exponent `2j/d` now climbs to almost 2, so the slowest wavelengths reach
# `2π·10000² ≈ 6 × 10⁸` positions, and the sine and cosine of a pair no longer share a frequency (which section 5
# needs). Count the columns that stay (almost) constant over a 128-token context and so carry no position there:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
def pe_column_index(seq_len: int, d_model: int) -> torch.Tensor:
    j = torch.arange(d_model, dtype=torch.float64)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] / 10000 ** (2 * j / d_model)
    return torch.where(j % 2 == 0, torch.sin(angles), torch.cos(angles)).float()


for name, table, exponents in [
    ("correct (i = 0 ... d/2-1)", sinusoidal_encoding(SEQ, D), 2 * torch.arange(D // 2) / D),
    ("column index j in exponent", pe_column_index(SEQ, D), 2 * torch.arange(D) / D),
]:
    flat = (table.max(0).values - table.min(0).values < 0.01).sum().item()
    longest = 2 * math.pi * 10000 ** exponents.max().item()
    print(f"{name:28s} longest wavelength {longest:12,.0f} positions; "
          f"columns that change < 0.01 over {SEQ} positions: {flat}/{D}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The correct table also has slow pairs that hardly move within 128 positions — they are there for contexts of
# thousands of tokens. The column-index version wastes more than half of its columns on frequencies no context ever
# reaches.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 03.2 · predict a wavelength
#
# Before the next section prints them: how many positions does pair `i = 64` take to make one full turn when
# `d_model = 256`? Work it out from the formula (a calculator is fine) and assign it; within 1% counts.

# %% tags=["your-turn"]
my_wavelength = None  # the wavelength 2π / ω_64, in positions, for d_model = 256

# %% tags=["your-turn-check"]
check("03.2", my_wavelength)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# my_wavelength = 2 * math.pi * 10000 ** (2 * 64 / 256)   # ω_64 = 10000^(-1/2) = 1/100, so 200π ≈ 628.3
# ```
# Pair 64 is halfway through the 128 pairs, so its exponent is `1/2`: `ω = 1/100`, one turn every `2π · 100`
# positions. The slowest pair, `i = 127`, is just under `2π · 10000`.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. What the table looks like
#
# Rows are positions, columns are dimensions. On the left, every pair rotates fast; on the right, slowly. Each row is
# a different pattern: a fingerprint of its position, made of `d/2` clock hands turning at different speeds.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Fast pairs on the left, slow ones on the right: each row is a fingerprint of its position.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
PE = sinusoidal_encoding(SEQ, D)
fig, ax = plt.subplots(figsize=(10, 4))
heatmap(PE, ax=ax, cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest", xlabel="dimension (2i = sin, 2i+1 = cos)", ylabel="position p",
        title=f"sinusoidal positional encoding, {SEQ} positions x d_model = {D}")
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
positions = torch.arange(SEQ)
curves = {f"dim {2 * i} (pair i={i}, wavelength {2 * math.pi / pe_frequencies(D)[i]:.0f})": PE[:, 2 * i]
          for i in (0, 8, 24, 48)}
ax = plot_curves(curves, x=positions, xlabel="position p", ylabel="PE[p, 2i] = sin(p w_i)",
                 title="one sine per pair: the wavelength grows geometrically with i")
ax.legend(fontsize=8, loc="lower left", framealpha=0.95)
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print("wavelength 2*pi/w_i of pair i, in positions:")
for i in (0, 1, 4, 16, 48, 64, D // 2 - 1):
    print(f"  i = {i:3d}: {2 * math.pi / pe_frequencies(D)[i].item():12,.1f}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Try it: one pair, one position
#
# Pick a pair `i` and a position `p`. Left: the pair's sine and cosine along the positions. Right: the same pair as a
# point `(sin, cos)` on the unit circle — moving one position turns it by `ω_i` radians. Drag `i` up and the hand
# barely moves; this is how the table keeps far-apart positions distinct.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The deck shows the plot at the sliders' defaults; move the sliders in JupyterLab. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
def show_pair(i: int = 2, p: int = 10) -> None:
    w = pe_frequencies(D)[i].item()
    xs = torch.linspace(0, SEQ - 1, 800)
    fig, (ax_wave, ax_circle) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    ax_wave.plot(xs, torch.sin(xs * w), label=f"dim {2 * i}: sin")
    ax_wave.plot(xs, torch.cos(xs * w), label=f"dim {2 * i + 1}: cos")
    ax_wave.scatter([p, p], PE[p, 2 * i:2 * i + 2], color="black", zorder=3)
    ax_wave.axvline(p, color="grey", lw=0.8)
    ax_wave.set(xlabel="position", ylabel="value", ylim=(-1.15, 1.15),
                title=f"pair i={i}: w = {w:.4f} rad/position, wavelength {2 * math.pi / w:,.0f}")
    ax_wave.legend(loc="lower left", fontsize=8)
    angle = torch.linspace(0, 2 * math.pi, 200)
    ax_circle.plot(torch.sin(angle), torch.cos(angle), color="lightgrey")
    ax_circle.plot(PE[: p + 1, 2 * i], PE[: p + 1, 2 * i + 1], ".", color="tab:blue", alpha=0.4)
    ax_circle.plot(PE[p, 2 * i], PE[p, 2 * i + 1], "o", color="black")
    ax_circle.set(xlabel=f"PE[p, {2 * i}] (sin)", ylabel=f"PE[p, {2 * i + 1}] (cos)", aspect="equal",
                  title=f"positions 0..{p} on the circle")
    plt.tight_layout()
    plt.show()


show_pair(i=2, p=10)  # the default view (also what the slides show)

# %% [markdown] slideshow={"slide_type": "fragment"}
# Now drag the sliders (the plot redraws as you move them):

# %% slideshow={"slide_type": "subslide"}
widgets.interact(show_pair, i=widgets.IntSlider(2, 0, D // 2 - 1, description="pair i"),
                 p=widgets.IntSlider(10, 0, SEQ - 1, description="position p"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Moving by k positions is a rotation
#
# The angle-addition formulas, for one pair with frequency `ω`:
#
# $$\begin{pmatrix} \sin((p+k)\omega) \\ \cos((p+k)\omega) \end{pmatrix}
# = \begin{pmatrix} \cos k\omega & \sin k\omega \\ -\sin k\omega & \cos k\omega \end{pmatrix}
# \begin{pmatrix} \sin p\omega \\ \cos p\omega \end{pmatrix}.$$
#
# The matrix contains `k` and `ω` but **not `p`**. Stack one such 2×2 block per pair into a block-diagonal
# `R_k` (`d × d`, `utils.positional.rotation_matrix`) and `PE(p + k) = R_k · PE(p)` for every position. A layer that
# wants "the token 3 places back" can use one fixed linear map, wherever in the text it is.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 3): moving by k positions is the
# same rotation for every position. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
k = 5
R = rotation_matrix(k, D)
print("the block of pair i=0 for k=5:\n", R[:2, :2])
p = torch.arange(SEQ - k)
predicted = PE[p] @ R.T  # row form of R_k · PE(p)
# "==" up to float32 rounding: each product sums D terms (utils.numerics; lesson 07 derives the tolerance)
print(f"R_5 · PE(p) == PE(p + 5) for all {len(p)} positions:", close(predicted, PE[p + k], reduction=D))
print("R_5 is orthogonal (a pure rotation, lengths kept):", close(R @ R.T, torch.eye(D), reduction=D))
print("R_2 · R_3 == R_5:", close(rotation_matrix(2, D) @ rotation_matrix(3, D), R, reduction=D))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 03.3 · move a position vector by k, without knowing where it is
#
# Write `shift_by_hand(pe_row, k)`: given one row `PE(p)` of the table (shape `(d_model,)`; `p` is *not* given) and a
# shift `k`, return `PE(p + k)`. Apply each pair's 2×2 rotation from the formula above directly to its `(sin, cos)`
# entries; no `d × d` matrix needed.

# %% tags=["your-turn"]
def shift_by_hand(pe_row: torch.Tensor, k: int) -> torch.Tensor:
    ...  # your code here: PE(p + k), shape (d_model,)

# %% tags=["your-turn-check"]
check("03.3", shift_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def shift_by_hand(pe_row: torch.Tensor, k: int) -> torch.Tensor:
#     d_model = pe_row.shape[0]
#     omega = 10000.0 ** (-2 * torch.arange(d_model // 2) / d_model)
#     s, c = pe_row[0::2], pe_row[1::2]                    # sin(pω), cos(pω) of every pair
#     cos_k, sin_k = torch.cos(k * omega), torch.sin(k * omega)
#     out = torch.empty_like(pe_row)
#     out[0::2] = s * cos_k + c * sin_k                    # sin((p + k)ω)
#     out[1::2] = c * cos_k - s * sin_k                    # cos((p + k)ω)
#     return out
# ```
# These are the angle-addition formulas, one pair at a time: the block-diagonal `R_k` without its zeros. RoPE (used by
# Llama) applies exactly this rotation to queries and keys.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The dot product depends only on the distance
#
# Attention compares vectors with dot products. For two positions,
#
# $$\mathrm{PE}(p) \cdot \mathrm{PE}(q) = \sum_{i} \big(\sin p\omega_i \sin q\omega_i + \cos p\omega_i \cos q\omega_i\big)
# = \sum_{i=0}^{d/2-1} \cos\big((p - q)\,\omega_i\big),$$
#
# a function of `p − q` alone: the same for every starting position, symmetric in `±(p − q)`, largest (`= d/2`) at
# distance 0 and falling (not monotonically) as the distance grows.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The dot product depends only on p − q: that is what attention can use. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
gram = PE @ PE.T
offsets = torch.arange(-40, 41)
curves = {}
for start in (40, 64, 87):
    curves[f"PE({start}) · PE({start} + offset)"] = gram[start, start + offsets]
plot_curves(curves, x=offsets, xlabel="offset q - p (positions)", ylabel="dot product",
            title="the curves for three starting positions lie on top of each other")
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
formula = torch.cos(offsets[:, None].double() * pe_frequencies(D)[None, :]).sum(1)
print("all three equal to sum_i cos(offset * w_i):",                # float32 dot products of D terms
      all(close(c, formula, reduction=D) for c in curves.values()))
print(f"at offset 0: {gram[64, 64]:.2f} (= d/2 = {D // 2});  at offset 1: {gram[64, 65]:.2f};  at 40: {gram[64, 104]:.2f}")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(5.5, 4.5))
heatmap(gram, ax=ax, interpolation="nearest", xlabel="position q", ylabel="position p", title="PE(p) · PE(q): constant along diagonals")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. GPT-2 learns its positions instead
#
# GPT-2 does not use the sine table. It has a second embedding matrix, `wpe` (`n_positions × d_model`), initialized at
# random and trained like any weight; the input to the first block is `wte[ids] + wpe[positions]`. The bundled model
# has 128 positions, but it was pretrained on blocks of fewer tokens, so the rows for later positions never received a
# gradient:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** GPT-2 learns its table; positions beyond the 64-token training blocks stay near their
# random start. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
W = model.transformer.wpe.weight.detach()
log_path = Path(resolve_model_path()) / "training_log.json"
block = json.loads(log_path.read_text())["block"] if log_path.is_file() else W.shape[0]
init_std = model.config.initializer_range
print(f"wpe: {tuple(W.shape)}; pretraining block length: {block}")
print(f"mean row length, positions 0..{block - 1}: {W[:block].norm(dim=1).mean():.3f}")
if block < W.shape[0]:
    print(f"mean row length, positions {block}..{W.shape[0] - 1}: {W[block:].norm(dim=1).mean():.3f}  "
          f"(untouched init: std {W[block:].std():.4f} vs initializer_range {init_std})")


# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
def cosine_matrix(table: torch.Tensor) -> torch.Tensor:
    unit = table / table.norm(dim=1, keepdim=True)
    return unit @ unit.T


fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
heatmap(cosine_matrix(PE), ax=axes[0], cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest", xlabel="position q", ylabel="position p",
        title="sinusoidal: cos(PE(p), PE(q))")
heatmap(cosine_matrix(W), ax=axes[1], cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest", xlabel="position q", ylabel="position p",
        title="bundled GPT-2, learned wpe: cos(wpe[p], wpe[q])")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Both show the same idea — nearby positions have similar vectors, similarity decays with distance — but the learned
# table has it only where training reached: beyond the pretraining block length it is still random noise (near-zero
# similarity to every other position). A sinusoidal table is defined for any position and behaves the same everywhere;
# a learned one is free to fit the data but knows only the positions it has seen. (Many newer models, Llama among them,
# use RoPE instead: the rotation of section 5 applied to queries and keys inside attention.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. `d_model = 6`. How many frequencies are there, and which columns share the frequency of pair `i = 1`?
# 2. A student writes `PE[p, 2i] = cos(...)` and `PE[p, 2i+1] = sin(...)`. Does the rotation property still hold? Is it
#    the standard table?
# 3. Why is `R_k` orthogonal, and what does that say about the length of `PE(p)`?
# 4. The bundled model meets a 100-token prompt. What does its position embedding contribute at positions 64–99?
#
# <details><summary>Answers</summary>
#
# 1. Three (`i = 0, 1, 2`); columns 2 and 3 share `ω_1 = 10000^{-2/6}`.
# 2. Yes, with the transposed 2×2 blocks (still a rotation, by `−kω`); but it is not the standard table, so anything
#    that expects the standard one (a test, a pretrained model) sees different numbers.
# 3. Each block is a 2-D rotation; so `|PE(p)|² = Σ_i (sin² + cos²) = d/2` for every `p`.
# 4. Rows that were never trained — random vectors of the initialization, the same for every prompt, so nothing useful
#    about position. Training on 64-token blocks means the model should be used on prompts of at most 64 tokens.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Attention without a mask is blind to order (a causal mask leaks some: each token sees only its predecessors);
#   a position vector is added to each token's embedding.
# - Sinusoidal PE: $\mathrm{PE}[p, 2i] = \sin(p\,\omega_i)$, $\mathrm{PE}[p, 2i+1] = \cos(p\,\omega_i)$,
#   $\omega_i = 10000^{-2i/d}$, $i = 0, \dots, d/2 - 1$ — not $0, \dots, d - 1$ as the seed says
#   (that reading overruns the table, or, patched, fills half of it with constants).
# - Each pair is a clock hand; $\mathrm{PE}(p + k) = R_k\, \mathrm{PE}(p)$ with a rotation $R_k$ that does not depend on
#   $p$ (verified for every position), and $\mathrm{PE}(p) \cdot \mathrm{PE}(q)$ depends only on $p - q$.
# - GPT-2 learns `wpe` instead; in the bundled model the positions beyond its 64-token training blocks are still at
#   their random initialization.
