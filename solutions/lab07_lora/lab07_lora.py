# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 07 — LoRA by hand
#
# You implement the LoRA layer of lesson 07 yourself, for both `nn.Linear` and GPT-2's `Conv1D`, then inject it into
# a model and count what trains. Then you carry LoRA over to a layer the lesson did not: the token embedding; and you
# measure how low a rank a given weight change needs.
#
# - Write your code between the lines marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Test cells show some checks. More (hidden) checks run when the lab is graded, on fresh random shapes and layers —
#   make your code correct, not just the visible examples.
# - Do **not** use the course's own answers in `utils.lora` (`LoRALinear`, `add_lora`, `count_parameters`; nor
#   subclass them): that module cannot be imported while the hidden tests run. Exercise 3 also forbids `F.one_hot`.
# - **Allowed**: `torch` and `torch.nn` (`nn.Parameter`, `nn.init`, `@`, indexing, `F.linear`, `F.embedding`),
#   `model.named_modules()`, `get_submodule`, `setattr`, `torch.linalg` in exercise 4.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 50 minutes. 24 points.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy
import math

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

from utils.numerics import assert_close

torch.manual_seed(0)


def tiny_gpt2(seed: int, n_layer: int = 2) -> GPT2LMHeadModel:
    # A small random GPT-2 (Conv1D projections) for the tests: no download.
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=n_layer, n_head=2,
                                      bos_token_id=0, eos_token_id=0)).eval()


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — the LoRA layer (10 points)
#
# Complete `LoRALinear(base, r, alpha)`:
#
# - `base` is an `nn.Linear` (weight stored `(out_features, in_features)`) **or** a `transformers` `Conv1D`
#   (weight stored `(in_features, out_features)` — transposed!). Freeze all of `base`'s parameters.
# - `self.lora_A`: an `nn.Parameter` of shape `(r, in_features)`, initialised like PEFT:
#   `nn.init.kaiming_uniform_(..., a=math.sqrt(5))` (uniform on `[−1/√in, 1/√in]`), from torch's random generator as
#   it stands — do not seed it inside the layer: two layers get different `A`s. `self.lora_B`: an `nn.Parameter` of
#   shape `(out_features, r)`, initialised so that the layer computes exactly `base(x)` before training.
#   `self.scaling`: the factor α/r.
# - `forward(x)` for `x` of shape `(..., in_features)`: `base(x) + scaling · x Aᵀ Bᵀ` — or just `base(x)` once merged.
# - `merge()`: add the update `scaling · B A` (shape `(out, in)`) into `base.weight` **in the layout of that layer**,
#   in place (it stays the same frozen `nn.Parameter`), and set `self.merged = True` so the update is not counted
#   twice. Calling it twice must not add it twice (nor take it out again: a second call changes nothing).
#   `A` and `B` stay as they are (PEFT keeps them too, so that an adapter can be unmerged).

# %% nbgrader={"grade": false, "grade_id": "lora_linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LoRALinear(nn.Module):
    """A frozen nn.Linear or GPT-2 Conv1D plus a trainable low-rank update (alpha / r) * B @ A."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        ### BEGIN SOLUTION
        if isinstance(base, Conv1D):
            in_features, out_features = base.weight.shape
        else:
            out_features, in_features = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        ### END SOLUTION
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        result = self.base(x)
        if self.merged:
            return result
        return result + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling
        ### END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        ### BEGIN SOLUTION
        if self.merged:
            return
        delta = (self.lora_B @ self.lora_A) * self.scaling
        if isinstance(self.base, Conv1D):
            delta = delta.T
        self.base.weight += delta
        self.merged = True  # forward() now skips the low-rank path
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_init_shapes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""A and B have PEFT's shapes for nn.Linear and Conv1D, B starts at zero, only A and B train (2 points)"""
_layer = LoRALinear(nn.Linear(12, 20), r=3, alpha=6)
assert tuple(_layer.lora_A.shape) == (3, 12), "lora_A is (r, in_features)"
assert tuple(_layer.lora_B.shape) == (20, 3), "lora_B is (out_features, r)"
assert _layer.scaling == 2.0, "scaling is alpha / r"
assert torch.count_nonzero(_layer.lora_B) == 0, "B must start at zero"
assert not _layer.base.weight.requires_grad, "the base weight must be frozen"
_conv = LoRALinear(Conv1D(20, 12), r=3, alpha=6)     # Conv1D(nf=out, nx=in): weight (12, 20)
assert tuple(_conv.lora_A.shape) == (3, 12) and tuple(_conv.lora_B.shape) == (20, 3), "Conv1D stores (in, out)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

