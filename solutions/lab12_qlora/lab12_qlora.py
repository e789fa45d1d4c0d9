# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 12 — QLoRA: what is quantized, and what the memory budget is
#
# Lesson 12 loaded the course model in 4-bit NF4 and trained LoRA on top. Here you inspect a 4-bit model and write
# the memory budget of a model for full fine-tuning, LoRA and QLoRA.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 40 minutes. Points: 11.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random

import bitsandbytes as bnb
import torch
from transformers import BitsAndBytesConfig

from utils.models import load_model

bnb_config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
model4, tokenizer = load_model(quantization_config=bnb_config, device_map="cpu")
print(model4.transformer.h[0])


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — what was quantized? (3 points)
#
# Write `count_parameters_4bit(model)` returning `(n_quantized, n_full_precision)`:
#
# - `n_quantized`: the number of **weights** stored in 4 bits — for every `bnb.nn.Linear4bit` module,
#   `in_features × out_features` (its `weight` tensor holds packed bytes, two weights per byte, so do not use its
#   `numel()`);
# - `n_full_precision`: the number of elements of every parameter that is **not** 4-bit packed (dtype other than
#   `torch.uint8`): embeddings, LayerNorms, biases. Count each parameter once (`model.parameters()` already skips
#   the tied `lm_head`).

# %% nbgrader={"grade": false, "grade_id": "count_parameters_4bit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_parameters_4bit(model: torch.nn.Module) -> tuple[int, int]:
    """(weights stored in 4 bits, parameters kept in full precision)."""
    ### BEGIN SOLUTION
    n_quantized = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    n_full = sum(p.numel() for p in model.parameters() if p.dtype != torch.uint8)
    return n_quantized, n_full
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_quantized", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""every Linear4bit's in x out weights are counted as 4-bit (2 points)"""
_nq, _nf = count_parameters_4bit(model4)
print(f"4-bit weights: {_nq:,}   full precision: {_nf:,}")
_c_attn = model4.transformer.h[0].attn.c_attn
assert _nq >= model4.config.n_layer * _c_attn.in_features * _c_attn.out_features, "at least every layer's c_attn"
### BEGIN HIDDEN TESTS
_cfg = model4.config
_d, _L = _cfg.n_embd, _cfg.n_layer
_inner = _cfg.n_inner or 4 * _d
assert _nq == _L * (_d * 3 * _d + _d * _d + _d * _inner + _inner * _d), "c_attn + attn.c_proj + c_fc + mlp.c_proj of every layer"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_full_precision", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""embeddings, norms and biases stay in full precision (1 point)"""
_nq, _nf = count_parameters_4bit(model4)
assert _nf >= model4.transformer.wte.weight.numel(), "the token embedding is not quantized"
### BEGIN HIDDEN TESTS
_ref = sum(p.numel() for n, p in model4.named_parameters() if p.dtype != torch.uint8)
assert _nf == _ref, "count every non-uint8 parameter once"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — LoRA's trainable parameters (2 points)
#
# `lora_parameter_count(shapes, r)`: each adapted weight `W` of shape `(d, k)` = `(out_features, in_features)` (the
# orientation of `nn.Linear.weight`, as in lesson 07) gets `B` (d × r) and `A` (r × k). Return the total number of
# adapter parameters over all `shapes`.

# %% nbgrader={"grade": false, "grade_id": "lora_parameter_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lora_parameter_count(shapes: list[tuple[int, int]], r: int) -> int:
    """Sum of r * (d + k) over the adapted (d, k) = (out_features, in_features) weights."""
    ### BEGIN SOLUTION
    return sum(r * (d + k) for d, k in shapes)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_lora_parameter_count", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""r (d + k) per adapted matrix (2 points)"""
assert lora_parameter_count([(1000, 1000)], 16) == 32_000, "seed 001: 1000 x 1000 at r = 16"
assert lora_parameter_count([(2304, 768)] * 12, 4) == 147_456, "GPT-2 c_attn (out 2304, in 768), r = 4, 12 layers"
### BEGIN HIDDEN TESTS
_rng = random.Random(1201)
for _ in range(10):
    _shapes = [(_rng.randint(8, 5000), _rng.randint(8, 5000)) for _ in range(_rng.randint(1, 8))]
    _r = _rng.choice([1, 4, 8, 16, 64])
    assert lora_parameter_count(_shapes, _r) == sum(_r * (a + b) for a, b in _shapes)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — the memory budget (6 points)
