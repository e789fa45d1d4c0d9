# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 08 — LoRA with PEFT on a parameter budget
#
# Your team can afford a fixed number of trainable parameters (memory, adapter file size, or a storage quota for
# many adapters). You choose the target modules; the code picks the largest rank that fits and builds the PEFT
# configuration — for GPT-2 (`Conv1D`) and for Llama-style models (`nn.Linear`, grouped-query attention). Then you
# use an adapter the way a project does: train it for a few steps, save it, load it back *to keep training*, merge
# it, and measure what the steps bought.
#
# - Write your code between the lines marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Test cells show some checks; hidden checks use fresh models, targets and budgets.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 50 minutes. 18 points.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy
import tempfile
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from utils.models import load_model
from utils.numerics import assert_close, close, forward_reduction
from utils.qa import QACollator, build_examples

warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
warnings.filterwarnings("ignore", category=FutureWarning)  # transformers deprecation notes inside PEFT
model, tokenizer = load_model(device="cpu")      # the bundled GPT-2: 4 layers, d_model 256


def tiny_gpt2(n_embd: int = 32, n_layer: int = 2) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=60, n_positions=16, n_embd=n_embd, n_layer=n_layer, n_head=2,
                                      bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0,
                                      attn_pdrop=0.0))  # no dropout, like the bundled model


def tiny_llama(hidden: int = 32, heads: int = 4, kv_heads: int = 2, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=60, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=layers, num_attention_heads=heads,
                                        num_key_value_heads=kv_heads, max_position_embeddings=32))


def peft_trainable(model: nn.Module, config: LoraConfig) -> int:
    # What PEFT itself counts for this config (on a throw-away copy of the model).
    return get_peft_model(copy.deepcopy(model), copy.deepcopy(config)).get_nb_trainable_parameters()[0]


# Four question/answer pairs in lesson 13's format, one padded batch: labels are -100 on the prompts and the padding.
QA_PAIRS = [("What is the capital of France?", "Paris"), ("What is the chemical symbol of iron?", "Fe"),
            ("What is the capital of Peru?", "Lima"), ("What is the chemical symbol of gold?", "Au")]
qa_batch = QACollator(tokenizer)(build_examples(tokenizer, [q for q, _ in QA_PAIRS], [a for _, a in QA_PAIRS]))
demo_config = LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn"], fan_in_fan_out=True)
K = forward_reduction(model.config)                   # terms summed along the bundled model's forward pass


def demo_adapter(seed: int = 0) -> PeftModel:
    # An adapter on a copy of the bundled model whose B is random instead of zero, as if it had been trained.
    torch.manual_seed(seed)
    demo = get_peft_model(copy.deepcopy(model), copy.deepcopy(demo_config))
    for name, parameter in demo.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(parameter, std=0.02)
    return demo.eval()


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — count before you build (4 points)
#
# `lora_parameter_count_for(model, target_modules, r)`: how many trainable parameters LoRA with rank `r` adds to `model`, read
# from the shapes of the targeted modules — **without** calling PEFT. A module is targeted when its dotted name equals
# a target or ends with `"." + target` (a top-level module such as GPT-2's `lm_head` by its name alone; a module that
# several targets match counts once). Each targeted layer with `in` inputs and `out` outputs adds `r · (in + out)`.
# Careful: `nn.Linear.weight` is `(out, in)`, GPT-2's `Conv1D.weight` is `(in, out)`, and in a Llama with
# grouped-query attention `k_proj`/`v_proj` are not square.
#
# Allowed: `model.named_modules()`, `isinstance`, a weight's `.shape`. Not allowed: PEFT (`get_peft_model`,
# `PeftModel`, its target matching in `peft.tuners`, this notebook's `peft_trainable`) and `utils.lora` (it holds the
# reference): the hidden tests make them raise.

# %% nbgrader={"grade": false, "grade_id": "count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lora_parameter_count_for(model: nn.Module, target_modules: list[str], r: int) -> int:
    """Trainable parameters PEFT's LoRA with rank r on `target_modules` (suffix match) adds to `model`."""
    ### BEGIN SOLUTION
    total = 0
    for name, module in model.named_modules():
        if name and any(name == t or name.endswith("." + t) for t in target_modules):
            if isinstance(module, Conv1D):
                in_features, out_features = module.weight.shape
            else:
                out_features, in_features = module.weight.shape
            total += r * (in_features + out_features)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_gpt2", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""lora_parameter_count_for on GPT-2 (Conv1D), qualified names included (2 points)"""
assert lora_parameter_count_for(model, ["c_attn"], 8) == 4 * 8 * (256 + 768)        # 32,768: lesson 07
assert lora_parameter_count_for(model, ["attn.c_proj"], 4) == 4 * 4 * (256 + 256)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

