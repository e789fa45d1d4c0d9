# %% [markdown] slideshow={"slide_type": "slide"}
# # 09 · Hyperparameters and failure modes, measured
#
# The seed texts give tables of advice for LoRA — which rank, which α, how much dropout, which modules — and they
# do not agree with each other. This lesson does not add another opinion: it runs short, controlled experiments on
# the bundled model and the course's Q&A data and reads the answers off the plots.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - say what the rank $r$ buys (parameters) and what it does to the loss, measured;
# - explain why $\alpha/r$, not $\alpha$, is what the learning rate sees — and keep it fixed when you change $r$;
# - recognise overfitting on a tiny data set and what dropout does about it;
# - compare attention-only, MLP-only and all-projection adapters on this model;
# - recognise a learning rate that is too high from its loss curve.
#
# Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md` (every run is short; `COURSE_FULL=1` runs 10× longer).

# %% slideshow={"slide_type": "skip"}
import copy
import time

import matplotlib.pyplot as plt
import torch

from utils.data import load_qa
from utils.exercises import check
from utils.lora import add_lora, count_parameters, lora_parameter_count, target_shapes
from utils.models import load_model
from utils.notebook import full_run, setup
from utils.qa import heldout_loss, qa_dataloader, train_loop

device = setup(seed=0)
model, tokenizer = load_model(device=device)  # the bundled 4-layer GPT-2 (or $COURSE_MODEL), on the GPU if any
qa = load_qa()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The experiment
#
# Every run below starts from the same pretrained model, adds LoRA with `utils.lora.add_lora`, trains with
# `utils.qa.train_loop` (AdamW, gradient clipping at 1, constant learning rate) for the same number of steps on the
# same batches, and reports the loss on the same 64 **validation** questions (facts never seen as Q&A in training),
# per answer token (`utils.qa.heldout_loss`, the held-out loss of lessons 08 and 12 too).
# One thing changes at a time. Runs are short so the lesson stays fast — the numbers are small-sample measurements
# of *this* model, not universal laws; `COURSE_FULL=1` reruns everything 10× longer.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
FULL = full_run()
STEPS = 200 if FULL else 20
BATCH = 16
ALL = ["c_attn", "c_proj", "c_fc"]                     # every projection of every block
VAL = 64                                               # validation questions every run is scored on


def val_loss(m) -> float:
    return heldout_loss(m, tokenizer, qa["validation"], max_examples=VAL)


def run(targets=ALL, r=16, alpha=16, dropout=0.0, lr=3e-3, steps=STEPS, split=qa["train"]) -> dict:
    # One LoRA fine-tune; returns its training curve, final validation loss and trainable parameters.
    torch.manual_seed(0)
    m = add_lora(copy.deepcopy(model), targets, r=r, alpha=alpha, dropout=dropout)
    loader = qa_dataloader(tokenizer, split, batch_size=BATCH, seed=0)
    losses = train_loop(m, loader, epochs=steps, max_steps=steps, lr=lr, progress=False, decay=False)
    return {"train": losses, "val": val_loss(m), "params": count_parameters(m)[0], "model": m}


