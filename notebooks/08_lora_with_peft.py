# %% [markdown] slideshow={"slide_type": "slide"}
# # 08 · LoRA with PEFT
#
# Lesson 07 built LoRA by hand. In practice you use Hugging Face's **PEFT** library, which does the same thing
# for hundreds of architectures and adds saving, loading, merging and switching adapters. This lesson shows that
# PEFT computes *exactly* what our hand-built version computes, then walks through the workflow you will use in the
# capstone.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **After this lesson you can**
# - configure LoRA with `LoraConfig` and wrap a model with `get_peft_model`;
# - show that PEFT's LoRA and `utils.lora` give the same logits (to 1e-5) when they hold the same `A` and `B`;
# - choose target modules by name for GPT-2, and say what `fan_in_fan_out` does;
# - save an adapter, measure it on disk, load it back, merge it into the base model;
# - keep two adapters on one base model and switch between them.
#
# Run time on a 2-core machine: figure 1 of `benchmarks/RESULTS.md`.

# %% slideshow={"slide_type": "skip"}
from utils.notebook import full_run, setup  # first: importing it quiets bitsandbytes' import-time notice

import copy
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from utils.data import load_qa
from utils.exercises import check
from utils.lora import add_lora, copy_lora_to_peft, count_parameters, find_targets, lora_layers, merge_lora
from utils.models import load_model, resolve_model_path
from utils.numerics import close, forward_reduction
from utils.qa import evaluate_exact_match, generate_answers, heldout_loss, qa_dataloader, train_loop