### BEGIN REFERENCE
from utils.lora import lora_parameter_count as _ref_count  # checked against PEFT in tests/test_lora.py
from utils.lora import target_shapes as _ref_shapes

### END REFERENCE

_gen = torch.Generator().manual_seed(80801)
# PEFT's rule: "fc" is no module's name nor a dotted suffix, so it matches nothing; "lm_head" is a top-level module,
# matched by its name; "c_proj" and "attn.c_proj" both match the attention's c_proj, which counts once
for _targets in (["c_proj"], ["mlp.c_proj"], ["c_fc", "attn.c_proj"], ["c_attn", "c_proj", "c_fc"], ["fc", "c_attn"],
                 ["_proj"], ["lm_head", "c_fc"], ["c_proj", "attn.c_proj"]):
    _r = int(torch.randint(1, 17, (1,), generator=_gen))
    _m = tiny_gpt2(n_embd=16 * int(torch.randint(1, 4, (1,), generator=_gen)), n_layer=3)
    ### BEGIN REFERENCE
    _expected = _ref_count(_ref_shapes(_m, _targets), _r)
    ### END REFERENCE
    with _hidden_forbidden("peft.get_peft_model", "peft.PeftModel",  # submodules before their parent
                           "peft.utils.other._is_valid_match",
                           modules=("peft.tuners.tuners_utils", "peft.tuners", "peft", "utils.lora")):
        _got = lora_parameter_count_for(_m, _targets, _r)
    expect_equal(_got, _expected, message=f"wrong count for {_targets}, r={_r}: {_got}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_llama", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""lora_parameter_count_for on a Llama with grouped-query attention (nn.Linear) (2 points)"""
_llama = tiny_llama(hidden=32, heads=4, kv_heads=2)      # head_dim 8: v_proj is 32 -> 16
assert lora_parameter_count_for(_llama, ["q_proj", "v_proj"], 4) == 2 * 4 * ((32 + 32) + (32 + 16))
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

### BEGIN REFERENCE
from utils.lora import lora_parameter_count as _ref_count  # checked against PEFT in tests/test_lora.py
from utils.lora import target_shapes as _ref_shapes

### END REFERENCE

_gen = torch.Generator().manual_seed(80802)
for _targets in (["q_proj", "v_proj"], ["k_proj", "o_proj"], ["gate_proj", "up_proj", "down_proj"], ["proj"]):
    _r = int(torch.randint(1, 9, (1,), generator=_gen))
    _m = tiny_llama(hidden=48, heads=6, kv_heads=int([1, 2, 3][int(torch.randint(0, 3, (1,), generator=_gen))]))
    ### BEGIN REFERENCE
    _expected = _ref_count(_ref_shapes(_m, _targets), _r)
    ### END REFERENCE
    with _hidden_forbidden("peft.get_peft_model", "peft.PeftModel",  # submodules before their parent
                           "peft.utils.other._is_valid_match",
                           modules=("peft.tuners.tuners_utils", "peft.tuners", "peft", "utils.lora")):
        _got = lora_parameter_count_for(_m, _targets, _r)
    expect_equal(_got, _expected, message=f"wrong count for {_targets}, r={_r}: {_got}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the largest rank that fits (3 points)
#
# `largest_rank(model, target_modules, budget)`: the largest integer `r` with
# `lora_parameter_count_for(model, target_modules, r) <= budget`; `0` when not even `r = 1` fits. (The count is linear in `r`.)

# %% nbgrader={"grade": false, "grade_id": "rank", "locked": false, "schema_version": 3, "solution": true, "task": false}
def largest_rank(model: nn.Module, target_modules: list[str], budget: int) -> int:
    """The largest r whose LoRA parameter count fits in `budget` (0 if even r = 1 does not fit)."""
    ### BEGIN SOLUTION
    per_rank = lora_parameter_count_for(model, target_modules, 1)
    if per_rank == 0:
        raise ValueError(f"no module matches {target_modules}")
    return budget // per_rank
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_largest_rank", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""largest_rank never exceeds the budget and cannot be increased (3 points)"""
assert largest_rank(model, ["c_attn"], 32_768) == 8
assert largest_rank(model, ["c_attn"], 32_767) == 7
assert largest_rank(model, ["c_attn"], 100) == 0
### BEGIN HIDDEN TESTS
from utils.lora import lora_parameter_count as _ref_count
from utils.lora import target_shapes as _ref_shapes
from utils.rules import substituted as _hidden_substituted


def _hidden_count(model, target_modules, r):
    return _ref_count(_ref_shapes(model, target_modules), r)


def _hidden_rank(model, target_modules, budget):
    return budget // _hidden_count(model, target_modules, 1)


_gen = torch.Generator().manual_seed(80803)
for _ in range(6):
    _targets = [["c_attn"], ["c_fc", "mlp.c_proj"], ["attn.c_proj"], ["c_attn", "c_proj", "c_fc"]][
        int(torch.randint(0, 4, (1,), generator=_gen))]
    _per = _hidden_count(model, _targets, 1)
    _budget = int(torch.randint(_per, 70 * _per, (1,), generator=_gen))
    with _hidden_substituted(lora_parameter_count_for=_hidden_count):  # judged on its own, with the reference count
        _r = largest_rank(model, _targets, _budget)
    # the only r with r * per <= budget < (r + 1) * per
    expect_equal(_r, _budget // _per, message=f"budget {_budget} on {_targets}: r = {_r}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — the PEFT configuration (3 points)
#
# `budget_config(model, target_modules, budget, alpha=16.0)` returns a `LoraConfig` with
# - `r` = the largest rank that fits the budget (raise `ValueError` when none does),
# - `lora_alpha = alpha`, so that PEFT scales the update by α/r. (Lesson 09: with α fixed, the tuned learning rate
#   keeps working whatever rank the budget allows. Careful: `lora_alpha` is α itself, not the scale α/r — PEFT
#   divides by `r` for you.)
# - `lora_dropout=0.0`, `target_modules` as given,
# - `fan_in_fan_out=True` exactly when the targeted modules are `Conv1D` (GPT-2's projections), `False` when they are
#   `nn.Linear` (a Llama's projections, or GPT-2's `lm_head`).

# %% nbgrader={"grade": false, "grade_id": "config", "locked": false, "schema_version": 3, "solution": true, "task": false}
def budget_config(model: nn.Module, target_modules: list[str], budget: int, alpha: float = 16.0) -> LoraConfig:
    """A LoraConfig with the largest rank that fits `budget`, lora_alpha = alpha, no dropout."""
    ### BEGIN SOLUTION
    r = largest_rank(model, target_modules, budget)
    if r < 1:
        raise ValueError(f"a budget of {budget} does not fit rank 1 on {target_modules}")
    is_conv1d = any(isinstance(m, Conv1D) for n, m in model.named_modules()
                    if n and any(n == t or n.endswith("." + t) for t in target_modules))
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      fan_in_fan_out=is_conv1d)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_config_budget", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""The configuration PEFT builds from budget_config fits the budget with the largest rank (1 point)"""
_cfg = budget_config(model, ["c_attn", "attn.c_proj"], 50_000)
assert _cfg.r == 50_000 // (4 * ((256 + 768) + (256 + 256)))
assert peft_trainable(model, _cfg) <= 50_000
### BEGIN HIDDEN TESTS
from utils.lora import lora_parameter_count as _ref_count
from utils.lora import target_shapes as _ref_shapes
from utils.rules import substituted as _hidden_substituted


def _hidden_count(model, target_modules, r):
    return _ref_count(_ref_shapes(model, target_modules), r)


def _hidden_rank(model, target_modules, budget):
    return budget // _hidden_count(model, target_modules, 1)


_gen = torch.Generator().manual_seed(80804)
for _m, _targets in ((tiny_gpt2(n_embd=48, n_layer=3), ["c_fc", "c_attn"]), (tiny_llama(hidden=64, heads=8, kv_heads=2), ["q_proj", "v_proj", "o_proj"])):
    _budget = int(torch.randint(2_000, 40_000, (1,), generator=_gen))
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        _c = budget_config(_m, _targets, _budget)
    _n = peft_trainable(_m, _c)
    # n <= budget < n + n // r: the largest rank that fits, and PEFT's count of it (over budget, or a rank too small)
    expect_equal((int(_c.r), _n), (_hidden_rank(_m, _targets, _budget),
                                   _hidden_rank(_m, _targets, _budget) * _hidden_count(_m, _targets, 1)),
                 message=f"budget {_budget}: rank {_c.r}, {_n} trainable parameters (over budget, or not the largest rank)")
try:
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        budget_config(model, ["c_attn"], 10)
    _raised = "nothing"
except ValueError as _hidden_raised:
    _raised = "ValueError"  # or a subclass of it
expect_equal(_raised, "ValueError", message="a budget below rank 1 must raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_config_scale", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""lora_alpha is alpha, so PEFT scales the update by alpha / r; no dropout (1 point)"""
_cfg = budget_config(model, ["c_attn"], 40_000, alpha=16.0)
assert _cfg.lora_alpha == 16.0, "lora_alpha is alpha itself (PEFT divides by r)"
assert _cfg.lora_dropout == 0.0
### BEGIN HIDDEN TESTS
from utils.lora import lora_parameter_count as _ref_count
from utils.lora import target_shapes as _ref_shapes
from utils.rules import substituted as _hidden_substituted


def _hidden_count(model, target_modules, r):
    return _ref_count(_ref_shapes(model, target_modules), r)


def _hidden_rank(model, target_modules, budget):
    return budget // _hidden_count(model, target_modules, 1)


for _alpha, _budget in ((8.0, 5_000), (32.0, 2_000), (12.5, 3_000)):  # 12.5: alpha need not be an integer
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        _c = budget_config(tiny_gpt2(), ["c_attn", "c_fc"], _budget, alpha=_alpha)
    _pm = get_peft_model(tiny_gpt2(), _c)
    _scaling = _pm.base_model.model.transformer.h[0].attn.c_attn.scaling["default"]
    expect_close(float(_scaling), _alpha / _c.r, rtol=0.0, atol=1e-9,  # the reference kernel's r: the largest that fits
                 message=f"PEFT's scale must come out as alpha / r, not {_scaling}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_config_fan_in_fan_out", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""fan_in_fan_out is True for GPT-2's Conv1D targets and False for nn.Linear targets (1 point)"""
assert budget_config(model, ["c_attn"], 40_000).fan_in_fan_out is True
### BEGIN HIDDEN TESTS
from utils.lora import lora_parameter_count as _ref_count
from utils.lora import target_shapes as _ref_shapes
from utils.rules import substituted as _hidden_substituted


def _hidden_count(model, target_modules, r):
    return _ref_count(_ref_shapes(model, target_modules), r)


def _hidden_rank(model, target_modules, budget):
    return budget // _hidden_count(model, target_modules, 1)


_hidden_conv = nn.Sequential(nn.Linear(8, 8))
_hidden_conv.add_module("proj", Conv1D(24, 8))         # a Conv1D in a model that is not GPT-2
for _m, _targets, _want, _why in (
        (tiny_llama(), ["q_proj", "v_proj"], False, "a Llama's projections are nn.Linear"),
        (tiny_gpt2(), ["mlp.c_proj"], True, "GPT-2's projections are Conv1D"),
        (tiny_gpt2(), ["lm_head"], False,
         "GPT-2's lm_head is an nn.Linear: the flag follows the targeted modules, not the model's type"),
        (_hidden_conv, ["proj"], True, "the flag follows the targeted modules")):
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        _fan = budget_config(_m, _targets, 5_000).fan_in_fan_out
    assert isinstance(_fan, bool), f"fan_in_fan_out is a bool, not {type(_fan).__name__}"
    expect_equal(_fan, _want, message=f"{_targets}: fan_in_fan_out={_fan}; {_why}")
with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
    _c = budget_config(tiny_gpt2(), ["mlp.c_proj", "c_attn"], 5_000)
expect_equal(sorted(_c.target_modules), ["c_attn", "mlp.c_proj"], message="target_modules as given")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — train an adapter for a few steps (2 points)
#
# `train_adapter(model, config, batch, steps, lr, seed=0)` returns a trained `PeftModel`:
# - it wraps a **copy** of `model`: `get_peft_model` changes the model it wraps, and `model` must come back
#   unchanged (other exercises, and your next experiment, still need the bare base model);
# - call `torch.manual_seed(seed)` just before `get_peft_model` (PEFT draws each `A` from the random generator);
# - train with `torch.optim.AdamW(<the parameters that require grad>, lr=lr, weight_decay=0.0)`: `steps` optimizer
#   steps, each on the whole `batch` (a dict with `input_ids`, `attention_mask` and `labels`), with the loss the model
#   returns (`.loss`); zero the gradients between steps; no schedule, no clipping;
# - train in training mode: call `.train()` on the adapter model before the steps (`model` may come in eval mode, as
#   `from_pretrained` returns it, and its dropout, LoRA's too, must be on while training);
# - return it in eval mode.
#
# Allowed: `copy.deepcopy`, `get_peft_model`, `torch.optim.AdamW`, the model's forward. Not `utils.qa.train_loop`:
# it decays the learning rate to 0 and clips gradients, a different run. The hidden tests train fresh small models
# on fresh batches and compare your final loss with the reference run's (relative difference below 1e-3) and your
# `A` and `B` with the reference run's (within `1e-4 × lr`: `weight_decay=0.0` and the seed count); they also
# check that `model` is untouched and that the base weights inside your adapter model never moved.

# %% nbgrader={"grade": false, "grade_id": "train_adapter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_adapter(model: nn.Module, config: LoraConfig, batch: dict[str, torch.Tensor], steps: int, lr: float,
                  seed: int = 0) -> PeftModel:
    """A copy of `model` with LoRA from `config`, trained `steps` AdamW steps on `batch`; `model` is left as it was."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_adapter", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""train_adapter trains only A and B, on a copy, exactly the specified run (2 points)"""
_trained = train_adapter(model, demo_config, qa_batch, steps=3, lr=3e-3, seed=0)
with torch.no_grad():
    _losses = model(**qa_batch).loss.item(), _trained(**qa_batch).loss.item()
print(f"loss on qa_batch: base model {_losses[0]:.2f}, after 3 steps {_losses[1]:.2f}")
assert isinstance(_trained, PeftModel) and _losses[1] < _losses[0]
assert not any("lora_" in _n for _n, _ in model.named_parameters()), "model itself must stay without LoRA"
### BEGIN HIDDEN TESTS
from utils.numerics import tolerance as _hidden_tolerance


def _hidden_flat(tensors):  # many tensors as one float64 vector: a value an expectation can send
    return torch.cat([_t.detach().double().flatten() for _t in tensors]) if tensors else torch.zeros(0, dtype=torch.float64)


### BEGIN REFERENCE
def _hidden_train(model, config, batch, steps, lr, seed=0):
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


### END REFERENCE
def _hidden_dropout_gpt2():
    # tiny_gpt2 with dropout, in eval mode as from_pretrained returns a model: the run must switch dropout on
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=60, n_positions=16, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
                                      eos_token_id=0, resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2)).eval()


