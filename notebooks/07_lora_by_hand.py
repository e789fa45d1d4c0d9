# %% [markdown] slideshow={"slide_type": "slide"}
# # 07 · LoRA by hand
#
# Fine-tuning changes a model's weight matrices. LoRA (low-rank adaptation) keeps every pretrained weight frozen and
# learns the *change* as the product of two thin matrices. This lesson builds LoRA from scratch, wraps the layers of
# our bundled GPT-2, and checks every number the seed texts quote about it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - write the LoRA update $W' = W + \frac{\alpha}{r} BA$ with the right shapes, and say why `B` starts at zero;
# - count LoRA's trainable parameters for any layer, model and rank, and check a published figure;
# - wrap both `nn.Linear` and GPT-2's `Conv1D` (whose weight is stored transposed) and merge the update back;
# - inject LoRA into a model by module name, freeze the rest, prove that nothing changes before training, and
#   measure what a short fine-tune buys (exact match on held-out questions).
#
# Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.

# %% slideshow={"slide_type": "skip"}
import copy
import inspect
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from ipywidgets import IntSlider, interact
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from utils.data import load_qa
from utils.exercises import check
from utils.lora import (
    LoRALinear,
    add_lora,
    count_parameters,
    find_targets,
    full_parameter_count,
    layer_shape,
    lora_layers,
    lora_parameter_count,
    merge_lora,
    target_shapes,
)
from utils.models import load_model
from utils.notebook import setup
from utils.numerics import close, forward_reduction, tolerance, unit_roundoff
from utils.qa import IGNORE_INDEX, evaluate_exact_match, qa_dataloader, train_loop

device = setup(seed=0)
model, tokenizer = load_model(device="cpu")  # the bundled 4-layer GPT-2; CPU on purpose: small, inspected
qa = load_qa()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The idea: learn the change, not the weights
#
# Full fine-tuning updates a weight matrix $W$ ($d \times k$, $d$ outputs and $k$ inputs) to $W + \Delta W$, and
# $\Delta W$ has $dk$ free numbers — as many as `W` itself. The LoRA paper's bet is that the change needed to
# adapt a pretrained
# model to one task is **low-rank**: it moves the layer's outputs along a few directions only. A rank-`r` matrix can
# be written as a product
#
# $$\Delta W = B A, \qquad B \in \mathbb{R}^{d \times r},\; A \in \mathbb{R}^{r \times k},\; r \ll \min(d, k),$$
#
# so the layer becomes
#
# $$h = W x + \frac{\alpha}{r} B A x, \qquad x \in \mathbb{R}^{k},\; h \in \mathbb{R}^{d}.$$
#
# `W` is frozen; only `A` and `B` train. $\alpha$ (alpha) is a fixed number chosen with `r`; the factor $\alpha/r$ is the
# *scale* of the update (section 2 explains why it is divided by `r`).

# %% [markdown] slideshow={"slide_type": "subslide"}
# Two seeds get the shapes or the scale wrong: seed 001 says `A` is $r \times d$ and `B` is $d \times r$, so its $AB$ would be a
# useless $r \times r$ matrix — the product that has `W`'s shape is $BA$. Seed 003 writes the update as $\alpha (AB) x$,
# forgetting the division by `r`; its shapes are fine, only named the other way round (its `A` is $d \times r$ and its `B`
# $r \times k$, so its $AB$ is the paper's $BA$).
#
# **Shape conventions.** The maths, `lora_parameter_count` and `target_shapes` write a weight as `(d, k) = (out, in)`:
# the shape of `W` in `h = W x`, which is how `nn.Linear` stores its weight. GPT-2's `Conv1D` stores its weight the
# other way, `(in, out)` (section 3). `utils.lora.layer_shape(module)` returns `(in_features, out_features)`, the
# order of `nn.Linear(in_features, out_features)`'s arguments, whatever the storage. Every printed shape below says
# which order it uses.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the
# whole notebook runs in 7.6 s. 90-minute path: block 5 (20 minutes for 07 and 08) runs §3–4 live and shows
# §5. Half-day path: block 5 (30 minutes, 07 whole, with lab07 in the room for 15 minutes). Section timing:
# see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
d, k, r = 6, 4, 2
B = torch.randn(d, r)
A = torch.randn(r, k)
delta_W = B @ A
print("B", tuple(B.shape), "@ A", tuple(A.shape), "->", tuple(delta_W.shape), "= the shape of W (d x k)")
print("rank of B @ A:", torch.linalg.matrix_rank(delta_W).item())
A_seed, B_seed = torch.randn(r, d), torch.randn(d, r)   # seed 001's shapes: A is r x d, B is d x r
print("seed 001: A", tuple(A_seed.shape), "@ B", tuple(B_seed.shape), "->", tuple((A_seed @ B_seed).shape),
      "- not the shape of any weight")
