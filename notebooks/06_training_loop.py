# %% [markdown] slideshow={"slide_type": "slide"}
# # 06 · The training loop
#
# Every number inside the model of lessons 04–05 was learned by the same four steps, repeated a few thousand
# times: **forward** (predict a distribution over the next token), **loss** (how surprised was the model by the
# real next token), **backward** (which way should each weight move), **step** (move it a little). This lesson
# writes the four steps by hand, runs them on the course corpus, and then lets Hugging Face's `Trainer` do the same.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - read a model's output as a probability distribution over the *whole* vocabulary;
# - compute the loss $-\log p(\text{correct token})$ by hand and say what a loss of 0.69 or 8.3 means;
# - explain what `backward()` and `optimizer.step()` do, and why `zero_grad()` is needed;
# - write a training loop with a progress bar and a loss curve, and see what the learning rate does;
# - run the same training with `Trainer` and `TrainingArguments`;
# - assemble your own GPT from the course's pieces, equal to GPT-2 and trained like it, and say what dropout and
#   `train()` / `eval()` do.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md` (`COURSE_FULL=1` trains longer).*

# %% slideshow={"slide_type": "skip"}
from utils.notebook import full_run, setup  # first: importing it quiets bitsandbytes' import-time notice

import inspect
import math
import tempfile

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from datasets import Dataset
from ipywidgets import FloatLogSlider, interact
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from utils.data import load_corpus
from utils.exercises import check
from utils.models import load_model
from utils.numerics import close, forward_reduction, tolerance
from utils.plotting import plot_curves
from utils.training import (
    cross_entropy_by_hand,
    pack_tokens,
    random_batches,
    train,
    train_step,
)
from utils.transformer import GPTByHand

device = setup(seed=0)
model, tokenizer = load_model(device="cpu")  # CPU on purpose: the models here are tiny
corpus = load_corpus()
FULL = full_run()             # COURSE_FULL=1: the longer runs
STEPS = 600 if FULL else 80   # training steps of the by-hand loop and of the Trainer run

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Forward: a distribution over every token
#
# A common misreading is that the forward pass "predicts the next token". It does more: at every position it
# outputs one score (*logit*) per vocabulary entry — 4,000 for the course model — and the softmax turns them into
# a probability distribution. Picking one token is a separate decision made later (lesson 13 generates text).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 14.1 s. 90-minute path: block 4 (10 minutes) runs §2 and §4 live and shows §5. Half-day path:
# block 4 (25 minutes for 05 and 06, 06 whole). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
prompt = "The capital of France is"
ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(ids).logits                 # (batch, seq, vocab)
probs = torch.softmax(logits[0, -1], dim=-1)   # the distribution after the last prompt token
print("logits:", tuple(logits.shape), f" probabilities sum to {probs.sum():.4f}")
top = probs.topk(5)
for p, i in zip(top.values, top.indices, strict=True):
    print(f"  {tokenizer.decode(i)!r:>12}  {p:.4f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The loss: −log p(correct token)
#
# The training signal looks only at the probability the model gave to the token that actually came next:
#
# $$\mathcal{L} = -\log p_\theta(\text{correct token} \mid \text{context})$$
#
# averaged over all positions of all sequences in a batch. This is the *cross-entropy* between the data and the
# model. It ignores how the remaining probability is spread over wrong tokens; pushing the right one up pushes
# the others down, because they sum to 1.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the 90-minute path (docs/workshops.md, block 4): the loss is −log p of the
# token that came next. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print("  p(correct)   loss = −log p")
for p in (1.0, 0.5, 0.1, 0.01):
    print(f"  {p:10.2f}   {0.0 - math.log(p):.4f}")
print(f"uniform guess over {len(tokenizer):,} tokens: loss = log({len(tokenizer):,}) = {math.log(len(tokenizer)):.4f}")

# %% slideshow={"slide_type": "subslide"}
p = torch.linspace(0.001, 1, 500)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(p, -torch.log(p))
ax.scatter([1, 0.5, 0.1, 0.01], [-math.log(v) for v in (1, 0.5, 0.1, 0.01)], color="C1", zorder=3)
ax.set(xlabel="probability given to the correct token", ylabel="loss  −log p", title="cross-entropy of one prediction")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# A loss of 0 means certainty and correctness; halving the probability costs $\log 2 \approx 0.69$; a model that has
# learned nothing guesses uniformly and scores $\log V$ ($V$ = vocabulary size), about 8.29 here (10.8 for GPT-2's 50,257 tokens).
# $e^{\text{loss}}$ is the *perplexity*: "as unsure as a uniform choice among this many tokens".
#
# In practice the loss is computed from logits, as $\operatorname{logsumexp}(\text{logits}) - \text{logit}_{\text{correct}}$, never by taking the log
# of a softmax (which underflows to $\log 0$):

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 06.1 · the loss from logits
#
# Write `my_cross_entropy(logits, targets)`: `logits` is `(N, V)`, `targets` holds `N` token ids; return the mean
# over the rows of `logsumexp(logits[i]) − logits[i, targets[i]]` as a 0-d tensor. The check includes logits around
# 1000 (where `exp` overflows) and a correct token whose probability is below `1e-60` (where `log(softmax)` gives
# `inf`).

# %% tags=["your-turn"]
def my_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    ...  # your code here: a 0-d tensor, the mean loss

# %% tags=["your-turn-check"]
check("06.1", my_cross_entropy)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def my_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
#     correct = logits[torch.arange(len(targets)), targets]       # (N,): each row's logit of the right token
#     return (torch.logsumexp(logits, dim=-1) - correct).mean()
# ```
# `logsumexp` subtracts the row's largest logit before exponentiating, so nothing overflows, and the loss never goes
# through a probability that could round to 0. The course's version, used for the rest of the lesson:
# </details>

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(cross_entropy_by_hand))

