# %% [markdown] slideshow={"slide_type": "slide"}
# # 14 · Appendix: every claim of the seed material, checked in code
#
# The course grew out of five seed texts (`shared/seeds/`). They contain good intuition and a handful of figures and
# statements that are wrong, rounded, or inconsistent with each other. This appendix recomputes **every figure and
# every flagged statement** from first principles, with the same helpers the lessons build, and gives each a verdict:

# %% [markdown] slideshow={"slide_type": "subslide"}
# - **holds**: the computed value agrees with the claim (to the precision the claim was written with);
# - **holds (rounded)** / **holds only if …**: right in order of magnitude, or right under an assumption the seed
#   does not state, which is named;
# - **wrong**: the computed value disagrees; the corrected value is printed next to it.
#
# Each check points to the lesson that shows the idea properly. The claims are quoted only by their numbers; the
# wording around them is ours.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Learning goals:** read a parameter count or a memory figure and recompute it in one line; know which popular
# LoRA "facts" are rounded, which need an unstated assumption, and which are wrong.
#
# **Run time** on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`. Nothing is downloaded and nothing is trained:
# GPT-2 124M and Llama 3.2 3B are built from their configurations on PyTorch's `meta` device, which has shapes but
# no memory, so counting their parameters costs nothing.
#
# Cells whose output is the evidence carry the `nbval-check-output` tag and assert their values, so `make test`
# fails if a library update ever moves one of these numbers.

# %% slideshow={"slide_type": "skip"}
from utils.notebook import setup  # first: importing it quiets bitsandbytes' import-time notice

import math
import tempfile
from pathlib import Path

import bitsandbytes as bnb
import torch
import torch.nn.functional as F
from bitsandbytes import functional as bnbf
from IPython.display import Markdown, display
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from utils import ROOT
from utils.data import load_corpus
from utils.lora import LoRALinear, add_lora, count_parameters, lora_parameter_count, target_shapes
from utils.memory import model_memory_gb, saved_activation_bytes, training_memory
from utils.models import load_model
from utils.numerics import close
from utils.positional import pe_frequencies, sinusoidal_encoding
from utils.quant import bits_per_param, scale_bits_per_param
from utils.tokenization import chars_per_token, one_hot, one_hot_memory_bytes
from utils.training import cross_entropy_by_hand
from utils.transformer import silu

device = setup(seed=0)
GB, GiB = 1e9, 2**30

LESSONS = {"01": "tokens & one-hot", "02": "embeddings", "03": "positional encoding", "04": "attention",
           "05": "transformer block & GPT-2", "06": "training loop", "07": "LoRA by hand",
           "08": "LoRA with PEFT", "09": "hyperparameters & failure modes", "10": "precision & memory wall",
           "11": "quantization by hand", "12": "QLoRA", "13": "capstone chatbot"}
CHECKS = []


def record(seed: str, claim: str, verdict: str, checked: str, lesson: str) -> None:
    # One row of the summary table at the end; prints the verdict where the evidence is.
    CHECKS.append({"seed": seed, "claim": claim, "verdict": verdict, "checked": checked, "lesson": lesson})
    print(f"-> {verdict.upper()}: {claim} | computed: {checked} | see lesson {lesson} ({LESSONS[lesson]})")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The LoRA arithmetic: 32,000, 3.2 %, 62×, 131,072, 99.2 %
#
# A frozen weight $W$ of shape $d \times k$ gets an update $\Delta W = \frac{\alpha}{r} B A$ with $B$ of shape
# $d \times r$ and $A$ of shape $r \times k$. Training $A$ and $B$ costs $r(d + k)$ numbers instead of $dk$.
#
# Four seeds quote this arithmetic for square matrices. Rather than trust the formula, wrap real `nn.Linear` layers
# with the course's `LoRALinear` (lesson 07) and count the parameters that still require a gradient.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the
# whole appendix runs in 7.1 s. Both workshop paths show only its summary table: the 90-minute path in block 7
# (5 minutes, with lesson 09), the half-day path in block 9 (10 minutes). Here: $r(d + k)$ counted on real
# modules; all four figures hold, one is rounded. Section timing: see docs/workshops.md (no section of this
# appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only", "nbval-check-output"]
def lora_vs_full(d: int, k: int, r: int) -> tuple[int, int]:
    # (trainable LoRA parameters, parameters of the full weight) for one d x k layer, counted on a real module
    layer = LoRALinear(nn.Linear(k, d, bias=False), r=r, alpha=2 * r)
    trainable, total = count_parameters(layer)
    assert trainable == lora_parameter_count([(d, k)], r)  # the counted module agrees with r (d + k)
    return trainable, total - trainable


cases = [("001", 1000, 16), ("002", 1000, 8), ("003", 4096, 16), ("004", 4096, 64)]
print(f"{'seed':>4} {'d = k':>6} {'r':>3} {'LoRA':>9} {'full':>11} {'LoRA / full':>12} {'reduction':>10} {'fewer':>7}")
arith = {}
for seed, d, r in cases:
    lora, full = lora_vs_full(d, d, r)
    arith[seed] = (lora, full)
    print(f"{seed:>4} {d:6d} {r:3d} {lora:9,d} {full:11,d} {lora / full:12.2%} {1 - lora / full:10.2%} "
          f"{full / lora:6.1f}x")

assert arith["001"] == (32_000, 1_000_000) and math.isclose(32_000 / 1_000_000, 0.032)
assert arith["002"][0] == 16_000 and arith["002"][1] / arith["002"][0] == 62.5
assert arith["003"] == (131_072, 16_777_216) and round(1 - 131_072 / 16_777_216, 3) == 0.992
assert arith["004"][0] == 524_288 and round(1 - 524_288 / 16_777_216, 2) == 0.97
record("001", "1000x1000, r=16: 32,000 trainable = 3.2 %", "holds", "32,000 = 3.20 %", "07")
record("002", "1000x1000, r=8: 16,000 = 62x fewer", "holds (rounded)", "16,000 = 62.5x fewer", "07")
record("003", "4096x4096, r=16: 131,072, a 99.2 % reduction", "holds", "131,072 = 99.22 % fewer", "07")
record("004", "4096x4096, r=64: 524K, a 97 % reduction", "holds", "524,288 = 96.88 % fewer", "07")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Which way round are A and B?
#
# Seed 001 defines $A$ as $r \times d$ and $B$ as $d \times r$ and writes the update as $A \cdot B$; its own example
# then gives the shapes the other way round. With its definitions the product is $r \times r$, not a weight update.
# The LoRA paper (and PEFT, and `utils.lora`) write $\Delta W = BA$: $B$ is $d \times r$, $A$ is $r \times k$.
# Shapes settle it:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
d, k, r = 1000, 1000, 16
A_seed, B_seed = torch.zeros(r, d), torch.zeros(d, r)  # seed 001's definitions
print("seed 001: A (r x d) @ B (d x r) ->", tuple((A_seed @ B_seed).shape))
B, A = torch.zeros(d, r), torch.zeros(r, k)            # the paper's
print("paper:    B (d x r) @ A (r x k) ->", tuple((B @ A).shape))
layer = LoRALinear(nn.Linear(k, d), r=r, alpha=32)
print("utils.lora: lora_B", tuple(layer.lora_B.shape), "@ lora_A", tuple(layer.lora_A.shape), "->",
      tuple(layer.delta_weight().shape), "= the shape of nn.Linear.weight", tuple(layer.base.weight.shape))