_gen = torch.Generator().manual_seed(80805)
# the third run scales by alpha / r = 32: gradient norms above 1, which a run without clipping leaves as they are
for _m, _cfg in ((tiny_gpt2(n_embd=32), LoraConfig(r=3, lora_alpha=8, target_modules=["c_attn", "mlp.c_fc"],
                                                   fan_in_fan_out=True)),
                 (tiny_llama(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "down_proj"])),
                 (tiny_gpt2(n_embd=32), LoraConfig(r=2, lora_alpha=64, target_modules=["c_attn", "mlp.c_fc"],
                                                   fan_in_fan_out=True)),
                 (_hidden_dropout_gpt2(), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["c_attn", "c_fc"],
                                                     fan_in_fan_out=True))):
    _ids = torch.randint(1, 60, (3, 12), generator=_gen)
    _b = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": _ids.masked_fill(_ids < 20, -100)}
    _steps, _seed = int(torch.randint(2, 5, (1,), generator=_gen)), int(torch.randint(0, 1000, (1,), generator=_gen))
    _before = {_n: _p.detach().clone() for _n, _p in _m.state_dict().items()}
    ### BEGIN REFERENCE
    _ref = _hidden_train(_m, _cfg, _b, _steps, 1e-2, _seed)  # seeded by _seed as the exercise asks: A is not random
    ### END REFERENCE
    _got = train_adapter(_m, _cfg, _b, _steps, 1e-2, seed=_seed)
    assert isinstance(_got, PeftModel), "return the PeftModel"
    _after = _m.state_dict()
    expect_equal(list(_after), list(_before), message="the model passed in was changed: wrap a copy")
    expect_equal(_hidden_flat([_after[_n] for _n in _after]), _hidden_flat(list(_before.values())),
                 message="the model passed in was changed: wrap a copy")
    expect_equal(bool(_got.training), False, message="return the adapter in eval mode")
    _trainable = sorted(_n for _n, _p in _got.named_parameters() if _p.requires_grad)
    expect_equal(_trainable, sorted(_n for _n, _p in _ref.named_parameters() if _p.requires_grad),
                 message="only A and B train")
    _base_names = [_n for _n in _got.get_base_model().state_dict() if "lora_" not in _n]
    expect_equal([_n.replace(".base_layer", "") for _n in _base_names], list(_before),
                 message="the adapter model holds the base model's weights")
    expect_equal(_hidden_flat([_got.get_base_model().state_dict()[_n] for _n in _base_names]),
                 _hidden_flat(list(_before.values())), message="a base weight moved: only A and B may train")
    with torch.no_grad():
        _have = _got(**_b).loss.item()
    ### BEGIN REFERENCE
    with torch.no_grad():
        _want = _ref(**_b).loss.item()
    ### END REFERENCE
    expect_close(_have, _want, rtol=1e-3, atol=0.0, message=f"loss after {_steps} steps: {_have:.4f}, not the reference run's")
    expect_close(_hidden_flat([_p for _n, _p in sorted(_got.named_parameters()) if _p.requires_grad]),
                 _hidden_flat([_p for _n, _p in sorted(_ref.named_parameters()) if _p.requires_grad]),
                 rtol=0.0, atol=1e-4 * 1e-2, message="A and B differ from the reference run's (weight decay? the seed?)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — load an adapter to keep training (2 points)
#
# Lesson 08 loaded an adapter with `PeftModel.from_pretrained(base, directory)`: ready for inference, nothing
# trainable. Write `reload_trainable(base, adapter_dir)`: the adapter saved in `adapter_dir` (by `save_pretrained`)
# on top of `base`, **ready to train on**: its `A` and `B` require grad, every other parameter is frozen, and it
# computes the same logits as the model that was saved (within `utils.numerics`' tolerance).
#
# Allowed: anything in PEFT; read `help(PeftModel.from_pretrained)`. The hidden tests save fresh trained adapters of
# small GPT-2 and Llama models and check the logits, which parameters train, and that a training step moves them.

# %% nbgrader={"grade": false, "grade_id": "reload_trainable", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reload_trainable(base: nn.Module, adapter_dir: str | Path) -> PeftModel:
    """The adapter in `adapter_dir` on `base`, with its LoRA parameters trainable and the rest frozen."""
    ### BEGIN SOLUTION
    return PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_reload_trainable", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""reload_trainable: same logits as the saved adapter, A and B trainable, the rest frozen (2 points)"""
_saved = demo_adapter()
with tempfile.TemporaryDirectory() as _dir:
    _saved.save_pretrained(_dir)
    _loaded = reload_trainable(load_model(device="cpu")[0], _dir)
with torch.no_grad():
    assert_close(_loaded(**qa_batch).logits, _saved(**qa_batch).logits, reduction=K, what="reloaded logits")
print("trainable after reloading:", _loaded.get_nb_trainable_parameters()[0])
assert _loaded.get_nb_trainable_parameters()[0] == _saved.get_nb_trainable_parameters()[0]
### BEGIN HIDDEN TESTS
from utils.numerics import tolerance as _hidden_tolerance


def _hidden_train(model, config, batch, steps, lr, seed=0):
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


_gen = torch.Generator().manual_seed(80806)
for _make, _cfg in ((tiny_gpt2, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True)),
                    (tiny_llama, LoraConfig(r=2, lora_alpha=8, target_modules=["k_proj", "o_proj", "up_proj"]))):
    _ids = torch.randint(1, 60, (2, 10), generator=_gen)
    _b = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": _ids}
    _ref = _hidden_train(_make(), _cfg, _b, 3, 1e-2)  # the saved adapter: an input, the same in both kernels (seeded)
    with tempfile.TemporaryDirectory() as _dir:
        _ref.save_pretrained(_dir)
        _got = reload_trainable(_make(), _dir)
    assert isinstance(_got, PeftModel), "return the PeftModel"
    with torch.no_grad():
        _logits = _got(**_b).logits
    ### BEGIN REFERENCE
    with torch.no_grad():
        _want_logits = _ref(**_b).logits
    ### END REFERENCE
    # utils.numerics' tolerance, its scale the largest |logit| (atol: the reference kernel's)
    expect_close(_logits, _want_logits, rtol=0.0,
                 atol=_hidden_tolerance(float(_logits.abs().max()), forward_reduction(_ref.config)),
                 message="logits of the reloaded adapter differ from the saved adapter's")
    ### BEGIN REFERENCE
    _want = sorted(_n for _n, _p in _ref.named_parameters() if _p.requires_grad)
    assert _want, "the reference adapter has trainable parameters"
    ### END REFERENCE
    expect_equal(sorted(_n for _n, _p in _got.named_parameters() if _p.requires_grad), _want,
                 message="exactly the LoRA A and B must require grad")
    _B = {_n: _p.detach().clone() for _n, _p in _got.named_parameters() if "lora_B" in _n}
    _got.train()
    _got(**_b).loss.backward()
    torch.optim.SGD([_p for _p in _got.parameters() if _p.requires_grad], lr=0.1).step()
    expect_equal(any(not torch.equal(_p, _B[_n]) for _n, _p in _got.named_parameters() if _n in _B), True,
                 message="a training step must move B")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex6_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — merge, and keep the adapter (2 points)
