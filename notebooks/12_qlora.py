# %% [markdown] slideshow={"slide_type": "slide"}
# # 12 · QLoRA: LoRA on a 4-bit base, on a laptop CPU
#
# Lesson 10: with LoRA, the frozen base model is most of the memory bill. Lesson 11: NF4 stores a weight in
# 4.127 bits. QLoRA (Dettmers et al., 2023) puts the two together: the base model is stored in NF4 with double
# quantization and never changes; LoRA adapters in full precision are trained on top.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **You will be able to**
# - load a model in 4-bit NF4 with `BitsAndBytesConfig` and read its memory footprint;
# - say which layers were quantized and which were not, and check a quantized layer against lesson 11's code;
# - train LoRA on the 4-bit model and compare it with plain LoRA on the same data;
# - explain what happens when an adapter is merged into a 4-bit base instead of a full-precision copy;
# - recompute the seeds' memory tables for Llama 3.2 3B and a 27B model.
#
# Everything runs for real on the CPU (bitsandbytes ≥ 0.45 has CPU kernels). *Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`;
# `COURSE_FULL=1` trains 10× longer.*

# %% slideshow={"slide_type": "skip"}
from utils.notebook import full_run, setup  # first: importing it quiets bitsandbytes' import-time notice

from dataclasses import replace

import bitsandbytes as bnb
import matplotlib.pyplot as plt
import torch
from peft import (
    LoraConfig,
    get_peft_model,
    get_peft_model_state_dict,
    prepare_model_for_kbit_training,
    set_peft_model_state_dict,
)
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Gemma2Config, LlamaConfig

from utils.data import load_qa
from utils.device import training_dtype
from utils.exercises import check
from utils.lora import lora_parameter_count
from utils.memory import model_memory_gb, training_memory
from utils.models import load_model
from utils.plotting import plot_curves
from utils.qa import heldout_loss, qa_dataloader, train_loop
from utils.quant import bits_per_param, dequantize_nf4, quantize_nf4, unpack_4bit