assert (A_seed @ B_seed).shape == (r, r) and layer.delta_weight().shape == layer.base.weight.shape
record("001", "A is r x d, B is d x r, update A.B", "wrong", "A.B is 16 x 16; the update is B (d x r) . A (r x k)",
       "07")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The scale is α / r, not α
#
# Seed 003 writes the adapted layer as $Wx + \alpha (AB) x$. Every implementation multiplies by $\alpha / r$, which is
# what lets you change $r$ without retuning the learning rate. Ask PEFT and `utils.lora` what they multiply by for
# $r = 16$, $\alpha = 32$, then check it on an output:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
r, alpha = 16, 32
peft_layer = get_peft_model(nn.Sequential(nn.Linear(64, 64)), LoraConfig(r=r, lora_alpha=alpha,
                                                                        target_modules=["0"])).base_model.model[0]
mine = LoRALinear(nn.Linear(64, 64), r=r, alpha=alpha)
with torch.no_grad():
    mine.lora_B.normal_()  # a non-zero update, so the scale shows in the output
x = torch.randn(3, 64)
with torch.no_grad():
    update = mine(x) - mine.base(x)
    by_hand = x @ mine.lora_A.T @ mine.lora_B.T
print(f"PEFT scaling: {peft_layer.scaling['default']}, utils.lora scaling: {mine.scaling}")
print(f"update / (x A^T B^T) = {float((update / by_hand).mean()):.4f}   (alpha would give {alpha}, alpha/r gives "
      f"{alpha / r})")
assert peft_layer.scaling["default"] == mine.scaling == alpha / r == 2.0
assert torch.allclose(update, by_hand * alpha / r, atol=1e-4)
record("003", "output = Wx + alpha (AB) x", "wrong", "the factor is alpha / r (2.0 here, not 32)", "07")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The GPT-2 headline: 147K trainable parameters, 99.8 %, a 2 MB adapter
#
# Seed 000 fine-tunes GPT-2 (124M) and reports about 147K trainable parameters, a 99.8 % reduction and a 2 MB
# adapter. Build GPT-2 from `GPT2Config()` (the 124M defaults) on the `meta` device, no download, and count.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Which layers make 147,456? Only attention's `c_attn` at r = 4, PEFT's default for GPT-2.
# Section timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
with torch.device("meta"):
    gpt2 = GPT2LMHeadModel(GPT2Config())
_, gpt2_total = count_parameters(gpt2)
with torch.device("meta"):
    gpt2_lora = add_lora(GPT2LMHeadModel(GPT2Config()), ["c_attn"], r=4, alpha=8)
gpt2_trainable, _ = count_parameters(gpt2_lora)
with torch.device("meta"):
    gpt2_peft = get_peft_model(GPT2LMHeadModel(GPT2Config()), LoraConfig(r=4, lora_alpha=8, fan_in_fan_out=True))
peft_trainable, peft_all = gpt2_peft.get_nb_trainable_parameters()
print(f"GPT-2 124M parameters:               {gpt2_total:,}")
print(f"LoRA r=4 on c_attn (utils.lora):     {gpt2_trainable:,}")
print(f"PEFT default targets for GPT-2:      {gpt2_peft.peft_config['default'].target_modules} -> {peft_trainable:,}")
print(f"trainable share: {peft_trainable / peft_all:.4%} -> reduction {1 - peft_trainable / peft_all:.2%}")
assert gpt2_total == 124_439_808 and gpt2_trainable == peft_trainable == 147_456
assert 0.998 <= 1 - peft_trainable / peft_all < 0.999
record("000", "147K trainable parameters", "holds", "147,456 = r 4 on c_attn", "08")
record("000", "99.8 % fewer trainable parameters", "holds (rounded down)", "99.88 %", "08")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Which configuration gives exactly 147,456?
#
# The seed does not say which layers it adapted, and it argues elsewhere that adapting attention "makes little
# sense" and that LoRA belongs in the feed-forward part. Enumerate the usual choices at small ranks: only one lands on
# its own figure, and it is attention's fused `c_attn` (which is also PEFT's default for GPT-2, as printed above).

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-apart", "nbval-check-output"]
choices = {"attention c_attn": ["c_attn"], "attention c_attn + c_proj": ["c_attn", "attn.c_proj"],
           "MLP c_fc + c_proj": ["c_fc", "mlp.c_proj"], "all linear": ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]}
hits = []
for label, targets in choices.items():
    shapes = target_shapes(gpt2, targets)
    counts = {r: lora_parameter_count(shapes, r) for r in (2, 4, 8, 16)}
    hits += [(label, r) for r, n in counts.items() if n == 147_456]
    print(f"{label:28s}" + "".join(f"  r={r:<2d} {n:>9,}" for r, n in counts.items()))
print("configurations giving 147,456:", hits)
assert hits == [("attention c_attn", 4)]
record("000", "LoRA belongs in the feed-forward layers, not attention", "wrong",
       "its own 147,456 is r=4 on attention's c_attn; lesson 09 measures attention vs MLP vs all", "09")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How big is that adapter on disk?
#
# An adapter file holds the $A$ and $B$ matrices and little else. Save tensors of exactly these shapes with
# `safetensors`, the format PEFT's `save_pretrained` writes, and measure the file.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
def adapter_bytes(shapes: list[tuple[int, int]], r: int, dtype: torch.dtype) -> int:
    # Size on disk of a safetensors file holding lora_A (r x in) and lora_B (out x r) for every layer
    tensors = {}
    for i, (d_out, d_in) in enumerate(shapes):
        tensors[f"base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight"] = torch.zeros(r, d_in, dtype=dtype)
        tensors[f"base_model.model.transformer.h.{i}.attn.c_attn.lora_B.weight"] = torch.zeros(d_out, r, dtype=dtype)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "adapter_model.safetensors"
        save_file(tensors, str(path))
        return path.stat().st_size