assert all(_c.__module__ != "utils.lora" for _c in LoRALinear.__mro__), "write LoRALinear yourself"
with _hidden_forbidden(modules=("utils.lora",)):  # the course's own answers cannot be imported
    _gen = torch.Generator().manual_seed(70701)
    for _ in range(4):
        _i, _o, _r = (int(v) for v in torch.randint(2, 40, (3,), generator=_gen))
        for _base in (nn.Linear(_i, _o), Conv1D(_o, _i)):
            _l = LoRALinear(_base, r=_r, alpha=2 * _r + 1)
            expect_equal((tuple(_l.lora_A.shape), tuple(_l.lora_B.shape)), ((_r, _i), (_o, _r)),
                         message=f"A {tuple(_l.lora_A.shape)}, B {tuple(_l.lora_B.shape)}: wrong A/B shapes")
            expect_equal(int(torch.count_nonzero(_l.lora_B)), 0, message="B must start at zero")
            # A's values are random (they differ between correct answers): its properties are what is compared
            expect_equal(bool(torch.count_nonzero(_l.lora_A) > 0), True, message="A must start random, not zero")
            _hi = 1 / math.sqrt(_i) + 1e-6  # 0 <= max |A| <= _hi, judged as |max |A| - _hi / 2| <= _hi / 2
            expect_close(float(_l.lora_A.abs().max()), _hi / 2, atol=_hi / 2, rtol=0.0,
                         message="A: kaiming_uniform_(a=sqrt(5))")
            expect_close(float(_l.scaling), (2 * _r + 1) / _r, rtol=1e-9, atol=0.0, message="scaling is alpha / r")
            expect_equal(any(bool(p.requires_grad) for p in _l.base.parameters()), False,
                         message="the base layer must be frozen")
            expect_equal((bool(_l.lora_A.requires_grad), bool(_l.lora_B.requires_grad)), (True, True),
                         message="A and B must train")
            expect_equal(sorted(_n for _n, _p in _l.named_parameters() if _p.requires_grad), ["lora_A", "lora_B"],
                         message="A and B must be nn.Parameters of the layer (its trainable parameters)")
    torch.manual_seed(70707)
    for _base in (nn.Linear(64, 48), Conv1D(48, 64)):  # in_features 64: A is uniform on [-1/8, 1/8]
        _A = LoRALinear(_base, r=16, alpha=16).lora_A.detach()
        expect_equal(int(torch.linalg.matrix_rank(_A)), 16, message="A must start random (full rank), not constant")
        _bound = 1 / math.sqrt(64)
        _lo, _hi = 0.9 * _bound, _bound + 1e-6  # _lo <= max |A| <= _hi: |max |A| - middle| <= half the width
        expect_close(float(_A.abs().max()), (_lo + _hi) / 2, atol=(_hi - _lo) / 2, rtol=0.0,
                     message="A: kaiming_uniform_(a=sqrt(5)) fills [-1/sqrt(in), 1/sqrt(in)]")
        expect_close(float(_A.std()), _bound / math.sqrt(3), atol=0.1 * _bound / math.sqrt(3), rtol=0.0,
                     message="A: kaiming_uniform_(a=sqrt(5)) (uniform, std = bound / sqrt(3)), not a small Gaussian")
    torch.manual_seed(70713)
    for _base in (nn.Linear(1024, 16), Conv1D(16, 1024)):  # in_features 1024: A is uniform on [-1/32, 1/32]
        _u = 32 * LoRALinear(_base, r=64, alpha=64).lora_A.detach().double().flatten()  # 65,536 draws, on [-1, 1]
        expect_close(float(_u.abs().max()), 1.0 - 0.0005, atol=0.0005 + 1e-5, rtol=0.0,
                     message="A: kaiming_uniform_(a=sqrt(5)) fills [-1/sqrt(in), 1/sqrt(in)]")
        # uniform on [-1, 1]: E[u²] = 1/3 (the mean of 65,536 draws has a standard deviation of 0.0012; a normal of
        # std 1 cut at ±1 gives 0.29)
        expect_close(float((_u ** 2).mean()), 1 / 3, atol=0.01, rtol=0.0,
                     message="A: kaiming_uniform_(a=sqrt(5)) (uniform: variance bound² / 3), not another distribution")
        # Kolmogorov-Smirnov: the largest gap between the draws' CDF and the uniform's, (u + 1) / 2. For 65,536
        # uniform draws it exceeds 0.01 with probability 4e-6; a normal cut at ±1 gives 0.03
        _cdf = (_u.sort().values + 1) / 2
        _steps = torch.arange(1, _u.numel() + 1, dtype=torch.float64) / _u.numel()
        _ks = float(torch.maximum(_steps - _cdf, _cdf - (_steps - 1 / _u.numel())).max())
        expect_close(_ks, 0.0, atol=0.01, rtol=0.0, message=f"A is not uniform (Kolmogorov-Smirnov distance {_ks:.3f})")
    _A1 = LoRALinear(nn.Linear(20, 10), r=4, alpha=8).lora_A.detach().clone()
    _A2 = LoRALinear(nn.Linear(20, 10), r=4, alpha=8).lora_A.detach().clone()
    expect_equal(torch.equal(_A1, _A2), False,
                 message="two layers got the same A: draw it from torch's generator, do not seed it in the layer")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_init_identity", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""Before training, the wrapped layer computes exactly what the base layer computes (1 point)"""
_base = nn.Linear(8, 5)
_x = torch.randn(4, 8)
assert torch.allclose(LoRALinear(_base, r=2, alpha=4)(_x), _base(_x)), "B = 0 at init: output == base(x)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


def _hidden_seeded(module, fan_in, gen):
    # the base layer's weights from the test's generator: both kernels (yours, the reference's) see the same layer
    with torch.no_grad():
        for _p in module.parameters():
            _p.copy_((2 * torch.rand(_p.shape, generator=gen) - 1) / math.sqrt(fan_in))
    return module


assert all(_c.__module__ != "utils.lora" for _c in LoRALinear.__mro__), "write LoRALinear yourself"
with _hidden_forbidden(modules=("utils.lora",)):  # the course's own answers cannot be imported
    _gen = torch.Generator().manual_seed(70702)
    for _ in range(3):
        _i, _o = (int(v) for v in torch.randint(2, 30, (2,), generator=_gen))
        for _base in (_hidden_seeded(nn.Linear(_i, _o), _i, _gen), _hidden_seeded(Conv1D(_o, _i), _i, _gen)):
            _x = torch.randn(2, 3, _i, generator=_gen)
            ### BEGIN REFERENCE
            _want = _base(_x)
            ### END REFERENCE
            expect_close(LoRALinear(_base, r=4, alpha=8)(_x), _want, atol=1e-6, message="output != base at init")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_forward_linear", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""forward = base(x) + (alpha / r) x A^T B^T for nn.Linear (2 points)"""