device = setup()
FULL = full_run()
STEPS = 300 if FULL else 30

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. What QLoRA does — and what it does not
#
# For every quantized linear layer, the forward pass is
#
# $$y = \underbrace{\text{dequant}(W_{\text{NF4}})}_{\text{computed on the fly, then discarded}} x \; + \; \frac{\alpha}{r} B A x$$
#
# - `W_NF4` (codes + double-quantized scales) is **stored** in 4 bits and never updated;
# - for the matmul, one layer's weights are dequantized to the *compute dtype* (float32 on CPU, bf16 on GPUs),
#   used, and thrown away;
# - gradients flow *through* the dequantized weights to the input of the layer, so the adapters of earlier
#   layers learn, but no gradient is kept for `W`.
#
# Seed 004 describes the forward pass as "dequantize → compute → quantize". There is no re-quantization: the 4-bit
# weights are read, never written. Section 4 checks this on the bytes.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 18.8 s. Half-day path: block 7 (30 minutes for 10, 11, 12) runs §2–3 live. Section timing:
# see docs/workshops.md.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Loading the course model in 4 bits
#
# Since transformers 5 the only way to ask for 4 bits is a `quantization_config`. `device_map={"": device}` tells
# transformers where the quantized weights live, and the compute dtype follows the device: float32 on a CPU, bf16 on
# a GPU that has it (`utils.device.training_dtype`). On a GPU the same cells use bitsandbytes' CUDA kernels.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path (docs/workshops.md, block 7): the course model in 4 bits.
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
bnb_config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=training_dtype(device))  # fp32 on CPU, bf16 on a recent GPU
model4, tokenizer = load_model(quantization_config=bnb_config, device_map={"": device})
model32, _ = load_model(device=device)
fp32_bytes, nf4_bytes = model32.get_memory_footprint(), model4.get_memory_footprint()
print(f"fp32 model: {fp32_bytes / 1e6:.2f} MB   4-bit model: {nf4_bytes / 1e6:.2f} MB   ratio {nf4_bytes / fp32_bytes:.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Not the 1/8 you might expect from 32 → 4 bits. Which parameters were quantized?

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
quantized, kept = {}, {}
for name, module in model4.named_modules():
    if isinstance(module, bnb.nn.Linear4bit):
        key = name.split(".")[-1]
        quantized[key] = quantized.get(key, 0) + module.in_features * module.out_features
for name, p in model4.named_parameters():
    if p.dtype != torch.uint8:
        key = name.split(".")[-2] + (" bias" if name.endswith("bias") else "")
        kept[key] = kept.get(key, 0) + p.numel()
print("quantized to NF4 (Linear4bit):", {k: f"{v:,}" for k, v in quantized.items()})
print("kept in float32:              ", {k: f"{v:,}" for k, v in kept.items()})
n_q, n_kept = sum(quantized.values()), sum(kept.values())
print(f"share of parameters quantized: {n_q / (n_q + n_kept):.1%}")
print("lm_head:", type(model4.lm_head).__name__, "| tied to the embedding:", model4.lm_head.weight is model4.transformer.wte.weight)

# %% [markdown] slideshow={"slide_type": "subslide"}
# - GPT-2's `c_attn`, `c_proj` (attention and MLP) and `c_fc` are `Conv1D` modules (a linear layer with the weight
#   stored transposed). transformers replaced every one of them by `bnb.nn.Linear4bit`, transposing the weight.
# - The token and position **embeddings**, the LayerNorms and the biases stay in full precision: they are not
#   matmul weights. `lm_head` *is* a matmul (hidden state × vocabulary), yet it is not quantized either — on
#   purpose: transformers' quantizer keeps the output layer in full precision "for numerical stability reasons"
#   (its own words, in `transformers.quantizers.base.get_keys_to_not_convert`), and here that layer also shares its
#   weight with the token embedding. The last line above shows it is still a plain `Linear`.
# - In the course model the embedding (vocab 4000 × 256) is a large share of all parameters, so the footprint ratio is
#   far from 4.127/32 ≈ 0.129. In bigger models the embeddings are a smaller share and the ratio falls, but not to
#   0.129 while they stay unquantized: section 6 counts Llama 3.2 3B and Gemma 2 27B, and figure 5 of `make bench`
#   measures GPT-2-124M.
#
# ### Is a Linear4bit weight exactly lesson 11's NF4?
#
# Quantize the fp32 `c_attn` weight of layer 0 with `utils.quant.quantize_nf4` (transposed to `(out, in)` like
# `nn.Linear`) and compare with the bytes inside the 4-bit model:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
layer4 = model4.transformer.h[0].attn.c_attn
W32 = model32.transformer.h[0].attn.c_attn.weight.detach().T.contiguous().cpu()  # Conv1D (in, out) -> Linear (out, in)
codes, absmax = quantize_nf4(W32, blocksize=layer4.weight.quant_state.blocksize)
print("Linear4bit storage:", layer4.weight.dtype, tuple(layer4.weight.shape), "| double quant:", layer4.weight.quant_state.nested)
print("codes identical to utils.quant.quantize_nf4:", torch.equal(unpack_4bit(layer4.weight.data.cpu()), codes))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. LoRA on top
#
# `prepare_model_for_kbit_training` (PEFT, `peft.utils.other`) does three things:
#
# 1. it freezes every parameter of the model;
# 2. it casts **every** parameter stored in fp16 or bf16 that is not a 4-bit weight to float32 — LayerNorms, biases
#    and the embeddings too, which in the course model are a large share of the parameters (section 2) — for
#    numerically stable training, at the price of their memory doubling; on a CPU, where the compute dtype is
#    already float32, there is nothing to cast;
# 3. only when `use_gradient_checkpointing=True`, it turns gradient checkpointing on and makes the embedding output
#    require grad (`enable_input_require_grads`): reentrant checkpointing only runs backward through a block whose
#    input requires grad, and with a frozen embedding nothing would. We pass `use_gradient_checkpointing=False`, so
#    this step does not happen here; the adapters get their gradients without it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# Then LoRA as in lesson 08 — the same rank, α and targets for the 4-bit and the fp32 model. One setting differs:
# GPT-2's fp32 `Conv1D` stores its weight as (in, out), so PEFT needs `fan_in_fan_out=True` there (lesson 08), while
# quantizing turned those layers into `Linear4bit`, stored (out, in) like `nn.Linear`, so the 4-bit model needs False.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Run live on the half-day path: LoRA on top of the frozen 4-bit weights. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
lora_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn", "c_proj", "c_fc"],
                         task_type="CAUSAL_LM")
