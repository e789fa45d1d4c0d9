# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 08 — LoRA with PEFT on a parameter budget
#
# Your team can afford a fixed number of trainable parameters (memory, adapter file size, or a storage quota for
# many adapters). You choose the target modules; the code picks the largest rank that fits and builds the PEFT
# configuration — for GPT-2 (`Conv1D`) and for Llama-style models (`nn.Linear`, grouped-query attention).
#
# - Write your code between the lines marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Test cells show some checks; hidden checks use fresh models, targets and budgets.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 25 minutes. 10 points.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import warnings

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from utils.models import load_model

warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
warnings.filterwarnings("ignore", category=FutureWarning)  # transformers deprecation notes inside PEFT
model, tokenizer = load_model(device="cpu")      # the bundled GPT-2: 4 layers, d_model 256


def tiny_gpt2(n_embd: int = 32, n_layer: int = 2) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=60, n_positions=16, n_embd=n_embd, n_layer=n_layer, n_head=2,
                                      bos_token_id=0, eos_token_id=0))


def tiny_llama(hidden: int = 32, heads: int = 4, kv_heads: int = 2, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=60, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=layers, num_attention_heads=heads,
                                        num_key_value_heads=kv_heads, max_position_embeddings=32))


def peft_trainable(model: nn.Module, config: LoraConfig) -> int:
    # What PEFT itself counts for this config (on a throw-away copy of the model).
    import copy
    return get_peft_model(copy.deepcopy(model), copy.deepcopy(config)).get_nb_trainable_parameters()[0]


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — count before you build (4 points)
#
# `lora_parameter_count_for(model, target_modules, r)`: how many trainable parameters LoRA with rank `r` adds to `model`, read
# from the shapes of the targeted modules — **without** calling PEFT. A module is targeted when its dotted name equals
# a target or ends with `"." + target`. Each targeted layer with `in` inputs and `out` outputs adds `r · (in + out)`.
# Careful: `nn.Linear.weight` is `(out, in)`, GPT-2's `Conv1D.weight` is `(in, out)`, and in a Llama with
# grouped-query attention `k_proj`/`v_proj` are not square.

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
from utils.lora import lora_parameter_count as _ref_count  # checked against PEFT in tests/test_lora.py
from utils.lora import target_shapes as _ref_shapes

_gen = torch.Generator().manual_seed(80801)
for _targets in (["c_proj"], ["mlp.c_proj"], ["c_fc", "attn.c_proj"], ["c_attn", "c_proj", "c_fc"], ["fc", "c_attn"],
                 ["_proj"]):  # PEFT's rule: "fc" is no module's name nor a dotted suffix, so it matches nothing
    _r = int(torch.randint(1, 17, (1,), generator=_gen))
    _m = tiny_gpt2(n_embd=16 * int(torch.randint(1, 4, (1,), generator=_gen)), n_layer=3)
    _expected = _ref_count(_ref_shapes(_m, _targets), _r)
    assert lora_parameter_count_for(_m, _targets, _r) == _expected, f"wrong count for {_targets}, r={_r}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_llama", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""lora_parameter_count_for on a Llama with grouped-query attention (nn.Linear) (2 points)"""
_llama = tiny_llama(hidden=32, heads=4, kv_heads=2)      # head_dim 8: v_proj is 32 -> 16
assert lora_parameter_count_for(_llama, ["q_proj", "v_proj"], 4) == 2 * 4 * ((32 + 32) + (32 + 16))
### BEGIN HIDDEN TESTS
from utils.lora import lora_parameter_count as _ref_count  # checked against PEFT in tests/test_lora.py
from utils.lora import target_shapes as _ref_shapes

_gen = torch.Generator().manual_seed(80802)
for _targets in (["q_proj", "v_proj"], ["k_proj", "o_proj"], ["gate_proj", "up_proj", "down_proj"], ["proj"]):
    _r = int(torch.randint(1, 9, (1,), generator=_gen))
    _m = tiny_llama(hidden=48, heads=6, kv_heads=int([1, 2, 3][int(torch.randint(0, 3, (1,), generator=_gen))]))
    _expected = _ref_count(_ref_shapes(_m, _targets), _r)
    assert lora_parameter_count_for(_m, _targets, _r) == _expected, f"wrong count for {_targets}, r={_r}"
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
    assert _r * _per <= _budget < (_r + 1) * _per, f"budget {_budget} on {_targets}: r = {_r}"
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
# - `fan_in_fan_out=True` exactly when the targeted modules are `Conv1D` (GPT-2), `False` for `nn.Linear` models.

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
    assert _n <= _budget, "over budget"
    assert _n + _n // _c.r > _budget, "a larger rank would still fit"
try:
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        budget_config(model, ["c_attn"], 10)
    raise AssertionError("a budget below rank 1 must raise ValueError")
except ValueError as _expected_error:
    pass
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


for _alpha, _budget in ((8.0, 5_000), (32.0, 2_000)):
    with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
        _c = budget_config(tiny_gpt2(), ["c_attn", "c_fc"], _budget, alpha=_alpha)
    _pm = get_peft_model(tiny_gpt2(), _c)
    _scaling = _pm.base_model.model.transformer.h[0].attn.c_attn.scaling["default"]
    assert abs(_scaling - _alpha / _c.r) < 1e-9, "PEFT's scale must come out as alpha / r"
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


with _hidden_substituted(lora_parameter_count_for=_hidden_count, largest_rank=_hidden_rank):
    assert budget_config(tiny_llama(), ["q_proj", "v_proj"], 5_000).fan_in_fan_out is False
    assert budget_config(tiny_gpt2(), ["mlp.c_proj"], 5_000).fan_in_fan_out is True
    _c = budget_config(tiny_gpt2(), ["mlp.c_proj", "c_attn"], 5_000)
assert set(_c.target_modules) == {"mlp.c_proj", "c_attn"}
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# With your `budget_config`, `get_peft_model(model, budget_config(model, targets, budget))` gives the most expressive
# adapter your budget allows. Restart & Run All, then submit.