torch.manual_seed(1)
_layer = LoRALinear(nn.Linear(6, 4), r=2, alpha=8)
with torch.no_grad():
    _layer.lora_B.normal_()
_x = torch.randn(3, 6)
_expected = _layer.base(_x) + 4.0 * _x @ _layer.lora_A.T @ _layer.lora_B.T
assert torch.allclose(_layer(_x), _expected, atol=1e-5), "forward must add (alpha / r) * x A^T B^T"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


def _hidden_seeded(module, fan_in, gen):
    # the base layer's weights from the test's generator: both kernels (yours, the reference's) see the same layer
    with torch.no_grad():
        for _p in module.parameters():
            _p.copy_((2 * torch.rand(_p.shape, generator=gen) - 1) / math.sqrt(fan_in))
    return module


assert all(_c.__module__ != "utils.lora" for _c in LoRALinear.__mro__), "write LoRALinear yourself"
with _hidden_forbidden(modules=("utils.lora",)):  # the course's own answers cannot be imported
    _gen = torch.Generator().manual_seed(70703)
    for _ in range(4):
        _i, _o, _r = (int(v) for v in torch.randint(2, 33, (3,), generator=_gen))
        _alpha = float(torch.randint(1, 64, (1,), generator=_gen))
        _base = _hidden_seeded(nn.Linear(_i, _o), _i, _gen)
        _l = LoRALinear(_base, r=_r, alpha=_alpha)
        # A (random at init) and B from the test's generator, so that the expected output is the same in both kernels
        _A = (2 * torch.rand(_r, _i, generator=_gen) - 1) / math.sqrt(_i)
        _B = torch.randn(_o, _r, generator=_gen)
        with torch.no_grad():
            _l.lora_A.copy_(_A)
            _l.lora_B.copy_(_B)
        _x = torch.randn(2, 5, _i, generator=_gen)
        ### BEGIN REFERENCE
        _ref = _base(_x) + (_alpha / _r) * _x @ _A.T @ _B.T
        ### END REFERENCE
        expect_close(_l(_x), _ref, atol=1e-4, message="wrong forward for nn.Linear")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_forward_conv1d", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""forward is right for GPT-2's Conv1D as well (2 points)"""
torch.manual_seed(2)
_layer = LoRALinear(Conv1D(4, 6), r=2, alpha=2)      # in 6, out 4
with torch.no_grad():
    _layer.lora_B.normal_()
_x = torch.randn(3, 6)
_expected = _layer.base(_x) + _x @ _layer.lora_A.T @ _layer.lora_B.T
assert torch.allclose(_layer(_x), _expected, atol=1e-5), "forward must work on a Conv1D"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


def _hidden_seeded(module, fan_in, gen):
    # the base layer's weights from the test's generator: both kernels (yours, the reference's) see the same layer
    with torch.no_grad():
        for _p in module.parameters():
            _p.copy_((2 * torch.rand(_p.shape, generator=gen) - 1) / math.sqrt(fan_in))
    return module


assert all(_c.__module__ != "utils.lora" for _c in LoRALinear.__mro__), "write LoRALinear yourself"
with _hidden_forbidden(modules=("utils.lora",)):  # the course's own answers cannot be imported
    _gen = torch.Generator().manual_seed(70704)
    for _ in range(4):
        _i, _o, _r = (int(v) for v in torch.randint(2, 33, (3,), generator=_gen))
        _alpha = float(torch.randint(1, 64, (1,), generator=_gen))
        _base = _hidden_seeded(Conv1D(_o, _i), _i, _gen)
        _l = LoRALinear(_base, r=_r, alpha=_alpha)
        # A (random at init) and B from the test's generator, so that the expected output is the same in both kernels
        _A = (2 * torch.rand(_r, _i, generator=_gen) - 1) / math.sqrt(_i)
        _B = torch.randn(_o, _r, generator=_gen)
        with torch.no_grad():
            _l.lora_A.copy_(_A)
            _l.lora_B.copy_(_B)
        _x = torch.randn(2, 5, _i, generator=_gen)
        ### BEGIN REFERENCE
        _ref = _base(_x) + (_alpha / _r) * _x @ _A.T @ _B.T
        ### END REFERENCE
        expect_close(_l(_x), _ref, atol=1e-4, message="wrong forward for Conv1D")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_merge", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""merge folds the update into the base weight (transposed for Conv1D); outputs stay the same (3 points)"""
torch.manual_seed(3)
_layer = LoRALinear(nn.Linear(5, 7), r=2, alpha=4)
with torch.no_grad():
    _layer.lora_B.normal_()
_x = torch.randn(2, 5)
_before = _layer(_x)
_layer.merge()
assert torch.allclose(_layer(_x), _before, atol=1e-5), "merging must not change the outputs"
assert torch.allclose(_layer.base(_x), _before, atol=1e-5), "after merge the base layer alone carries the update"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


def _hidden_seeded(module, fan_in, gen):
    # the base layer's weights from the test's generator: both kernels (yours, the reference's) see the same layer
    with torch.no_grad():
        for _p in module.parameters():
            _p.copy_((2 * torch.rand(_p.shape, generator=gen) - 1) / math.sqrt(fan_in))
    return module