#
# `memory_budget_gb(n_linear, n_other, n_adapter, method)`: GB (10⁹ bytes) to train a model whose linear layers
# hold `n_linear` weights and whose embeddings, norms and biases hold `n_other`, with Adam, activations left out:
#
# | method | base weights | trainable parameters |
# |---|---|---|
# | `"full"` | — (all `n_linear + n_other` are trainable) | 16 bytes each: bf16 weight 2 + bf16 gradient 2 + fp32 master copy 4 + Adam m, v 8 |
# | `"lora"` | all in bf16 (2 bytes) | the `n_adapter` adapter weights: fp32 weight 4 + gradient 4 + Adam 8 = 16 bytes |
# | `"qlora"` | linear weights in NF4 with double quantization, **4.127 bits**; `n_other` in bf16 | as for `"lora"` |
#
# Raise `ValueError` for any other method.

# %% nbgrader={"grade": false, "grade_id": "memory_budget_gb", "locked": false, "schema_version": 3, "solution": true, "task": false}
def memory_budget_gb(n_linear: float, n_other: float, n_adapter: float, method: str) -> float:
    """Training memory in GB for "full", "lora" or "qlora" (see the table)."""
    ### BEGIN SOLUTION
    if method == "full":
        return (n_linear + n_other) * 16 / 1e9
    if method == "lora":
        return ((n_linear + n_other) * 2 + n_adapter * 16) / 1e9
    if method == "qlora":
        return (n_linear * 4.127 / 8 + n_other * 2 + n_adapter * 16) / 1e9
    raise ValueError(f"method must be 'full', 'lora' or 'qlora', got {method!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_budget_full", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""full fine-tune: 16 bytes per parameter (1 point)"""
assert math.isclose(memory_budget_gb(6.5e9, 0.5e9, 0, "full"), 112.0)
### BEGIN HIDDEN TESTS
_rng = random.Random(1202)
for _ in range(5):
    _l, _o = _rng.uniform(1e8, 3e10), _rng.uniform(1e7, 2e9)
    assert math.isclose(memory_budget_gb(_l, _o, _rng.uniform(1e5, 1e8), "full"), (_l + _o) * 16 / 1e9, rel_tol=1e-9)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_budget_lora", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""LoRA: bf16 base + 16 bytes per adapter parameter (2 points)"""
assert math.isclose(memory_budget_gb(6.5e9, 0.5e9, 1e7, "lora"), 14.16)
### BEGIN HIDDEN TESTS
_rng = random.Random(1203)
for _ in range(5):
    _l, _o, _a = _rng.uniform(1e8, 3e10), _rng.uniform(1e7, 2e9), _rng.uniform(1e5, 1e8)
    assert math.isclose(memory_budget_gb(_l, _o, _a, "lora"), ((_l + _o) * 2 + _a * 16) / 1e9, rel_tol=1e-9)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_budget_qlora", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""QLoRA: NF4 + double quant linear weights, bf16 embeddings, 16 bytes per adapter parameter (2 points)"""
print(f"Llama 3.2 3B, QLoRA r=16 on q and v: {memory_budget_gb(2.8187e9, 0.394e9, 4.59e6, 'qlora'):.2f} GB")
assert memory_budget_gb(6.5e9, 0.5e9, 1e7, "qlora") < memory_budget_gb(6.5e9, 0.5e9, 1e7, "lora") / 3
### BEGIN HIDDEN TESTS
_rng = random.Random(1204)
for _ in range(5):
    _l, _o, _a = _rng.uniform(1e8, 3e10), _rng.uniform(1e7, 2e9), _rng.uniform(1e5, 1e8)
    assert math.isclose(memory_budget_gb(_l, _o, _a, "qlora"), (_l * 4.127 / 8 + _o * 2 + _a * 16) / 1e9,
                        rel_tol=1e-9), "linear weights at 4.127 bits, the rest in bf16, adapters 16 bytes each"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_budget_unknown", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""an unknown method raises ValueError (1 point)"""
try:
    memory_budget_gb(1e9, 1e8, 1e6, "qlora8")
except ValueError:
    pass
else:
    raise AssertionError("'qlora8' is not a method: raise ValueError")
### BEGIN HIDDEN TESTS
for _m in ("", "FULL", "int8"):
    try:
        memory_budget_gb(1e9, 1e8, 1e6, _m)
    except ValueError:
        continue
    raise AssertionError(f"{_m!r}: raise ValueError")
### END HIDDEN TESTS