device = setup(seed=0)
warnings.filterwarnings("ignore", category=FutureWarning)
model, tokenizer = load_model(device=device)  # the bundled 4-layer GPT-2 (or $COURSE_MODEL), on the GPU if any
qa = load_qa()
workdir = Path(tempfile.mkdtemp(prefix="lesson08_"))  # adapters are saved here

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. LoRA in two calls
#
# `LoraConfig` holds the choices of lesson 07 — rank `r`, `lora_alpha` (α), `lora_dropout`, and which modules to
# wrap (`target_modules`). `get_peft_model` wraps the model in place, freezes everything else and returns a
# `PeftModel`.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Timing (docs/workshops.md, measured 25 November 2026 on a quiet 2-core machine): the whole
# notebook runs in 21.7 s. 90-minute path: block 5 runs §1 live (two PEFT calls, `print_trainable_parameters`)
# and shows §4. Half-day path: block 6 (25 minutes for 08 and 09, 08 whole). Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn"], fan_in_fan_out=True)
peft_model = get_peft_model(copy.deepcopy(model), config)
peft_model.print_trainable_parameters()
print("utils.lora on the same targets:", count_parameters(add_lora(copy.deepcopy(model), ["c_attn"], 8, 16)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Same counts as lesson 07: 4 layers × 8 × (256 + 768) = 32,768. Inside, PEFT's layer has the same parts as our
# `LoRALinear` — the frozen `base_layer`, `lora_A` and `lora_B` (as `nn.Linear`s inside a dictionary keyed by adapter
# name, here `"default"`), a dropout, and a `scaling` of α/r:

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
layer = peft_model.base_model.model.transformer.h[0].attn.c_attn
print(layer)
print("lora_A.weight", tuple(layer.lora_A["default"].weight.shape), "= (r, in);",
      "lora_B.weight", tuple(layer.lora_B["default"].weight.shape), "= (out, r);",
      "scaling", layer.scaling["default"])
print("B starts at zero:", torch.count_nonzero(layer.lora_B["default"].weight).item() == 0)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Same A and B, same outputs
#
# Train the hand-built adapter of lesson 07 for a few steps (so `B ≠ 0` and the comparison means something), copy
# its `A` and `B` into the PEFT model with `utils.lora.copy_lora_to_peft`, and compare the logits on real prompts.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Same A and B as lesson 07's layer give the same logits. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
torch.manual_seed(0)
hand = add_lora(copy.deepcopy(model), ["c_attn"], r=8, alpha=16)
loader = qa_dataloader(tokenizer, qa["train"], batch_size=16, max_examples=320)
losses = train_loop(hand, loader, max_steps=12, lr=3e-3, progress=False)
print("layers copied:", copy_lora_to_peft(hand, peft_model))

batch = tokenizer(["Question: What is the capital of France?\nAnswer:", "Iron has the chemical symbol"],
                  return_tensors="pt", padding=True).to(device)
with torch.no_grad():
    hand_logits = hand(**batch).logits
    peft_logits = peft_model(**batch).logits
    base_logits = model(**batch).logits
K = forward_reduction(model.config)                 # tolerance 4·√K·u·max|logit|: lesson 07, section 5
print("hand-built == PEFT (up to float32 rounding):", close(hand_logits, peft_logits, reduction=K))
print("and both differ from the base model:", not close(peft_logits, base_logits, reduction=K))

# %% slideshow={"slide_type": "subslide"}
# Not a checked cell: the difference depends on the CPU, the BLAS kernel and the number of threads.
print(f"max |hand - PEFT| over {hand_logits.numel():,} logits: {(hand_logits - peft_logits).abs().max():.1e}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# The difference is zero or float rounding: both compute `base(x) + (B (A x))·α/r` in the same order. The tests
# (`tests/test_lora.py`) repeat this on random GPT-2 configs, on `nn.Linear` models (a small Llama) and after a
# training step.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Choosing targets in GPT-2
#
# ### `fan_in_fan_out`
#
# GPT-2's projections are `Conv1D` layers with weights stored `(in, out)` (lesson 07). PEFT needs to know that
# *only for merging*, and it detects it: if you forget `fan_in_fan_out=True`, it warns and sets it for you.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** GPT-2's Conv1D stores weights (in, out); PEFT detects it for merging. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    forgot = get_peft_model(copy.deepcopy(model), LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn"]))
print("PEFT warned:", [str(w.message) for w in caught if "fan_in_fan_out" in str(w.message)])
print("fan_in_fan_out in the config now:", forgot.peft_config["default"].fan_in_fan_out)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Qualified names: `attn.c_proj` vs `mlp.c_proj`
#
# GPT-2 uses the name `c_proj` twice per block: the attention output projection (256 → 256) and the MLP's down
# projection (1024 → 256). A target matches every module whose name *ends with* it after a dot, so `"c_proj"`
# wraps both; `"attn.c_proj"` wraps only the attention one. `"all-linear"` wraps every linear layer except the output
# head.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 08.1 · the target rule
#
# Write PEFT's rule: does the module called `name` (a full dotted name such as `"transformer.h.0.attn.c_proj"`)
# match the target string `target`? Return `True` or `False`, without `utils.lora`. The check tries 99 name/target
# pairs, such as `"proj"`, `"attn"` and `"1.attn.c_proj"`, that a plain substring or suffix test gets wrong.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
def matches_by_hand(name: str, target: str) -> bool:
    ...  # your code here


# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("08.1", matches_by_hand)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# def matches_by_hand(name, target):
#     return name == target or name.endswith("." + target)
# ```
# The dot is what makes it a rule about *names*: `"proj"` is a suffix of `"c_proj"` but not a module name in it,
# and `"1.attn.c_proj"` must not match block 11's `"h.11.attn.c_proj"`.
# </details>

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Your turn 08.2 · predict a count
#
# Before the next cell runs: how many parameters does LoRA with `r = 8` train on this lesson's model with
# `target_modules=["c_proj"]`? Work it out from the rule above and the shapes of a block's layers (lesson 07,
# section 4 printed them; `print(model)` shows them too). Assign a number.

# %% slideshow={"slide_type": "fragment"} tags=["your-turn"]
my_guess_c_proj = None  # trainable parameters for target_modules=["c_proj"], r = 8

# %% slideshow={"slide_type": "fragment"} tags=["your-turn-check"]
check("08.2", my_guess_c_proj)

# %% [markdown] slideshow={"slide_type": "subslide"}
# <details><summary>Worked answer</summary>
#
# ```python
# my_guess_c_proj = 4 * 8 * ((256 + 256) + (1024 + 256))   # 4 blocks x r x (attn.c_proj + mlp.c_proj)
# ```
# `"c_proj"` matches two modules per block: the attention output projection (256 → 256) and the MLP's down
# projection (1024 → 256), each $r(\text{in} + \text{out})$. The next cell prints it (57,344).
# </details>

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
for targets in [["c_proj"], ["attn.c_proj"], ["mlp.c_proj"], ["c_attn", "attn.c_proj"], "all-linear"]:
    pm = get_peft_model(copy.deepcopy(model), LoraConfig(r=8, lora_alpha=16, target_modules=targets,
                                                         fan_in_fan_out=True))
    names = pm.targeted_module_names
    block0 = [n.removeprefix("transformer.h.0.") for n in names if n.startswith("transformer.h.0.")]
    print(f"{str(targets):28s} {len(names):2d} modules, {pm.get_nb_trainable_parameters()[0]:7,} trainable;"
          f" block 0: {block0}")
    if targets != "all-linear":
        assert names == find_targets(model, targets)       # utils.lora uses the same rule

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Save, measure, load
#
# `save_pretrained` writes **only the adapter**: its config and the `A`/`B` tensors. The base model is not copied;
# whoever loads the adapter needs the same base model.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Show the adapter's size on the 90-minute path (docs/workshops.md, block 5): only A, B and a
# config are saved. Section timing: see docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
adapter_dir = workdir / "qa_c_attn_r8"
peft_model.save_pretrained(adapter_dir)
for f in sorted(adapter_dir.iterdir()):
    print(f"{f.name:28s} {f.stat().st_size:>10,} bytes")
n_adapter = peft_model.get_nb_trainable_parameters()[0]
base_bytes = (Path(resolve_model_path()) / "model.safetensors").stat().st_size
print(f"{n_adapter:,} parameters x 4 bytes = {4 * n_adapter:,} bytes of fp32 (+ a small header)")
print(f"the base model's model.safetensors: {base_bytes:,} bytes "
      f"({base_bytes / (adapter_dir / 'adapter_model.safetensors').stat().st_size:.0f}x larger)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# So an adapter's size is simply `4 bytes × trainable parameters` in fp32. For seed 000's GPT-2 adapter (147,456
# parameters, `r = 4` on `c_attn`) that is 0.59 MB, against about 500 MB for GPT-2 124M itself.
#
# Loading: rebuild the base model, then `PeftModel.from_pretrained(base, adapter_dir)`.

# %% slideshow={"slide_type": "fragment"} tags=["nbval-check-output"]
fresh_base, _ = load_model(device=device)
loaded = PeftModel.from_pretrained(fresh_base, adapter_dir)
with torch.no_grad():
    loaded_logits = loaded(**batch).logits
print("loaded adapter == saved adapter:", close(loaded_logits, peft_logits, reduction=K))
print("loaded for inference, nothing trainable:", loaded.get_nb_trainable_parameters()[0] == 0)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Merge and unload
#
# `merge_and_unload()` adds $\frac{\alpha}{r} BA$ into each base weight (transposed for `Conv1D`, because the config says
# `fan_in_fan_out=True`), removes the LoRA layers and returns a plain `GPT2LMHeadModel` — no extra matmul at inference,
# and no way back to the separate adapter. It should agree with lesson 07's `merge_lora`:

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** `merge_and_unload` gives a plain GPT-2, equal to lesson 07's merge. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
merged = loaded.merge_and_unload()
merged_by_hand = merge_lora(copy.deepcopy(hand))
with torch.no_grad():
    merged_logits = merged(**batch).logits
    hand_merged_logits = merged_by_hand(**batch).logits
print("type:", type(merged).__name__, "| c_attn is", type(merged.transformer.h[0].attn.c_attn).__name__)
print("merged == adapter outputs:", close(merged_logits, peft_logits, reduction=K))
print("PEFT merge == utils.lora merge:",                   # weights: W + (α/r)·B·A, a reduction over r = 8
      close(merged.transformer.h[2].attn.c_attn.weight, merged_by_hand.transformer.h[2].attn.c_attn.weight,
            reduction=8 + 1), "|", close(merged_logits, hand_merged_logits, reduction=K))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Two adapters, one base model
#
# Adapters are small, so one base model can carry several and switch between them. Train two, each on one kind of
# question — capitals of countries and symbols of chemical elements — and save them.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Speaker notes.** Two small adapters on one base model, switched by name. Section timing: see
# docs/workshops.md.

# %% slideshow={"slide_type": "subslide"}
STEPS = 300 if full_run() else 60
task_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn", "c_proj", "c_fc"],
                         fan_in_fan_out=True)
task_losses = {}
for task in ["capital", "symbol"]:
    torch.manual_seed(0)
    train_split = qa["train"].filter(lambda ex, task=task: ex["relation"] == task)
    task_model = get_peft_model(copy.deepcopy(model), task_config)
    task_losses[task] = train_loop(task_model, qa_dataloader(tokenizer, train_split, batch_size=16),
                                    max_steps=STEPS, lr=3e-3, progress=False)
    task_model.save_pretrained(workdir / task)
    print(f"{task:8s}: {len(train_split):,} training pairs, loss {task_losses[task][0]:.2f} -> "
          f"{task_losses[task][-1]:.2f} in {STEPS} steps")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(7, 3.4))
for task, values in task_losses.items():
    ax.plot(values, label=f"adapter '{task}'")
ax.set(xlabel="training step", ylabel="loss (answer tokens)", title="two adapters, trained separately")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now load both onto **one** copy of the base model. `load_adapter` adds a second named adapter; `set_adapter`
# chooses which one is active; `disable_adapter()` runs the bare base model. Ask held-out questions (the `test`
# split: facts never seen as Q&A in training) of both kinds, with each setting:

# %% slideshow={"slide_type": "fragment"} tags=["slides-output-only"]
fresh_base, _ = load_model(device=device)
both = PeftModel.from_pretrained(fresh_base, workdir / "capital", adapter_name="capital")
both.load_adapter(workdir / "symbol", adapter_name="symbol")
print("adapters on one model:", list(both.peft_config))

tests = {task: qa["test"].filter(lambda ex, task=task: ex["relation"] == task).select(range(40))
         for task in ["capital", "symbol"]}


def answer_loss(m, task: str) -> float:
    # Mean loss per answer token on 40 held-out questions of one kind (lower = more likely right answer).
    return heldout_loss(m, tokenizer, tests[task])


scores = {}
with both.disable_adapter():
    scores["no adapter"] = {task: answer_loss(both, task) for task in tests}
for name in ["capital", "symbol"]:
    both.set_adapter(name)
    scores[f"adapter '{name}'"] = {task: answer_loss(both, task) for task in tests}
for setting, row in scores.items():
    print(f"{setting:18s} held-out answer loss: capital questions {row['capital']:.2f}, "
          f"symbol questions {row['symbol']:.2f}")

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
fig, ax = plt.subplots(figsize=(7, 3.4))
width = 0.38
for i, task in enumerate(["capital", "symbol"]):
    values = [row[task] for row in scores.values()]
    ax.bar([x + (i - 0.5) * width for x in range(len(scores))], values, width, label=f"{task} questions")
ax.set_xticks(range(len(scores)), list(scores))
ax.set(ylabel="loss on held-out answers", title="one base model, switchable adapters (lower is better)")
ax.legend()
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["slides-output-only"]
picked = [("capital", 1), ("capital", 3), ("symbol", 1), ("symbol", 3)]
questions = [tests[task][i]["question"] for task, i in picked]
references = [tests[task][i]["answer"] for task, i in picked]
for name in ["capital", "symbol"]:
    both.set_adapter(name)
    answers = generate_answers(both, tokenizer, questions, max_new_tokens=8)
    for q, a, ref in zip(questions, answers, references, strict=True):
        print(f"[{name:7s}] {q:45s} -> {a!r:12s} (right answer: {ref!r})")
for name in ["capital", "symbol"]:
    both.set_adapter(name)
    hits = {task: evaluate_exact_match(both, tokenizer, tests[task], max_new_tokens=8)[0] for task in tests}
    print(f"adapter '{name}': exact match on the 40 held-out questions: capital {hits['capital']:.0%}, "
          f"symbol {hits['symbol']:.0%}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the answers for what they are. The capital adapter answers a capital question with a capital city — the
# right *kind* of answer — but for France it says *Monaco*, a wrong one, and it answers element questions with a
# city name or a fragment. The symbol adapter answers everything, even the capital questions, with something shaped
# like a chemical symbol, and gets none of the printed symbols right. The exact-match lines say how often each
# adapter is right on 40 held-out questions of each kind: the capital adapter knows some capitals, the symbol
# adapter, after 60 steps on fewer pairs, no symbols yet. So this demo shows that switching adapters switches the
# *kind* of answer the model gives — each adapter has learned its question type's answer format — not that it
# makes the answers right. The loss table above says the same more finely: each adapter moved the answers of its
# own kind much closer to the right ones, without reaching them.
#
# Switching is instant — the base weights are shared, and only the small `A`/`B` pairs change. (Merging would bake
# one adapter in and lose this.) Each adapter lowers the loss most on its own kind of question. Both also help on
# the other kind, because much of what a short fine-tune learns is the *format* "Question: … Answer: <short
# answer><end>", which the base model, trained only on statements, never saw. The capstone (lesson 13) trains one
# adapter on all the question types, for longer, and measures exact-match accuracy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Check yourself
#
# 1. What does `save_pretrained` write for a `PeftModel`, and what must the person who loads it already have?
# 2. You want LoRA on GPT-2's attention output projection only. Which `target_modules` do you write, and why not
#    `["c_proj"]`?
# 3. Why does forgetting `fan_in_fan_out=True` not change GPT-2's forward pass, and where would it matter?
# 4. Your adapter file is 1,179,760 bytes. Roughly how many parameters does it hold?
# 5. When would you *not* call `merge_and_unload`?
#
# <details><summary>Answers</summary>
#
# 1. `adapter_config.json` (r, α, targets, base model name) and `adapter_model.safetensors` (the A/B tensors). The
#    loader needs the same base model weights.
# 2. `["attn.c_proj"]`: `"c_proj"` also matches `mlp.c_proj`.
# 3. The low-rank path uses its own `A`, `B`; only merging adds `B·A` into the stored `(in, out)` weight, which needs
#    the transpose. (PEFT sets the flag itself for `Conv1D`, with a warning.)
# 4. About 1,179,760 / 4 ≈ 295,000 fp32 parameters (a small part is the file header).
# 5. When you want to switch adapters on one base model, keep training the adapter, or ship only the small file.
# </details>

# %% slideshow={"slide_type": "subslide"} tags=["nbval-check-output"]
# Question 4, computed: the header is small next to the tensors.
print(f"about {1_179_760 // 4:,} parameters")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - `LoraConfig(r, lora_alpha, lora_dropout, target_modules, fan_in_fan_out)` + `get_peft_model` = lesson 07's
#   `add_lora`; with the same `A` and `B`, PEFT and `utils.lora` give the same logits (difference below 1e-5).
# - GPT-2: targets match name suffixes (`"c_proj"` = attention *and* MLP; `"attn.c_proj"` = attention only);
#   `fan_in_fan_out=True` because `Conv1D` stores `(in, out)` — PEFT sets it if you forget.
# - `save_pretrained` writes only the adapter: 4 bytes per trainable parameter. `PeftModel.from_pretrained` loads it
#   onto a fresh base; `merge_and_unload` bakes it in and returns a plain model with the same outputs.
# - Several adapters share one base model: `load_adapter`, `set_adapter`, `disable_adapter`.
# - Next: lesson 09 measures what `r`, α, dropout, targets and the learning rate actually do.
