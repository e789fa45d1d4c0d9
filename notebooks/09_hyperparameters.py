# %% [markdown] slideshow={"slide_type": "slide"}
# # 09 · Hyperparameters and failure modes, measured
#
# The seed texts give tables of advice for LoRA — which rank, which α, how much dropout, which modules — and they
# do not agree with each other. This lesson does not add another opinion: it runs short, controlled experiments on
# the bundled model and the course's Q&A data and reads the answers off the plots, with error bars from three seeds.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - say what the rank $r$ buys (parameters) and what it does to the loss, measured against the noise between seeds;
# - explain why $\alpha/r$, not $\alpha$, is what the learning rate sees, and what rsLoRA's $\alpha/\sqrt{r}$ changes;
# - read overfitting off validation curves on a tiny data set, and what dropout does about it;
# - compare attention-only, MLP-only and all-projection adapters on this model;
# - recognise a learning rate that is too high from its loss curve.
#
# Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md` (every run is short; `COURSE_FULL=1` runs 10× longer).

# %% slideshow={"slide_type": "skip"}
import copy
import statistics
import time

import matplotlib.pyplot as plt
import torch

from utils.data import load_qa
from utils.exercises import check
from utils.lora import add_lora, count_parameters, lora_parameter_count, lora_scaling, target_shapes
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
# `utils.qa.train_loop` (AdamW, gradient clipping at 1, constant learning rate) for the same number of steps on
# batches drawn from the same pool of 512 training questions, and reports the loss on the same 32 **validation**
# questions (facts never seen as Q&A in training), per answer token (`utils.qa.heldout_loss`, the held-out loss of
# lessons 08 and 12 too). One thing changes at a time.
#
# A run's **seed** sets two random things: the initial $A$ matrices and the order of the batches. Run the same
# configuration with three seeds and the spread of the results is the noise every comparison has to beat. Runs are
# short so the lesson stays fast: the numbers are small-sample measurements of *this* model, not universal laws;
# `COURSE_FULL=1` reruns everything 10× longer.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
FULL = full_run()
STEPS = 100 if FULL else 10
BATCH = 6
SEEDS = [0, 1, 2]
ALL = ["c_attn", "c_proj", "c_fc"]                     # every projection of every block
POOL = qa["train"].select(range(512))                  # the questions every run draws its batches from
VALIDATION = qa["validation"].select(range(32))        # the questions every run is scored on


def val_loss(m) -> float:
    return heldout_loss(m, tokenizer, VALIDATION)


def run(targets=ALL, r=16, alpha=16, rslora=False, dropout=0.0, lr=3e-3, steps=STEPS, split=POOL, seed=0,
        on_step=None) -> dict:
    # One LoRA fine-tune; returns its training curve, final validation loss, trainable parameters and the model.
    torch.manual_seed(seed)                                                    # the initial A matrices
    m = add_lora(copy.deepcopy(model), targets, r=r, alpha=alpha, rslora=rslora, dropout=dropout)
    loader = qa_dataloader(tokenizer, split, batch_size=BATCH, seed=seed)      # the order of the batches
    hook = (lambda step, loss: on_step(m, step)) if on_step else None
    losses = train_loop(m, loader, epochs=steps, max_steps=steps, lr=lr, progress=False, decay=False,
                        on_step=hook)
    return {"train": losses, "val": val_loss(m), "params": count_parameters(m)[0], "model": m}