A_003, B_003 = torch.randn(d, r), torch.randn(r, k)    # seed 003's shapes: A is d x r, B is r x k
print("seed 003: A", tuple(A_003.shape), "@ B", tuple(B_003.shape), "->", tuple((A_003 @ B_003).shape),
      "- W's shape: the paper's B·A with the names swapped")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 07.1 · the LoRA forward pass
#
# Write the layer's output for a batch of row vectors `x` `(batch, k)`: the frozen path `x Wᵀ` plus the scaled
# low-rank path, with `W` `(d, k)`, `A` `(r, k)`, `B` `(d, r)`. The result is `(batch, d)`. The check runs it on its
# own random shapes, square and not, with `B ≠ 0`.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def lora_forward_by_hand(x: torch.Tensor, W: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                         alpha: float, r: int) -> torch.Tensor:
    ...  # your code here: h = x W^T + (alpha / r) x A^T B^T, shape (batch, d)


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("07.1", lora_forward_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def lora_forward_by_hand(x, W, A, B, alpha, r):
#     return x @ W.T + (alpha / r) * (x @ A.T) @ B.T   # (batch, k) -> (batch, r) -> (batch, d)
# ```
# $h = Wx + \frac{\alpha}{r} BAx$ for one column vector becomes $xW^\top + \frac{\alpha}{r} xA^\top B^\top$ for a
# batch of rows. Computing $xA^\top$ first keeps the low-rank path cheap: it never forms the $d \times k$ matrix $BA$.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How many numbers?
#
# $B$ has $dr$ entries and $A$ has $rk$, so a LoRA layer trains $r(d + k)$ numbers instead of $dk$. Seed 001's
# example is a 1000 × 1000 layer at `r = 16`, and a 4096 × 4096 layer (one attention projection of a 7B model) is the
# usual second example. `utils.lora.lora_parameter_count` does this arithmetic for a list of `(d, k)` shapes:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
for shape in [(1000, 1000), (4096, 4096)]:
    lora, full = lora_parameter_count([shape], r=16), full_parameter_count([shape])
    print(f"{shape[0]} x {shape[1]}, r = 16: LoRA {lora:,} vs full {full:,} "
          f"-> {100 * lora / full:.1f} % of the parameters, {100 * (1 - lora / full):.1f} % fewer")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Both of the seeds' figures check out: 32,000 is 3.2 % of a million, and 131,072 is 99.2 % fewer than 16.8 million.
# The count grows *linearly* in `r`, while the full matrix is fixed:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
ranks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(ranks, [lora_parameter_count([(4096, 4096)], r) for r in ranks], "o-", label="LoRA: r (d + k)")
ax.axhline(full_parameter_count([(4096, 4096)]), color="tab:red", ls="--", label="full: d k")
ax.set(xscale="log", yscale="log", xlabel="rank r", ylabel="trainable parameters",
       title="one 4096 x 4096 layer")
ax.set_xticks(ranks, [str(r) for r in ranks])
ax.legend()
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 07.2 · count an adapter
#
# Return the number of numbers a rank-`r` LoRA adapter trains on one $d \times k$ weight (an `int`), without
# `utils.lora`. The check compares it with `lora_parameter_count` on five layers, from 3 × 7 to 4096 × 1024.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def lora_params_by_hand(d: int, k: int, r: int) -> int:
    ...  # your code here: the entries of B (d x r) and A (r x k)


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("07.2", lora_params_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def lora_params_by_hand(d, k, r):
#     return d * r + r * k          # B is d x r, A is r x k: r (d + k)
# ```
# Linear in $r$, and far below $dk$ as long as $r \ll \min(d, k)$.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Initialisation: start exactly at the pretrained model
#
# LoRA initialises **`B = 0`** and `A` at random. The paper draws `A` from a random Gaussian; PEFT, and this course
# after it, use the Kaiming-uniform rule `nn.Linear` uses for its own weights (bound $1/\sqrt{k}$) — an
# implementation's
# choice, not the paper's. Either way $BA = 0$: before the first step the adapted model *is* the pretrained model,
# and training starts from what the model already knows instead of from a random perturbation of it.
#
# Why not both zero? The gradients are
#
# $$\frac{\partial L}{\partial B} = \frac{\alpha}{r}\, g\,(A x)^\top, \qquad
# \frac{\partial L}{\partial A} = \frac{\alpha}{r}\, B^\top g\, x^\top, \qquad g = \frac{\partial L}{\partial h}.$$
#
# With `A = 0` *and* `B = 0` both vanish and nothing ever moves. With `B = 0` and `A` random, `B` gets a gradient on
# the first step, and `A` starts to learn from the second. The mirror choice, `A = 0` and `B` random, also starts at
# the pretrained model, with `A` learning first (third line below).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** B = 0 at the start, so the adapted model is the pretrained model before the first step.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
def first_step_grads(A_init: torch.Tensor, B_init: torch.Tensor) -> tuple[float, float]:
    # One forward/backward of h = W x + B A x on a random batch; the size of each gradient.
    W = torch.randn(8, 5)
    A, B = A_init.clone().requires_grad_(), B_init.clone().requires_grad_()
    x = torch.randn(3, 5)
    h = x @ W.T + x @ A.T @ B.T
    h.pow(2).sum().backward()
    return A.grad.norm().item(), B.grad.norm().item()


torch.manual_seed(0)
for name, A0, B0 in [("A = 0, B = 0", torch.zeros(2, 5), torch.zeros(8, 2)),
                     ("A random, B = 0 (LoRA)", torch.randn(2, 5), torch.zeros(8, 2)),
                     ("A = 0, B random", torch.zeros(2, 5), torch.randn(8, 2))]:
    gA, gB = first_step_grads(A0, B0)
    print(f"{name:24s} |grad A| = {gA:.2f}   |grad B| = {gB:.2f}")   # 2 decimals: stable under float rounding


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why divide by r?
#
# The paper's reason is practical: with Adam, scaling the update by $\alpha$ acts roughly like scaling the learning rate,
# so the authors set $\alpha$ once and do not retune it when they change `r`. The $/r$ is what keeps that true, **under
# Adam**: Adam moves every entry of `B` by about the learning rate per step whatever its gradient's size, and
# $B(Ax)$ sums `r` such entries, so the update's size grows like `r`; dividing by `r` cancels that growth, and a
# learning rate tuned at one rank roughly still works at another (lesson 09 compares $\alpha$ fixed with $\alpha = 2r$).

# %% [markdown] slideshow={"slide_type": "subslide"}
# Two caveats:
#
# - The argument needs Adam (or AdamW). With plain SGD a step is proportional to the gradient, which itself carries
#   the factor $\alpha/r$ (the formulas above), so the change of the update per step goes like $(\alpha/r)^2 \cdot r = \alpha^2/r$: it
#   shrinks as `r` grows, and the $/r$ no longer keeps the step size.
# - Even under Adam, $\alpha/r$ is not the only choice. The rsLoRA paper (Kalajdzievski, 2023) argues that $\alpha/\sqrt{r}$ keeps
#   learning stable as `r` grows and that with $\alpha/r$ large ranks learn no better than small ones; PEFT offers it as
#   `LoraConfig(use_rslora=True)`. The course keeps the paper's $\alpha/r$.
#
# Seed 003's $\alpha (AB) x$ drops the division altogether: under Adam a rank-64 adapter would take steps about 64 times
# larger than the same $\alpha$ with $/r$.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. A LoRA layer, by hand
#
# The smallest version: hold a frozen `nn.Linear`, add `A` and `B` as parameters, and add the low-rank path in the
# forward pass. `F.linear(x, A)` computes `x @ A.T`, so `F.linear(F.linear(x, A), B)` is `x Aᵀ Bᵀ = (B A x)ᵀ` for a
# batch of row vectors.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the 90-minute path (docs/workshops.md, block 5): the LoRA layer by hand.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
class TinyLoRA(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base.requires_grad_(False)              # W and b frozen
        d, k = base.weight.shape                            # nn.Linear stores (out, in)
        self.A = nn.Parameter(torch.empty(r, k))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))     # like nn.Linear (and PEFT)
        self.B = nn.Parameter(torch.zeros(d, r))             # zero: starts as the base layer
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.A), self.B)


