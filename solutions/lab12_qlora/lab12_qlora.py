# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 12 — QLoRA: what is quantized, and what the memory budget is
#
# Lesson 12 loaded the course model in 4-bit NF4 and trained LoRA on top. Here you inspect a 4-bit model, write
# the memory budget of a model for full fine-tuning, LoRA and QLoRA, then train LoRA on the 4-bit model yourself and
# prove that training never wrote one byte of the 4-bit weights, and measure what 4 bits cost the logits.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random sizes.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 70 minutes. Points: 20.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import random
import warnings

import bitsandbytes as bnb
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import BitsAndBytesConfig

from utils.models import load_model
from utils.qa import QACollator, build_examples

warnings.filterwarnings("ignore", category=FutureWarning)  # transformers deprecation notes inside PEFT
bnb_config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
model4, tokenizer = load_model(quantization_config=bnb_config, device_map="cpu")
model32, _ = load_model(device="cpu")                  # the same weights in float32
print(model4.transformer.h[0])

# Four question/answer pairs in lesson 13's format, one padded batch: labels are -100 on the prompts and the padding.
QA_PAIRS = [("What is the capital of France?", "Paris"), ("What is the chemical symbol of iron?", "Fe"),
            ("What is the capital of Peru?", "Lima"), ("What is the chemical symbol of gold?", "Au")]
qa_batch = QACollator(tokenizer)(build_examples(tokenizer, [q for q, _ in QA_PAIRS], [a for _, a in QA_PAIRS]))
lora_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn", "c_proj", "c_fc"])


def qlora_model(seed: int = 0) -> torch.nn.Module:
    # A fresh 4-bit course model with LoRA on every projection, as in lesson 12 (section 3).
    fresh, _ = load_model(quantization_config=bnb_config, device_map="cpu")
    torch.manual_seed(seed)
    return get_peft_model(prepare_model_for_kbit_training(fresh, use_gradient_checkpointing=False), lora_config)


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — what was quantized? (3 points)
#
# Write `count_parameters_4bit(model)` returning `(n_quantized, n_full_precision)`:
#
# - `n_quantized`: the number of **weights** stored in 4 bits — for every `bnb.nn.Linear4bit` module (its
#   subclasses `bnb.nn.LinearNF4` and `bnb.nn.LinearFP4` included), `in_features × out_features` (its `weight` tensor
#   holds packed bytes, two weights per byte and an odd count rounded up to a whole byte, so do not use its
#   `numel()`);
# - `n_full_precision`: the number of elements of every parameter that is **not** 4-bit packed (dtype other than
#   `torch.uint8`): embeddings, LayerNorms, biases, whatever their dtype (float32, bfloat16, float16) and whether or
#   not they require grad. Count each parameter once (`model.parameters()` already skips the tied `lm_head`).

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
expect_equal(_nq, _L * (_d * 3 * _d + _d * _d + _d * _inner + _inner * _d),
             message=f"{_nq}: c_attn + attn.c_proj + c_fc + mlp.c_proj of every layer")
torch.manual_seed(1200)  # not GPT-2, no config: count the Linear4bit modules themselves
_hm = torch.nn.Sequential(bnb.nn.Linear4bit(96, 48, compute_dtype=torch.float32, quant_type="nf4"), torch.nn.ReLU(),
                          torch.nn.Linear(48, 40), bnb.nn.Linear4bit(40, 24, bias=False, compute_dtype=torch.float32,
                                                                     quant_type="nf4")).to("cpu")
expect_equal(count_parameters_4bit(_hm)[0], 96 * 48 + 40 * 24, message="count every Linear4bit's in x out, whatever the model")
torch.manual_seed(1201)  # a LinearNF4 (a Linear4bit subclass) and an odd 3 x 5 = 15 weights, stored in 8 bytes
_hm = torch.nn.Sequential(bnb.nn.LinearNF4(64, 16, compute_dtype=torch.float32), torch.nn.Linear(16, 8),
                          bnb.nn.Linear4bit(3, 5, bias=False, compute_dtype=torch.float32, quant_type="nf4")).to("cpu")
