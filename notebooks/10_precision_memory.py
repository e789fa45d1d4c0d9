# %% [markdown] slideshow={"slide_type": "slide"}
# # 10 · Precision and the memory wall
#
# Why can't you simply fine-tune a 7-billion-parameter model on a laptop? Not because the idea is hard, but because
# the **bytes** do not fit. This lesson counts them.
#
# **You will be able to**
# - say what fp32, fp16 and bf16 can and cannot represent, and show a rounding and an overflow in each;
# - compute the memory of a model's weights in any precision (`model_memory_gb`);
# - write the training bill (weights, gradients, Adam's two states, activations) for full fine-tuning and LoRA,
#   and check it against a **measured** step of GPT-2-124M; count what checkpointing and 8-bit Adam save.
#
# *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md` (the measurement starts two fresh Python processes).*

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers import GPT2Config

from utils.exercises import check
from utils.lora import lora_parameter_count
from utils.memory import (
    activation_memory_bytes,
    measure_training_steps,
    model_memory_gb,
    training_memory,
)
from utils.notebook import setup

device = setup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Three ways to store a real number
#
# A floating-point number is $(-1)^{\text{sign}} \times 2^{\text{exponent}} \times 1.\text{mantissa}$. The bits are split between the **exponent** (how far
# the range reaches) and the **mantissa** (how finely it is divided):
#
# | format | sign | exponent | mantissa | bytes |
# |---|---|---|---|---|
# | fp32 | 1 | 8 | 23 | 4 |
# | fp16 | 1 | 5 | 10 | 2 |
# | bf16 | 1 | 8 | 7 | 2 |
#
# bf16 keeps fp32's exponent (same range) and gives up mantissa (fewer digits); fp16 does the opposite.
# `torch.finfo` tells us what that means in numbers:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 20.7 s. The 90-minute path skips 10–12 (mention them in the wrap-up). Half-day path: block 7
# (30 minutes for 10, 11, 12) runs §2–3 live. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print(f"{'dtype':<10}{'largest':>14}{'smallest normal':>18}{'eps (gap after 1)':>20}{'~digits':>9}")
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    info = torch.finfo(dtype)
    print(f"{str(dtype).split('.')[1]:<10}{info.max:>14.4g}{info.tiny:>18.4g}{info.eps:>20.4g}"
          f"{-np.log10(info.eps):>9.1f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Rounding: one value, three results
#
# `eps` is the gap between 1 and the next representable number; every value is rounded to the nearest
# representable one, so the relative error is at most `eps / 2`. Here is 0.1 — which no binary format stores
# exactly — in each format, and how many different numbers the three formats make of it:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
x = 0.1
results = set()
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    stored = torch.tensor(x, dtype=dtype).item()
    results.add(stored)
    print(f"{str(dtype).split('.')[1]:<9} stores {stored:.12f}   error {abs(stored - x):.2e}   "
          f"relative {abs(stored - x) / x:.1e}")
print("different results:", len(results))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Range: overflow and underflow
#
# fp16's 5 exponent bits stop at 65,504; anything larger becomes `inf`. At the other end, anything below about
# 6 × 10⁻⁸ (its smallest subnormal number) becomes 0. bf16 reaches as far as fp32 at both ends, with coarser steps.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
for value in (70_000.0, 1e-8):
    row = [f"{str(d).split('.')[1]}={torch.tensor(value, dtype=d).item():.4g}"
           for d in (torch.float32, torch.float16, torch.bfloat16)]
    print(f"{value:>8g} -> " + "   ".join(row))

# %% [markdown] slideshow={"slide_type": "subslide"}
# That small end is why mixed-precision training in fp16 needs **loss scaling** and bf16 does not. Gradients are
# often tiny — a product of many small factors — and in fp16 they *underflow*: they become 0 and that weight learns
# nothing. Loss scaling multiplies the loss by a large factor $S$ before `backward()`; every gradient is then $S$
# times larger, inside fp16's range, and the optimizer divides by $S$ again in fp32. (PyTorch's `GradScaler` starts
# at $S = 2^{16}$ and lowers it whenever a gradient overflows to `inf`.) One weight whose gradient is the product of
# two small factors, computed in fp16:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
small = torch.tensor(1e-4, dtype=torch.float16)      # two small factors on the path from the loss to one weight
print(f"exact gradient: {small.double().item() ** 2:.3e}")
for scale in (1.0, 2.0 ** 14):
    w = torch.tensor(1.0, dtype=torch.float16, requires_grad=True)
    (w * small * small * scale).backward()              # the loss times the scale, all in fp16
    print(f"loss scale {scale:>6g}: fp16 gradient {w.grad.item():.3e} -> divided by the scale in fp32: "
          f"{w.grad.float().item() / scale:.3e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What accumulates
#
# One rounding is tiny. Millions of them in a row are not: an optimizer adds small updates to large weights at
# every step. Add 0.0001 to a running total 20,000 times — the exact answer is 2.0:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
steps, increment = 20_000, 1e-4
totals = {}
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    total, history = torch.tensor(0.0, dtype=dtype), []
    for _ in range(steps):
        total = total + torch.tensor(increment, dtype=dtype)
        history.append(total.item())
    totals[str(dtype).split(".")[1]] = history
    print(f"{str(dtype).split('.')[1]:<9} final sum {history[-1]:.4f}   (exact {steps * increment:.4f})")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, history in totals.items():
    ax.plot(history, label=name)
ax.plot([0, steps], [0, steps * increment], "k:", label="exact")
ax.set(xlabel="number of additions of 0.0001", ylabel="running sum", title="Rounding errors accumulate")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The fp16 sum stops growing once the step between representable numbers near the total is larger than twice the
# increment: adding 0.0001 then rounds back to the same number. bf16 stalls far earlier (7 mantissa bits). This is
# why training keeps an **fp32 master copy** of the weights and fp32 optimizer states even when the forward pass
# runs in 16 bits — and why those copies cost memory.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The memory of the weights
#
# Weights alone cost $\text{parameters} \times \text{bits} / 8$ bytes. Two units are in use (the cell prints their ratio): GB = 10⁹ bytes
# (what `model_memory_gb` returns, and how disks and model downloads are sized) and GiB = 2³⁰ = 1024³ bytes. GPU
# memory is built and sold in binary sizes: a card sold as "24 GB" holds 24 GiB, and `nvidia-smi` reports MiB.
# Seed 002 divides by 1024³ and calls the result GB; that is GiB under the name the GPU world uses for it, and it is
# the right unit to hold against a card's label. The table prints both.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 7): parameters × bits / 8, in GB
# and GiB. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
print(f"1 GiB = {2**30 / 1e9:.4f} GB")
print(f"{'model':<11}" + "".join(f"{d:>9}" for d in ("fp32", "fp16", "bf16", "int8", "4-bit")))
for name, n in (("7B", 7e9), ("13B", 13e9)):
    print(f"{name + ' in GB':<11}" + "".join(f"{model_memory_gb(n, d):>9.1f}" for d in ("fp32", "fp16", "bf16", "int8", 4)))
    print(f"{name + ' in GiB':<11}" + "".join(f"{model_memory_gb(n, d) * 1e9 / 2**30:>9.1f}"
                                            for d in ("fp32", "fp16", "bf16", "int8", 4)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# A consumer GPU has 8–24 GiB. A 7B model in 16 bits (the table's GiB line) barely *loads* on the larger ones — and
# loading is the cheap part.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 10.1 · the bytes of the weights
#
# Return the memory of `n_params` weights stored in `dtype` (any torch dtype: `torch.float32`, `torch.bfloat16`,
# `torch.int8`, …) in GB, without `utils.memory`. The check compares five models and dtypes with
# `model_memory_gb`.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def weights_gb_by_hand(n_params: float, dtype: torch.dtype) -> float:
    ...  # your code here: parameters x bytes per value, in GB


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("10.1", weights_gb_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def weights_gb_by_hand(n_params, dtype):
#     bytes_per_value = torch.tensor([], dtype=dtype).element_size()   # 4, 2, 1, ...
#     return n_params * bytes_per_value / 1e9                          # GB = 10**9 bytes
# ```
# Dividing by `1024**3` instead gives GiB, 7 % less: the unit a GPU's memory is sold in, not the one asked here.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The training bill
#
# Training with Adam keeps, for every **trainable** parameter:
#
# | item | why | bytes / param (fp32 training) |
# |---|---|---|
# | weight | the model itself | 4 |
# | gradient | ∂loss/∂weight from backward | 4 |
# | Adam m | running mean of gradients | 4 |
# | Adam v | running mean of squared gradients | 4 |
#
# 16 bytes per parameter, plus **activations** (the intermediate results saved during the forward pass for
# backward), which grow with batch × sequence length. Mixed precision does not change the total much: 2 (bf16
# weight) + 2 (bf16 gradient) + 4 (fp32 master weight) + 8 (Adam) is again 16.
#
# **LoRA** freezes the base: its weights are stored once (no gradient, no Adam state), and only the small adapter
# pays the 16 bytes. `training_memory` writes this bill:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path: weights, gradients and two Adam states per trainable
# parameter. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
n7 = 7e9
adapter = lora_parameter_count([(4096, 4096)] * 2 * 32, r=16)  # W_q and W_v of 32 layers, width 4096 (a Llama-2-7B shape)
activations = activation_memory_bytes(n_layers=32, d_model=4096, n_heads=32, seq_len=512, batch_size=4)
bills = {
    "full, fp32 + Adam": training_memory(n7, n7, activations_bytes=activations),
    "LoRA r=16, bf16 base": training_memory(n7, adapter, frozen_bits="bf16", activations_bytes=activations),
    "QLoRA r=16, NF4 base": training_memory(n7, adapter, frozen_bits=4.127, activations_bytes=activations),
}
print(f"LoRA adapter: {adapter:,} trainable parameters ({adapter / n7:.3%} of 7B)")
print(f"{'7B model':<22}{'weights':>9}{'grads':>9}{'Adam':>9}{'activ.':>9}{'total':>9}  (GB)")
for name, bill in bills.items():
    gb = bill.gb()
    print(f"{name:<22}" + "".join(f"{gb[k]:>9.2f}" for k in ("weights", "gradients", "optimizer", "activations", "total")))

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
fig, ax = plt.subplots(figsize=(7, 3.5))
left = np.zeros(len(bills))
for item in ("weights", "gradients", "optimizer", "activations"):
    values = np.array([bill.gb()[item] for bill in bills.values()])
    ax.barh(list(bills), values, left=left, label=item)
    left += values
ax.axvline(24 * 2**30 / 1e9, color="k", ls=":", label="a '24 GB' GPU (24 GiB)")
ax.set(xlabel="GB", title="Training memory of a 7B model (batch 4 × 512 tokens, activations estimated)")
ax.invert_yaxis()
ax.legend(fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 002's rule of thumb — "4–6× model size, a 7B model needs 25–40 GB for full fine-tuning" — is too
# optimistic for Adam: the bill above is 16 bytes per parameter, **112 GB** before activations, 8× the fp16
# weights. 25–40 GB is what you need *without* a full optimizer state (LoRA), or with tricks such as 8-bit
# optimizers and offloading. With LoRA the gradients and Adam states almost vanish; the frozen weights are what
# is left, and that is exactly what QLoRA (lesson 12) shrinks.
#
# The activation line is an estimate (Korthikanti et al. 2022); it is the one item LoRA does *not* remove, because
# backward still flows through every layer to reach the adapters.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 10.2 · write the bill
#
# Return the training bill in **bytes** for a model of `n_params` parameters of which `n_trainable` are trained:
# fp32 weights, fp32 gradients and Adam's two fp32 states, activations left out. `n_trainable == n_params` is a full
# fine-tune; fewer is LoRA, whose adapter comes on top of the frozen base. The check compares it with
# `training_memory(n_params, n_trainable).total`.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def training_bytes_by_hand(n_params: float, n_trainable: float) -> float:
    ...  # your code here


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("10.2", training_bytes_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# def training_bytes_by_hand(n_params, n_trainable):
#     frozen = 0 if n_trainable >= n_params else n_params      # full fine-tune: the model is the trainable part
#     return 4 * frozen + (4 + 4 + 8) * n_trainable            # frozen weight; weight, gradient, Adam m and v
# ```
# A frozen weight costs its 4 bytes once; a trained one 16. Counting the model twice in a full fine-tune (20 bytes
# per parameter) is the mistake the first line avoids.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Measured, not assumed: one training step of GPT-2-124M
#
# Formulas are claims; let us measure. `measure_training_steps` builds GPT-2-124M from `GPT2Config()` (random
# weights, nothing downloaded) in a **fresh Python process** (one child process per method, forked after the
# libraries are imported) and runs one AdamW step — forward, backward, optimizer step — either on every parameter
# or with LoRA r = 8 on `c_attn`.
#
# How we measure: Python's `tracemalloc` is blind to torch (its tensors are allocated in C++), and a laptop CPU
# has no `torch.cuda.max_memory_allocated`. So the child process asks the Linux kernel: `VmHWM` in
# `/proc/self/status` is the peak resident memory, which we reset just before the model is built. Large
# allocations are forced to `mmap`, so freed tensors really leave memory. `model_bytes` = peak − memory of the
# interpreter with torch, transformers and PEFT imported (a library's import is not the training's cost).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** On a slow or 4 GB laptop, skip the measured step and show its committed output
# (docs/workshops.md). Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
measured = measure_training_steps(("full", "lora"), batch_size=1, seq_len=64)
for method, m in measured.items():
    print(f"{method:<5} trainable {m['trainable']:>12,}   peak over baseline {m['model_bytes'] / 1e6:7.0f} MB   "
          f"step {m['step_seconds']:.1f} s")
ratio = measured["lora"]["model_bytes"] / measured["full"]["model_bytes"]
print(f"LoRA / full peak memory: {ratio:.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# And the bill predicted for the same model (activations for 1 × 64 tokens are a small share; the cell prints it):

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
n_gpt2 = measured["full"]["trainable"]
config = GPT2Config()
act = activation_memory_bytes(config.n_layer, config.n_embd, config.n_head, seq_len=64, batch_size=1, bytes_per_value=4)
predicted = {"full": training_memory(n_gpt2, n_gpt2, activations_bytes=act),
             "lora": training_memory(n_gpt2, measured["lora"]["trainable"], frozen_bits=32, activations_bytes=act)}
for method in ("full", "lora"):
    print(f"{method:<5} predicted {predicted[method].total / 1e6:7.0f} MB   measured {measured[method]['model_bytes'] / 1e6:7.0f} MB"
          f"   activations {act / predicted[method].total:.1%} of the prediction")

fig, ax = plt.subplots(figsize=(6, 3.2))
xs = np.arange(2)
ax.bar(xs - 0.2, [predicted[m].total / 1e6 for m in ("full", "lora")], 0.4, label="predicted bill")
ax.bar(xs + 0.2, [measured[m]["model_bytes"] / 1e6 for m in ("full", "lora")], 0.4, label="measured peak")
ax.set_xticks(xs, ["full fine-tune", "LoRA r=8 on c_attn"])
ax.set(ylabel="MB", title="GPT-2-124M, one AdamW step on CPU")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The measured peak sits a little above the bill: the step also holds temporaries (the logits over a
# 50,257-token vocabulary, their softmax, gradient buffers while they are being summed) and framework overhead.
# The *shape* of the result is the lesson: the full step pays weights + gradients + two Adam states (four copies of
# the model); the LoRA step pays roughly one copy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Two more levers: recompute the activations, store Adam's state in 8 bits
#
# LoRA shrinks the gradients and the optimizer state of the *frozen* weights. Two other levers work on any
# fine-tune, full or LoRA, and both appear in every memory-saving recipe:
#
# - **Gradient checkpointing** attacks the activations. Backward needs each layer's intermediate results; keeping
#   all of them costs memory in proportion to layers × batch × sequence length. With checkpointing, each
#   transformer block keeps only its *input*; during backward the block's forward pass runs again to rebuild its
#   internals, one block at a time. The price is one extra forward pass per step.
# - **8-bit optimizer states** attack Adam's bill. Adam's two running means $m$ and $v$ cost 8 bytes per trained
#   parameter in fp32. bitsandbytes' `AdamW8bit` stores each as one byte per value plus one fp32 scale per block of
#   256 values (the blockwise idea of lesson 11) and dequantizes them only for the update.
#
# We count both on the course's bundled model, exactly: `saved_activation_bytes` hooks every tensor autograd saves
# for backward, and `optimizer_state_bytes` adds up the optimizer's tensors. Counts depend only on shapes, so they
# are the same on every machine.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The counts are exact and instant; the step-time ratio is measured and varies from machine to
# machine (one extra forward pass: expect 15-40 % more time).

# %% slideshow={"slide_type": "subslide"}
import statistics
import time

import bitsandbytes as bnb

from utils.data import load_corpus
from utils.memory import optimizer_state_bytes, saved_activation_bytes
from utils.models import load_model

model, tokenizer = load_model(device=device)
model.train()  # dropout on, as in training: recomputation must replay the same dropout masks
corpus_ids = tokenizer(" ".join(load_corpus()), return_tensors="pt")["input_ids"][0].to(device)
batch = corpus_ids[: 4 * 128].view(4, 128)  # (batch 4, seq 128)
print(f"bundled model: {model.config.n_layer} blocks, d_model {model.config.n_embd}, "
      f"{sum(p.numel() for p in model.parameters()):,} parameters; batch {tuple(batch.shape)}")

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output", "slides-output-apart"]
runs = {}
for checkpointing in (False, True):
    if checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": True})
    torch.manual_seed(0)  # the same dropout masks in both runs
    kept, loss = saved_activation_bytes(model, input_ids=batch, labels=batch)
    loss.backward()
    runs[checkpointing] = dict(kept=kept, loss=loss.item(), grads=[p.grad.clone() for p in model.parameters()])
    model.zero_grad(set_to_none=True)
model.activation_checkpointing_disable()

plain, recomputed = runs[False], runs[True]
largest = max(g.abs().max().item() for g in plain["grads"])
same = all(torch.allclose(a, b, rtol=0, atol=1e-6 * largest) for a, b in zip(plain["grads"], recomputed["grads"]))
print(f"kept for backward, every activation:   {plain['kept'] / 1e6:6.1f} MB")
print(f"kept for backward, with checkpointing: {recomputed['kept'] / 1e6:6.1f} MB "
      f"({recomputed['kept'] / plain['kept']:.0%})")
print(f"same loss: {abs(plain['loss'] - recomputed['loss']) <= 1e-6 * abs(plain['loss'])}; "
      f"same gradients (to 1e-6 of the largest): {same}")

# %% slideshow={"slide_type": "subslide"}
def step_seconds(checkpointing: bool) -> float:
    """Seconds of one forward + backward on `batch`, with or without checkpointing."""
    if checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": True})
    start = time.perf_counter()
    model(input_ids=batch, labels=batch).loss.backward()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    model.activation_checkpointing_disable()
    return seconds


step_seconds(False)  # warm-up: the first step also pays for setting up memory and kernels
times = {False: [], True: []}
for _ in range(3):  # alternated, so that a busy moment of the machine hits both
    for checkpointing in (False, True):
        times[checkpointing].append(step_seconds(checkpointing))
print(f"forward + backward time, checkpointing / plain: "
      f"{statistics.median(times[True]) / statistics.median(times[False]):.2f}x (median of 3 alternated runs each)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# What is left with checkpointing is each block's input, the final layer norm's and the language-model head's
# activations (the logits over the vocabulary are large), and nothing inside the blocks. During backward one block
# is rebuilt at a time, so the true peak is that count plus one block's internals. The gradients are the same: the
# recomputation runs the same operations on the same inputs, and PyTorch replays the saved random state, so even
# dropout draws the same masks. `activation_checkpointing_enable(every_n_layers=2)` checkpoints every second
# block: a point between the two.
#
# Now Adam's state. One optimizer step on the same model and batch, then we count what each optimizer keeps:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
initial = {name: value.clone() for name, value in model.state_dict().items()}
n_params = sum(p.numel() for p in model.parameters())
losses = {}
for name, optimizer_class in (("AdamW, fp32 states", torch.optim.AdamW), ("AdamW8bit", bnb.optim.AdamW8bit)):
    model.load_state_dict(initial)
    torch.manual_seed(0)
    optimizer = optimizer_class(model.parameters(), lr=1e-3)
    losses[name] = []
    for step in range(8):
        chunk = corpus_ids[step * 4 * 64: (step + 1) * 4 * 64].view(4, 64)  # (batch 4, seq 64): a new slice each step
        loss = model(input_ids=chunk, labels=chunk).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses[name].append(loss.item())
    state = optimizer_state_bytes(optimizer)
    print(f"{name:<19} state {state / 1e6:5.2f} MB = {state / n_params:.2f} bytes per parameter")
missing_and_unexpected = model.load_state_dict(initial)  # back to the bundled model as loaded

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 10.3 · predict 8-bit Adam's bytes
#
# Write the bytes of $m$ and $v$ that each optimizer keeps for **one** parameter tensor of `n_values` values (leave
# out the step counter). fp32 AdamW: 4 bytes each. bitsandbytes' `AdamW8bit`, for each of $m$ and $v$: 1 byte per
# value, a 4-byte scale per *started* block of 256 values, and a code table of 256 four-byte entries; a tensor
# under 4,096 values keeps the fp32 states. The check creates real optimizers of both kinds, takes a step, and
# counts their tensors.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def adam_state_bytes_by_hand(n_values: int, eight_bit: bool) -> int:
    ...  # your code here


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("10.3", adam_state_bytes_by_hand)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <details><summary>Worked answer</summary>
#
# ```python
# import math
#
# def adam_state_bytes_by_hand(n_values, eight_bit):
#     if not eight_bit or n_values < 4096:
#         return 2 * 4 * n_values                             # m and v in fp32
#     blocks = math.ceil(n_values / 256)                      # the last block may be partial
#     return 2 * (n_values + 4 * blocks + 256 * 4)            # codes, block scales, code table; for m and for v
# ```
# Per value that is $2 + 8/256 \approx 2.03$ bytes for a large tensor, against 8: the 2.06 printed above also
# holds the small tensors that stay in fp32.
# </details>

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(6, 3))
for name, curve in losses.items():
    ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=3, label=name)
ax.set(xlabel="training step", ylabel="training loss", title="The same 8 steps with fp32 and 8-bit Adam states")
ax.legend()
plt.show()
fp32_curve, eight_bit_curve = losses.values()
print(f"largest gap between the two curves: {max(abs(a - b) for a, b in zip(fp32_curve, eight_bit_curve)):.4f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# 8 bytes per parameter become about 2: one byte for $m$, one for $v$, and a little for the block scales (tensors
# under 4,096 values, here the biases and layer norms, keep fp32 states). On these 8 steps the two loss curves lie
# on top of each other (the gap is printed under the plot). The bitsandbytes authors found 8-bit states matching
# 32-bit ones on full training runs (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"), and
# training recipes offer it as one switch (`optim="adamw_bnb_8bit"` in `transformers.TrainingArguments`).
#
# A **paged** optimizer (`bnb.optim.PagedAdamW8bit`, QLoRA's third ingredient) keeps its state in CUDA unified
# memory, which the driver moves to CPU RAM when the GPU runs short instead of failing the step. It lowers no
# bill; it survives a spike. On a CPU there is nowhere to page to, which is why lesson 12 only describes it.
#
# | lever | what it shrinks | price |
# |---|---|---|
# | LoRA | gradients and Adam state of the frozen weights | a small adapter, a lower ceiling than a full fine-tune |
# | gradient checkpointing | activations | one extra forward pass per step |
# | 8-bit Adam | Adam's state, 8 → about 2 bytes per trained parameter | quantization error in $m$ and $v$ |
# | 4-bit base (lesson 12) | the frozen weights | dequantizing them in every forward pass |

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. Why does bf16 overflow at the same place as fp32 but round worse?
# 2. A 13B model, full fine-tune in fp32 with Adam: how many GB before activations?
# 3. LoRA adds parameters. Why does it still need less memory than full fine-tuning?
# 4. Which item of the bill does LoRA *not* shrink, and which technique (lesson 12) attacks what remains?
# 5. Why does gradient checkpointing give the same gradients, even with dropout on? What does it cost instead?
#
# Answer to 2, computed:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
print(f"13B full fine-tune: {training_memory(13e9, 13e9).total / 1e9:.0f} GB (16 bytes x 13e9)")

# %% [markdown] slideshow={"slide_type": "slide"}
# 1. Same 8 exponent bits, only 7 mantissa bits. 2. 208 GB. 3. Only the adapter's parameters get gradients and Adam
# states; the frozen base is stored once. 4. The frozen weights (and the activations): QLoRA stores the base in 4 bits.
# 5. Backward recomputes each block from its kept input with the same operations, and PyTorch restores the saved
# random state, so dropout draws the same masks; the cost is one more forward pass per step (time, not memory).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - fp32 / fp16 / bf16 trade range for digits; small rounding errors accumulate, which is why optimizers keep fp32
#   state.
# - Weights: $\text{params} \times \text{bits} / 8$. 7B in fp16 = 14 GB.
# - Training with Adam: 16 bytes per trainable parameter + activations. Full fine-tune of 7B ≈ 112 GB + activations.
# - LoRA removes gradients and optimizer states for the base; measured on GPT-2-124M the peak memory drops to the
#   ratio printed above.
# - Gradient checkpointing keeps only each block's input (counted above: a fraction of the activations) for one
#   extra forward pass; 8-bit Adam stores $m$ and $v$ in about 2 bytes per parameter instead of 8. Next: make the
#   frozen base itself smaller — quantization.