#
# `merge_and_unload()` bakes the adapter into the base weights, but it does so in the model it is called on: the
# `PeftModel` loses its separate `A` and `B`. Write `merged_copy(adapter)`: a plain transformers model (not a
# `PeftModel`, no LoRA layer left) whose weights include the update, so its logits equal the adapter's within
# `utils.numerics`' tolerance — while `adapter` itself stays an unmerged adapter model: same trainable `A` and `B`,
# same base weights, same logits.
#
# Allowed: `copy.deepcopy`, PEFT's merge methods.

# %% nbgrader={"grade": false, "grade_id": "merged_copy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merged_copy(adapter: PeftModel) -> nn.Module:
    """A plain model with `adapter`'s update merged into its weights; `adapter` is left unmerged."""
    ### BEGIN SOLUTION
    return copy.deepcopy(adapter).merge_and_unload()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_merged_copy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""merged_copy: a plain model with the adapter's logits; the adapter itself unchanged (2 points)"""
_adapter = demo_adapter()
_merged = merged_copy(_adapter)
print("merged model:", type(_merged).__name__)
assert not isinstance(_merged, PeftModel)
with torch.no_grad():
    assert_close(_merged(**qa_batch).logits, _adapter(**qa_batch).logits, reduction=K, what="merged logits")