assert all(_c.__module__ != "utils.lora" for _c in LoRALinear.__mro__), "write LoRALinear yourself"
with _hidden_forbidden(modules=("utils.lora",)):  # the course's own answers cannot be imported
    _gen = torch.Generator().manual_seed(70705)
    for _square in (True, False, False):
        _i = int(torch.randint(2, 30, (1,), generator=_gen))
        _o = _i if _square else int(torch.randint(2, 30, (1,), generator=_gen))
        for _base in (_hidden_seeded(nn.Linear(_i, _o), _i, _gen), _hidden_seeded(Conv1D(_o, _i), _i, _gen)):
            _w0 = _base.weight.detach().clone()
            _l = LoRALinear(_base, r=3, alpha=5)
            _weight = _base.weight
            # A (random at init) and B from the test's generator: the expected weights are the same in both kernels
            _A = (2 * torch.rand(3, _i, generator=_gen) - 1) / math.sqrt(_i)
            _B = torch.randn(_o, 3, generator=_gen)
            with torch.no_grad():
                _l.lora_A.copy_(_A)
                _l.lora_B.copy_(_B)
            _x = torch.randn(4, _i, generator=_gen)
            ### BEGIN REFERENCE
            _delta = (5 / 3) * _B @ _A
            _expected = _w0 + (_delta.T if isinstance(_base, Conv1D) else _delta)
            _want = _base(_x) + (5 / 3) * _x @ _A.T @ _B.T  # the outputs, before and after merging
            ### END REFERENCE
            # your output before merging: the outputs after merging are compared with it (through the reference's)
            expect_close(_l(_x), _want, atol=1e-4, message="the output before merging is wrong")
            _l.merge()
            assert _l.merged is True, "merge() sets self.merged = True"  # a type check: True, not 1
            expect_equal(_l.merged, True, message="merge() sets self.merged = True")
            expect_equal(_l.lora_A.detach(), _A, message="merge() keeps A as it is")
            expect_equal(_l.lora_B.detach(), _B, message="merge() keeps B as it is")
            expect_close(_base.weight.detach(), _expected, atol=1e-5, message="merged weight is wrong (Conv1D needs .T)")
            expect_equal(bool(_base.weight.requires_grad), False,
                         message="the merged base weight must stay frozen (update it in place)")
            expect_equal(_base.weight is _weight, True, message="update base.weight in place (the same Parameter)")
            expect_close(_l(_x), _want, atol=1e-4, message="outputs changed after merge")
            _l.merge()
            expect_close(_l(_x), _want, atol=1e-4, message="a second merge must not add the update again")
            expect_equal(_l.merged, True, message="a second merge changes nothing: merged stays True")
            expect_close(_base.weight.detach(), _expected, atol=1e-5,
                         message="a second merge changed the merged weight (it must change nothing)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — inject and count (5 points)
#
# - `add_lora(model, target_modules, r, alpha)`: freeze **every** parameter of `model`, then replace each module
#   whose dotted name equals a target or ends with `"." + target` (PEFT's rule: `"c_proj"` matches
#   `transformer.h.0.attn.c_proj` and `transformer.h.0.mlp.c_proj`; `"attn.c_proj"` only the first) by your
#   `LoRALinear`, each once (a module that several targets match is still wrapped once). Change `model` in place
#   and return it (the same object, not a copy). Hint: `model.named_modules()`, `model.get_submodule(parent_name)`,
#   `setattr`.
# - `count_parameters(model)`: `(trainable parameters, all parameters)`. Parameters only: buffers (BatchNorm's running
#   statistics, a Llama's rotary `inv_freq`) are not parameters.

# %% nbgrader={"grade": false, "grade_id": "inject", "locked": false, "schema_version": 3, "solution": true, "task": false}
def add_lora(model: nn.Module, target_modules: list[str], r: int, alpha: float) -> nn.Module:
    """Freeze all of `model`, wrap every module whose name is a target or ends with "." + target."""
    ### BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_modules()
             if n and any(n == t or n.endswith("." + t) for t in target_modules)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model  # the same object, modified in place
    ### END SOLUTION


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    ### BEGIN SOLUTION
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_inject_targets", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""add_lora wraps exactly the targeted modules, qualified names included (2 points)"""
_model = add_lora(tiny_gpt2(0), ["c_attn"], r=2, alpha=4)
assert isinstance(_model.transformer.h[0].attn.c_attn, LoRALinear), "c_attn should be wrapped"
assert not isinstance(_model.transformer.h[0].attn.c_proj, LoRALinear), "c_proj was not a target"
### BEGIN HIDDEN TESTS
from utils.lora import LoRALinear as _hidden_LoRALinear
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted

_hidden_yours = LoRALinear  # a wrapper made from your class (a default argument, an alias) counts as well
_hidden_refs = {"LoRALinear": _hidden_LoRALinear}  # taken before utils.lora is disabled
# PEFT's rule: "fc" and "_attn" are no module's name nor a dotted suffix, so they match nothing
# "lm_head" is a top-level module: its name equals the target. "c_proj" and "attn.c_proj" both match the attention's
# c_proj, which is wrapped once
for _seed, _targets in enumerate([["c_proj"], ["attn.c_proj"], ["mlp.c_proj", "c_fc"], ["c_attn", "c_proj", "c_fc"],
                                  ["fc", "c_attn"], ["_attn"], ["lm_head", "c_fc"], ["c_proj", "attn.c_proj"]]):
    _m = tiny_gpt2(100 + _seed, n_layer=3)
    ### BEGIN REFERENCE
    _expected = sorted(n for n, _ in _m.named_modules() if n and any(n == t or n.endswith("." + t) for t in _targets))
    ### END REFERENCE
    # judged with the reference layer; utils.lora (the course's own add_lora) cannot be used. forbidden first:
    # it disables every utils.lora object in the notebook, and the reference layer is one
    with _hidden_forbidden("peft.tuners.tuners_utils.check_target_module_exists", "peft.utils.other._is_valid_match",
                           modules=("utils.lora",), allow=("utils.lora.LoRALinear",)), \
            _hidden_substituted(**_hidden_refs):
        _m = add_lora(_m, _targets, r=2, alpha=4)
    assert _m is not None, "return the model"  # a type check: the names below are read from it
    _wrapped = sorted(n for n, mod in _m.named_modules() if isinstance(mod, (_hidden_LoRALinear, _hidden_yours)))
    expect_equal(_wrapped, _expected, message=f"targets {_targets}: wrapped {_wrapped}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_inject_frozen", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Only LoRA's A and B train after injection; their count is r (in + out) per layer (2 points)"""
_model = add_lora(tiny_gpt2(1), ["c_attn"], r=2, alpha=4)
_trainable = [n for n, p in _model.named_parameters() if p.requires_grad]
assert all("lora_" in n for n in _trainable), f"base weights left trainable: {[n for n in _trainable if 'lora_' not in n][:3]}"
assert sum(p.numel() for p in _model.parameters() if p.requires_grad) == 2 * 2 * (32 + 96)
### BEGIN HIDDEN TESTS
from utils.lora import LoRALinear as _hidden_LoRALinear
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted

_hidden_refs = {"LoRALinear": _hidden_LoRALinear}  # taken before utils.lora is disabled
_gen = torch.Generator().manual_seed(70706)
for _seed in range(3):
    _r = int(torch.randint(1, 9, (1,), generator=_gen))
    with _hidden_forbidden("peft.tuners.tuners_utils.check_target_module_exists", "peft.utils.other._is_valid_match",
                           modules=("utils.lora",), allow=("utils.lora.LoRALinear",)), \
            _hidden_substituted(**_hidden_refs):
        _m0 = tiny_gpt2(200 + _seed, n_layer=2)
        _m = add_lora(_m0, ["c_fc", "attn.c_proj"], r=_r, alpha=2 * _r)
    expect_equal(_m is _m0, True, message="add_lora changes the model it is given and returns it (not a copy)")
    _names = [n for n, p in _m.named_parameters() if p.requires_grad]
    expect_equal(len(_names) > 0, True, message="lora_A / lora_B must be trainable")
    expect_equal([n for n in _names if "lora_" not in n], [],
                 message=f"only lora_A / lora_B may be trainable: {[n for n in _names if 'lora_' not in n][:3]}")
    expect_equal(sum(p.numel() for p in _m.parameters() if p.requires_grad), 2 * _r * ((32 + 128) + (32 + 32)),
                 message="trainable parameters: r (in + out) per wrapped layer")
    _ids = torch.randint(0, 50, (2, 6), generator=_gen)
    ### BEGIN REFERENCE
    _ref = tiny_gpt2(200 + _seed, n_layer=2)
    ### END REFERENCE
    with torch.no_grad():
        expect_close(_m(_ids).logits, _ref(_ids).logits, atol=1e-5, message="injection changed the outputs")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""count_parameters returns (trainable, total) (1 point)"""
_model = tiny_gpt2(2)
_total = sum(p.numel() for p in _model.parameters())
assert count_parameters(_model) == (_total, _total), "a fresh model trains everything"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

with _hidden_forbidden("peft.peft_model.PeftModel.get_nb_trainable_parameters",
                       "peft.mixed_model.PeftMixedModel.get_nb_trainable_parameters",
                       modules=("utils.lora",)):  # the course's own answers cannot be imported
    _m = tiny_gpt2(3)
    for _p in _m.transformer.h[0].parameters():
        _p.requires_grad_(False)
    _frozen = sum(p.numel() for p in _m.transformer.h[0].parameters())
    _all = sum(p.numel() for p in _m.parameters())
    expect_equal(tuple(count_parameters(_m)), (_all - _frozen, _all), message="count requires_grad parameters")
    _lin = nn.Sequential(nn.Linear(7, 3), nn.Linear(3, 2))
    _lin[1].weight.requires_grad_(False)
    expect_equal(tuple(count_parameters(_lin)), (7 * 3 + 3 + 2, 7 * 3 + 3 + 6 + 2),
                 message="(trainable, total) of a model with one frozen weight")
    _bn = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))  # running mean, variance and batch count: buffers
    expect_equal(tuple(count_parameters(_bn)), (5 * 4 + 4 + 4 + 4, 5 * 4 + 4 + 4 + 4),
                 message="buffers (BatchNorm's running statistics) are not parameters")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — LoRA on an embedding (6 points)
#
# LoRA can adapt the token embedding too (PEFT does it for `nn.Embedding` targets). Lesson 02 showed that an
# embedding is `onehot(ids) @ W` with `W` of shape `(num_embeddings, embedding_dim)` = `(vocab, d)`: a linear layer
# whose input is a one-hot vector of size `vocab`. Its low-rank update is `ΔW = scaling · (B A)ᵀ`, shape `(vocab, d)`.
#
# Complete `LoRAEmbedding(base, r, alpha)` for an `nn.Embedding` `base`:
#
# - Freeze `base`. `self.lora_A`: an `nn.Parameter` of shape `(r, num_embeddings)`, initialised from a standard
#   normal (`nn.init.normal_`, mean 0, std 1: its input is one-hot, so no `1/√fan_in` here). `self.lora_B`: an
#   `nn.Parameter` of shape `(embedding_dim, r)`, **zeros**, so the layer starts out computing exactly `base(ids)`.
#   `self.scaling`: α/r.
#   (PEFT stores the mirror image — A zeros, B normal — for embeddings; we keep this lab's convention: B starts at 0.)
# - `forward(ids)` for integer ids of any shape `(...)`: `base(ids) + scaling · A[:, ids]ᵀ Bᵀ`, shape
#   `(..., embedding_dim)`. Look the columns of `A` up by index: **never build the one-hot matrix**
#   (`F.one_hot` raises while the hidden tests call your layer; for GPT-2's vocabulary it would be 50,257 floats per
#   token). Once merged, just `base(ids)`.
# - `merge()`: add `ΔW` into `base.weight` (in place, so it stays the same frozen parameter), set
#   `self.merged = True`; a second call adds nothing.
#
# **Allowed**: indexing (`self.lora_A.T[ids]`), `F.embedding`, `@`, arithmetic. Not `utils.lora` (it cannot be
# imported while the hidden tests run).

# %% nbgrader={"grade": false, "grade_id": "lora_embedding", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LoRAEmbedding(nn.Module):
    """A frozen nn.Embedding plus a trainable low-rank update (alpha / r) * (B @ A)^T of its weight."""

    def __init__(self, base: nn.Embedding, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        ### BEGIN SOLUTION
        num_embeddings, embedding_dim = base.weight.shape
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, num_embeddings))
        nn.init.normal_(self.lora_A)
        self.lora_B = nn.Parameter(torch.zeros(embedding_dim, r))
        self.scaling = alpha / r
        ### END SOLUTION
        self.merged = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        result = self.base(ids)  # (..., embedding_dim)
        if self.merged:
            return result
        rows = self.lora_A.T[ids]  # (..., r): column ids of A, looked up
        return result + (rows @ self.lora_B.T) * self.scaling  # (..., embedding_dim)
        ### END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        ### BEGIN SOLUTION
        if self.merged:
            return
        self.base.weight += (self.lora_B @ self.lora_A).T * self.scaling  # (num_embeddings, embedding_dim)
        self.merged = True  # forward() now returns base(ids) alone
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_emb_init", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""A is (r, vocab) and random, B is (d, r) and zero, only A and B train, and the layer starts equal to base (2 points)"""
_emb = nn.Embedding(30, 8)
_layer = LoRAEmbedding(_emb, r=4, alpha=8)
assert tuple(_layer.lora_A.shape) == (4, 30) and tuple(_layer.lora_B.shape) == (8, 4), "A (r, vocab), B (d, r)"
assert torch.count_nonzero(_layer.lora_B) == 0 and _layer.scaling == 2.0
assert not _emb.weight.requires_grad and _layer.lora_A.requires_grad and _layer.lora_B.requires_grad
_ids = torch.randint(30, (3, 5))
assert torch.equal(_layer(_ids), _emb(_ids)), "B = 0: the output is exactly base(ids)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_gen = torch.Generator().manual_seed(70708)
with _hidden_forbidden("torch.nn.functional.one_hot", modules=("utils.lora",)):
    for _ in range(3):
        _v, _d, _r = (int(v) for v in torch.randint(2, 40, (3,), generator=_gen))
        _emb = nn.Embedding(_v, _d)
        with torch.no_grad():  # the embedding from the test's generator: both kernels see the same table
            _emb.weight.copy_(torch.randn(_v, _d, generator=_gen))
        _l = LoRAEmbedding(_emb, r=_r, alpha=2 * _r + 1)
        expect_equal((tuple(_l.lora_A.shape), tuple(_l.lora_B.shape)), ((_r, _v), (_d, _r)),
                     message=f"A {tuple(_l.lora_A.shape)}, B {tuple(_l.lora_B.shape)}: wrong A/B shapes")
        expect_equal(int(torch.count_nonzero(_l.lora_B)), 0, message="B must start at zero")
        expect_close(float(_l.scaling), (2 * _r + 1) / _r, rtol=1e-9, atol=0.0, message="scaling is alpha / r")
        expect_equal(any(bool(p.requires_grad) for p in _emb.parameters()), False,
                     message="the embedding must be frozen")
        expect_equal(sorted(_n for _n, _p in _l.named_parameters() if _p.requires_grad), ["lora_A", "lora_B"],
                     message="A and B must be nn.Parameters of the layer (its trainable parameters)")
        _ids = torch.randint(_v, (2, 3, 4), generator=_gen)
        ### BEGIN REFERENCE
        _want = _emb(_ids)
        ### END REFERENCE
        expect_equal(_l(_ids), _want, message="at init the output is exactly base(ids)")
    torch.manual_seed(70709)
    _A = LoRAEmbedding(nn.Embedding(400, 16), r=16, alpha=16).lora_A.detach()
    # A's values are random (they differ between correct answers): its rank, mean and spread are compared
    expect_equal(int(torch.linalg.matrix_rank(_A)), 16, message="A must start random (full rank)")
    expect_close(float(_A.mean()), 0.0, atol=0.05, rtol=0.0, message="A: a standard normal (mean 0)")
    expect_close(float(_A.std()), 1.0, atol=0.05, rtol=0.0, message="A: a standard normal (std 1)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_emb_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""forward = base(ids) + scaling · A[:, ids]ᵀ Bᵀ, for ids of any shape, without a one-hot matrix (2 points)"""
torch.manual_seed(4)
_layer = LoRAEmbedding(nn.Embedding(10, 6), r=2, alpha=6)
with torch.no_grad():
    _layer.lora_B.normal_()
_ids = torch.tensor([[0, 3, 9], [3, 3, 1]])
_expected = _layer.base(_ids) + 3.0 * (_layer.lora_B @ _layer.lora_A).T[_ids]
assert _layer(_ids).shape == (2, 3, 6)
assert torch.allclose(_layer(_ids), _expected, atol=1e-5), "forward must add scaling * A[:, ids]^T B^T"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

### BEGIN REFERENCE
from utils.numerics import tolerance as _hidden_tolerance

### END REFERENCE
_gen = torch.Generator().manual_seed(70710)
for _shape in [(7,), (2, 5), (3, 1, 4)]:
    _v, _d, _r = (int(v) for v in torch.randint(2, 33, (3,), generator=_gen))
    _alpha = float(torch.randint(1, 64, (1,), generator=_gen))
    _emb = nn.Embedding(_v, _d)
    with torch.no_grad():  # the embedding from the test's generator: both kernels see the same table
        _emb.weight.copy_(torch.randn(_v, _d, generator=_gen))
    with _hidden_forbidden("torch.nn.functional.one_hot", modules=("utils.lora",)):
        _l = LoRAEmbedding(_emb, r=_r, alpha=_alpha)
    _A, _B = torch.randn(_r, _v, generator=_gen), torch.randn(_d, _r, generator=_gen)
    with torch.no_grad():
        _l.lora_A.copy_(_A)
        _l.lora_B.copy_(_B)
    _ids = torch.randint(_v, _shape, generator=_gen)
    _atol = 0.0  # the grader compares with the reference kernel's tolerance, set below
    ### BEGIN REFERENCE
    _ref = _emb(_ids) + (_alpha / _r) * (_B @ _A).T[_ids]
    # utils.numerics.assert_close's rule: max |got - want| <= tolerance(scale, reduction), scale = max |want|
    _atol = _hidden_tolerance(_ref.abs().max().item(), _r)
    ### END REFERENCE
    with _hidden_forbidden("torch.nn.functional.one_hot", modules=("utils.lora",)):
        _got = _l(_ids)
    expect_equal(tuple(_got.shape), (*_shape, _d), message=f"shape {tuple(_got.shape)} for ids {_shape}")
    expect_close(_got, _ref, atol=_atol, rtol=0.0, message="LoRA embedding output: wrong values")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_emb_merge", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""merge adds ΔW = scaling · (B A)ᵀ into the frozen embedding, once; outputs stay the same (2 points)"""
torch.manual_seed(5)
_layer = LoRAEmbedding(nn.Embedding(12, 5), r=3, alpha=3)
with torch.no_grad():
    _layer.lora_B.normal_()
_ids = torch.randint(12, (4,))
_before = _layer(_ids)
_layer.merge()
assert torch.allclose(_layer(_ids), _before, atol=1e-5), "merging must not change the outputs"
assert torch.allclose(_layer.base(_ids), _before, atol=1e-5), "after merge the embedding alone carries the update"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

### BEGIN REFERENCE
from utils.numerics import tolerance as _hidden_tolerance

### END REFERENCE
_gen = torch.Generator().manual_seed(70711)
for _square in (True, False, False):
    _v = int(torch.randint(2, 30, (1,), generator=_gen))
    _d = _v if _square else int(torch.randint(2, 30, (1,), generator=_gen))
    _emb = nn.Embedding(_v, _d)
    with torch.no_grad():  # the embedding from the test's generator: both kernels see the same table
        _emb.weight.copy_(torch.randn(_v, _d, generator=_gen))
    _weight, _w0 = _emb.weight, _emb.weight.detach().clone()
    _l = LoRAEmbedding(_emb, r=3, alpha=5)
    # A (random at init) and B from the test's generator: the expected weights are the same in both kernels
    _A, _B = torch.randn(3, _v, generator=_gen), torch.randn(_d, 3, generator=_gen)
    with torch.no_grad():
        _l.lora_A.copy_(_A)
        _l.lora_B.copy_(_B)
    _ids = torch.randint(_v, (2, 6), generator=_gen)
    _before = _l(_ids).detach()
    _atol_w = _atol_out = 0.0  # the grader compares with the reference kernel's tolerances, set below
    ### BEGIN REFERENCE
    _want_w = _w0 + ((5 / 3) * _B @ _A).T
    _want = _w0[_ids] + (5 / 3) * (_B @ _A).T[_ids]  # the outputs, before and after merging
    # utils.numerics.assert_close's rule: max |got - want| <= tolerance(scale, reduction), scale = max |want|
    _atol_w = _hidden_tolerance(_want_w.abs().max().item(), 3)
    _atol_out = _hidden_tolerance(_want.abs().max().item(), 3)
    ### END REFERENCE
    with _hidden_forbidden("torch.nn.functional.one_hot", modules=("utils.lora",)):
        _l.merge()
        _merged = _l.merged
        _after = _l(_ids)
        _l.merge()
        _twice = _l(_ids)
    expect_equal(_merged, True, message="merge() sets self.merged = True")
    expect_equal(_emb.weight is _weight, True, message="update the frozen weight in place (the same Parameter)")
    expect_equal(bool(_weight.requires_grad), False, message="the embedding's weight must stay frozen")
    expect_close(_emb.weight.detach(), _want_w, atol=_atol_w, rtol=0.0, message="merged embedding weight (transposed?)")
    # your output before merging: the outputs after merging are compared with it (through the reference's)
    expect_close(_before, _want, atol=_atol_out, rtol=0.0, message="the output before merging is wrong")
    expect_close(_after, _want, atol=_atol_out, rtol=0.0, message="output after merge")
    expect_close(_twice, _want, atol=_atol_out, rtol=0.0, message="output after a second merge (added twice?)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — experiment: what rank does an update need? (3 points)
#
# LoRA bets that the change fine-tuning makes to a weight has low rank. The best a rank-`r` update can do is known
# exactly (Eckart–Young): with the singular values `σ₁ ≥ σ₂ ≥ …` of the wanted change `Δ`, the best rank-`r`
# approximation keeps the first `r` of them, and its error is
#
# $$\frac{\lVert \Delta - \Delta_r \rVert_F}{\lVert \Delta \rVert_F} = \sqrt{\frac{\sum_{i>r} \sigma_i^2}{\sum_i \sigma_i^2}}$$
#
# 1. Write `rank_r_error(delta, r)`: that relative error, a Python `float`, for a 2-D tensor `delta` and an integer
#    `r ≥ 0` (`r = 0` keeps nothing: error 1; `r ≥ min(delta.shape)` keeps everything: error 0). Graded on fresh
#    matrices and ranks against the reference to within **1e-4**. Allowed: `torch.linalg.svdvals`,
#    `torch.linalg.svd`, `torch.linalg.matrix_norm`, arithmetic.
# 2. `update` below is a weight change of shape `(64, 48)`. Store `errors`, the list of `rank_r_error(update, r)`
#    for `r = 1 … 16` (in that order), and `smallest_rank`: the smallest `r` (an `int`) whose error is **below 0.1**.
#    Graded: each error within 1e-4 of the reference, the rank exactly.

# %% nbgrader={"grade": false, "grade_id": "experiment_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
_gen = torch.Generator().manual_seed(7)
update = (torch.randn(64, 8, generator=_gen) * torch.tensor([3.0, 2.5, 2.0, 1.5, 1.0, 0.6, 0.3, 0.15])) \
    @ torch.randn(8, 48, generator=_gen) / 8 + 0.02 * torch.randn(64, 48, generator=_gen)   # (64, 48)

# %% nbgrader={"grade": false, "grade_id": "rank_r_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rank_r_error(delta: torch.Tensor, r: int) -> float:
    ### BEGIN SOLUTION
    energy = torch.linalg.svdvals(delta) ** 2  # (min(out, in),), largest first
    return (energy[r:].sum() / energy.sum()).sqrt().item()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "rank_sweep", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
errors = [rank_r_error(update, r) for r in range(1, 17)]
smallest_rank = next(r for r, e in enumerate(errors, start=1) if e < 0.1)
### END SOLUTION
print("relative error of the best rank-r update:", [f"{e:.3f}" for e in errors])
print("smallest rank with error below 0.1:", smallest_rank)

# %% nbgrader={"grade": true, "grade_id": "test_rank_r_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""rank_r_error is the relative Frobenius error of the best rank-r approximation (2 points)"""
_d = torch.diag(torch.tensor([4.0, 3.0, 0.0]))
assert isinstance(rank_r_error(_d, 1), float), "return a Python float"
assert abs(rank_r_error(_d, 1) - 0.6) < 1e-5, "sqrt(3² / (4² + 3²)) = 0.6"
assert abs(rank_r_error(_d, 0) - 1.0) < 1e-5 and abs(rank_r_error(_d, 2)) < 1e-5
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_rank_r_error(delta, r):
    _s = torch.linalg.svdvals(delta.double())
    return float(((_s[r:] ** 2).sum() / (_s ** 2).sum()).sqrt())


### END REFERENCE
_gen = torch.Generator().manual_seed(70712)
for _o, _i, _r in [(20, 9, 3), (7, 30, 1), (16, 16, 15), (12, 5, 5), (33, 17, 0), (10, 4, 9)]:
    _delta = torch.randn(_o, 3, generator=_gen) @ torch.randn(3, _i, generator=_gen) \
        + 0.3 * torch.randn(_o, _i, generator=_gen)
    ### BEGIN REFERENCE
    _want = _hidden_rank_r_error(_delta, _r)
    ### END REFERENCE
    _got = rank_r_error(_delta, _r)
    assert isinstance(_got, float), "return a Python float"
    expect_close(_got, _want, atol=1e-4, rtol=0.0, message=f"shape {(_o, _i)}, r={_r}: got {_got:.5f}, wrong error")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rank_sweep", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the errors of ranks 1 … 16 on `update`, and the smallest rank below 0.1 (1 point)"""
assert len(errors) == 16, "one error per rank r = 1 … 16"
assert isinstance(smallest_rank, int) and 1 <= smallest_rank <= 16
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
_s = torch.linalg.svdvals(update.double()) ** 2
_want = [float((_s[_r:].sum() / _s.sum()).sqrt()) for _r in range(1, 17)]
### END REFERENCE
_got = [float(_e) for _e in errors]
# the count first: expect_close broadcasts, so a list of one value would otherwise be compared with every rank's
expect_equal(len(_got), 16, message=f"{len(_got)} errors: one per rank r = 1 … 16")
expect_close(torch.tensor(_got, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), atol=1e-4, rtol=0.0,
             message=f"errors {[round(_e, 4) for _e in _got]}: each must be within 1e-4 of the reference's")
expect_equal(smallest_rank, next(_r for _r, _w in enumerate(_want, start=1) if _w < 0.1),
             message="the smallest r (counted from 1) whose error is below 0.1")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Your `LoRALinear` is the same layer as `utils.lora.LoRALinear` (and PEFT's): lesson 08 shows PEFT computes the
# same outputs from the same `A` and `B`. Restart & Run All, then submit.