torch.manual_seed(0)
layer = nn.Linear(5, 8)
tiny = TinyLoRA(layer, r=2, alpha=4)
x = torch.randn(3, 5)
print("identical to the base layer at init:", torch.equal(tiny(x), layer(x)))
print("trainable:", [n for n, p in tiny.named_parameters() if p.requires_grad])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### GPT-2's Conv1D: the same layer, stored transposed
#
# GPT-2 does not use `nn.Linear`. Its projections are `transformers.pytorch_utils.Conv1D`, which computes
# `x @ W + b` with `W` stored as **(in, out)** — the transpose of `nn.Linear`'s (out, in). The name is historical: it
# is a plain linear layer. PEFT calls this layout `fan_in_fan_out=True`.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
c_attn = model.transformer.h[0].attn.c_attn
print("c_attn:", type(c_attn).__name__, "weight", tuple(c_attn.weight.shape), "(in, out)")
x = torch.randn(2, 256)
print("Conv1D(x) == x @ W + b:", close(c_attn(x), x @ c_attn.weight + c_attn.bias, reduction=256))  # section 5
as_linear = nn.Linear(256, 768)
as_linear.weight.data, as_linear.bias.data = c_attn.weight.T.clone(), c_attn.bias.clone()
print("same as nn.Linear with weight.T:", close(c_attn(x), as_linear(x), reduction=256))
print("layer_shape, (in_features, out_features):", layer_shape(c_attn), "for both:", layer_shape(as_linear))