torch.manual_seed(0)
qlora = get_peft_model(prepare_model_for_kbit_training(model4, use_gradient_checkpointing=False), lora_config)
torch.manual_seed(0)
lora = get_peft_model(load_model(device=device)[0], replace(lora_config, fan_in_fan_out=True))
qlora.print_trainable_parameters()
lora.print_trainable_parameters()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## 4. A short Q&A run: QLoRA vs plain LoRA
#
# Same questions, same order, same seed, same learning rate. The only difference is the base: NF4 or float32.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Same questions, order, seed and learning rate; only the base differs (NF4 or float32).
# Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
qa = load_qa()
probe_weight = model4.transformer.h[1].mlp.c_fc.weight  # one layer's 4-bit weight (a bnb Params4bit)
probe = probe_weight.data.clone()  # its bytes before training
probe_storage = probe_weight.data.untyped_storage().data_ptr()  # where those bytes live
losses = {}
for name, m in (("QLoRA (NF4 base)", qlora), ("LoRA (fp32 base)", lora)):
    loader = qa_dataloader(tokenizer, qa["train"], batch_size=16, seed=0, max_examples=STEPS * 16)
    losses[name] = train_loop(m, loader, max_steps=STEPS, lr=2e-3, progress=False)
    print(f"{name}: loss {losses[name][0]:.2f} -> {sum(losses[name][-5:]) / 5:.2f} (mean of the last 5 steps)")

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
plot_curves(losses, xlabel="step", ylabel="training loss", title=f"QLoRA vs LoRA on the course model, {STEPS} steps")
plt.show()
after = model4.transformer.h[1].mlp.c_fc.weight
print("4-bit bytes equal after training:", torch.equal(probe, after.data))
print("same weight object, same storage:", after is probe_weight,
      after.data.untyped_storage().data_ptr() == probe_storage)

# %% [markdown] slideshow={"slide_type": "subslide"}
# The curves nearly coincide: the adapters learn to compensate for a base that is slightly off. The last line is the
# check promised in section 1: after many forward and backward passes, not one byte of the stored 4-bit weight has
# changed. Read it for exactly what it shows. Equal bytes are what "never re-quantized" predicts, but they are not
# proof of it: quantizing a dequantized NF4 block gives back the same codes and scales (every value already sits on
# a level, and the block's largest one on ±1 × its absmax; the next cell shows it), so a dequantize → compute →
# quantize step would leave the same bytes too. The second line tells the two apart: the weight is still the same
# tensor, in the same storage, so nothing wrote a new weight. That matches bitsandbytes' code: in training,
# `Linear4bit.forward` hands the stored weight to `bnb.matmul_4bit`, which dequantizes it into a temporary, and
# never writes the weight. (One exception, not a re-quantization: in eval mode
# without gradients, on a CPU with AVX512-BF16, bitsandbytes rewrites the weight once into a packed layout for its
# CPU kernel.)

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
W = torch.randn(768, 256, generator=torch.Generator().manual_seed(0)) * 0.02  # (out, in), a GPT-2-sized layer
codes, absmax = quantize_nf4(W, 64)
codes_again, absmax_again = quantize_nf4(dequantize_nf4(codes, absmax, W.shape, 64), 64)
print("re-quantizing a dequantized NF4 weight gives the same codes:", torch.equal(codes, codes_again),
      "and the same scales:", torch.equal(absmax, absmax_again))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two more parts of QLoRA that this lesson does not run
#
# The QLoRA paper has three contributions: NF4, double quantization — and **paged optimizers**. A paged optimizer
# allocates Adam's states in NVIDIA's unified memory, which the driver moves between GPU and CPU memory page by page
# on demand: when a long batch makes the activations spike and the GPU runs out of memory, the optimizer states are
# evicted to CPU RAM instead of the step failing, and paged back for the optimizer update. It does not lower the
# memory bill; it survives its peaks. bitsandbytes provides them (`bnb.optim.PagedAdamW`, or
# `optim="paged_adamw_32bit"` in `transformers.TrainingArguments`); they rely on CUDA unified memory, so on a CPU
# there is nothing to page and nothing to show.
#
# The paper's other finding is about *where* the adapters go: LoRA on the attention query and value projections
# only (the LoRA paper's default) did not match full 16-bit fine-tuning, while LoRA on **every linear layer** of every
# block did — and the number of adapted layers mattered more than the rank `r`. Our run adapts every projection
# (`c_attn`, `c_proj`, `c_fc`) of the course model; lesson 09 compared target sets on this model in a short run, and
# section 6 counts what `r = 64` on all linear layers costs for large models.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Merging: into the 4-bit base, or into a full-precision copy?
#
# After training, `merge_and_unload` folds $\Delta W = \frac{\alpha}{r} BA$ into the base weight. With a 4-bit base that
# means: dequantize, add $\Delta W$, **quantize again** — the new weight is rounded to the NF4 grid, and $\Delta W$ is
# usually *smaller*
# than one NF4 step. The alternative is to merge into a full-precision (fp32 or bf16) copy of the base.
#
# We measure both, on the first adapted layer and on the validation loss.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Merging into a 4-bit base re-rounds the weight to the NF4 grid. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
def val_loss(model) -> float:
    return heldout_loss(model, tokenizer, qa["validation"], max_examples=256)  # per answer token, as in lesson 09