assert _adapter.get_nb_trainable_parameters()[0] > 0, "the adapter keeps its A and B"
### BEGIN HIDDEN TESTS
from peft.tuners.lora import LoraLayer as _HiddenLoraLayer

from utils.numerics import tolerance as _hidden_tolerance


def _hidden_flat(tensors):  # many tensors as one float64 vector: a value an expectation can send
    return torch.cat([_t.detach().double().flatten() for _t in tensors]) if tensors else torch.zeros(0, dtype=torch.float64)


def _hidden_train(model, config, batch, steps, lr, seed=0):
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


_gen = torch.Generator().manual_seed(80807)
for _make, _cfg in ((tiny_gpt2, LoraConfig(r=4, lora_alpha=16, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True)),
                    (tiny_llama, LoraConfig(r=3, lora_alpha=6, target_modules=["q_proj", "v_proj", "gate_proj"]))):
    _ids = torch.randint(1, 60, (2, 10), generator=_gen)
    _b = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": _ids}
    _ref = _hidden_train(_make(), _cfg, _b, 3, 1e-2)  # the adapter to merge: an input, the same in both kernels (seeded)
    _state = {_n: _p.detach().clone() for _n, _p in _ref.state_dict().items()}
    _trainable = _ref.get_nb_trainable_parameters()[0]
    ### BEGIN REFERENCE
    with torch.no_grad():
        _want = _ref(**_b).logits  # the adapter's logits before merging
    ### END REFERENCE
    _got = merged_copy(_ref)
    _K = forward_reduction(_ref.config)
    _plain = type(_make()).__name__
    expect_equal(type(_got).__name__, _plain, message=f"a plain {_plain}, not {type(_got).__name__}")
    expect_equal(sum(isinstance(_mod, _HiddenLoraLayer) for _mod in _got.modules()), 0,
                 message="no LoRA layer may remain")
    with torch.no_grad():
        _merged_logits = _got(**_b).logits
        _base = _make()(**_b).logits
    # utils.numerics' tolerance, its scale the largest |logit| (atol: the reference kernel's)
    expect_close(_merged_logits, _want, rtol=0.0, atol=_hidden_tolerance(float(_merged_logits.abs().max()), _K),
                 message="merged logits differ from the adapter's")
    expect_equal(close(_merged_logits, _base, reduction=_K), False, message="the merged model must carry the update")
    expect_equal(_ref.get_nb_trainable_parameters()[0], _trainable, message="the adapter lost its trainable A and B")
    _now = _ref.state_dict()
    expect_equal(list(_now), list(_state), message="the adapter's weights changed: merge a copy")
    # the same weights up to float32 rounding: merging in place and unmerging again (w + ΔW − ΔW) rounds twice, by at
    # most u |w| each (utils.numerics' tolerance, elementwise: reduction 1, scale the largest |weight|); an adapter
    # left merged is off by the whole update ΔW
    _scale = float(_hidden_flat(list(_state.values())).abs().max())
    expect_close(_hidden_flat([_now[_n] for _n in _now]), _hidden_flat(list(_state.values())), rtol=0.0,
                 atol=_hidden_tolerance(_scale, 1), message="the adapter's weights changed: merge a copy")
    with torch.no_grad():
        _after_logits = _ref(**_b).logits
    expect_close(_after_logits, _want, rtol=0.0, atol=_hidden_tolerance(float(_after_logits.abs().max()), _K),
                 message="the adapter's logits changed when a copy was merged")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex7_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 7 — experiment: what did the steps buy? (2 points)