# %% [markdown] slideshow={"slide_type": "subslide"}
# For a language model the targets are the input shifted by one: the logits at position *t* are scored against the
# token at *t + 1*. Hugging Face does this shift itself when you pass `labels=input_ids`:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
sentence = next(line for line in corpus if line.startswith("The capital of"))
ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
with torch.no_grad():
    out = model(ids, labels=ids)
by_hand = cross_entropy_by_hand(out.logits[0, :-1], ids[0, 1:])
print(sentence)
print(f"by hand: {by_hand:.4f}   Hugging Face: {out.loss:.4f}   perplexity: {by_hand.exp():.2f}")
log_probs = torch.log_softmax(out.logits[0, :-1], dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
for t, lp in zip(ids[0, 1:], log_probs, strict=True):
    print(f"  next token {tokenizer.decode(t)!r:>12}: p = {lp.exp():.3f}, loss = {-lp:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Backward and step
#
# `loss.backward()` runs the chain rule from the loss back through every operation of the forward pass and stores
# $\partial \mathcal{L} / \partial \theta$ in `θ.grad` for every parameter $\theta$. The simplest optimizer then moves each weight against its gradient:
#
# $$\theta \leftarrow \theta - \eta\, \frac{\partial \mathcal{L}}{\partial \theta}$$
#
# with learning rate η. One step by hand on the trained model, to watch the loss on that sentence go down:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** `backward()` fills `.grad`; the optimizer steps against it; `zero_grad` clears it. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
steppy, _ = load_model(device="cpu")          # a copy, so the course model stays untouched
loss = steppy(ids, labels=ids).loss
loss.backward()
print("gradient of the token embedding:", tuple(steppy.transformer.wte.weight.grad.shape))
with torch.no_grad():
    for param in steppy.parameters():
        param -= 0.05 * param.grad            # gradient descent, learning rate 0.05
print(f"loss before the step: {loss.item():.4f}, after: {steppy(ids, labels=ids).loss.item():.4f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Gradients accumulate.** `backward()` *adds* to `.grad`; it does not overwrite. That is useful (gradient
# accumulation over several small batches) but it means every step must start with `optimizer.zero_grad()`,
# or each update also contains all the previous gradients:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
steppy.zero_grad()
steppy(ids, labels=ids).loss.backward()
once = steppy.transformer.wte.weight.grad.clone()
steppy(ids, labels=ids).loss.backward()       # no zero_grad in between
# "==" up to float32 rounding (utils.numerics, lesson 07): the gradient runs the whole forward path back
print("after a second backward, grad == 2 × grad:",
      close(steppy.transformer.wte.weight.grad, 2 * once, reduction=forward_reduction(steppy.config)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Backprop you can see: where `backward()` starts
#
# The chain rule starts at the loss. For one row with logits $z$ and correct token $y$,
# $\mathcal{L} = \operatorname{logsumexp}(z) - z_y$. Differentiate each term:
# $\partial \operatorname{logsumexp}(z) / \partial z_j = e^{z_j} / \sum_k e^{z_k} = \operatorname{softmax}(z)_j$,
# and $\partial z_y / \partial z_j$ is 1 for $j = y$, 0 otherwise. So
#
# $$\frac{\partial \mathcal{L}}{\partial z} = \operatorname{softmax}(z) - \operatorname{onehot}(y),$$
#
# and the mean over $N$ rows divides each row's gradient by $N$. Read it as an instruction: raise the correct token's
# logit by $1 - p_y$, lower every other logit by its own probability. Every other gradient in the network is this
# vector carried back through the layers.
#
# ### Your turn 06.2 · the gradient of the loss
#
# Write `ce_grad_by_hand(logits, targets)`: the gradient of the *mean* cross-entropy of a `(N, V)` batch with respect
# to its logits, shape `(N, V)`, from the formula (no `backward()`). The check compares it with autograd.

# %% slideshow={"slide_type": "subslide"} tags=["your-turn"]
def ce_grad_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    ...  # your code here: (N, V)

# %% tags=["your-turn-check"]
check("06.2", ce_grad_by_hand)

# %% [markdown]
# <details><summary>Worked answer</summary>
#
# ```python
# def ce_grad_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
#     one_hot = F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
#     return (torch.softmax(logits, dim=-1) - one_hot) / len(logits)
# ```
# Each row sums to 0: the probability pushed onto the correct token is taken from the others.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the course model's logits for the sentence of section 2 (in float64, so that only the formula is on trial):
# autograd's gradient and $\operatorname{softmax} - \operatorname{onehot}$, side by side.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
z = out.logits[0, :-1].double()              # (positions, vocab): the logits that predict tokens 1 ... T-1
targets = ids[0, 1:]
leaf = z.clone().requires_grad_(True)
F.cross_entropy(leaf, targets).backward()    # autograd's answer, now in leaf.grad
formula = (torch.softmax(z, dim=-1) - F.one_hot(targets, z.shape[-1]).double()) / len(z)
row_sums = formula.sum(dim=-1)
print("gradient:", tuple(formula.shape), " every row sums to 0:",
      close(row_sums, torch.zeros_like(row_sums), reduction=z.shape[-1], scale=1 / len(z)))
print("autograd == (softmax − one-hot) / N:", close(leaf.grad, formula, reduction=z.shape[-1]))

# %% [markdown] slideshow={"slide_type": "subslide"}
# A third witness, one that knows no calculus: nudge one logit by $\pm h$ and watch the loss move. The *central
# difference* $(\mathcal{L}(z + h e) - \mathcal{L}(z - h e)) / 2h$ approaches the derivative with an error of order $h^2$.
#
# ### Your turn 06.3 · a finite-difference gradient
#
# Write `finite_difference_by_hand(f, x, h)`: `f` maps a 1-D float64 tensor to a 0-d tensor; return the central
# difference estimate of its gradient at `x` (same shape as `x`), one entry at a time.

# %% tags=["your-turn"]
def finite_difference_by_hand(f, x: torch.Tensor, h: float) -> torch.Tensor:
    ...  # your code here: one estimate per entry of x

# %% slideshow={"slide_type": "subslide"} tags=["your-turn-check"]
check("06.3", finite_difference_by_hand)

# %% [markdown]
# <details><summary>Worked answer</summary>
#
# ```python
# def finite_difference_by_hand(f, x: torch.Tensor, h: float) -> torch.Tensor:
#     grad = torch.zeros_like(x)
#     for i in range(len(x)):
#         step = torch.zeros_like(x)
#         step[i] = h
#         grad[i] = (f(x + step) - f(x - step)) / (2 * h)
#     return grad
# ```
# The forward difference $(f(x + h e) - f(x)) / h$ is off by about $h f''/2$; the central one cancels that term. It
# costs two evaluations per entry, which is why nobody trains this way: autograd gets every entry for about the
# price of one more pass.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# On the course model's logits, at the position it found hardest: the correct token's logit and its three best
# guesses, each derivative estimated from the loss alone.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
h = 1e-5
hardest = F.cross_entropy(z, targets, reduction="none").argmax().item()
entries = [targets[hardest].item()] + [t for t in z[hardest].topk(4).indices.tolist() if t != targets[hardest]][:3]
print(f"position {hardest}: correct next token {tokenizer.decode(targets[hardest])!r}")
agree = []
for token in entries:
    nudge = torch.zeros_like(z)
    nudge[hardest, token] = h
    estimate = ((F.cross_entropy(z + nudge, targets) - F.cross_entropy(z - nudge, targets)) / (2 * h)).item()
    print(f"  logit of {tokenizer.decode(token)!r:>12}: (softmax − one-hot) / N = {formula[hardest, token].item():+.4f}, "
          f"finite difference = {estimate:+.4f}")
    # the bound: each float64 loss is off by the rounding of a logsumexp of V terms of size max|z|, and the
    # difference is divided by 2h; the h² term is at most h²/(6N) (the third derivative is at most 1/N)
    bound = tolerance(z.abs().max().item(), z.shape[-1], torch.float64) / h + h ** 2 / (6 * len(z))
    agree.append(abs(estimate - formula[hardest, token].item()) <= bound)
print("finite differences == formula, within their error bound:", all(agree))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The loop, by hand
#
# The four steps are `utils.training.train_step`; `train` repeats it with a `tqdm` progress bar and returns the
# losses. We train a **fresh**, small GPT-2 (random weights) on packed blocks of the course corpus, with AdamW —
# SGD's update scaled per weight by running averages of the gradient and its square, which is what practically
# every language model is trained with.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run a few steps live on the 90-minute path (docs/workshops.md, block 4); the deck shows the
# progress bar's last saved state. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(train_step))

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only", "nbval-check-output"]
blocks = pack_tokens(corpus, tokenizer, block=32)           # (n_blocks, 32) token ids, statements joined by EOS
print("training blocks:", tuple(blocks.shape))
print("one block:", repr(tokenizer.decode(blocks[0])))


def fresh_model(seed: int = 0) -> GPT2LMHeadModel:
    # a small GPT-2 with random weights: 2 layers, width 64; the course tokenizer's vocabulary
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=64, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config)


small = fresh_model()
print(f"fresh model: {sum(p.numel() for p in small.parameters()):,} parameters")

# %% slideshow={"slide_type": "subslide"}
optimizer = torch.optim.AdamW(small.parameters(), lr=3e-3)
by_hand_losses = train(small, random_batches(blocks, batch_size=16, seed=0), optimizer, steps=STEPS,
                       desc="by hand")
print(f"loss: first step {by_hand_losses[0]:.2f} (log vocab = {math.log(len(tokenizer)):.2f}), "
      f"last 10 steps {sum(by_hand_losses[-10:]) / 10:.2f}")

# %% slideshow={"slide_type": "subslide"}
ax = plot_curves({"by hand (AdamW, lr 3e-3)": by_hand_losses}, xlabel="training step",
                 ylabel="cross-entropy loss (nats)", title="a fresh small GPT-2 on the course corpus")
ax.axhline(math.log(len(tokenizer)), color="gray", linestyle=":", label="uniform guess, log(vocab)")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Try it: the learning rate
#
# The learning rate is the one hyperparameter that can ruin a run on its own. To drag a slider and see the result
# at once we need a run that takes well under a second: a *bigram* model (the next token from the current one
# only, through a 16-dimensional bottleneck) trained for 60 AdamW steps on the same corpus. Too small and the loss
# barely moves; too large and it jumps around or goes up.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
pairs = torch.stack([blocks[:, :-1].reshape(-1), blocks[:, 1:].reshape(-1)], dim=1)  # (current, next) token pairs


def toy_run(lr: float, steps: int = 60, seed: int = 0) -> list[float]:
    # bigram language model: embed the current token (16 numbers), score every possible next token
    torch.manual_seed(seed)
    toy = torch.nn.Sequential(torch.nn.Embedding(len(tokenizer), 16), torch.nn.Linear(16, len(tokenizer)))
    opt = torch.optim.AdamW(toy.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        batch = pairs[torch.randint(len(pairs), (256,), generator=g)]
        opt.zero_grad()
        loss = cross_entropy_by_hand(toy(batch[:, 0]), batch[:, 1])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


reference = toy_run(1e-2)


def show_lr(lr=1e-2):
    plot_curves({f"lr = {lr:.0e}": toy_run(lr), "lr = 1e-02 (reference)": reference}, xlabel="step",
                ylabel="cross-entropy loss (nats)", title="bigram model: the effect of the learning rate")
    plt.ylim(0, 15)
    plt.show()


interact(show_lr, lr=FloatLogSlider(value=1e-2, base=10, min=-4, max=1, step=0.25));

# %% slideshow={"slide_type": "subslide"}
for lr in (1e-4, 1e-2, 3.0):
    print(f"lr {lr:7.0e}: loss after 60 steps {toy_run(lr)[-1]:.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The same with `Trainer`
#
# Hugging Face's `Trainer` runs exactly this loop — forward, loss, backward, step, `zero_grad` — and adds the
# plumbing: batching and shuffling, learning-rate schedules, logging, evaluation, checkpoints, devices, mixed
# precision. The arguments below use the current (transformers 5) names: `eval_strategy` (formerly
# `evaluation_strategy`), `use_cpu` (formerly `no_cuda`), and `processing_class` (formerly `tokenizer`).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Show only on the 90-minute path: `Trainer` runs the same loop plus the plumbing. Section
# timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
split = len(blocks) - 64
train_ds = Dataset.from_dict({"input_ids": blocks[:split].tolist(), "labels": blocks[:split].tolist()})
eval_ds = Dataset.from_dict({"input_ids": blocks[split:].tolist(), "labels": blocks[split:].tolist()})

args = TrainingArguments(
    output_dir=tempfile.mkdtemp(), max_steps=STEPS, per_device_train_batch_size=16, learning_rate=3e-3,
    lr_scheduler_type="constant", weight_decay=0.01, logging_steps=5, eval_strategy="steps",
    eval_steps=STEPS // 2, per_device_eval_batch_size=64, save_strategy="no", report_to="none",
    use_cpu=True, seed=0, disable_tqdm=False,
)
trainer = Trainer(model=fresh_model(), args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                  processing_class=tokenizer)
result = trainer.train()

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
logged = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
evals = [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]
ax = plot_curves({"by hand (every step)": by_hand_losses}, xlabel="training step", ylabel="cross-entropy loss (nats)",
                 title="the same training: by hand vs Trainer")
ax.plot([s for s, _ in logged], [v for _, v in logged], marker="o", label="Trainer (mean of 5 steps)")
ax.plot([s for s, _ in evals], [v for _, v in evals], marker="s", linestyle="", label="Trainer, held-out blocks")
ax.legend()
plt.show()
print(f"Trainer: {result.global_step} steps, final held-out loss {evals[-1][1]:.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The two curves are not identical, and need not be. `Trainer` shuffles in its own order and logs the mean of 5
# steps; it also clips gradients to norm 1, exempts biases and LayerNorm weights from weight decay, and trains only on
# the blocks before the 64 held out (our loop samples from all of them). Yet they fall the same way: same model, same
# optimizer, same loss.
# Nothing in `Trainer` is magic; when something goes wrong in a fine-tuning run, it is one of the four steps.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Your own GPT
#
# Every piece is now yours: token and position embeddings (lessons 02, 03), causal multi-head attention (04), the
# block (05), the loss and the loop (this lesson). Stacked, they are a whole GPT, with no Hugging Face code in its
# forward pass:
#
# $$h_0 = E[\text{ids}] + P[0, 1, \dots, T-1], \qquad h_{\ell} = \text{block}_{\ell}(h_{\ell-1}), \qquad
# \text{logits} = \text{LN}_f(h_L)\, E^{\top}$$
#
# The output layer is the token embedding $E$ itself, transposed (GPT-2 *ties* them): the logit of token $v$ is
# the dot product of the last hidden state with $v$'s own embedding. `utils.transformer.GPTByHand` is that model as
# an `nn.Module`; its forward:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Optional on every path (docs/workshops.md): a student who built the pieces sees them become
# one model. Let the room write 06.4 first; then the equality and the two curves on top of each other, then dropout.

# %% slideshow={"slide_type": "subslide"}
print(inspect.getsource(GPTByHand.forward))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 06.4 · the forward pass of a whole GPT
#
# Write `gpt_logits(ids, wte, wpe, blocks, ln_f)` without looking at the cell above: `ids` is a `(batch, seq)`
# tensor of token ids, `wte` and `wpe` the token and position embeddings (`nn.Embedding`), `blocks` a list of
# blocks (each maps `(batch, seq, d)` to the same shape), `ln_f` the final LayerNorm. Return the logits,
# `(batch, seq, vocab)`. The check builds three small GPT-2s and compares with their own logits.

# %% tags=["your-turn"]
def gpt_logits(ids: torch.Tensor, wte, wpe, blocks, ln_f) -> torch.Tensor:
    ...  # your code here: embeddings plus positions, every block in order, ln_f, the tied output layer

# %% slideshow={"slide_type": "subslide"} tags=["your-turn-check"]
check("06.4", gpt_logits)

# %% [markdown]
# <details><summary>Worked answer</summary>
#
# ```python
# def gpt_logits(ids: torch.Tensor, wte, wpe, blocks, ln_f) -> torch.Tensor:
#     h = wte(ids) + wpe(torch.arange(ids.shape[1]))   # (batch, seq, d): positions 0 … seq − 1
#     for block in blocks:
#         h = block(h)                                  # (batch, seq, d)
#     return ln_f(h) @ wte.weight.T                     # (batch, seq, vocab)
# ```
# Each forgotten piece shows: without `wpe` the model cannot tell "Paris is" from "is Paris"; positions counted from
# 1 shift every token by one place; without `ln_f` the scale of the logits is wrong.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Same weights, same model.** Copy the weights of a fresh Hugging Face GPT-2 (the small one of section 4) into
# `GPTByHand` and compare the logits on four blocks of the corpus:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
theirs = fresh_model(seed=1).eval()
mine = GPTByHand.from_hf(theirs).eval()
sample = blocks[:4]                                          # (4, 32) token ids
with torch.no_grad():
    mine_logits, their_logits = mine(sample), theirs(sample).logits   # (4, 32, vocab) each
print(f"parameters: {sum(p.numel() for p in mine.parameters()):,} (yours), "
      f"{sum(p.numel() for p in theirs.parameters()):,} (GPT2LMHeadModel)")
print("logits equal:", close(mine_logits, their_logits, reduction=forward_reduction(theirs.config)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **And it trains like one.** The same loop as section 4, the same batches, once for each model, starting from the
# same weights:

# %% slideshow={"slide_type": "subslide"}
OWN_STEPS = 40
own_losses = {}
for name, net in (("GPT2LMHeadModel", fresh_model(seed=1)), ("GPTByHand", GPTByHand.from_hf(fresh_model(seed=1)))):
    own_losses[name] = train(net, random_batches(blocks, batch_size=16, seed=1),
                             torch.optim.AdamW(net.parameters(), lr=3e-3), steps=OWN_STEPS, desc=name)
gap = max(abs(a - b) for a, b in zip(*own_losses.values(), strict=True))
print(f"loss {own_losses['GPTByHand'][0]:.2f} -> {own_losses['GPTByHand'][-1]:.2f} in {OWN_STEPS} steps; "
      f"largest gap between the two curves: {gap:.1e}")

# %% slideshow={"slide_type": "subslide"}
ax = plot_curves(own_losses, xlabel="training step", ylabel="cross-entropy loss (nats)",
                 title="your GPT and Hugging Face's, same weights, same batches")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The curves lie on top of each other: the gap printed above is float rounding (the two models add the same numbers
# in a different order), grown a little by 40 optimizer steps, not a difference in the model.
#
# **Dropout, and why `train()` and `eval()` exist.** GPT-2 was trained with dropout 0.1: during training, each
# number of the embeddings and of every sublayer's output is zeroed with probability 0.1 (and the rest scaled by
# 1/0.9), a fresh random choice at every call, so that no weight can rely on one particular other. `GPTByHand(…,
# dropout=0.1)` does the same (GPT-2 also drops attention weights; ours does not). `model.train()` switches dropout
# on, `model.eval()` off; `utils.training.train` calls `train()`, so evaluate after `eval()`.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
dropping = GPTByHand.from_hf(theirs, dropout=0.1)
with torch.no_grad():
    dropping.train()
    first, second = dropping(sample), dropping(sample)
    print("train mode, two calls give different logits (a new dropout mask each):", not torch.equal(first, second))
    dropping.eval()
    first, second = dropping(sample), dropping(sample)
    print("eval mode, two calls give equal logits:", torch.equal(first, second))
    print("eval mode equals GPT-2's logits:", close(first, their_logits, reduction=forward_reduction(theirs.config)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. The model gives the correct token probability 0.25. What is the loss? And at 0.0001?
# 2. A fresh model with a 50,257-token vocabulary starts near which loss?
# 3. You forget `optimizer.zero_grad()`. What happens to the size of the updates as training goes on?
# 4. Why does the language-model loss compare `logits[:, :-1]` with `input_ids[:, 1:]`?
#
# <details><summary>Answers</summary>
#
# 1. $-\log 0.25 = 1.386$; $-\log 0.0001 = 9.21$.
# 2. $\log 50257 \approx 10.82$ (uniform guessing).
# 3. Each step adds the new gradient to all old ones, so `.grad` holds the running sum of every gradient so far.
#    With plain SGD the update is `lr × .grad`: it grows step after step and points in stale directions, and the
#    loss soon stops falling or blows up. With AdamW, this lesson's optimizer, the size does *not* grow: each
#    weight's update is divided by the running root-mean-square of its own `.grad`, so it stays of the order of `lr`
#    whatever the sum's size. What goes wrong is the direction: it is dominated by stale gradients, so the loss
#    stops falling where it should.
# 4. The logits at position *t* predict token *t + 1*; the last position has no next token, the first token has no
#    prediction.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Forward: a distribution over the whole vocabulary at every position.
# - Loss: $-\log p(\text{correct})$, 0 when certain and right, $\log V$ for a blind guess; computed with `logsumexp`.
# - Backward fills `.grad` (and accumulates: `zero_grad` every step); the optimizer step moves weights against it.
# - A loop with a progress bar and a loss curve is ten lines; `Trainer` runs the same loop with more plumbing.
# - The learning rate decides between crawling, learning and diverging.
# - Your own GPT (embeddings, positions, blocks, `ln_f`, tied output) has GPT-2's logits and trains like it; dropout
#   acts in `train()` mode only.
#
# Next: lesson 07 freezes all of these weights and trains a tiny low-rank update instead — LoRA.