c_attn_shapes = target_shapes(gpt2, ["c_attn"])
size32, size16 = adapter_bytes(c_attn_shapes, 4, torch.float32), adapter_bytes(c_attn_shapes, 4, torch.float16)
print(f"147,456 parameters in fp32: {size32 / 1e6:.2f} MB on disk; in fp16: {size16 / 1e6:.2f} MB")
needed = 2e6 / 4
print(f"a 2 MB fp32 adapter holds about {needed:,.0f} parameters: r = {needed / (147_456 / 4):.1f} on c_attn")
assert 0.58e6 < size32 < 0.61e6 and size16 < 0.31e6
record("000", "a 2 MB adapter (with 147K parameters)", "wrong", f"{size32 / 1e6:.2f} MB in fp32", "08")

# %% [markdown] slideshow={"slide_type": "fragment"}
# Seed 000 also reports its loss going from 10.0 to 0.28 in 3 epochs and 5 hours on a CPU. Those are measurements
# of a run we do not have, so they are not checked here; for scale, a uniform guess over GPT-2's 50,257 tokens has a
# loss of $\ln 50257 \approx 10.82$. Lesson 13 measures the course's own run and prints its loss curve and time.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Tokens and embeddings: 0.5 MB → 2 GB, and "linear, so nothing is lost"
#
# A one-hot matrix has one row per token and one fp32 column per vocabulary entry: its size is
# $\frac{\text{characters}}{\text{characters per token}} \times V \times 4$ bytes. The seed's vocabulary is 4,000, like
# the course tokenizer's. The unstated assumption is the number of characters per token, so measure it on the
# course corpus.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The one-hot size hangs on an assumption the seed does not state, the characters per
# token: measured here on the course corpus. Lesson 02 §3 takes up "linear, so nothing is lost". Section
# timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
model, tokenizer = load_model(device="cpu")  # CPU on purpose: only its tokenizer and sizes matter
V = len(tokenizer)
cpt = chars_per_token(load_corpus(), tokenizer)
text_bytes = 500_000
for label, ratio in [(f"measured: {cpt:.2f} chars/token", cpt), ("assumed: 4 chars/token", 4.0)]:
    size = one_hot_memory_bytes(round(text_bytes / ratio), V)
    print(f"{label:30s} -> {size / GB:.2f} GB of fp32 one-hot for 0.5 MB of text (V = {V:,})")
measured_gb = one_hot_memory_bytes(round(text_bytes / cpt), V) / GB
assert V == 4000 and 1.0 < measured_gb < 2.5
assert one_hot_memory_bytes(125_000, 4000) == 2_000_000_000
record("000", "0.5 MB of text -> 2 GB of one-hot", "holds (order of magnitude)",
       f"{measured_gb:.2f} GB at our {cpt:.2f} chars/token; exactly 2 GB at 4", "01")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 000 then says no information is lost in the embedding *because* matrix multiplication is linear. The
# multiplication of a one-hot row by $E$ is a row lookup, $\text{onehot}(t)\,E = E[t]$; tokens stay distinguishable
# when the rows of $E$ differ. Linearity guarantees nothing: below, a perfectly linear $E$ with two equal rows merges
# two tokens. The trained course model's 4,000 rows are all different.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
E = model.get_input_embeddings().weight.detach()
ids = torch.tensor(tokenizer.encode("Paris is the capital of France"))
assert torch.equal(one_hot(ids, V) @ E, E[ids])
print(f"one_hot(ids) @ E == E[ids] for {len(ids)} tokens: True (a row lookup)")

E_bad = E.clone()
E_bad[ids[1]] = E_bad[ids[0]]  # still a linear map, but two tokens now share a row
vectors = one_hot(ids[:2], V) @ E_bad
merged = torch.equal(vectors[0], vectors[1])
print(f"with two equal rows the tokens {tokenizer.convert_ids_to_tokens(ids[:2].tolist())} map to the same vector: "
      f"{merged}")

nearest = torch.cdist(E, E).fill_diagonal_(float("inf")).min().item()
print(f"course model: smallest distance between two of its {V:,} embedding rows = {nearest:.3f} (> 0: all distinct)")
assert merged and nearest > 0
record("000", "embedding loses nothing because matmul is linear", "wrong reason",
       "a one-hot matmul is a row lookup; nothing is lost because the rows differ", "02")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Positional encoding: where does $i$ run?
#
# The sinusoidal table fills dimension $2i$ with $\sin(p / 10000^{2i/d})$ and $2i + 1$ with the cosine. Seed 000
# lets $i$ run up to $d_\text{model} - 1$; then $2i + 1$ would reach $2d_\text{model} - 1$, twice the width of the
# table. With the seed's $d_\text{model} = 384$:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The pair index runs to d/2 − 1, not d − 1 (lesson 03 §2 shows what the literal reading
# does). Section timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
d_model = 384
freqs = pe_frequencies(d_model)
pe = sinusoidal_encoding(16, d_model)
positions = torch.arange(16, dtype=torch.float64)[:, None]
assert torch.allclose(pe[:, 0::2], torch.sin(positions * freqs).float(), atol=1e-6)
assert torch.allclose(pe[:, 1::2], torch.cos(positions * freqs).float(), atol=1e-6)
print(f"table width {pe.shape[1]} = {len(freqs)} sin/cos pairs, so i = 0 ... {len(freqs) - 1}")
print(f"i up to d_model - 1 = {d_model - 1} would ask for dimension 2i + 1 = {2 * (d_model - 1) + 1}")
assert len(freqs) == d_model // 2 == 192
record("000", "i = 0 ... d_model - 1 in the PE formula", "wrong", "i = 0 ... d_model/2 - 1 (0 ... 191 at 384)", "03")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Attention: the missing $1/\sqrt{d_k}$
#
# Seed 001 writes attention as $\text{softmax}(QK^\top)V$. With entries of unit variance, a dot product of two
# $d_k$-dimensional vectors has variance $d_k$, so without the $1/\sqrt{d_k}$ the softmax saturates towards one-hot
# rows and its gradients vanish. PyTorch's `scaled_dot_product_attention` is the reference:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Without $1/\sqrt{d_k}$ the scores' spread grows like $\sqrt{d_k}$ and the softmax
# saturates; the printed gap from torch SDPA is large on purpose: the seed's formula is a different function,
# not a failed check. Section timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
gen = torch.Generator().manual_seed(0)
d_k, seq = 64, 32
q, k, v = (torch.randn(8, seq, d_k, generator=gen) for _ in range(3))
reference = F.scaled_dot_product_attention(q, k, v)
scores = q @ k.transpose(-2, -1)
with_scale = torch.softmax(scores / math.sqrt(d_k), dim=-1)
without = torch.softmax(scores, dim=-1)
print(f"score std: {scores.std():.2f} without the scale, {(scores / math.sqrt(d_k)).std():.2f} with it")
print(f"average largest attention weight: {without.max(-1).values.mean():.2f} without, "
      f"{with_scale.max(-1).values.mean():.2f} with")