#
# `adapter_losses(adapter, batch)` measures, on `batch`, the loss of the **base model alone** (the adapter switched
# off) and the loss **with the adapter**, and returns them as a tuple of two Python `float`s `(base, adapted)`.
# Measure without building a graph (`torch.no_grad()`), in eval mode, and leave the adapter switched on when you
# return. Careful: `adapter.get_base_model()` returns the wrapped model *with* its LoRA layers in it.
#
# Allowed: the `PeftModel`'s own methods (lesson 08, section 6, switched an adapter off). Graded on freshly trained
# adapters of small models: each loss must match the reference within `utils.numerics`' tolerance
# (`reduction = forward_reduction(config) + number of tokens`), and the adapter must give its own loss afterwards.

# %% nbgrader={"grade": false, "grade_id": "adapter_losses", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adapter_losses(adapter: PeftModel, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(loss of the base model with the adapter off, loss with the adapter on) on `batch`, as Python floats."""
    ### BEGIN SOLUTION
    adapter.eval()
    with torch.no_grad():
        with adapter.disable_adapter():
            base = adapter(**batch).loss.item()
        adapted = adapter(**batch).loss.item()
    return base, adapted
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adapter_losses", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""adapter_losses: the base model's loss and the adapter's, as floats, adapter on afterwards (2 points)"""
_base_loss, _adapted_loss = adapter_losses(demo_adapter(), qa_batch)
print(f"demo adapter (random B): base {_base_loss:.2f}, adapted {_adapted_loss:.2f}")
assert isinstance(_base_loss, float) and isinstance(_adapted_loss, float)
assert _base_loss != _adapted_loss
### BEGIN HIDDEN TESTS
from utils.numerics import tolerance as _hidden_tolerance