loss_base, loss_unmerged = val_loss(model32), val_loss(qlora)
lora_state = get_peft_model_state_dict(qlora)
target = qlora.base_model.model.transformer.h[0].attn.c_attn
W_deq = bnb.functional.dequantize_4bit(target.base_layer.weight.data, target.base_layer.weight.quant_state).float()
delta = target.get_delta_weight("default").float()
exact = W_deq + delta                      # what the trained adapter computes with

merged4 = qlora.merge_and_unload()          # dequantize + add + re-quantize, in every adapted layer
layer = merged4.transformer.h[0].attn.c_attn
W_merged4 = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()

fp32_copy = get_peft_model(load_model(device=device)[0], replace(lora_config, fan_in_fan_out=True))  # Conv1D
set_peft_model_state_dict(fp32_copy, lora_state)
merged32 = fp32_copy.merge_and_unload()     # the original fp32 weights + the same adapter
W_merged32 = merged32.transformer.h[0].attn.c_attn.weight.detach().T.float()

print(f"mean |ΔW| (the adapter's update)          {delta.abs().mean():.6f}")
print(f"mean |merged into 4-bit − (W_deq + ΔW)|   {(W_merged4 - exact).abs().mean():.6f}")
print(f"mean |merged into fp32 − (W_deq + ΔW)|    {(W_merged32 - exact).abs().mean():.6f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 12.1 · what a merge into the 4-bit base stores
#
# Given a full-precision weight `W` `(out, in)` and an adapter's update `delta` of the same shape, return the weight
# the 4-bit model computes with after `merge_and_unload`: the base as QLoRA stores it (NF4 in blocks of 64, lesson
# 11's `quantize_nf4` / `dequantize_nf4`), plus `delta`, stored again. The check builds three layers whose `delta` is
# smaller than one NF4 step, like the adapter's above.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def merged_4bit_weight_by_hand(W: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    ...  # your code here: a float32 tensor of W's shape


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("12.1", merged_4bit_weight_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# from utils.quant import dequantize_nf4, quantize_nf4
#
# def merged_4bit_weight_by_hand(W, delta):
#     base = dequantize_nf4(*quantize_nf4(W, 64), W.shape, 64)          # what the 4-bit base computes with
#     return dequantize_nf4(*quantize_nf4(base + delta, 64), W.shape, 64)   # the sum, rounded to NF4 again
# ```
# The last line is where the adapter's work goes: `base + delta` lands between NF4 levels and is rounded back, by
# as much as `delta` itself. Returning `base + delta` is what merging into a 16-bit copy keeps instead.
# </details>

# %% slideshow={"slide_type": "subslide"}
print(f"validation loss, base model (no adapter)       {loss_base:.3f}")
print(f"validation loss, QLoRA adapter, not merged     {loss_unmerged:.3f}")
print(f"validation loss, merged into the 4-bit base    {val_loss(merged4):.3f}")
print(f"validation loss, merged into an fp32 copy      {val_loss(merged32):.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the two error lines with care. Merging into the fp32 copy is *not* closer to $W_\text{deq} + \Delta W$ in weight space:
# it differs by the base's own quantization error (the original weights instead of their NF4 version), which is as
# large as any rounding here. But that error is the one the base model always had, and the model is not sensitive to
# it. Re-quantizing after the merge rounds $W + \Delta W$ onto the NF4 grid, and the rounding is of the same order as $\Delta W$:
# part of what the adapter learned is lost. The validation losses above are what decides, and they show it: the fp32
# merge keeps the adapter's loss, the 4-bit merge does not. The usual practice is
# therefore: train with QLoRA, keep the small adapter, and merge into a 16-bit copy of the base for deployment —
# or keep the adapter separate.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The seeds' memory tables, recomputed
#
# Seed 003 gives Llama 3.2 3B as 13 / 6.5 / 3.25 / 1.6 GB in fp32 / fp16 / int8 / int4; seed 004 gives a 27B model
# as 108 GB for a full fp16 fine-tune, 54 GB (+ 500 MB adapters) for LoRA and 14 GB for QLoRA. We build both
# architectures from their configs on the `meta` device (shapes only, no memory, no download) and count.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The seeds' memory tables, recomputed on the meta device. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
configs = {
    "Llama 3.2 3B": LlamaConfig(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                                num_attention_heads=24, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    "Gemma 2 27B": Gemma2Config(vocab_size=256000, hidden_size=4608, intermediate_size=36864, num_hidden_layers=46,
                                num_attention_heads=32, num_key_value_heads=16, head_dim=128),
}
census = {}
for name, cfg in configs.items():
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg)
    linear = {n.split(".")[-1]: (mod.out_features, mod.in_features) for n, mod in m.model.layers[0].named_modules()
              if isinstance(mod, torch.nn.Linear)}
    n_linear = sum(mod.weight.numel() for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear) and "lm_head" not in n)
    total = sum(p.numel() for p in m.parameters())
    census[name] = dict(total=total, linear=n_linear, other=total - n_linear, layers=cfg.num_hidden_layers, shapes=linear)
    print(f"{name}: {total / 1e9:.3f} B parameters, {cfg.num_hidden_layers} layers; linear {n_linear / 1e9:.3f} B, "
          f"embeddings + norms {(total - n_linear) / 1e9:.3f} B")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 12.2 · the storage of a QLoRA model
#
# Before the next cell prints the tables: return the bytes a QLoRA model occupies, given `n_linear` weights of
# linear layers (stored in NF4 with double quantization: 4-bit codes, an 8-bit scale per block of 64, a 32-bit
# scale per 256 such blocks), `n_other` embedding and norm parameters (kept in bf16), and `n_adapter` LoRA
# parameters (fp32). The check compares four models, without `utils.quant`'s help.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def qlora_bytes_by_hand(n_linear: float, n_other: float, n_adapter: float) -> float:
    ...  # your code here: bits per weight of each kind, times the counts, in bytes


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("12.2", qlora_bytes_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def qlora_bytes_by_hand(n_linear, n_other, n_adapter):
#     nf4_bits = 4 + 8 / 64 + 32 / (64 * 256)      # 4.127 bits: code + scale + second-level scale
#     return (n_linear * nf4_bits + n_other * 16 + n_adapter * 32) / 8
# ```
# The naive "4 bits × every parameter" misses the 0.127 bit of scales and, above all, the 16-bit embeddings.
# </details>

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
nf4_bits = bits_per_param(4, 64, double_quant=True)
for name, c in census.items():
    naive = {d: model_memory_gb(c["total"], d) for d in ("fp32", "fp16", "int8", 4)}
    real_nf4 = model_memory_gb(c["linear"], nf4_bits) + model_memory_gb(c["other"], "bf16")
    print(f"{name}: fp32 {naive['fp32']:.2f} | fp16 {naive['fp16']:.2f} | int8 {naive['int8']:.2f} | "
          f"4 bits naive {naive[4]:.2f} | as loaded (NF4+dq linear, bf16 embeddings) {real_nf4:.2f}  GB")


# %% [markdown] slideshow={"slide_type": "subslide"}
# The naive "4 bits × all parameters" misses two things: block scales (0.127 bit) and the embeddings, which
# bitsandbytes leaves in 16 bits — 0.39 B parameters for Llama 3.2 3B, 1.2 B for Gemma 2 27B.
#
# Now the training bill (Adam, fp32 adapters and states, activations left out because they depend on batch and
# sequence length). Seed 003 trains r = 16 on `q_proj, v_proj`; seed 004 uses r = 64 on every linear layer.

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only", "nbval-check-output"]
def adapter_size(c, r, modules):
    return c["layers"] * lora_parameter_count([c["shapes"][mod] for mod in modules], r)


all_linear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
for name, c in census.items():
    n = c["total"]
    frozen_nf4_bits = (c["linear"] * nf4_bits + c["other"] * 16) / n
    print(f"{name}")
    print(f"  {'method':<40}{'adapter params':>16}{'weights':>9}{'grads':>8}{'Adam':>8}{'total':>8}  GB")
    rows = [("full fine-tune, mixed bf16 (2+2+4+8 B)", n, training_memory(n, n, trainable_bits=16, adam_states=3)),
            ("LoRA r=16 q,v, bf16 base", adapter_size(c, 16, ["q_proj", "v_proj"]), None),
            ("LoRA r=64 all linear, bf16 base", adapter_size(c, 64, all_linear), None),
            ("QLoRA r=64 all linear, NF4 base", adapter_size(c, 64, all_linear), "nf4")]
    for label, k, bill in rows:
        if bill is None:
            bill = training_memory(n, k, frozen_bits="bf16")
        elif bill == "nf4":
            bill = training_memory(n, k, frozen_bits=frozen_nf4_bits)
        gb = bill.gb()
        print(f"  {label:<40}{k:>16,}{gb['weights']:>9.2f}{gb['gradients']:>8.2f}{gb['optimizer']:>8.2f}{gb['total']:>8.2f}")
    print(f"  the r=64 all-linear adapter's own weights in bf16: {adapter_size(c, 64, all_linear) * 2 / 1e9:.2f} GB")

# %% [markdown] slideshow={"slide_type": "subslide"}
# (The full fine-tune row counts the fp32 master weights as a third 4-byte "state", giving the classic 16 bytes per
# parameter.)
#
# What the numbers say about the seeds:
# - **Seed 003, Llama 3.2 3B**: 3.21 B parameters; 12.9 GB in fp32 and 6.4 GB in fp16 are right. "INT4 → 1.6 GB"
#   is the naive figure; loaded with NF4 + double quant it is about 2.2 GB because the 0.39 B embedding stays in
#   16 bits. Its "trainable params: 8,388,608" for r = 16 on q, v is the count for a 4096-wide, 32-layer model
#   (Llama-2-7B); Llama 3.2 3B gives 4,587,520 (v_proj is 3072 → 1024 because of grouped-query attention).
# - **Seed 004, 27B**: the model has 46 layers, not "32–40". "108 GB for a full fp16 fine-tune" is 27 B × 4 bytes —
#   weights and gradients only; with Adam the bill is about 436 GB. LoRA's 54 GB base and QLoRA's ~14 GB base are
#   right (about 16 GB once the 16-bit embeddings are counted). "~500 MB adapters" is too small for the r = 64 all-linear adapter: its bf16 weights alone
#   are printed above; trained with fp32 copies, gradients and Adam states it costs 16 bytes per adapter parameter —
#   several GB.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. During a QLoRA training step, which tensors are in 4 bits, which in the compute dtype, which get gradients?
# 2. Why is the course model's 4-bit footprint ratio much larger than 4.127 / 32?
# 3. Why does merging an adapter into the 4-bit base change the model's outputs, while keeping the adapter separate
#    does not?
#
# 1. Stored base weights: NF4. Dequantized layer weights, activations, adapters: compute dtype (fp32 here). Only
#    the adapters get gradients (and Adam states). 2. Embeddings (tied with `lm_head`) and LayerNorms are not
#    quantized, and in a tiny model they are a large share. 3. The merge re-quantizes W + ΔW onto the NF4 grid; the
#    rounding is as large as ΔW.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - QLoRA = frozen base in NF4 + double quant (≈ 4.127 bit/weight) + full-precision LoRA adapters; the weights are
#   dequantized on the fly for each matmul and never re-quantized.
# - Only linear layers (GPT-2's Conv1D included) are quantized, except `lm_head`, which transformers keeps in full
#   precision on purpose; embeddings and norms stay in full precision too.
# - `prepare_model_for_kbit_training` freezes the model and upcasts every 16-bit non-4-bit parameter to float32; its
#   input-grad hook is for gradient checkpointing. Paged optimizers (QLoRA's third part) need a GPU.
# - The adapters trained on a 4-bit base reach almost the same loss as on an fp32 base.
# - Merge into a 16-bit copy (or keep the adapter separate), not into the 4-bit base.
# - A 27B model: ~436 GB for a full fine-tune with Adam, ~16 GB of base weights with QLoRA (embeddings in 16 bits).