start = time.perf_counter()
print(f"validation loss of the model without any adapter: {val_loss(model):.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Rank: how many directions the update may use
#
# Sweep $r$ over 1, 4, 16, 64 on all projections with $\alpha = 16$ fixed (section 2 explains why α, and not α/r, is
# the thing to hold fixed). The parameter count grows linearly with $r$ — 64× from $r = 1$ to $r = 64$:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 55.4 s, the longest lesson: start it before you talk about it. 90-minute path: block 7 shows
# the failure-mode table (5 minutes with 14). Half-day path: block 6 runs §1 and §4. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
RANKS = [1, 4, 16, 64]
for r in RANKS:
    print(f"r = {r:2d}: {lora_parameter_count(target_shapes(model, ALL), r):8,} trainable parameters")

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
by_rank = {r: run(r=r, alpha=16) for r in RANKS}
for r, res in by_rank.items():
    print(f"r = {r:2d}: validation loss {res['val']:.3f}  (last training loss {res['train'][-1]:.3f})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for r, res in by_rank.items():
    ax1.plot(res["train"], label=f"r = {r}")
ax1.set(xlabel="step", ylabel="training loss", title="training curves, alpha = 16")
ax1.legend()
ax2.plot([res["params"] for res in by_rank.values()], [res["val"] for res in by_rank.values()], "o-")
for r, res in by_rank.items():
    ax2.annotate(f"r={r}", (res["params"], res["val"]), textcoords="offset points", xytext=(4, 4))
ax2.axhline(val_loss(model), color="grey", ls="--", label="no adapter")
ax2.set_ylim(bottom=0)                                   # from 0: the differences at their true size
ax2.set(xscale="log", xlabel="trainable parameters (log)", ylabel="validation loss", title="what rank buys")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the right-hand plot as "validation loss per parameter", with the axis starting at 0 so that the differences
# appear at their true size. In this run (20 steps, one seed) $r = 1$ already gets most of the way from the
# no-adapter loss (the dashed line); the four ranks differ by far less than the step from no adapter to any adapter,
# while the adapter grows 64×. That is consistent with LoRA's premise — the update a task needs is low-rank — but it
# is one short run of one model: differences of a few hundredths between ranks are within what another seed or a
# longer run could change.
#
# ### What did the adapter learn? The spectrum of ΔW
#
# LoRA's premise is about the learned change $\Delta W = (\alpha/r)\,BA$, so look at one: the update of block 1's `mlp.c_fc`
# in the $r = 64$ run, next to the pretrained weight it is added to. Each singular value squared is the energy of
# one direction; the cell prints the share of the total held by the largest 1, 4, 16 and 64.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
delta_fc = by_rank[64]["model"].transformer.h[1].mlp.c_fc.delta_weight().detach().float().cpu()  # (out, in)
W_fc = model.transformer.h[1].mlp.c_fc.weight.detach().float().cpu().T   # Conv1D (in, out) -> (out, in)
fig, ax = plt.subplots(figsize=(7, 3.4))
for name, matrix in [("learned ΔW (r = 64, 20 steps)", delta_fc), ("pretrained W", W_fc)]:
    sigma = torch.linalg.svdvals(matrix)                                  # (min(out, in),), descending
    share = sigma.pow(2).cumsum(0) / sigma.pow(2).sum()                   # energy in the top k directions
    print(f"{name:30s} energy in the top 1 / 4 / 16 / 64 directions: "
          + " / ".join(f"{share[k - 1]:.2f}" for k in [1, 4, 16, 64]))
    ax.plot(range(1, len(sigma) + 1), sigma / sigma[0], label=name)
ax.set(xscale="log", yscale="log", xlabel="index i", ylabel="σᵢ / σ₁", title="h.1.mlp.c_fc: singular values")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The pretrained weight spreads its energy over many directions (lesson 07's explorer showed the same); the learned
# update, although it was allowed 64, puts nearly all of its energy in very few. That is LoRA's premise seen
# directly, on one layer of one short run: 20 steps that mostly teach the answer format. How many directions a
# longer run would use is a separate measurement (`COURSE_FULL=1` reruns this cell after 200 steps).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 09.1 · the energy share
#
# The cell above printed "energy in the top k directions". Write it: for a matrix `(m, n)` and a $k$, return the
# share of the total energy $\sum_i \sigma_i^2$ held by the $k$ largest singular values, a number in $[0, 1]$. The check
# compares it with an independent computation on four matrices, for $k = 1$ up to the full rank.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def energy_share_by_hand(matrix: torch.Tensor, k: int) -> float:
    ...  # your code here: sigma_1^2 + ... + sigma_k^2 over the sum of all sigma_i^2


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("09.1", energy_share_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def energy_share_by_hand(matrix, k):
#     energy = torch.linalg.svdvals(matrix).pow(2)     # (min(m, n),), largest first
#     return (energy[:k].sum() / energy.sum()).item()
# ```
# $\sum_i \sigma_i^2$ is the squared Frobenius norm, $\lVert M \rVert_F^2$, so the share says how much of the matrix the best rank-$k$
# approximation keeps (Eckart–Young, lesson 07's explorer).
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 09.2 · predict before you read section 2
#
# A LoRA layer is tuned at $r = 8$, $\alpha = 16$. Training starts with $B = 0$ and $A$ random, and one **Adam** step moves
# $B$; the layer's output changes by $\Delta h = (\alpha/r)\,\Delta B\,A x$. Now you switch to $r = 32$. How many times larger is $\lvert \Delta h \rvert$
# after that first step (a) if you keep $\alpha = 16$, (b) if you follow "α = 2r" ($\alpha = 64$)? The check simulates the step
# on 400 random layers and accepts a ratio within 20 %.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
my_ratio_alpha_fixed = None  # |dh| at r = 32, alpha = 16, divided by |dh| at r = 8, alpha = 16
my_ratio_alpha_2r = None     # |dh| at r = 32, alpha = 64, divided by |dh| at r = 8, alpha = 16

# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("09.2", my_ratio_alpha_fixed, my_ratio_alpha_2r)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# my_ratio_alpha_fixed = 1.0   # (16 / 32) x 32 entries = (16 / 8) x 8 entries: the same step
# my_ratio_alpha_2r = 4.0      # (64 / 32) x 32 = 64, four times (16 / 8) x 8 = 16
# ```
# Adam moves each entry of $B$ by about the learning rate, whatever its gradient, and $\Delta B\,(A x)$ sums $r$ such
# entries: $\lvert \Delta h \rvert$ grows like $(\alpha/r) \cdot r = \alpha$. The scale $\alpha/r$ alone (0.5 vs 2) would predict 1/4 for (a); it misses
# that a larger $r$ also sums more entries. Section 2 measures the same thing on real training curves.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. α and r: what the learning rate sees
#
# LoRA multiplies the update by $\alpha/r$. Why divide by $r$? Look at the first steps. Adam moves every entry of $B$ by
# about the learning rate per step, whatever the gradient's size. The update to the layer's output,
# $(\alpha/r)\,B\,(A x)$, sums $r$ such entries, so it grows like $(\alpha/r) \cdot r \cdot \text{lr} = \alpha \cdot \text{lr}$: **with the $/r$, the step the
# layer takes depends on α and the learning rate, not on $r$**. That is the LoRA paper's reason for the scale: set α
# once, then change $r$ without retuning the learning rate.
#
# The popular rule "α = 2r" (seed 004) keeps $\alpha/r$ fixed instead, so raising $r$ raises the effective step. Measure
# both at $r = 1$ and $r = 64$:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** α/r keeps the output's change comparable across ranks: hold α fixed, not α/r. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
alpha_2r = {r: run(r=r, alpha=2 * r) for r in [1, 64]}
fig, ax = plt.subplots(figsize=(7.5, 3.8))
for r in [1, 64]:
    ax.plot(by_rank[r]["train"], label=f"r = {r}, alpha = 16 (scale {16 / r:g})")
    ax.plot(alpha_2r[r]["train"], ls="--", label=f"r = {r}, alpha = {2 * r} (scale 2)")
ax.set(xlabel="step", ylabel="training loss", title="same learning rate: alpha fixed vs alpha = 2r")
ax.legend()
plt.show()
for r in [1, 64]:
    print(f"r = {r:2d}: validation loss with alpha = 16: {by_rank[r]['val']:.3f}; "
          f"with alpha = 2r = {2 * r}: {alpha_2r[r]['val']:.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# In this run, with α fixed, the $r = 1$ and $r = 64$ curves lie close together at the same learning rate —
# a 64× difference in rank, similar steps. With α = 2r the two runs differ by a factor 64 in α: at $r = 1$ the
# adapter crawls, at $r = 64$ it overshoots (the spike in the first steps), like a learning rate that is too high.
# What this run suggests (two ranks, 20 steps, one seed): **keep α fixed and $r$ is a capacity knob; tie α to $r$ and
# $r$ becomes a learning-rate knob too.**
# (Seed 003's $\alpha\,BA$ without the $/r$ would make every step grow with $r$ even at fixed α.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Dropout on a tiny training set
#
# With plenty of data there is little to overfit in a short run. With **32** training questions, trained over and
# over, the adapter can memorise them. `lora_dropout` zeroes a random part of the adapter's input during training.
# Compare training and validation loss with and without it:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 32 questions, trained over and over: dropout against memorising. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
tiny = qa["train"].select(range(32))
by_dropout = {p: run(dropout=p, split=tiny, steps=3 * STEPS) for p in [0.0, 0.3]}
for p, res in by_dropout.items():
    res["train_eval"] = heldout_loss(res["model"], tokenizer, tiny)  # the same measure, on the training questions
    print(f"dropout {p:.1f}: loss on the 32 training questions {res['train_eval']:.3f}, "
          f"on 64 unseen validation questions {res['val']:.3f}")

fig, ax = plt.subplots(figsize=(6.5, 3.4))
x = torch.arange(2)
ax.bar(x - 0.2, [res["train_eval"] for res in by_dropout.values()], 0.4, label="training (32 questions)")
ax.bar(x + 0.2, [res["val"] for res in by_dropout.values()], 0.4, label="validation (64 unseen)")
ax.set_xticks(x, [f"dropout {p}" for p in by_dropout])
ax.set(ylabel="loss", title="a tiny training set: memorising vs generalising")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read this carefully, because it is easy to over-read. After 30 passes the adapter fits its 32 questions almost
# perfectly (training loss near 0) and new ones much worse: a large gap between training and validation loss, the
# sign that the adapter has memorised. But these validation losses are *lower* than every full-data run above.
# They ran 60 steps, the full-data runs 20 — so what the comparison shows is that 20 steps *under-train*, not that a
# tiny data set generalises better. And it does not show overfitting in the strict sense, validation loss *rising*
# while training loss keeps falling: we measured validation loss only once, at the end. To see that, record the
# validation loss every few steps of a longer run.
#
# Dropout on the adapter's input lowered the final validation loss here (one seed; the difference is of the size
# another seed could change) and did not stop the memorising — both runs fit the 32 questions almost perfectly. It is
# a mild regulariser for this regime (tiny data, many passes), no substitute for more data.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Which modules? Attention vs MLP vs all
#
# The seeds disagree: seed 000 says adapting attention "makes little sense" and puts LoRA elsewhere; the LoRA paper
# adapts the attention projections `W_q`, `W_v`; PEFT's default for GPT-2 is `c_attn`; seed 004's table suggests all
# linear layers. Measure it: same rank $r = 16$, same α = 16, same steps, three choices of targets.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run on the half-day path (docs/workshops.md, block 6): attention vs MLP vs all, measured.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
TARGETS = {"attention only": ["c_attn", "attn.c_proj"], "MLP only": ["c_fc", "mlp.c_proj"], "all projections": ALL}
for name, targets in TARGETS.items():
    print(f"{name:16s} {str(targets):36s} {lora_parameter_count(target_shapes(model, targets), 16):7,} parameters")

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
by_target = {"attention only": run(TARGETS["attention only"]),
             "MLP only": run(TARGETS["MLP only"]),
             "all projections": by_rank[16]}
for name, res in by_target.items():
    print(f"{name:16s} validation loss {res['val']:.3f} with {res['params']:7,} parameters")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for name, res in by_target.items():
    ax1.plot(res["train"], label=name)
ax1.set(xlabel="step", ylabel="training loss", title="targets, r = 16")
ax1.legend()
ax2.bar(list(by_target), [res["val"] for res in by_target.values()], color=["tab:blue", "tab:orange", "tab:green"])
ax2.set(ylabel="validation loss", title="after the same number of steps")
plt.tight_layout()
plt.show()
best = min(by_target, key=lambda n: by_target[n]["val"])
print(f"lowest validation loss: {best}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# This is a measurement, not a verdict: one model, one task, 20 steps, one seed. In this run the attention-only
# adapter reached a lower validation loss than the MLP-only one while training fewer parameters, and adapting every
# projection was lowest of all. That is enough to contradict seed 000's "fine-tuning attention makes little sense"
# for this model — an attention-only adapter does learn — but not to rank the three choices in general: their
# differences are tenths of a nat after 20 steps, and a longer run or another seed could reorder the close ones.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. A learning rate that is too high
#
# Everything above used 3e-3. Try 10× and 100× that:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 10× and 100× the learning rate of the runs above: read what it does to the loss. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
by_lr = {3e-3: by_rank[16], 3e-2: run(lr=3e-2), 3e-1: run(lr=3e-1)}
fig, ax = plt.subplots(figsize=(7.5, 3.8))
for lr, res in by_lr.items():
    ax.plot(res["train"], label=f"lr = {lr:g}")
    print(f"lr = {lr:<6g}: last training loss {res['train'][-1]:.3f}, validation loss {res['val']:.3f}")
ax.set(xlabel="step", ylabel="training loss", yscale="log", title="learning rate: fast, faster, broken")
ax.legend()
plt.show()
print(f"all experiments: {time.perf_counter() - start:.0f} s")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A learning rate that is too high does not learn faster: the loss jumps in the first steps (the update overshoots)
# and then stalls far above the good run, and the highest rate here ends worst of all. Gradient clipping does not
# save you here, because Adam's step size
# is set by the learning rate, not by the gradient's size. When a curve looks like that, lower the learning rate
# before touching anything else.
#
# The values themselves — 3e-3 learns, 3e-2 is already too high — were measured on this small model (4 layers,
# $d_{\text{model}} = 256$), this task, 20 steps and $\alpha = 16$, and hold for nothing else: LoRA recipes for large models
# usually quote learning rates ten times smaller (1e-4 to 3e-4), and nothing here says where a larger model's limit
# lies. Carry the method (sweep by factors of 3 to 10, read the curves), not the value.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Failure modes at a glance
#
# | symptom in the curves | likely cause | first fix |
# |---|---|---|
# | training loss flat from step 0 | nothing trainable, or $A = B = 0$, or learning rate far too low | check `count_parameters`, the init, the lr |
# | training loss jumps, climbs or becomes NaN | learning rate too high | lower lr (÷3 to ÷10) |
# | training falls, validation turns up | overfitting (tiny data, many passes) | more data, fewer steps, dropout |
# | changing $r$ changes the training speed | α tied to $r$ (α = 2r) | keep α fixed when you change $r$ |
# | merged model differs from the adapter | `Conv1D` merged without the transpose | `fan_in_fan_out=True` / `LoRALinear.merge` |

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Your run at $r = 8,\ \alpha = 16$ is well tuned. You try $r = 32$. What α do you use, and why?
# 2. Doubling the rank doubles what, exactly? Does it double the quality?
# 3. Training loss 0.05, validation loss 3.1, 40 training examples. Diagnosis and two fixes?
# 4. A colleague says "LoRA on attention is pointless for GPT-2". What do you show them?
# 5. The loss goes 11.0, 6.2, 4.8, 9.7, 14.3, nan. What do you change first?
#
# <details><summary>Answers</summary>
#
# 1. Keep α = 16: with the $\alpha/r$ scale, Adam's step on the layer's output is about $\alpha \cdot \text{lr}$, independent of $r$, so
#    the tuned learning rate still applies. (α = 64 would multiply the effective step by 4.)
# 2. The trainable parameters (and the adapter file). The validation loss improves far less than 2× — section 1.
# 3. Overfitting: more data, fewer steps (early stopping), and/or `lora_dropout`.
# 4. Section 4's measurement: the attention-only adapter trains and lowers the validation loss (on this model, in a
#    short run — enough to refute "pointless", not to rank it against the others).
# 5. Lower the learning rate.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - **Rank** buys parameters linearly; in our short run a small rank already gave most of the gain (section 1); the
#   spectrum of a learned $\Delta W$ is computed there too.
# - **α/r**: the division by $r$ makes the effective step depend on α and the learning rate, not on $r$ — keep α
#   fixed when changing $r$ (section 2); "α = 2r" turns $r$ into a learning-rate knob as well.
# - **Dropout** matters on tiny data sets, where the train/validation gap shows memorisation (section 3).
# - **Targets**: measured, not assumed — attention, MLP and all projections all learn; more modules cost more
#   parameters (section 4).
# - **Learning rate** too high: the loss stops falling or blows up; it is the first thing to lower (section 5).
# - Lab 09 turns the failure table into a function that diagnoses a run from its curves.