K = d_k + 2 * seq                  # terms summed per output: scores, softmax, weighted values (utils.numerics)
matches = {"with": close(with_scale @ v, reference, reduction=K), "without": close(without @ v, reference, reduction=K)}
gap = float((without @ v - reference).abs().max())  # how far the seed's formula lands from SDPA
print(f"largest difference from torch SDPA without the scale: {gap:.2f} (the seed's formula is another function); "
      f"with the scale, equal up to float32 rounding: {matches['with']}")
assert matches["with"] and not matches["without"]
record("001", "attention = softmax(Q K^T) V", "wrong", "softmax(Q K^T / sqrt(d_k)) V equals torch SDPA", "04")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The transformer block: which normalization, and SiLU's values
#
# Seed 000 names "spectral normalization" as a possible normalization sublayer. GPT-2 uses LayerNorm, placed *before*
# each sublayer (pre-norm): $h = x + \text{Attn}(\text{LN}_1(x))$, then $y = h + \text{MLP}(\text{LN}_2(h))$. Look at
# the modules, then prove the wiring on a small real block with forward hooks.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** GPT-2 uses LayerNorm before each sublayer (pre-norm), not spectral normalization; the
# hooks prove the wiring on a real block; SiLU's values are recomputed. Section timing: see docs/workshops.md
# (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
norms = sorted({type(m).__name__ for name, m in gpt2.named_modules() if "ln" in name.split(".")[-1]})
spectral = [name for name, _ in gpt2.named_parameters() if "weight_orig" in name or "parametrizations" in name]
print(f"GPT-2's normalization modules: {norms}; spectral-norm parametrizations: {len(spectral)}")

small = GPT2LMHeadModel(GPT2Config(n_embd=64, n_layer=1, n_head=4, vocab_size=100, n_positions=32)).eval()
block, seen = small.transformer.h[0], {}
for name in ("ln_1", "attn", "ln_2", "mlp"):
    getattr(block, name).register_forward_hook(
        lambda mod, inp, out, name=name: seen.update({name: (inp[0], out[0] if isinstance(out, tuple) else out)}))
x = torch.randn(1, 8, 64, generator=gen)
with torch.no_grad():
    y = block(x)
    y = y[0] if isinstance(y, tuple) else y
h = x + seen["attn"][1]
pre_norm = (torch.equal(seen["ln_1"][0], x) and close(seen["ln_2"][0], h, reduction=1)    # one addition each
            and close(y, h + seen["mlp"][1], reduction=1))
print(f"LN_1 sees x, LN_2 sees x + attn, output = h + mlp(LN_2(h)): {pre_norm}")
assert norms == ["LayerNorm"] and not spectral and pre_norm
record("000", "spectral normalization in the block", "wrong", "GPT-2 uses LayerNorm, pre-norm", "05")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 003 lists SiLU values at −2 … 2, rounded to two decimals. Compare with `torch.nn.functional.silu` and the
# course's `utils.transformer.silu`:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
xs = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
claimed = torch.tensor([-0.24, -0.27, 0.0, 0.73, 1.76])
ours = silu(xs)
assert torch.allclose(ours, F.silu(xs))
for x_i, got, c in zip(xs.tolist(), ours.tolist(), claimed.tolist(), strict=True):
    print(f"SiLU({x_i:+.0f}) = {got:+.4f}   seed: {c:+.2f}")
grid = torch.linspace(-4, 0, 40_001)
low = silu(grid).min()
# x to 2 decimals: SiLU is flat at its minimum, so a last-bit difference in silu moves the argmin by a few grid steps
print(f"minimum {low:.4f} at x = {grid[silu(grid).argmin()]:.2f}: SiLU dips below zero, so it is not monotonic")
assert torch.allclose(ours, claimed, atol=0.005) and low < -0.27
record("003", "SiLU(-2, -1, 0, 1, 2) = -0.24, -0.27, 0, 0.73, 1.76", "holds", "-0.2384, -0.2689, 0, 0.7311, 1.7616",
       "05")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. The loss: −log p of the correct token
#
# Seed 003 gives the cross-entropy for a correct-token probability of 100 %, 50 %, 10 % and 1 %. Put exactly that
# probability on the correct token of a small distribution and let both PyTorch and the course's
# `cross_entropy_by_hand` (lesson 06) compute the loss. The logarithm is natural.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The seed's four probabilities (100 %, 50 %, 10 %, 1 %) put on the correct token; PyTorch
# and `cross_entropy_by_hand` agree; the logarithm is natural. Section timing: see docs/workshops.md (no
# section of this appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
claimed = {1.0: 0.0, 0.5: 0.69, 0.1: 2.30, 0.01: 4.61}
for p, c in claimed.items():
    probs = torch.tensor([p, (1 - p) / 2, (1 - p) / 2]).clamp_min(1e-12)
    logits, target = probs.log()[None], torch.tensor([0])
    torch_loss, hand_loss = F.cross_entropy(logits, target).item(), cross_entropy_by_hand(logits, target).item()
    print(f"p = {p:5.2f}: -ln p = {0.0 - math.log(p):.4f}  torch {torch_loss + 0.0:.4f}  "
          f"by hand {hand_loss + 0.0:.4f}  seed {c:.2f}")
    assert abs(torch_loss - hand_loss) < 1e-5 and abs(torch_loss - c) < 0.005