# %% [markdown] slideshow={"slide_type": "subslide"}
# For the *forward* pass the layout does not matter: `A` and `B` are our own matrices, shaped `(r, in)` and
# `(out, r)` whatever the base layer is. It matters the moment we **merge** (section 5): the update $BA$ has shape
# `(out, in)`, and adding it to a Conv1D weight needs a transpose. That is the *fan_in_fan_out trap*, and it has a
# nasty form: on a square layer such as `attn.c_proj` (256 × 256) the wrong addition raises no error at all.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
torch.manual_seed(0)
c_proj = copy.deepcopy(model.transformer.h[0].attn.c_proj)        # Conv1D 256 -> 256: square
lora = LoRALinear(c_proj, r=4, alpha=8)
nn.init.normal_(lora.lora_B, std=0.05)                             # pretend it was trained
x = torch.randn(2, 256)
wanted = lora(x)
wrong = copy.deepcopy(c_proj)
wrong.weight.data += lora.delta_weight()                          # forgot the transpose: no error
right = copy.deepcopy(c_proj)
right.weight.data += lora.delta_weight().T
print(f"forgot .T : max |difference| = {(wrong(x) - wanted).abs().max():.3f}   <- silently wrong")
print(f"with   .T : equal up to rounding: {close(right(x), wanted, reduction=256 + 4)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The course's version: `utils.lora.LoRALinear`
#
# `LoRALinear(base, r, alpha, dropout=0.0)` is `TinyLoRA` plus what real use needs: it accepts `nn.Linear` or
# `Conv1D` (and reads `in`/`out` from the right axes), names its matrices like PEFT (`lora_A` `(r, in)`, `lora_B`
# `(out, r)`, so weights copy across — lesson 08), applies optional dropout to the input of the low-rank path, and can
# `merge()` and `unmerge()`. Its forward pass:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print(inspect.getsource(LoRALinear.forward))
torch.manual_seed(0)
ours = LoRALinear(layer, r=2, alpha=4)
tiny = TinyLoRA(copy.deepcopy(layer), r=2, alpha=4)
nn.init.normal_(ours.lora_B)
with torch.no_grad():
    tiny.A.copy_(ours.lora_A)
    tiny.B.copy_(ours.lora_B)
x = torch.randn(3, 5)
print("TinyLoRA == LoRALinear (same A, B):", close(tiny(x), ours(x), reduction=5 + 2))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Injecting LoRA into a model
#
# A model is a tree of modules with dotted names. To add LoRA we pick *target* modules by name, replace each by a
# `LoRALinear` wrapping it, and freeze every other parameter. Like PEFT, a target matches every module whose name
# *ends with* it: `"c_attn"` matches `transformer.h.0.attn.c_attn`, `transformer.h.1.attn.c_attn`, …

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the 90-minute path: inject by name suffix, freeze the rest, count. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
for name, module in model.named_modules():
    if isinstance(module, (nn.Linear, Conv1D)) and (name.startswith("transformer.h.0.") or "h." not in name):
        in_features, out_features = layer_shape(module)
        print(f"{name:32s} {type(module).__name__:7s} (out, in) = {(out_features, in_features)}")
print("... the same four projections in blocks 1-3")
print('targets "c_attn":', find_targets(model, ["c_attn"]))

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
lora_model = add_lora(copy.deepcopy(model), ["c_attn"], r=8, alpha=16)
print(lora_model.transformer.h[0].attn.c_attn)
trainable, total = count_parameters(lora_model)
print(f"trainable {trainable:,} of {total:,} ({100 * trainable / total:.2f} %)")
print("= 4 layers x r (in + out) =", lora_parameter_count(target_shapes(model, ["c_attn"]), r=8))

# %% [markdown] slideshow={"slide_type": "fragment"}
# Because `B = 0`, the wrapped model computes **exactly** what the pretrained model computes — bit for bit:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
batch = tokenizer(["Question: What is the capital of France?\nAnswer:", "Iron has the chemical symbol"],
                  return_tensors="pt", padding=True)
with torch.no_grad():
    base_logits = model(**batch).logits
    lora_logits = lora_model(**batch).logits
print("identical logits before training:", torch.equal(base_logits, lora_logits))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A few training steps: only A and B move
#
# Train the adapter for a handful of steps on the course's Q&A pairs (`utils.qa`: the loss is taken on the answer
# tokens only). Then compare every parameter with its value before training.

# %% slideshow={"slide_type": "fragment"}
before = {n: p.detach().clone() for n, p in lora_model.named_parameters()}
loader = qa_dataloader(tokenizer, qa["train"], batch_size=16, max_examples=320)
losses = train_loop(lora_model, loader, max_steps=12, lr=3e-3, progress=False)
changed = [n for n, p in lora_model.named_parameters() if not torch.equal(p, before[n])]
print(f"{len(changed)} tensors changed, all LoRA:", all(".lora_" in n for n in changed))
print(f"loss: first step {losses[0]:.2f}, last step {losses[-1]:.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The first step's loss is *above* `ln V`, the loss of a model that spreads its probability evenly over the `V`
# tokens of the vocabulary. That is not a bug. At the first step the adapter is zero, so the loss is the base
# model's, and the base model is not uncertain but confidently wrong: it was trained on statements, so after
# `Answer:` it expects a statement to go on, and after the answer it expects a full stop, not the end-of-text token
# every answer ends with. A confident wrong guess costs more than an even one. The cell measures it on the same first
# batch (`qa_dataloader`'s order depends only on its seed).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
first = next(iter(qa_dataloader(tokenizer, qa["train"], batch_size=16, max_examples=320)))  # train_loop's batch 1
with torch.no_grad():
    log_p = model(input_ids=first["input_ids"], attention_mask=first["attention_mask"]).logits[:, :-1].log_softmax(-1)
labels = first["labels"][:, 1:]                                    # (batch, seq - 1): logits at t score token t + 1
counted = labels != IGNORE_INDEX                                   # (batch, seq - 1): the answer tokens and the EOS
nll = -log_p.gather(-1, labels.clamp(min=0)[..., None])[..., 0][counted]  # (n_counted,) -log p(right token)
top_log_p, top_id = log_p.max(-1)                                  # (batch, seq - 1): the model's own best guess
at_eos = labels[counted] == tokenizer.eos_token_id
print(f"ln V = ln {len(tokenizer):,} = {math.log(len(tokenizer)):.2f}; base model on this batch: {nll.mean():.2f}")
print(f"its best guess: mean probability {top_log_p[counted].exp().mean():.2f}, "
      f"the right token {100 * (top_id[counted] == labels[counted]).float().mean():.0f} % of the time")
print(f"-log p of the final end-of-text ({int(at_eos.sum())} of {int(counted.sum())} counted tokens): "
      f"{nll[at_eos].mean():.2f}; of the answer's words: {nll[~at_eos].mean():.2f}")
print("first example:", repr(tokenizer.decode(first["input_ids"][0][first["attention_mask"][0].bool()])),
      "| its guesses at the counted positions:", [tokenizer.decode(t) for t in top_id[0][counted[0]]])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Merge and unmerge
#
# After training, $W + \frac{\alpha}{r} BA$ can be computed **once** and stored in the base layer's weight: the model is then a
# plain GPT-2 again, with no extra matmul at inference. `merge()` adds the update (transposed for Conv1D),
# `unmerge()` subtracts it, and `merge_lora(model)` merges every layer and puts the plain layers back.
#
# ### Equal up to rounding
#
# Merged and unmerged compute the same function, but not the same arithmetic: $x(W + \Delta W)$ instead of $xW + x\,\Delta W$.
# A float32 number keeps 24 significant bits, so every addition rounds, by at most a relative $u = 2^{-24}$; and
# rounding depends on the order of the additions:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Show on the 90-minute path (docs/workshops.md, block 5): merge adds (α/r)·B·A once;
# unmerge takes it out. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
a, b, c = torch.tensor([0.1, 0.2, 1.0])                     # float32
print(f"(a + b) + c = {((a + b) + c).item():.9f}")
print(f"a + (b + c) = {(a + (b + c)).item():.9f}")
print(f"unit roundoff u = 2**-24 = {unit_roundoff():.2e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A matmul is millions of such additions, and **the order depends on the machine**: the CPU's vector width, the BLAS
# kernel and the number of threads. Two correct computations — merged vs unmerged, or the same one on two laptops —
# therefore differ in their last bits, and a test of "equal" needs a tolerance. Too tight and a correct lesson prints
# `False` on a student's laptop; too loose and it hides bugs. The course derives it once (`utils.numerics`):
#
# - a dot product of `K` terms accumulates `K` roundings; they behave like a random walk, so its error is about
#   $\sqrt{K}\,u$ times the size of the terms (Higham & Mary's probabilistic bound; the worst case $K u$ never happens);
# - chained reductions add their errors, so a whole forward pass counts the terms summed along its longest path;
# - two computations each carry such an error, and we allow a factor 2 more: `SAFETY = 4`.
#
# $$\text{tolerance} = 4 \cdot \sqrt{K} \cdot u \cdot \max(|a|, |b|)$$
#
# `close(a, b, reduction=K)` compares `max |a − b|` with it. It is far below the effect of any real bug:
# `tests/test_numerics.py` shows that a 1 % error in the LoRA scale already exceeds it fifty-fold.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
K = forward_reduction(model.config)
with torch.no_grad():
    adapted_logits = lora_model(**batch).logits
scale = adapted_logits.abs().max().item()
print(f"terms summed along the longest path from input to logits: K = {K:,}")
print(f"largest |logit| {scale:.0f}: tolerance = 4 x sqrt(K) x u x {scale:.0f} = {tolerance(scale, K):.1e}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# Now the merge. The checked cells print the verdict, not the difference itself: the difference changes from machine
# to machine, the verdict does not. The last cell of this section prints this machine's differences.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
with torch.no_grad():
    layer0 = lora_model.transformer.h[0].attn.c_attn
    w0 = layer0.base.weight.detach().clone()
    layer0.merge()
    merged_then = lora_model(**batch).logits
    layer0.unmerge()
print("merge one layer: same outputs:", close(merged_then, adapted_logits, reduction=K))
print("unmerge restores W:", close(layer0.base.weight, w0, reduction=2))    # W + ΔW - ΔW: two roundings

merged_model = merge_lora(copy.deepcopy(lora_model))
with torch.no_grad():
    merged_logits = merged_model(**batch).logits
print("after merge_lora:", type(merged_model.transformer.h[0].attn.c_attn).__name__,
      "| LoRA layers left:", len(lora_layers(merged_model)))
print("merged model == adapted model:", close(merged_logits, adapted_logits, reduction=K))
print("and it differs from the base model:", not close(merged_logits, base_logits, reduction=K))

# %% slideshow={"slide_type": "subslide"}
# Not a checked cell: these differences depend on the CPU, the BLAS kernel and the number of threads.
for name, other in [("merge one layer", merged_then), ("merge_lora", merged_logits), ("base model", base_logits)]:
    print(f"{name:16s} max |difference| {(other - adapted_logits).abs().max():.1e}"
          f" = {(other - adapted_logits).abs().max() / tolerance(scale, K):.3f} x the tolerance")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 07.3 · merge into a Conv1D weight
#
# `weight` is a GPT-2 `Conv1D` weight, stored `(in, out)` = `(k, d)`; `A` is `(r, k)` and `B` `(d, r)`. Return the
# merged weight, also `(in, out)`, that makes the plain `Conv1D` compute what the adapted layer computes. The check
# uses square layers too, where a missing transpose raises no error.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def merge_conv1d_by_hand(weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float,
                         r: int) -> torch.Tensor:
    ...  # your code here: the (in, out) weight plus the scaled update, laid out like the weight


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("07.3", merge_conv1d_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def merge_conv1d_by_hand(weight, A, B, alpha, r):
#     return weight + (alpha / r) * (B @ A).T     # (out, in) update -> (in, out), the Conv1D layout
# ```
# `B @ A` has `nn.Linear`'s layout `(out, in)`; a `Conv1D` computes `x @ weight`, so the update goes in transposed
# — what `LoRALinear.merge` does when `fan_in_fan_out` is set.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The seeds' figures at full scale
#
# Two published counts, recomputed from the real architectures. We build each model on PyTorch's `meta` device:
# every module and shape exists, but no memory is allocated and nothing is downloaded.
#
# **GPT-2 124M, `r = 4` on `c_attn`** — seed 000's "147K trainable parameters, 99.8 % fewer":

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The seeds' published counts, recomputed on the meta device. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
with torch.device("meta"):
    gpt2 = GPT2LMHeadModel(GPT2Config())           # the real GPT-2 small architecture
shapes = target_shapes(gpt2, ["c_attn"])
print(len(shapes), "c_attn layers of shape", shapes[0], "(out, in)")
n = lora_parameter_count(shapes, r=4)
total = count_parameters(gpt2)[1]
print(f"12 x 4 x (2304 + 768) = {n:,} trainable of {total:,} -> {100 * (1 - n / total):.2f} % fewer")
add_lora(gpt2, ["c_attn"], r=4, alpha=8)
print("counted on the wrapped model:", f"{count_parameters(gpt2)[0]:,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Llama 3.2 3B, `r = 16` on `q_proj` and `v_proj`** — seed 003 prints "trainable params: 8,388,608". Its config:
# hidden size 3072, 28 layers, 24 query heads and **8** key/value heads of dimension 128 (grouped-query attention).
# So `q_proj` maps 3072 → 24 × 128 = 3072, but `v_proj` maps 3072 → 8 × 128 = **1024**.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
hidden, layers, heads, kv_heads, head_dim = 3072, 28, 24, 8, 128
q_proj, v_proj = (heads * head_dim, hidden), (kv_heads * head_dim, hidden)
by_hand = layers * lora_parameter_count([q_proj, v_proj], r=16)
print(f"28 x 16 x [(3072 + 3072) + (1024 + 3072)] = {by_hand:,}")

config = LlamaConfig(hidden_size=hidden, intermediate_size=8192, num_hidden_layers=layers,
                     num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                     vocab_size=128256, tie_word_embeddings=True)
with torch.device("meta"):
    llama = LlamaForCausalLM(config)
print(f"from the model: {lora_parameter_count(target_shapes(llama, ['q_proj', 'v_proj']), r=16):,} "
      f"of {count_parameters(llama)[1]:,}")
print(f"seed 003 says 8,388,608; 32 layers x 16 x 2 x (4096 + 4096) = "
      f"{32 * lora_parameter_count([(4096, 4096)] * 2, r=16):,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The right count for Llama 3.2 3B is **4,587,520**. The seed's 8,388,608 is exactly the figure for a 32-layer,
# 4096-wide model *without* grouped-query attention (Llama 2 7B) — most likely pasted from another run.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Explorer: how much of a real weight does rank r hold?
#
# The best rank-`r` approximation of a matrix is its SVD truncated to the `r` largest singular values
# (Eckart–Young), and its relative error is $\sqrt{\sum_{i>r} \sigma_i^2} \big/ \sqrt{\sum_i \sigma_i^2}$.
# Drag `r` to see how much of a real
# weight of the bundled model a rank-`r` matrix can express, next to what the adapter costs. (LoRA's bet is about the
# *change* $\Delta W$, not about `W` itself: lesson 09 computes the singular values of a $\Delta W$ learned on our task. $\alpha$ has
# no slider here: it does not change what a rank-`r` adapter can express, only how large its steps are.)

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The deck shows the plot at the slider's default rank; drag r in JupyterLab. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
W = model.transformer.h[1].mlp.c_fc.weight.detach().T        # (out, in) = (1024, 256)
sigma = torch.linalg.svdvals(W)
energy = sigma.pow(2)
tail = energy.flip(0).cumsum(0).flip(0)                      # tail[i] = sum of energy[i:]
rel_error = torch.cat([tail[1:], tail.new_zeros(1)]).sqrt() / tail[0].sqrt()   # r = 256 leaves nothing: exactly 0
U, S, Vh = torch.linalg.svd(W, full_matrices=False)


def show(r=8):
    W_r = (U[:, :r] * S[:r]) @ Vh[:r]
    err = ((W - W_r).norm() / W.norm()).item()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax1.plot(range(1, len(rel_error) + 1), rel_error, label="best rank-r approximation")
    ax1.axvline(r, color="tab:red", ls="--", label=f"r = {r}: error {err:.3f}")
    ax1.set(xscale="log", xlabel="rank r", ylabel="relative error  ||W - W_r|| / ||W||",
            title="h.1.mlp.c_fc weight (1024 x 256)")
    ax1.legend()
    n_lora = lora_parameter_count(target_shapes(model, ["c_attn", "c_proj", "c_fc"]), r)
    ax2.bar(["LoRA on all\nprojections", "whole model"], [n_lora, count_parameters(model)[1]],
            color=["tab:blue", "grey"])
    ax2.set(yscale="log", ylabel="parameters", title=f"r = {r}: r (out + in) per adapted layer")
    ax2.text(0, n_lora, f"{n_lora:,}", ha="center", va="bottom")
    plt.tight_layout()
    plt.show()


interact(show, r=IntSlider(8, 1, 256, 1));

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
for r in [1, 4, 16, 64, 256]:
    print(f"r = {r:3d}: relative error of the best rank-r approximation {rel_error[r - 1].item():.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A pretrained weight is *not* low-rank: its singular values decay slowly, and a rank-16 matrix keeps only part of
# it. That is not a problem for LoRA, which never replaces `W` — it only adds a low-rank *correction* to it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. The payoff: does the model now answer?
#
# Every check so far looked at the adapter from the inside: shapes, counts, equal logits, which tensors move. The
# question the course is about is simpler: after a short LoRA fine-tune, does the model answer questions it has
# never been asked? The bundled model knows its facts only as statements ("The capital of Peru is Lima."); it has
# never seen `Question: … Answer:`.
#
# The recipe: `r = 8`, $\alpha = 16$ on every projection (`c_attn`, `c_proj`, `c_fc`), 60 AdamW steps on batches of 32
# training pairs (learning rate $3 \cdot 10^{-3}$, decaying to 0). The score: greedy answers to 64 questions of the *test*
# split, whose facts were never asked in training, by exact match (`utils.qa.evaluate_exact_match`: the answer
# equals the reference after lower-casing and removing punctuation).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The one result to show on every path (docs/workshops.md): exact match before and after, and a
# few answers side by side. The training took about 25 s on the 2-core test machine; start it, then talk through
# the recipe while it runs.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-apart"]
held_out = qa["test"].select(range(64))
em_before, answers_before = evaluate_exact_match(model, tokenizer, held_out)
torch.manual_seed(0)
payoff_model = add_lora(copy.deepcopy(model), ["c_attn", "c_proj", "c_fc"], r=8, alpha=16)
payoff_losses = train_loop(payoff_model, qa_dataloader(tokenizer, qa["train"], batch_size=32, seed=0), max_steps=60,
                           lr=3e-3, progress=False)  # about 25 s: no bar, so the deck shows no widget without image
em_after, answers_after = evaluate_exact_match(payoff_model, tokenizer, held_out)
trainable, total = count_parameters(payoff_model)
print(f"trained {trainable:,} of {total:,} parameters ({100 * trainable / total:.1f} %) for {len(payoff_losses)} "
      f"steps; loss {payoff_losses[0]:.2f} -> {payoff_losses[-1]:.2f}")
print(f"exact match on {len(held_out)} held-out questions: before {em_before:.0%}, after {em_after:.0%}\n")
for question, before, after, reference in list(zip(held_out["question"], answers_before, answers_after,
                                                   held_out["answer"], strict=True))[:4]:
    print(f"{question}\n    before: {before!r}\n    after:  {after!r}    (reference: {reference!r})")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the numbers above. Before training, the model continues after "Answer:" with a statement, so no answer
# matches. After 60 steps that changed 3 % of the parameters, a good share of the held-out questions get exactly
# the right answer: the facts were already in the frozen weights, as statements, and the small update taught the
# model to *answer* with them. The misses printed above are short answers built from words of the question
# ("French", "City State"): the answer format is in place before every fact is. Lesson 13 trains the same adapter
# for a full epoch; lesson 09 asks how `r`, $\alpha$, the targets and the learning rate change this picture.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. A layer is 512 × 2048. How many parameters does LoRA with `r = 8` train on it, and what fraction is that?
# 2. Why is `B` (not `A`) the matrix initialised to zero? What would happen if both were random?
# 3. You merge an adapter into GPT-2's `attn.c_proj` with `W += scale * B @ A` and get no error. What is wrong?
# 4. Seed 003 writes $Wx + \alpha (AB) x$ with `A` of shape $d \times r$ and `B` of shape $r \times k$. What is wrong, and what
#    only looks wrong?
# 5. GPT-2 124M with `r = 8` on `c_attn` *and* `c_proj` (attention and MLP): how many trainable parameters?
#
# <details><summary>Answers</summary>
#
# 1. `8 × (512 + 2048) = 20,480` of 1,048,576, i.e. 1.95 %.
# 2. Nothing in the maths forces it to be `B`. What is needed is one zero factor, so that $BA = 0$ and the model
#    starts unchanged, and one random factor, so that a gradient flows: with `B = 0` and `A` random, `B` learns
#    first; with `A = 0` and `B` random, `A` does (the third line of section 2's cell). With both zero, both
#    gradients are zero forever. The paper zeroes `B` and PEFT follows it; zeroing `A` works too. Both random:
#    training starts from a randomly perturbed model and first has to undo the noise.
# 3. Conv1D stores `(in, out)`; the update `B @ A` is `(out, in)`. On a square layer the shapes agree, so the sum
#    silently adds the transpose of the intended update. Use `(B @ A).T` (or `LoRALinear.merge`).
# 4. Wrong: the scale is $\alpha$, not $\alpha/r$. Only looks wrong: $AB$ — with seed 003's shapes it is $d \times k$, the paper's
#    $BA$ with the letters swapped (section 1 prints it). The $r \times r$ product is seed 001's mistake, whose `A` is
#    $r \times d$ and `B` $d \times r$.
# 5. Computed below.
# </details>

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
# Question 5, computed on the meta-device GPT-2 from section 6 (its c_attn already carries LoRA, so rebuild it).
with torch.device("meta"):
    gpt2 = GPT2LMHeadModel(GPT2Config())
print(f"{lora_parameter_count(target_shapes(gpt2, ['c_attn', 'c_proj']), r=8):,}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - LoRA keeps `W` frozen and learns $\Delta W = \frac{\alpha}{r} BA$ with `B` `(d × r)` and `A` `(r × k)`: $r(d + k)$ parameters
#   instead of $dk$ (1000² at `r = 16`: 32,000 = 3.2 %; 4096² at `r = 16`: 131,072, 99.2 % fewer).
# - `B = 0`, `A` random: the adapted model starts *exactly* at the pretrained one, and gradients still flow.
# - GPT-2's `Conv1D` stores weights as `(in, out)`: forward passes don't care, merging must transpose — on square
#   layers the mistake raises no error.
# - `utils.lora`: `LoRALinear`, `add_lora` (targets by name suffix, everything else frozen), `count_parameters`,
#   `merge_lora`. Merged or not, the outputs agree up to float32 rounding: $4\sqrt{K}\,u\,\max|\text{logit}|$ (`utils.numerics`).
# - GPT-2 124M, `r = 4` on `c_attn`: 147,456 trainable (seed 000 is right). Llama 3.2 3B, `r = 16` on
#   `q_proj, v_proj`: 4,587,520 — not seed 003's 8,388,608.
# - The payoff: 60 steps of LoRA on every projection (3 % of the parameters) take held-out exact match from 0 to
#   the figure of section 8.
# - Next: lesson 08 does the same with PEFT and proves both give the same outputs.