def _hidden_train(model, config, batch, steps, lr, seed=0):
    torch.manual_seed(seed)
    adapter = get_peft_model(copy.deepcopy(model), copy.deepcopy(config))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    adapter.train()
    for _ in range(steps):
        adapter(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return adapter.eval()


def _hidden_dropout_gpt2():
    # tiny_gpt2 with dropout (in eval mode, as from_pretrained returns a model)
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=60, n_positions=16, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
                                      eos_token_id=0, resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2)).eval()


_gen = torch.Generator().manual_seed(80808)
# the third adapter has dropout and is handed over in training mode: the losses are measured in eval mode
for _make, _cfg in ((tiny_gpt2, LoraConfig(r=2, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True)),
                    (tiny_llama, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj"])),
                    (_hidden_dropout_gpt2, LoraConfig(r=2, lora_alpha=8, lora_dropout=0.2, target_modules=["c_attn"],
                                                      fan_in_fan_out=True))):
    _ids = torch.randint(1, 60, (3, 9), generator=_gen)
    _b = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": _ids.masked_fill(_ids > 45, -100)}
    _ref = _hidden_train(_make(), _cfg, _b, int(torch.randint(2, 5, (1,), generator=_gen)), 1e-2)  # input (seeded)
    _red = forward_reduction(_ref.config) + _ids.numel()
    ### BEGIN REFERENCE
    with torch.no_grad():
        _want = (_make()(**_b).loss.item(), _ref(**_b).loss.item())
    ### END REFERENCE
    if _cfg.lora_dropout > 0:
        _ref.train()  # handed over in training mode
    _got = adapter_losses(_ref, _b)
    assert isinstance(_got, tuple) and len(_got) == 2, "return a tuple (base, adapted)"
    assert all(type(_v) is float for _v in _got), "return Python floats (.item())"
    # utils.numerics' tolerance: losses computed in float32 (u = 2**-24), along the forward pass and the mean over
    # the tokens; sent as float64 (atol: the reference kernel's)
    expect_close(torch.tensor(_got, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), rtol=0.0,
                 atol=_hidden_tolerance(max(abs(_v) for _v in _got), _red),
                 message=f"(base, adapted) losses {_got} differ from the reference's (in eval mode?)")
    _ref.eval()  # the check below is of the adapter being switched on again, in eval mode
    with torch.no_grad():
        _after = _ref(**_b).loss.item()
    expect_close(_after, _want[1], rtol=0.0, atol=_hidden_tolerance(abs(_after), _red),
                 message="the adapter's loss after adapter_losses (is it switched on again?)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex8_round_trip", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## All together: a project's round trip (no points)
#
# Your four functions, on the bundled model and `qa_batch`: train a few steps, save, load back ready to train,
# check that the logits survived the trip, merge a copy, and read what the steps bought.

# %% nbgrader={"grade": false, "grade_id": "round_trip", "locked": true, "schema_version": 3, "solution": false, "task": false}
trained = train_adapter(model, demo_config, qa_batch, steps=3, lr=3e-3)
with tempfile.TemporaryDirectory() as adapter_dir:
    trained.save_pretrained(adapter_dir)
    reloaded = reload_trainable(load_model(device="cpu")[0], adapter_dir)
with torch.no_grad():
    trained_logits = trained(**qa_batch).logits
    print("logits survive save + reload:", close(reloaded(**qa_batch).logits, trained_logits, reduction=K))
    print("merged copy == adapter:", close(merged_copy(reloaded)(**qa_batch).logits, trained_logits, reduction=K))
print("still trainable after merging a copy:", reloaded.get_nb_trainable_parameters()[0])
base_loss, adapted_loss = adapter_losses(reloaded, qa_batch)
print(f"3 steps moved the loss on these 4 answers from {base_loss:.2f} to {adapted_loss:.2f}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# With your `budget_config`, `get_peft_model(model, budget_config(model, targets, budget))` gives the most expressive
# adapter your budget allows; with exercises 4-7 you can train it, ship it as a small file, pick the training up
# again, and merge it for inference. Restart & Run All, then submit.