record("003", "-log p = 0, 0.69, 2.30, 4.61 at p = 1, 0.5, 0.1, 0.01", "holds", "0, 0.6931, 2.3026, 4.6052", "06")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. The memory wall: 7B and 13B
#
# Seed 002 computes the weights of a 7B and a 13B model in fp16 with $\text{params} \times 2 / 1024^3$, which is
# GiB. `utils.memory.model_memory_gb` (lesson 10) reports GB ($10^9$ bytes); both are printed. The seed then
# estimates loading at 20–30+ GB, and full fine-tuning of 7B at 25–40 GB. The training bill with Adam is weights +
# gradients + two optimizer states per parameter: 16 bytes per parameter in fp32, and still 16 with bf16 weights and
# gradients plus an fp32 master copy.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** `params × 2 / 1024³` is GiB, not GB: both are printed. Adam's bill is 16 bytes per
# parameter. Section timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-apart", "nbval-check-output"]
for name, n in {"7B": 7e9, "13B": 13e9}.items():
    print(f"{name:>3}: fp16 {model_memory_gb(n, 'fp16'):5.1f} GB = {n * 2 / GiB:5.2f} GiB | "
          f"fp32 {model_memory_gb(n, 'fp32'):5.1f} GB | full fine-tune with Adam "
          f"{training_memory(n, n).total / GB:5.0f} GB")
assert round(7e9 * 2 / GiB, 2) == 13.04 and round(13e9 * 2 / GiB, 2) == 24.21
assert model_memory_gb(7e9, "fp16") == 14.0 and training_memory(7e9, 7e9).total == 16 * 7e9
record("002", "7B / 13B fp16 weights", "holds", "14.0 / 26.0 GB = 13.04 / 24.21 GiB", "10")
record("002", "20-30+ GB just to load a 7-8B model", "holds only in fp32", "fp16: 14-16 GB; fp32: 28-32 GB", "10")
record("002", "25-40 GB to fully fine-tune a 7B model", "wrong",
       "112 GB for weights + gradients + Adam, before activations", "10")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 004 gives the same kind of table for a 27B model: about 108 GB for a full fine-tune in fp16, about 54 GB of
# base weights under LoRA and about 14 GB under QLoRA. The QLoRA row uses 4-bit NF4 with double quantization, about
# 4.127 bits per weight (section 10).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
n27 = 27e9
qlora_bits = bits_per_param(4, 64, double_quant=True)
print(f"27B: fp16 weights {model_memory_gb(n27, 'fp16'):.0f} GB; fp16 weights + fp16 gradients "
      f"{4 * n27 / GB:.0f} GB; with Adam (16 bytes/param) {training_memory(n27, n27).total / GB:.0f} GB")
print(f"27B in NF4 + double quant ({qlora_bits:.3f} bits/param): {model_memory_gb(n27, qlora_bits):.1f} GB")
assert model_memory_gb(n27, "fp16") == 54.0 and round(model_memory_gb(n27, qlora_bits)) == 14
record("004", "27B full fine-tune ~108 GB (fp16)", "wrong", "108 GB is weights + gradients only; Adam makes it 432 GB",
       "10")
record("004", "27B base: ~54 GB (LoRA), ~14 GB (QLoRA)", "holds only if every weight is 4-bit",
       "54.0 GB, and 13.9 GB with every weight in NF4; lesson 12 keeps Gemma 2 27B's embeddings in 16 bits", "12")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Llama 3.2 3B: 13 GB, 1.6 GB and 8,388,608
#
# Seed 003 describes Llama 3.2 3B. Build it from its published configuration (hidden size 3,072, MLP 8,192, 28
# layers, 24 query heads and 8 key/value heads of 128 dimensions, vocabulary 128,256, tied embeddings) on the
# `meta` device; the layer shapes it prints match the seed's own module listing.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Built on the `meta` device from its configuration: shapes, no memory, no download.
# Section timing: see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
llama_config = LlamaConfig(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                           num_key_value_heads=8, head_dim=128, vocab_size=128_256, tie_word_embeddings=True)
with torch.device("meta"):
    llama = LlamaForCausalLM(llama_config)
_, llama_total = count_parameters(llama)
attn = llama.model.layers[0].self_attn
print(f"q_proj {attn.q_proj.in_features}->{attn.q_proj.out_features}, k_proj {attn.k_proj.in_features}->"
      f"{attn.k_proj.out_features}, v_proj {attn.v_proj.in_features}->{attn.v_proj.out_features}")
print(f"parameters: {llama_total:,}")
embedding = llama.get_input_embeddings().weight.numel()
quantized = llama_total - embedding  # bitsandbytes quantizes the Linear layers; the (tied) embedding stays 16-bit
nf4_dq = bits_per_param(4, 64, double_quant=True)
sizes = {"fp32": 32, "fp16": 16, "int8": 8, "int4, bare codes": 4}
for label, bits in sizes.items():
    print(f"{label:>17}: {model_memory_gb(llama_total, bits):5.2f} GB")
realistic = (quantized * nf4_dq / 8 + embedding * 2) / GB
print(f"NF4 + double quant on every weight: {model_memory_gb(llama_total, nf4_dq):.2f} GB; "
      f"with the {embedding / 1e6:.0f}M-parameter embedding kept in bf16: {realistic:.2f} GB")
assert llama_total == 3_212_749_824
assert round(model_memory_gb(llama_total, "fp32")) == 13 and round(model_memory_gb(llama_total, 4), 1) == 1.6
record("003", "Llama 3.2 3B: 13 GB in fp32", "holds", f"{model_memory_gb(llama_total, 'fp32'):.2f} GB", "10")
record("003", "Llama 3.2 3B: 1.6 GB in 4-bit", "holds only for bare 4-bit codes",
       f"NF4 + double quant {model_memory_gb(llama_total, nf4_dq):.2f} GB; with a bf16 embedding {realistic:.2f} GB",
       "12")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The seed then prints 8,388,608 trainable parameters (0.28 %) for $r = 16$ on `q_proj` and `v_proj`. The key/value