start = time.perf_counter()
no_adapter = val_loss(model)
print(f"validation loss of the model without any adapter: {no_adapter:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Rank: how many directions the update may use
#
# Hold $\alpha = 16$ fixed (section 2 explains why α, and not α/r, is the thing to hold fixed) and vary $r$. The
# parameter count grows linearly with $r$ — 64× from $r = 1$ to $r = 64$:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing: docs/workshops.md lists this notebook's run time (the longest lesson): start it before
# you talk about it. 90-minute path: block 7 shows the failure-mode table (5 minutes with 14). Half-day path:
# block 6 runs §1 and §4.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
RANKS = [1, 4, 16, 64]
for r in RANKS:
    print(f"r = {r:2d}: {lora_parameter_count(target_shapes(model, ALL), r):8,} trainable parameters")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Train $r = 1$, $16$ and $64$, each with the three seeds: nine runs. The left plot shows each rank's training curve
# averaged over its seeds; the right one each run's validation loss (dots) and the mean ± one standard deviation of
# the three (bars).

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
TRAINED_RANKS = [1, 16, 64]
by_rank = {(r, seed): run(r=r, seed=seed) for r in TRAINED_RANKS for seed in SEEDS}
val_by_rank = {r: [by_rank[r, seed]["val"] for seed in SEEDS] for r in TRAINED_RANKS}
for r, vals in val_by_rank.items():
    print(f"r = {r:2d}: validation loss {statistics.mean(vals):.3f} ± {statistics.stdev(vals):.3f} "
          f"(seeds: {', '.join(f'{v:.3f}' for v in vals)})")
means = [statistics.mean(vals) for vals in val_by_rank.values()]
seed_spread = max(max(vals) - min(vals) for vals in val_by_rank.values())
print(f"largest gap between two ranks' means: {max(means) - min(means):.3f}; "
      f"largest gap between two seeds of one rank: {seed_spread:.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for r in TRAINED_RANKS:
    curves = torch.tensor([by_rank[r, seed]["train"] for seed in SEEDS])   # (seeds, steps)
    ax1.plot(curves.mean(0), label=f"r = {r} (mean of {len(SEEDS)} seeds)")
ax1.set(xlabel="step", ylabel="training loss", title="training curves, alpha = 16")
ax1.legend()
params = [by_rank[r, 0]["params"] for r in TRAINED_RANKS]
for p, vals in zip(params, val_by_rank.values(), strict=True):
    ax2.plot([p] * len(vals), vals, "o", color="grey", alpha=0.6)
ax2.errorbar(params, means, yerr=[statistics.stdev(vals) for vals in val_by_rank.values()], fmt="s-", capsize=5,
             label="mean ± std over seeds")
for r, p, m in zip(TRAINED_RANKS, params, means, strict=True):
    ax2.annotate(f"r={r}", (p, m), textcoords="offset points", xytext=(6, 6))
ax2.set(xscale="log", xlabel="trainable parameters (log)", ylabel="validation loss",
        title=f"what rank buys (no adapter: {no_adapter:.1f})")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Compare the last two numbers printed. Every adapter takes the validation loss from the no-adapter value (printed
# at the top, far above these) to a few nats; the ranks differ from each other far less than that, while the
# adapter grows 64×. Whether any of those differences is real is what the seeds answer: when the gap between two
# ranks' means is no larger than the gap between two seeds of one rank, **three seeds cannot tell these ranks
# apart** — a difference seen in one run of each could have come from the seed alone. That is consistent with LoRA's
# premise (the update a task needs is low-rank), measured on one short run per seed of one model; a longer run
# (`COURSE_FULL=1`) could separate ranks that these short runs cannot.
#
# ### What did the adapter learn? The spectrum of ΔW
#
# LoRA's premise is about the learned change $\Delta W = (\alpha/r)\,BA$, so look at one: the update of block 1's `mlp.c_fc`
# in the $r = 64$ run (seed 0), next to the pretrained weight it is added to. Each singular value squared is the energy of
# one direction; the cell prints the share of the total held by the largest 1, 4, 16 and 64.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
delta_fc = by_rank[64, 0]["model"].transformer.h[1].mlp.c_fc.delta_weight().detach().float().cpu()  # (out, in)
W_fc = model.transformer.h[1].mlp.c_fc.weight.detach().float().cpu().T   # Conv1D (in, out) -> (out, in)
fig, ax = plt.subplots(figsize=(7, 3.4))
for name, matrix in [(f"learned ΔW (r = 64, {STEPS} steps)", delta_fc), ("pretrained W", W_fc)]:
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
# directly, on one layer of one short run: a few steps that mostly teach the answer format. How many directions a
# longer run would use is a separate measurement (`COURSE_FULL=1` reruns this cell after 10× more steps).

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
# Two other rules are popular. "α = 2r" (seed 004) keeps $\alpha/r = 2$ fixed instead, so raising $r$ raises the
# effective step. **rsLoRA** (rank-stabilised LoRA, Kalajdzievski 2023; PEFT's `LoraConfig(use_rslora=True)`,
# `add_lora(..., rslora=True)` here) scales by $\alpha/\sqrt{r}$: its paper argues that $\alpha/r$ slows the learning of
# large ranks so much that extra rank stops helping, and proves $1/\sqrt{r}$ is the scale that keeps learning stable
# as $r$ grows.

# %% [markdown] slideshow={"slide_type": "subslide"}
# The three rules agree at one rank and part elsewhere:
#
# | rule | scale at $r = 1$ | $r = 16$ | $r = 64$ |
# |---|---|---|---|
# | α = 16, $\alpha/r$ | 16 | 1 | 0.25 |
# | α = 2r | 2 | 2 | 2 |
# | rsLoRA, α = 16, $\alpha/\sqrt{r}$ | 16 | 4 | 2 |
#
# A run is fixed by its rank, its scale and its seed, so equal scales need no second run: rsLoRA at $r = 1$ *is* the
# α = 16 run, and at $r = 64$ it is the α = 2r run ($16/\sqrt{64} = 128/64 = 2$). Four new runs (seed 0) complete the table:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** α/r keeps the output's change comparable across ranks: hold α fixed, not α/r. rsLoRA's α/√r
# is a different bet about long runs; read the table with section 1's seed spread in mind.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
RULES = {"alpha = 16 (alpha / r)": lambda r: {"alpha": 16},
         "alpha = 2r": lambda r: {"alpha": 2 * r},
         "rsLoRA, alpha = 16 (alpha / sqrt r)": lambda r: {"alpha": 16, "rslora": True}}
runs_by_scale = {(r, 16 / r): by_rank[r, 0] for r in TRAINED_RANKS}      # section 1's runs, seed 0
by_rule = {}
for rule, settings in RULES.items():
    for r in TRAINED_RANKS:
        scale = lora_scaling(r, **settings(r))
        if (r, scale) not in runs_by_scale:
            runs_by_scale[r, scale] = run(r=r, **settings(r))
        by_rule[rule, r] = runs_by_scale[r, scale]
print(f"{'validation loss (scale)':36s}" + "".join(f"{f'r = {r}':>15s}" for r in TRAINED_RANKS))
for rule, settings in RULES.items():
    print(f"{rule:36s}" + "".join(f"{by_rule[rule, r]['val']:8.3f} ({lora_scaling(r, **settings(r)):g})".ljust(15)
                                  for r in TRAINED_RANKS))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.fill_between(TRAINED_RANKS, [min(v) for v in val_by_rank.values()], [max(v) for v in val_by_rank.values()],
                 color="tab:blue", alpha=0.15, label="alpha / r: range of 3 seeds (section 1)")
for rule in RULES:
    ax1.plot(TRAINED_RANKS, [by_rule[rule, r]["val"] for r in TRAINED_RANKS], "o-", label=f"{rule}, seed 0")
ax1.set(xscale="log", xlabel="rank r (log)", ylabel="validation loss", title="three scaling rules, same lr")
ax1.legend(fontsize=8)
for scale in sorted({s for r, s in runs_by_scale if r == 64}):
    rules = " = ".join(rule.split(" (")[0] for rule in RULES if lora_scaling(64, **RULES[rule](64)) == scale)
    ax2.plot(runs_by_scale[64, scale]["train"], label=f"scale {scale:g}: {rules}")
ax2.set(xlabel="step", ylabel="training loss", title="r = 64: training curves, seed 0")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the left plot against the shaded band: it spans section 1's three seeds at α/r, so a result inside it is one
# these runs cannot tell apart from α/r. α = 2r gives $r = 1$ an eighth of the scale α = 16 gives it (2 against 16),
# and its run lands far above the band: the adapter crawls. At $r = 16$ and $64$ the rules with the larger scale
# (α = 2r and rsLoRA: 2 to 8× α/r's) land at or below the band's lower edge in this run: in a run this short, at a
# cautious learning rate, a larger scale acts like a larger learning rate and helps. The right plot shows its price
# at $r = 64$: the scale-2 curve falls faster but jumps back up in the first steps, the signature of a step on the
# large side.
#
# What this run suggests (three ranks, short runs, one seed for the new runs): **keep α fixed and $r$ is a capacity knob;
# tie the scale to $r$ some other way and $r$ becomes a learning-rate knob too** — retune the learning rate when you
# change $r$. rsLoRA's own claim is about long runs at large ranks, where α/r's small steps stop the extra directions
# from being used; a few steps of a 4-layer model cannot test it, and a short run that favours a larger scale only says
# the learning rate was on the low side. (Seed 003's $\alpha\,BA$ without any division would make every step grow with
# $r$ even at fixed α.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Overfitting you can see: validation curves on a tiny training set
#
# With plenty of data there is little to overfit in a short run. With **24** training questions, trained over and
# over (ten passes), the adapter can memorise them. Record the validation loss every few steps next to the training
# loss, for an adapter without and with `lora_dropout` (which zeroes a random part of the adapter's input during
# training):

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 24 questions, ten passes: the validation curve bottoms out and turns up while the training
# curve keeps falling. Dropout against memorising, measured.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
tiny = qa["train"].select(range(512, 536))        # 24 questions outside the pool
PASS = len(tiny) // BATCH                         # steps in one pass over them: 4
EVERY = 5                                         # steps between two validation measurements
by_dropout = {}
for p in [0.0, 0.3]:
    curve = {"step": [], "val_curve": []}

    def measure(m, step, curve=curve):
        if step % EVERY == 0:
            curve["step"].append(step)
            curve["val_curve"].append(val_loss(m))

    by_dropout[p] = run(dropout=p, split=tiny, steps=10 * PASS * (10 if FULL else 1), on_step=measure) | curve
    best = min(range(len(curve["val_curve"])), key=curve["val_curve"].__getitem__)
    print(f"dropout {p:.1f}: validation loss lowest at step {curve['step'][best]} ({curve['val_curve'][best]:.3f}), "
          f"{curve['val_curve'][-1]:.3f} at the end; training loss in the last pass "
          f"{statistics.mean(by_dropout[p]['train'][-PASS:]):.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for (p, res), color in zip(by_dropout.items(), ["tab:blue", "tab:orange"], strict=True):
    per_pass = torch.tensor(res["train"]).view(-1, PASS).mean(1)              # (passes,): mean loss of each pass
    ax1.plot(range(PASS, len(res["train"]) + 1, PASS), per_pass, "--", color=color, label=f"dropout {p}: training")
    ax1.plot(res["step"], res["val_curve"], "o-", color=color, label=f"dropout {p}: validation")
    ax2.plot(res["step"], res["val_curve"], "o-", color=color, label=f"dropout {p}")
    best = min(range(len(res["val_curve"])), key=res["val_curve"].__getitem__)
    ax2.plot(res["step"][best], res["val_curve"][best], "*", color=color, markersize=14)
ax1.set(xlabel="step", ylabel="loss per answer token", ylim=(0, None), title="training vs validation loss")
ax1.legend(fontsize=8)
ax2.set(xlabel="step", ylabel="validation loss", title="validation loss, zoomed (star: lowest)")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The dashed curves (the loss on the 24 training questions, measured as training goes) keep falling: every pass
# fits them better. The solid ones (the 32 validation questions) fall for the first passes, reach a lowest point (the
# stars, zoomed on the right), and — when that point comes before the end — turn up while the training loss keeps falling:
# the adapter is getting better at its own questions and worse at new ones. That is overfitting as it happens, which
# a single measurement at the end would miss. The remedy the curves suggest is the cheapest one: keep the adapter
# from the step where the validation loss was lowest (early stopping), or get more data.
#
# Dropout on the adapter's input is measured here with one seed; compare its curves with section 1's spread between
# seeds before reading a difference into them. It is a mild regulariser for this regime (tiny data, many passes),
# no substitute for more data. (Its training loss is measured with dropout on, as training runs.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Which modules? Attention vs MLP vs all
#
# The seeds disagree: seed 000 says adapting attention "makes little sense" and puts LoRA elsewhere; the LoRA paper
# adapts the attention projections `W_q`, `W_v`; PEFT's default for GPT-2 is `c_attn`; seed 004's table suggests all
# linear layers. Measure it: same rank $r = 16$, same α = 16, same steps, three choices of targets.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run on the half-day path (docs/workshops.md, block 6): attention vs MLP vs all, measured.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
TARGETS = {"attention only": ["c_attn", "attn.c_proj"], "MLP only": ["c_fc", "mlp.c_proj"], "all projections": ALL}
for name, targets in TARGETS.items():
    print(f"{name:16s} {str(targets):36s} {lora_parameter_count(target_shapes(model, targets), 16):7,} parameters")

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
by_target = {"attention only": run(TARGETS["attention only"]),
             "MLP only": run(TARGETS["MLP only"]),
             "all projections": by_rank[16, 0]}
for name, res in by_target.items():
    print(f"{name:16s} validation loss {res['val']:.3f} with {res['params']:7,} parameters")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for name, res in by_target.items():
    ax1.plot(res["train"], label=name)
ax1.set(xlabel="step", ylabel="training loss", title="targets, r = 16, seed 0")
ax1.legend()
ax2.bar(list(by_target), [res["val"] for res in by_target.values()], color=["tab:blue", "tab:orange", "tab:green"])
ax2.set(ylabel="validation loss", title="after the same number of steps")
plt.tight_layout()
plt.show()
ranked = sorted(by_target, key=lambda n: by_target[n]["val"])
gap = by_target[ranked[1]]["val"] - by_target[ranked[0]]["val"]
print(f"lowest: {ranked[0]}, {gap:.3f} below {ranked[1]}; section 1's largest gap between two seeds: {seed_spread:.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# This is a measurement, not a verdict: one model, one task, a few steps, one seed per choice. Every choice lowers the
# validation loss far below the no-adapter value, the attention-only adapter included — enough to contradict seed
# 000's "fine-tuning attention makes little sense" for this model. Ranking the three is another matter: compare the
# gap printed last with the spread between seeds. A gap smaller than that spread is not evidence that one choice is
# better; to rank them, run each with several seeds (and longer), as section 1 did for the ranks.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. A learning rate that is too high
#
# Everything above used 3e-3. Try 10× and 100× that:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 10× and 100× the learning rate of the runs above: read what it does to the loss.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
by_lr = {3e-3: by_rank[16, 0], 3e-2: run(lr=3e-2), 3e-1: run(lr=3e-1)}
fig, ax = plt.subplots(figsize=(7.5, 3.8))
for lr, res in by_lr.items():
    ax.plot(res["train"], label=f"lr = {lr:g}")
    print(f"lr = {lr:<6g}: last training loss {res['train'][-1]:.3f}, validation loss {res['val']:.3f}")
ax.set(xlabel="step", ylabel="training loss", yscale="log", title="learning rate: fast, faster, broken")
ax.legend()
plt.show()
print(f"all experiments: {time.perf_counter() - start:.0f} s")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A learning rate that is too high does not learn faster: the training loss jumps up in the first steps (the update
# overshoots), and the validation losses printed above end well above the good run's. Gradient clipping does not save you here, because Adam's step size is set by the
# learning rate, not by the gradient's size. When a curve looks like that, lower the learning rate before touching
# anything else.
#
# The values themselves — 3e-3 learns, 3e-2 is already too high — were measured on this small model (4 layers,
# $d_{\text{model}} = 256$), this task, these short runs and $\alpha = 16$, and hold for nothing else: LoRA recipes for large models
# usually quote learning rates ten times smaller (1e-4 to 3e-4), and nothing here says where a larger model's limit
# lies. Carry the method (sweep by factors of 3 to 10, read the curves), not the value.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Failure modes at a glance
#
# | symptom in the curves | likely cause | first fix |
# |---|---|---|
# | training loss flat from step 0 | nothing trainable, or $A = B = 0$, or learning rate far too low | check `count_parameters`, the init, the lr |
# | training loss jumps, climbs or becomes NaN | learning rate too high | lower lr (÷3 to ÷10) |
# | training falls, validation turns up | overfitting (tiny data, many passes) | stop at the lowest validation loss, more data, dropout |
# | changing $r$ changes the training speed | scale tied to $r$ (α = 2r, rsLoRA) | keep α fixed when you change $r$, or retune the lr |
# | one run beats another by less than seeds differ | noise | more seeds before believing it |
# | merged model differs from the adapter | `Conv1D` merged without the transpose | `fan_in_fan_out=True` / `LoRALinear.merge` |

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Your run at $r = 8,\ \alpha = 16$ is well tuned. You try $r = 32$. What α do you use, and why?
# 2. Doubling the rank doubles what, exactly? Does it double the quality?
# 3. Training loss 0.05, validation loss 3.1, 40 training examples. Diagnosis and two fixes?
# 4. A colleague says "LoRA on attention is pointless for GPT-2". What do you show them?
# 5. The loss goes 11.0, 6.2, 4.8, 9.7, 14.3, nan. What do you change first?
# 6. Run A ends at validation loss 3.21, run B at 3.15; each was run once. Three seeds of A gave 3.14, 3.22 and 3.30.
#    Is B better?
# 7. You switch from α/r to rsLoRA at $r = 64$, α = 16, and keep the learning rate. By what factor does the scale
#    change, and what do you watch for in the first steps?
#
# <details><summary>Answers</summary>
#
# 1. Keep α = 16: with the $\alpha/r$ scale, Adam's step on the layer's output is about $\alpha \cdot \text{lr}$, independent of $r$, so
#    the tuned learning rate still applies. (α = 64 would multiply the effective step by 4.)
# 2. The trainable parameters (and the adapter file). The validation loss changes far less — in section 1 by less
#    than the seeds' own spread.
# 3. Overfitting: stop early (at the lowest validation loss: record it during training, as in section 3), get more
#    data, and/or add `lora_dropout`.
# 4. Section 4's measurement: the attention-only adapter trains and lowers the validation loss (on this model, in a
#    short run — enough to refute "pointless", not to rank it against the others).
# 5. Lower the learning rate.
# 6. Not shown: A's own seeds span 0.16, more than the 0.06 between A and B. Run B with several seeds too and compare
#    the means against the spread.
# 7. From $16/64 = 0.25$ to $16/\sqrt{64} = 2$: 8×, like an 8× learning rate for the first steps. Watch for the jumps
#    of section 2's right plot (and section 5's), and lower the learning rate if they appear.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - **Seeds** set the noise floor: a difference smaller than the spread between seeds of one configuration is not
#   a finding (section 1).
# - **Rank** buys parameters linearly; in our short runs the ranks' validation losses differed by no more than the
#   seeds did (section 1); the spectrum of a learned $\Delta W$ is computed there too.
# - **α/r**: the division by $r$ makes the effective step depend on α and the learning rate, not on $r$ — keep α
#   fixed when changing $r$ (section 2); "α = 2r" and rsLoRA's $\alpha/\sqrt{r}$ make $r$ a learning-rate knob as well.
# - **Validation curves** show overfitting as it happens: the unseen-question loss turns up while the training loss
#   keeps falling; stop at its lowest point. Dropout is a mild help on tiny data (section 3).
# - **Targets**: measured, not assumed — attention, MLP and all projections all learn; more modules cost more
#   parameters (section 4).
# - **Learning rate** too high: the loss stops falling or blows up; it is the first thing to lower (section 5).
# - Lab 09 turns the failure table into a function that diagnoses a run from its curves.