expect_equal(count_parameters_4bit(_hm)[0], 64 * 16 + 3 * 5,
             message="LinearNF4 is a Linear4bit; a 3 x 5 layer holds 15 weights (in x out, not 2 per stored byte)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_full_precision", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""embeddings, norms and biases stay in full precision (1 point)"""
_nq, _nf = count_parameters_4bit(model4)
assert _nf >= model4.transformer.wte.weight.numel(), "the token embedding is not quantized"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
_ref = sum(p.numel() for n, p in model4.named_parameters() if p.dtype != torch.uint8)
### END REFERENCE
expect_equal(_nf, _ref, message=f"{_nf}: count every non-uint8 parameter once")
torch.manual_seed(1200)  # not GPT-2, no config
_hm = torch.nn.Sequential(bnb.nn.Linear4bit(96, 48, compute_dtype=torch.float32, quant_type="nf4"), torch.nn.ReLU(),
                          torch.nn.Linear(48, 40), bnb.nn.Linear4bit(40, 24, bias=False, compute_dtype=torch.float32,
                                                                     quant_type="nf4")).to("cpu")
expect_equal(count_parameters_4bit(_hm)[1], 48 + 48 * 40 + 40, message="the biases and the plain Linear, whatever the model")
torch.manual_seed(1201)  # full precision in other dtypes, and frozen: still full precision
_hm = torch.nn.Sequential(bnb.nn.LinearNF4(64, 16, compute_dtype=torch.float32), torch.nn.Linear(16, 8).to(torch.bfloat16),
                          torch.nn.LayerNorm(8).to(torch.float16), torch.nn.Linear(8, 4)).to("cpu")
_hm[3].requires_grad_(False)
expect_equal(count_parameters_4bit(_hm)[1], 16 + (16 * 8 + 8) + 2 * 8 + (8 * 4 + 4),
             message="every non-uint8 parameter: bf16 and fp16 ones, and frozen ones, too")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — LoRA's trainable parameters (2 points)
#
# `lora_parameter_count(shapes, r)`: each adapted weight `W` of shape `(d, k)` = `(out_features, in_features)` (the
# orientation of `nn.Linear.weight`, as in lesson 07) gets `B` (d × r) and `A` (r × k). Return the total number of
# adapter parameters over all `shapes`, as an `int`. Not allowed: `utils.lora` (its `lora_parameter_count` is
# lesson 07's answer; the hidden tests make that module unimportable while they call yours).

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
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(1201)
for _ in range(10):
    _shapes = [(_rng.randint(8, 5000), _rng.randint(8, 5000)) for _ in range(_rng.randint(1, 8))]
    _r = _rng.choice([1, 4, 8, 16, 64])
    with _hidden_forbidden(modules=("utils.lora",)):  # lesson 07's lora_parameter_count
        _got = lora_parameter_count(_shapes, _r)
    assert type(_got) is int, f"a count is an int, got {type(_got).__name__}"
    expect_equal(_got, sum(_r * (a + b) for a, b in _shapes), message=f"{len(_shapes)} shapes at r = {_r}: {_got}")
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
    expect_close(memory_budget_gb(_l, _o, _rng.uniform(1e5, 1e8), "full"), (_l + _o) * 16 / 1e9, rtol=1e-9, atol=0.0,
                 message="16 bytes for every parameter")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_budget_lora", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""LoRA: bf16 base + 16 bytes per adapter parameter (2 points)"""
assert math.isclose(memory_budget_gb(6.5e9, 0.5e9, 1e7, "lora"), 14.16)
### BEGIN HIDDEN TESTS
_rng = random.Random(1203)
for _ in range(5):
    _l, _o, _a = _rng.uniform(1e8, 3e10), _rng.uniform(1e7, 2e9), _rng.uniform(1e5, 1e8)
    expect_close(memory_budget_gb(_l, _o, _a, "lora"), ((_l + _o) * 2 + _a * 16) / 1e9, rtol=1e-9, atol=0.0,
                 message="bf16 base weights, 16 bytes per adapter parameter")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_budget_qlora", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""QLoRA: NF4 + double quant linear weights, bf16 embeddings, 16 bytes per adapter parameter (2 points)"""
print(f"Llama 3.2 3B, QLoRA r=16 on q and v: {memory_budget_gb(2.8187e9, 0.394e9, 4.59e6, 'qlora'):.2f} GB")
assert memory_budget_gb(6.5e9, 0.5e9, 1e7, "qlora") < memory_budget_gb(6.5e9, 0.5e9, 1e7, "lora") / 3
### BEGIN HIDDEN TESTS
_rng = random.Random(1204)
for _ in range(5):
    _l, _o, _a = _rng.uniform(1e8, 3e10), _rng.uniform(1e7, 2e9), _rng.uniform(1e5, 1e8)
    expect_close(memory_budget_gb(_l, _o, _a, "qlora"), (_l * 4.127 / 8 + _o * 2 + _a * 16) / 1e9, rtol=1e-9, atol=0.0,
                 message="linear weights at 4.127 bits, the rest in bf16, adapters 16 bytes each")
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
        _raised = "nothing"
    except ValueError:
        _raised = "ValueError"
    expect_equal(_raised, "ValueError", message=f"{_m!r}: raise ValueError")
### END HIDDEN TESTS


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — a snapshot of every 4-bit weight (2 points)
#
# Lesson 12 probed one layer's 4-bit weight before and after training. Here you watch all of them.
# `snapshot_4bit(model)` returns a dict with one entry for every `bnb.nn.Linear4bit` module of `model`, keyed by its
# name in `model.named_modules()` exactly as given (on a PEFT model the names keep PEFT's `base_model.model.` prefix
# and `.base_layer` suffix), whose value is a tuple `(weight, address, saved)`:
# - `weight`: the module's weight parameter itself (`module.weight`, not a copy);
# - `address`: where its bytes live, `module.weight.data.untyped_storage().data_ptr()` (an `int`);
# - `saved`: a copy of its bytes **in memory of its own** (`.clone()`), so that writing into the weight later
#   cannot change the copy.
#
# Allowed: `named_modules`, `isinstance`, `untyped_storage().data_ptr()`, `clone`. Other modules (a plain
# `nn.Linear`, a LayerNorm) are not in the dict.

# %% nbgrader={"grade": false, "grade_id": "snapshot_4bit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def snapshot_4bit(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]:
    """{name of each Linear4bit: (its weight parameter, the address of its storage, a copy of its bytes)}."""
    ### BEGIN SOLUTION
    return {name: (module.weight, module.weight.data.untyped_storage().data_ptr(), module.weight.data.clone())
            for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_snapshot_4bit", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""snapshot_4bit: every Linear4bit, its weight object, its address, a copy of its own (2 points)"""
_snap = snapshot_4bit(model4)
print(f"{len(_snap)} 4-bit layers, e.g. {next(iter(_snap))}")
assert len(_snap) == 4 * model4.config.n_layer, "c_attn, attn.c_proj, c_fc and mlp.c_proj of every block"
_w, _address, _saved = _snap["transformer.h.0.attn.c_attn"]
assert _w is model4.transformer.h[0].attn.c_attn.weight and torch.equal(_saved, _w.data)
### BEGIN HIDDEN TESTS
def _hidden_tiny4(seed):
    # Linear4bit layers (quantized when moved to the CPU) with a plain Linear and a ReLU between them.
    torch.manual_seed(seed)
    layers = torch.nn.Sequential(bnb.nn.Linear4bit(64, 32, compute_dtype=torch.float32, quant_type="nf4"),
                                 torch.nn.ReLU(), torch.nn.Linear(32, 32),
                                 bnb.nn.Linear4bit(32, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4"))
    return layers.to("cpu")


for _seed in (1204, 1205):
    _m = _hidden_tiny4(_seed)
    _got = snapshot_4bit(_m)
    assert isinstance(_got, dict), f"return a dict, not {type(_got).__name__}"
    expect_equal(sorted(_got), ["0", "3"], message=f"keys: the Linear4bit names, got {sorted(_got)}")
    for _name, _module in _m.named_modules():
        if _name in _got:
            _w, _address, _saved = _got[_name]
            # identity and addresses differ between processes: sent as what the student's kernel found
            expect_equal(_w is _module.weight, True, message="the weight parameter itself")
            expect_equal(type(_address) is int and _address == _module.weight.data.untyped_storage().data_ptr(), True,
                         message="address: weight.data.untyped_storage().data_ptr()")
            ### BEGIN REFERENCE
            _want_bytes = _module.weight.data.clone()  # seeded layers: the same bytes in both kernels
            ### END REFERENCE
            expect_equal(_saved, _want_bytes, message="saved: the same bytes")
            expect_equal(_saved.untyped_storage().data_ptr() != _address, True, message="saved: a copy in memory of its own")
            _module.weight.data[0] ^= 1                      # write into the weight: the copy must not follow
            expect_equal(_saved, _want_bytes, message="saved must not change when the weight does")
_m = qlora_model(1206)  # a PEFT model: the keys are its named_modules() names, prefixes and all
_got = snapshot_4bit(_m)
### BEGIN REFERENCE
_want = sorted(_n for _n, _mod in _m.named_modules() if isinstance(_mod, bnb.nn.Linear4bit))
### END REFERENCE
expect_equal(sorted(_got), _want, message=f"a PEFT model: keys as named_modules() gives them, e.g. {next(iter(_got))}")
_modules = dict(_m.named_modules())
expect_equal(all(_name in _modules and _got[_name][0] is _modules[_name].weight for _name in _got), True,
             message="a PEFT model: each key names its Linear4bit, with that module's weight")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — untouched? (3 points)
#
# `four_bit_untouched(model, snapshot)` returns `True` only when `model`'s `Linear4bit` modules have exactly the
# names in `snapshot` and, for each of them, all three hold:
# 1. its weight is the **same object** as the snapshot's (`is`; a new parameter wrapping the very same storage is
#    another object),
# 2. its bytes live at the **same address**,
# 3. its bytes **equal** the saved ones (`torch.equal`).
#
# Otherwise `False` (a layer missing, added or replaced included). Why all three: equal bytes cannot tell "never written"
# from "re-quantized to the same codes" (lesson 12, section 4); the same parameter object can have been given new
# `.data`; and the same storage can have been written in place. The hidden tests try each of these on fresh layers.
#
# Allowed: as in exercise 4, and `torch.equal`.

# %% nbgrader={"grade": false, "grade_id": "four_bit_untouched", "locked": false, "schema_version": 3, "solution": true, "task": false}
def four_bit_untouched(model: torch.nn.Module, snapshot: dict[str, tuple[torch.nn.Parameter, int, torch.Tensor]]) -> bool:
    """True when every Linear4bit weight is the snapshot's object, at its address, with its bytes."""
    ### BEGIN SOLUTION
    layers = {name: module for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}
    if layers.keys() != snapshot.keys():
        return False
    for name, (weight, address, saved) in snapshot.items():
        now = layers[name].weight
        if now is not weight or now.data.untyped_storage().data_ptr() != address or not torch.equal(now.data, saved):
            return False
    return True
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_four_bit_untouched", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""four_bit_untouched: the same object, the same address and the same bytes, for every 4-bit layer (3 points)"""
_snap = snapshot_4bit(model4)
assert four_bit_untouched(model4, _snap) is True
_changed = {**_snap, "transformer.h.0.attn.c_attn": (_snap["transformer.h.0.attn.c_attn"][0], 0,
                                                     _snap["transformer.h.0.attn.c_attn"][2])}
assert four_bit_untouched(model4, _changed) is False, "another address"
### BEGIN HIDDEN TESTS
import copy as _hidden_copy


def _hidden_tiny4(seed):
    torch.manual_seed(seed)
    layers = torch.nn.Sequential(bnb.nn.Linear4bit(64, 32, compute_dtype=torch.float32, quant_type="nf4"),
                                 torch.nn.ReLU(), torch.nn.Linear(32, 32),
                                 bnb.nn.Linear4bit(32, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4"))
    return layers.to("cpu")


def _hidden_snapshot(model):
    return {name: (module.weight, module.weight.data.untyped_storage().data_ptr(), module.weight.data.clone())
            for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)}


def _hidden_flip_byte(m):
    m[3].weight.data[5] ^= 0x21          # written in place: same object, same address, other bytes


def _hidden_new_data(m):
    m[0].weight.data = m[0].weight.data.clone()          # same object, same bytes, new storage


def _hidden_new_object(m):
    m[3].weight = _hidden_copy.deepcopy(m[3].weight)     # "re-quantized": equal bytes in a new parameter


def _hidden_rewrapped(m):
    _old = m[3].weight  # a new Params4bit over the same storage: same address, same bytes, another object
    m[3].weight = bnb.nn.Params4bit(_old.data, requires_grad=False, quant_state=_old.quant_state,
                                    blocksize=_old.blocksize, compress_statistics=_old.compress_statistics,
                                    quant_type=_old.quant_type, quant_storage=_old.quant_storage, module=m[3],
                                    bnb_quantized=True)


def _hidden_dequantized(m):
    m[0] = torch.nn.Linear(64, 32)                       # a 4-bit layer replaced by a full-precision one


def _hidden_renamed(m):
    m.insert(0, torch.nn.Identity())                     # the 4-bit layers now have other names


def _hidden_added(m):
    m.append(bnb.nn.Linear4bit(64, 8, compute_dtype=torch.float32, quant_type="nf4").to("cpu"))  # one 4-bit layer more


for _seed, _tamper, _want in ((1211, None, True), (1212, _hidden_flip_byte, False), (1213, _hidden_new_data, False),
                              (1214, _hidden_new_object, False), (1215, _hidden_dequantized, False),
                              (1216, _hidden_renamed, False), (1217, _hidden_added, False),
                              (1218, _hidden_rewrapped, False)):
    _m = _hidden_tiny4(_seed)
    _snap = _hidden_snapshot(_m)
    if _tamper is not None:
        _tamper(_m)
    _got = four_bit_untouched(_m, _snap)
    assert isinstance(_got, bool), f"return True or False, not {type(_got).__name__}"
    expect_equal(_got, _want, message=f"{_tamper.__name__.removeprefix('_hidden_') if _tamper else 'untouched'}: {_got}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex6_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — train the adapters on the 4-bit model (2 points)
#
# `train_steps(model, batch, steps, lr)` trains `model` (a `PeftModel`, here on a 4-bit base) in place and returns
# the list of its `steps` training losses as Python `float`s, the loss of each step measured before that step's
# update: `torch.optim.AdamW(<the parameters that require grad>, lr=lr, weight_decay=0.0)`, each step on the whole
# `batch` — every tensor in it, its `attention_mask` included (`model(**batch)`: the course tokenizer pads on the
# left, and there a dropped mask changes the loss) — with the loss the model returns (`.loss`), gradients zeroed
# between steps, train mode, no schedule, no clipping. Allowed: `torch.optim.AdamW`, the model's forward. Graded on fresh 4-bit models: each of your losses
# within a relative 1e-3 of the reference run's, the adapters after your last step within `1e-4 × lr` of the
# reference run's (every step counts, and so does `weight_decay=0.0`), and the 4-bit weights never written.

# %% nbgrader={"grade": false, "grade_id": "train_steps", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> list[float]:
    """`steps` AdamW steps on `batch` of the parameters that require grad; the loss of each step, as floats."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    history = []
    for _ in range(steps):
        step_loss = model(**batch).loss
        step_loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        history.append(step_loss.item())
    return history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_steps", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""train_steps: the specified AdamW run, losses as floats (2 points)"""
_qlora = qlora_model()
_losses = train_steps(_qlora, qa_batch, steps=3, lr=2e-3)
print("losses:", [round(_v, 2) for _v in _losses])
assert len(_losses) == 3 and all(type(_v) is float for _v in _losses) and _losses[-1] < _losses[0]
### BEGIN HIDDEN TESTS
def _hidden_flat(tensors):  # many tensors as one vector: a value an expectation can send
    return torch.cat([_t.detach().flatten() for _t in tensors]) if tensors else torch.zeros(0)


### BEGIN REFERENCE
def _hidden_train_steps(model, batch, steps, lr):
    adam = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    seen = []
    for _ in range(steps):
        value = model(**batch).loss
        value.backward()
        adam.step()
        adam.zero_grad()
        seen.append(value.item())
    return seen


### END REFERENCE
_gen = torch.Generator().manual_seed(1221)
_ids = torch.randint(1, tokenizer.vocab_size, (3, 12), generator=_gen)
_b = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": _ids}
_steps, _seed = int(torch.randint(3, 5, (1,), generator=_gen)), int(torch.randint(0, 1000, (1,), generator=_gen))
### BEGIN REFERENCE
_hidden_ref_model = qlora_model(_seed)  # LoRA's A drawn after torch.manual_seed(_seed): the same start in both kernels
_want = _hidden_train_steps(_hidden_ref_model, _b, _steps, 3e-3)
### END REFERENCE
_m = qlora_model(_seed)
_weights = [(_mod, _mod.weight, _mod.weight.data.untyped_storage().data_ptr(), _mod.weight.data.clone())
            for _mod in _m.modules() if isinstance(_mod, bnb.nn.Linear4bit)]
_got = train_steps(_m, _b, _steps, 3e-3)
assert isinstance(_got, list) and all(type(_v) is float for _v in _got), "a list of Python floats"
expect_equal(len(_got), _steps, message=f"{_steps} steps, {len(_got)} losses")
expect_close(torch.tensor(_got, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), rtol=1e-3, atol=0.0,
             message=f"losses {[round(v, 4) for v in _got]} differ from the reference run's")
# the same objects at the same addresses (per process: sent as what the student's kernel found), the same bytes
expect_equal(all(_mod.weight is _w and _mod.weight.data.untyped_storage().data_ptr() == _a for _mod, _w, _a, _ in _weights),
             True, message="the 4-bit weights must never be written (a new parameter or new storage)")
expect_equal(_hidden_flat([_mod.weight.data for _mod, _, _, _ in _weights]), _hidden_flat([_s for *_, _s in _weights]),
             message="the 4-bit weights must never be written (their bytes changed)")
_got_adapters = {_n: _p for _n, _p in _m.named_parameters() if _p.requires_grad}
### BEGIN REFERENCE
_ref_adapters = {_n: _p for _n, _p in _hidden_ref_model.named_parameters() if _p.requires_grad}
### END REFERENCE
expect_equal(sorted(_got_adapters), sorted(_ref_adapters), message="train the LoRA parameters, and only them")
expect_close(_hidden_flat([_got_adapters[_n] for _n in sorted(_got_adapters)]),
             _hidden_flat([_ref_adapters[_n] for _n in sorted(_ref_adapters)]), rtol=0.0, atol=1e-4 * 3e-3,
             message="the adapters differ from the reference run's (weight decay? every step?)")
# a left-padded batch as the course tokenizer makes it (22 and 17 tokens), its attention mask, labels -100 on the
# padding: without the mask the first loss moves by about 11 %
_b = dict(tokenizer(["Question: What is the capital of Spain?\nAnswer: Madrid", "Hello, how are you today?"],
                    padding=True, return_tensors="pt"))
_b["labels"] = _b["input_ids"].masked_fill(_b["attention_mask"] == 0, -100)
### BEGIN REFERENCE
_want = _hidden_train_steps(qlora_model(1222), _b, 1, 3e-3)
### END REFERENCE
_got = train_steps(qlora_model(1222), _b, 1, 3e-3)
expect_close(torch.tensor(_got, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), rtol=1e-3, atol=0.0,
             message=f"left-padded batch: losses {[round(v, 4) for v in _got]} differ (the attention mask passed?)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "proof_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## The proof (no points)
#
# A fresh 4-bit model with LoRA, a snapshot, three training steps: the adapters moved, the 4-bit weights did not.

# %% nbgrader={"grade": false, "grade_id": "proof", "locked": true, "schema_version": 3, "solution": false, "task": false}
qlora = qlora_model()
before = snapshot_4bit(qlora)                        # after get_peft_model: PEFT renames the layers it wraps
adapters = {n: p.detach().clone() for n, p in qlora.named_parameters() if p.requires_grad}
losses = train_steps(qlora, qa_batch, steps=3, lr=2e-3)
moved = sum(not torch.equal(p, adapters[n]) for n, p in qlora.named_parameters() if n in adapters)
print(f"loss {losses[0]:.2f} -> {losses[-1]:.2f}; adapter tensors that moved: {moved} of {len(adapters)}")
print(f"{len(before)} 4-bit weights: same objects, same storage, same bytes:", four_bit_untouched(qlora, before))

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex7_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 7 — experiment: what do 4 bits cost the logits? (2 points)
#
# `nf4_logit_error(model32, model4, batch)`: run both models on `batch` (without gradients) and return, as a Python
# `float`, the largest absolute difference between their logits divided by the largest absolute logit of the
# float32 model, over every position of the batch: `max |logits4 − logits32| / max |logits32|`. A forward pass without
# gradients reads
#
#     with torch.no_grad():
#         logits = model(**batch).logits        # (batch, seq, vocab)
#
# Run each model on the whole `batch`, its `attention_mask` included (`model(**batch)`), and take the maxima over
# every position, padding included. Allowed: the models' forward, tensor arithmetic. Graded on fresh batches (also
# left-padded ones) within a relative 1e-3 of the reference, and on two small stand-in models: modules whose output
# has `.logits`, like the course models' (use nothing of a model but its forward).

# %% nbgrader={"grade": false, "grade_id": "nf4_logit_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nf4_logit_error(model32: torch.nn.Module, model4: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """max |logits of model4 - logits of model32| / max |logits of model32| on `batch`."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        logits32 = model32(**batch).logits
        logits4 = model4(**batch).logits
    return ((logits4 - logits32).abs().max() / logits32.abs().max()).item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nf4_logit_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""nf4_logit_error: the 4-bit model's largest logit error relative to the largest logit (2 points)"""
_error = nf4_logit_error(model32, model4, {"input_ids": qa_batch["input_ids"]})
print(f"4-bit logits differ from float32 by up to {_error:.1%} of the largest logit")
assert type(_error) is float and 0 < _error < 1
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(1231)
for _shape in ((2, 9), (3, 17)):
    _b = {"input_ids": torch.randint(0, tokenizer.vocab_size, _shape, generator=_gen)}
    ### BEGIN REFERENCE
    with torch.no_grad():
        _l32, _l4 = model32(**_b).logits, model4(**_b).logits
    _want = ((_l4 - _l32).abs().max() / _l32.abs().max()).item()
    ### END REFERENCE
    _got = nf4_logit_error(model32, model4, _b)
    assert type(_got) is float, "a Python float (.item())"
    expect_close(_got, _want, rtol=1e-3, atol=0.0, message=f"{_got:.5f}: not the reference's")
# a left-padded batch with its attention mask: without the mask the error is about 0.0427 instead of 0.0400
_b = dict(tokenizer(["Question: What is the capital of Spain?\nAnswer: Madrid", "Hello, how are you today?"],
                    padding=True, return_tensors="pt"))
### BEGIN REFERENCE
with torch.no_grad():
    _l32, _l4 = model32(**_b).logits, model4(**_b).logits
_want = ((_l4 - _l32).abs().max() / _l32.abs().max()).item()
### END REFERENCE
_got = nf4_logit_error(model32, model4, _b)
expect_close(_got, _want, rtol=1e-3, atol=0.0, message=f"left-padded batch: {_got:.5f} (the attention mask passed?)")
from transformers.modeling_outputs import CausalLMOutput as _HiddenOutput


def _hidden_table_init(self, table):
    torch.nn.Module.__init__(self)
    self.table = torch.nn.Parameter(torch.tensor(table), requires_grad=False)


def _hidden_table_forward(self, input_ids=None, attention_mask=None, **kwargs):
    return _HiddenOutput(logits=self.table[input_ids])


# a stand-in model: the logits of each token id looked up in a table (the attention mask changes nothing). Built
# with type(): a class statement in a hidden test would mangle the grader's __grader_ names inside its methods
_HiddenTable = type("_HiddenTable", (torch.nn.Module,), {"__init__": _hidden_table_init,
                                                         "forward": _hidden_table_forward})
# differences 0.2, -0.1 | -3.0, 0.05 | -0.1, 0.05: the largest |difference|, 3.0, is negative and flips the sign
# (1.5 -> -1.5, equal magnitudes), so max(l4 - l32) and max | |l4| - |l32| | both give 0.2, not 3.0
_t32 = _HiddenTable([[5.0, -1.0], [1.5, 0.25], [-2.0, 4.0]])
_t4 = _HiddenTable([[5.2, -1.1], [-1.5, 0.3], [-2.1, 4.05]])
_b = {"input_ids": torch.tensor([[0, 1, 2], [2, 1, 0]]), "attention_mask": torch.ones(2, 3, dtype=torch.int64)}
_got = nf4_logit_error(_t32, _t4, _b)
### BEGIN REFERENCE
_want = ((_t4.table - _t32.table).abs().max() / _t32.table.abs().max()).item()  # 3.0 / 5.0
### END REFERENCE
expect_close(_got, _want, rtol=1e-3, atol=0.0, message=f"{_got:.5f}: max |l4 - l32| / max |l32| is 0.6 here")
### END HIDDEN TESTS