# projections of this model are 3,072 → 1,024 (grouped-query attention), not square, so count with PEFT itself and
# with `utils.lora`:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
with torch.device("meta"):
    llama_peft = get_peft_model(LlamaForCausalLM(llama_config),
                                LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
peft_trainable, peft_all = llama_peft.get_nb_trainable_parameters()
by_formula = lora_parameter_count(target_shapes(llama, ["q_proj", "v_proj"]), 16)
per_layer = 16 * (3072 + 3072) + 16 * (3072 + 1024)
print(f"per layer: q {16 * (3072 + 3072):,} + v {16 * (3072 + 1024):,} = {per_layer:,}; x 28 layers = {28 * per_layer:,}")
print(f"PEFT: trainable params: {peft_trainable:,} || all params: {peft_all:,} || trainable%: "
      f"{peft_trainable / peft_all:.4%}")
assert peft_trainable == by_formula == 28 * per_layer == 4_587_520
record("003", "r=16 on q_proj, v_proj: 8,388,608 trainable (0.28 %)", "wrong",
       f"{peft_trainable:,} ({peft_trainable / peft_all:.3%})", "08")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10. Quantization: double quantization, and where the dequantization happens
#
# NF4 stores a 4-bit code per weight plus one fp32 scale per block of 64 weights: $32/64 = 0.5$ extra bits per
# weight. Double quantization stores those scales in 8 bits with one fp32 scale per 256 blocks:
# $8/64 + 32/(64 \cdot 256) \approx 0.127$ bits. Seed 004 says this saves about 0.4 bits per parameter. Compute it
# with `utils.quant` (lesson 11), then measure it in what bitsandbytes actually stores.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** 0.5 extra bits per weight for the fp32 block scales, about 0.127 with double
# quantization: computed with `utils.quant`, then measured in what bitsandbytes stores. Section timing: see
# docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
plain, double = scale_bits_per_param(64), scale_bits_per_param(64, double_quant=True)
weights = torch.randn(1024, 1024, generator=gen)
measured = {}
for dq in (False, True):
    packed, state = bnbf.quantize_4bit(weights, blocksize=64, quant_type="nf4", compress_statistics=dq)
    scale_bytes = state.absmax.numel() * state.absmax.element_size()
    if dq:
        scale_bytes += state.state2.absmax.numel() * state.state2.absmax.element_size()
    measured[dq] = scale_bytes * 8 / weights.numel()
    print(f"bitsandbytes, double quant {dq!s:5}: {packed.numel() * 8 / weights.numel():.0f} code bits "
          f"+ {measured[dq]:.4f} scale bits per weight")
saved = plain - double
print(f"formula: {plain:.4f} -> {double:.4f} bits; saved {saved:.4f} bits per parameter "
      f"= {saved * llama_total / 8 / 1e6:.0f} MB on Llama 3.2 3B")
assert math.isclose(measured[False], plain) and math.isclose(measured[True], double)
assert round(saved, 3) == 0.373
record("004", "double quant saves ~0.4 bits/param", "holds (rounded)", "0.373 bits/param (0.5 -> 0.127)", "11")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 004 describes the QLoRA forward pass as dequantize → compute → quantize. There is no quantize step after the
# matmul: the 4-bit weights are dequantized on the fly for the product, the result stays in the compute dtype, and
# the stored codes never change. A bitsandbytes `Linear4bit` on the CPU shows it:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
dense = nn.Linear(256, 128)
layer4 = bnb.nn.Linear4bit(256, 128, compute_dtype=torch.float32, quant_type="nf4")
layer4.load_state_dict(dense.state_dict())
layer4 = layer4.to("cpu")  # quantizes the weight once, here
codes_before = layer4.weight.data.clone()
x = torch.randn(4, 256, generator=gen)
with torch.no_grad():
    y = layer4(x)
    on_the_fly = x @ bnbf.dequantize_4bit(layer4.weight.data, layer4.weight.quant_state).T + layer4.bias
print(f"stored weight: {layer4.weight.dtype} {tuple(layer4.weight.shape)} (two 4-bit codes per byte)")
print(f"output: {y.dtype}; equals x @ dequantize(W)^T + b: {torch.allclose(y, on_the_fly, atol=1e-5)}; "
      f"codes unchanged after the forward: {torch.equal(codes_before, layer4.weight.data)}")
assert y.dtype == torch.float32 and torch.allclose(y, on_the_fly, atol=1e-5)
assert torch.equal(codes_before, layer4.weight.data)
record("004", "QLoRA forward: dequantize -> compute -> quantize", "wrong",
       "dequantize on the fly, compute; nothing is re-quantized", "12")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 11. The remaining figures: sizes, a 27B sketch, adapters, checkpointing, words per token
#
# Seed 003 also prints Llama 3.2 3B in fp16 and int8 and a PEFT line with its "all params". Compute both from the
# model built in section 9. PEFT's "all params" is the base model's parameters plus the adapter's.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** The remaining figures one by one; show the verdict lines, not the code. Section timing:
# see docs/workshops.md (no section of this appendix is timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
fp16_gb, int8_gb = model_memory_gb(llama_total, "fp16"), model_memory_gb(llama_total, 8)
print(f"fp16: {fp16_gb:.2f} GB, int8: {int8_gb:.2f} GB (the seed: 6.5 and 3.25)")
print(f"PEFT's all params: {llama_total:,} base + {peft_trainable:,} adapter = {peft_all:,} (the seed: 3,008,388,608)")
assert round(fp16_gb, 1) == 6.4 and round(int8_gb, 1) == 3.2 and peft_all == llama_total + peft_trainable
record("003", "Llama 3.2 3B: 6.5 GB in fp16, 3.25 GB in int8", "holds (rounded up)", f"{fp16_gb:.2f} / {int8_gb:.2f} GB",
       "10")
record("003", "all params: 3,008,388,608", "wrong", f"{peft_all:,} (3,000,000,000 + 8,388,608 is not a count)", "08")

# %% [markdown] slideshow={"slide_type": "subslide"}
# "QLoRA fine-tunes Llama 3.2 3B on a 16 GB GPU": add up what must fit before a single activation — the 4-bit
# weights with the bf16 embedding (section 9), and for each trainable adapter weight its fp32 value, gradient and two
# Adam states (16 bytes, lesson 10). Its `TrainingArguments(fp16=True)` next to `bnb_4bit_compute_dtype=bfloat16`
# mixes two 16-bit formats with very different ranges:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
adapter_training_gb = peft_trainable * 16 / GB
fixed_gb = realistic + adapter_training_gb
print(f"4-bit weights {realistic:.2f} GB + adapter training {adapter_training_gb:.2f} GB = {fixed_gb:.2f} GB; "
      f"{16 - fixed_gb:.1f} GB of 16 GB left for activations")
for dtype in (torch.float16, torch.bfloat16):
    info = torch.finfo(dtype)
    print(f"{str(dtype):>15}: largest {info.max:.3g}, smallest normal {info.tiny:.3g}, step at 1.0: {info.eps:.3g}")
assert fixed_gb < 4
record("003", "QLoRA on Llama 3.2 3B fits a 16 GB GPU", "holds", f"{fixed_gb:.2f} GB before activations", "12")
record("003", "fp16=True with a bf16 compute dtype", "wrong (inconsistent)",
       "autocast in fp16 (max 65,504, needs loss scaling) around bf16 matmuls; use bf16=True", "10")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 004 sketches "a model like Gemma 27B" with 4,096-wide blocks and a 16,384-wide MLP, and adds the
# embeddings to reach 27B. Check its arithmetic, then build the real Gemma 2 27B from its published configuration
# (width 4,608, MLP 36,864, 46 layers, 32 query and 16 key/value heads of 128, vocabulary 256,000) on the `meta`
# device and count.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
from transformers import Gemma2Config, Gemma2ForCausalLM

attention_sketch, mlp_sketch = 4 * 4096 * 4096, 3 * 4096 * 16384
block_sketch = attention_sketch + mlp_sketch
print(f"sketch: attention {attention_sketch / 1e6:.1f}M + MLP {mlp_sketch / 1e6:.1f}M = {block_sketch / 1e6:.1f}M "
      f"per block; x 32 = {32 * block_sketch / 1e9:.2f}B")
gemma_config = Gemma2Config(hidden_size=4608, intermediate_size=36864, num_hidden_layers=46, num_attention_heads=32,
                            num_key_value_heads=16, head_dim=128, vocab_size=256_000)
with torch.device("meta"):
    gemma = Gemma2ForCausalLM(gemma_config)
_, gemma_total = count_parameters(gemma)
gemma_embedding = gemma.get_input_embeddings().weight.numel()
print(f"Gemma 2 27B: {gemma_total / 1e9:.2f}B parameters, of which the embedding is {gemma_embedding / 1e9:.2f}B; "
      f"the sketch would need {(27e9 - 32 * block_sketch) / 1e9:.1f}B of embeddings and norms")
assert round(32 * block_sketch / 1e9, 1) == 8.6 and round(gemma_total / 1e9) == 27 and gemma_embedding < 2e9
record("004", "per block 67M + 200M = 270M; 32 blocks = 8.6B", "holds", f"{32 * block_sketch / 1e9:.2f}B", "05")
record("004", "... plus embeddings and norms -> 27B", "wrong",
       f"embeddings are {gemma_embedding / 1e9:.2f}B; Gemma 2 27B is 46 blocks of width 4,608", "05")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same seed counts rank-64 adapters on all seven projections: "about 500K each, 112M in all, 0.4 % of 27B".
# 500K is $64 \times (4096 + 4096)$, a square attention matrix; the three MLP matrices are 4,096 × 16,384. Count the
# sketch by formula and the real Gemma 2 27B with PEFT:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
seven = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
sketch_per_layer = 4 * 64 * (4096 + 4096) + 3 * 64 * (4096 + 16384)
with torch.device("meta"):
    gemma_peft = get_peft_model(Gemma2ForCausalLM(gemma_config), LoraConfig(r=64, target_modules=seven))
gemma_trainable, _ = gemma_peft.get_nb_trainable_parameters()
print(f"sketch: {sketch_per_layer:,} per layer x 32 = {32 * sketch_per_layer / 1e6:.1f}M (the seed: 112M)")
print(f"Gemma 2 27B, r = 64 on all seven: {gemma_trainable / 1e6:.1f}M = {gemma_trainable / gemma_total:.2%} of the model")
assert 32 * sketch_per_layer > 1.7 * 112e6
record("004", "r=64 on 7 modules: ~112M trainable = 0.4 %", "wrong (MLP adapters left out)",
       f"sketch {32 * sketch_per_layer / 1e6:.0f}M; Gemma 2 27B {gemma_trainable / 1e6:.0f}M = "
       f"{gemma_trainable / gemma_total:.2%}", "08")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Gradient checkpointing "costs about 30 % more time and saves about 40 % of memory". What it saves is the
# activations kept for the backward pass; what it costs is one extra forward pass per block. Both can be counted
# exactly on the course model: every tensor autograd saves passes through a hook, and a forward is about a third
# of a training step's arithmetic (the backward computes two products per forward product).

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
def kept_for_backward(checkpointing: bool) -> int:
    # Bytes autograd keeps for backward in one forward pass (weights excluded): lesson 10's saved-tensors hook.
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    batch = torch.randint(0, V, (8, 128), generator=gen)  # (batch, seq)
    kept, _ = saved_activation_bytes(model, input_ids=batch, labels=batch)
    model.gradient_checkpointing_disable()
    model.eval()
    return kept


kept, kept_checkpointed = kept_for_backward(False), kept_for_backward(True)
print(f"activations kept for backward (batch 8 x 128 tokens): {kept / 1e6:.1f} MB without, "
      f"{kept_checkpointed / 1e6:.1f} MB with checkpointing ({1 - kept_checkpointed / kept:.0%} less)")
print("extra arithmetic: one more forward per step = +1/3 of forward + backward (33 %)")
assert kept_checkpointed < kept
record("004", "checkpointing: ~30 % slower, ~40 % less memory", "holds only as an order of magnitude",
       f"+33 % arithmetic; activations {1 - kept_checkpointed / kept:.0%} smaller here (model, batch and length "
       "decide)", "10")

# %% [markdown] slideshow={"slide_type": "subslide"}
# "About 0.75 words per token" is a rule of thumb for English with a large-vocabulary tokenizer such as GPT-2's
# (50,257 tokens). The course tokenizer has 4,000, trained on the course corpus; measure it there:

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
lines = load_corpus()
n_words = sum(len(line.split()) for line in lines)
n_tokens = sum(len(tokenizer.encode(line, add_special_tokens=False)) for line in lines)
print(f"course corpus, course tokenizer: {n_words:,} words / {n_tokens:,} tokens = {n_words / n_tokens:.2f} words per "
      "token")
record("004", "~0.75 words per token", "holds only for a given tokenizer and text",
       f"{n_words / n_tokens:.2f} on our corpus with our 4,000-token BPE", "01")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 12. Attributions: which layers, which α, which dropout — and "eigenvectors"
#
# Several statements quote papers or libraries rather than a computation. Where the library can be asked, ask it.
# Seed 001 says LoRA usually goes on the query and **key** projections. The LoRA paper adapted $W_q$ and $W_v$
# (its Table 5 found that pair best for a fixed budget), and PEFT's default targets say the same:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Ask the library where it can be asked: the LoRA paper adapted $W_q$ and $W_v$ (not query
# and key), and PEFT's defaults agree. Section timing: see docs/workshops.md (no section of this appendix is
# timed on its own).

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULT_TARGETS

for family in ("llama", "gemma2", "gpt2"):
    print(f"PEFT's default LoRA targets for {family}: {PEFT_DEFAULT_TARGETS[family]}")
assert PEFT_DEFAULT_TARGETS["llama"] == ["q_proj", "v_proj"]
record("001", "LoRA typically goes on W_Q and W_K", "wrong", "q and v (the paper; PEFT's default: q_proj, v_proj)", "08")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 002 attributes hyperparameters to the papers. The QLoRA paper trained with $r = 64$, $\alpha = 16$ (a scale
# of 0.25, as the seed computes) and LoRA dropout 0.1 up to 13B and 0.05 for 33B and 65B; it reports that, with
# adapters on every linear layer of the block, the rank made little difference and that adapting every linear layer
# was needed to match full fine-tuning. Those hold as the paper's findings, for its models and data. "Microsoft
# LoRA: $\alpha = 2r$" does not: the LoRA paper sets $\alpha$ to the first $r$ it tries and does not tune it, and
# PEFT's defaults are $r = 8$, $\alpha = 8$. Lesson 09 measures $\alpha$ and rank on the course model.

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only", "nbval-check-output"]
defaults = LoraConfig()
print(f"QLoRA's scale alpha/r = 16/64 = {16 / 64}; PEFT's defaults: r = {defaults.r}, alpha = {defaults.lora_alpha}, "
      f"dropout = {defaults.lora_dropout}")
assert 16 / 64 == 0.25 and defaults.lora_alpha == defaults.r
record("002", "QLoRA: alpha 16, r 64 -> 0.25x; dropout 0.1 (7-13B), 0.05 (33B+)", "holds", "scale 0.25", "09")
record("002", "rank barely matters (8-256) when all layers are adapted", "holds (the QLoRA paper's finding)",
       "lesson 09 measures ranks on this model", "09")
record("002", "adapting all linear layers is essential", "holds (the QLoRA paper's finding)",
       "lesson 09 compares attention, MLP and all on this model", "09")
record("002", "Microsoft LoRA uses alpha = 2r", "wrong attribution",
       f"the paper sets alpha to its first r; PEFT defaults r = alpha = {defaults.r}", "09")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Seed 000 calls the "directions" of a feed-forward matrix its eigenvectors. Eigenvectors exist only for square
# matrices; GPT-2's `c_fc` maps 256 numbers to 1,024 in the course model (768 to 3,072 in GPT-2). Its directions are
# **singular vectors**, and their singular values say how much each direction stretches — the quantity LoRA's
# low-rank argument is about:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
c_fc = model.transformer.h[0].mlp.c_fc.weight.detach()  # (d_in, d_out): GPT-2's Conv1D stores in x out
try:
    torch.linalg.eig(c_fc)
except RuntimeError as error:
    print(f"eig on a {tuple(c_fc.shape)} matrix: {str(error).split(',')[0]}")
singular_values = torch.linalg.svdvals(c_fc)
energy = singular_values.square().cumsum(0) / singular_values.square().sum()
top = len(singular_values) // 10
print(f"{len(singular_values)} singular values; the top {top} directions (10 %) carry {energy[top - 1]:.0%} of the energy")
record("000", "the directions of a weight matrix are its eigenvectors", "wrong",
       "a 256 x 1,024 matrix has no eigenvectors; its directions are singular vectors", "07")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary: every claim, its verdict, and where the course shows it

# %% slideshow={"slide_type": "skip"}
def lesson_link(number: str) -> str:
    found = sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    label = f"{number} {LESSONS[number]}"
    return f"[{label}]({found[0].name})" if found else label


rows = ["| seed | claim | verdict | computed here | lesson |", "|---|---|---|---|---|"]
rows += [f"| {c['seed']} | {c['claim']} | **{c['verdict']}** | {c['checked']} | {lesson_link(c['lesson'])} |"
         for c in CHECKS]
display(Markdown("\n".join(rows)))

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
verdicts = [c["verdict"] for c in CHECKS]
n_wrong = sum(v.startswith("wrong") for v in verdicts)
n_holds = sum(v.startswith("holds") for v in verdicts)
print(f"{len(CHECKS)} claims checked: {n_holds} hold (some only rounded or under a stated assumption), "
      f"{n_wrong} are wrong")
assert n_holds + n_wrong == len(CHECKS)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Check yourself
#
# 1. A layer is 768 → 2,304 (GPT-2's `c_attn`). How many LoRA parameters does $r = 8$ add, and how many bytes in fp16?
# 2. Someone quotes "a 7B model in 4-bit is 3.5 GB". Which two things does that leave out?
# 3. $r = 8, \alpha = 16$ and $r = 16, \alpha = 32$ have the same scale $\alpha / r = 2$. Why do they compute the same
#    function at initialisation, and why do they not train alike?
#
# <details><summary>Answers</summary>
#
# 1. $8 \times (768 + 2304) = 24{,}576$ per layer; $\times 12$ layers $= 294{,}912$ parameters, $589{,}824$ bytes
#    in fp16.
# 2. The block scales (0.5 bits per weight, or 0.127 with double quantization) and the layers that stay in 16-bit
#    (embeddings, often the output head): about 3.6 GB + a few hundred MB.
# 3. Both start with $B = 0$, so both compute the base model exactly (whatever the scale). In training, the size of
#    the update goes like $\alpha \cdot \mathrm{lr}$ (lesson 09): with the same learning rate, $\alpha = 32$ moves the
#    model about twice as fast; and the rank-16 update can represent directions the rank-8 one cannot.
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - The LoRA arithmetic in the seeds is right: $r(d + k)$ against $dk$ gives 32,000, 16,000, 131,072 and 524,288.
# - The GPT-2 headline's 147,456 parameters are exactly $r = 4$ on attention's `c_attn`, which refutes the same
#   seed's advice to leave attention alone; the adapter is 0.59 MB in fp32, not 2 MB.
# - Formulas to carry: $\Delta W = \frac{\alpha}{r} B A$ with $B \in \mathbb{R}^{d \times r}$; attention divides by
#   $\sqrt{d_k}$; PE's $i$ runs to $d/2 - 1$; GPT-2 is pre-norm LayerNorm.
# - Memory: weights are params × bits / 8; training with Adam adds gradients and two states (16 bytes per parameter in
#   total); 4-bit NF4 costs 4.5 bits per weight, 4.127 with double quantization, and embeddings usually stay 16-bit.
# - Count trainable parameters from the model's configuration, never from a printout: Llama 3.2 3B with $r = 16$ on
#   `q_proj` and `v_proj` has 4,587,520.
