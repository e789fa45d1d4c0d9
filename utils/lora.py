"""LoRA by hand (lesson 07): a low-rank update W' = W + (alpha / r) * B @ A next to a frozen layer.

    model = add_lora(model, ["c_attn"], r=8, alpha=16)   # wrap, freeze everything else
    trainable, total = count_parameters(model)
    model = merge_lora(model)                           # fold B @ A back into plain layers

Shapes follow PEFT, so weights copy across directly (`copy_lora_to_peft`):
`lora_A` is (r, in_features), `lora_B` is (out_features, r), and B @ A is (out_features, in_features) -
the orientation of `nn.Linear.weight`. GPT-2's `Conv1D` stores its weight transposed, (in_features,
out_features) (PEFT calls this `fan_in_fan_out`), so merging into a Conv1D adds (B @ A).T.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from transformers.pytorch_utils import Conv1D


def layer_shape(layer: nn.Module) -> tuple[int, int]:
    """(in_features, out_features) of an `nn.Linear` or a GPT-2 `Conv1D`.

    nn.Linear stores weight as (out, in); Conv1D stores it as (in, out).
    """
    if isinstance(layer, Conv1D):
        in_features, out_features = layer.weight.shape
    elif isinstance(layer, nn.Linear):
        out_features, in_features = layer.weight.shape
    else:
        raise TypeError(f"LoRA here wraps nn.Linear or transformers Conv1D, not {type(layer).__name__}")
    return in_features, out_features


def lora_scaling(r: int, alpha: float, rslora: bool = False) -> float:
    """The factor in front of B @ A: alpha / r (LoRA), or alpha / sqrt(r) with rslora (rank-stabilised LoRA)."""
    return alpha / math.sqrt(r) if rslora else alpha / r


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` or `Conv1D` plus a trainable low-rank update.

    forward(x) = base(x) + (alpha / r) * dropout(x) @ A.T @ B.T,  x: (..., in_features) -> (..., out_features)

    lora_A: (r, in_features), Kaiming-uniform like nn.Linear (and PEFT); lora_B: (out_features, r), zeros,
    so at initialisation the wrapped layer computes exactly what `base` computes.
    rslora: scale by alpha / sqrt(r) instead of alpha / r (rank-stabilised LoRA, PEFT's `use_rslora=True`).
    """

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0, rslora: bool = False):
        super().__init__()
        in_features, out_features = layer_shape(base)
        if not isinstance(r, int) or r <= 0:
            raise ValueError(f"rank r must be a positive integer, got {r!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.base = base
        self.in_features, self.out_features = in_features, out_features
        self.r, self.alpha = r, alpha
        self.scaling = lora_scaling(r, alpha, rslora)
        self.fan_in_fan_out = isinstance(base, Conv1D)
        for p in base.parameters():
            p.requires_grad_(False)
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, in_features, device=weight.device, dtype=weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, device=weight.device, dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """scaling * B @ A, shape (out_features, in_features) - nn.Linear's orientation."""
        return (self.lora_B @ self.lora_A) * self.scaling  # (out, r) @ (r, in) -> (out, in)

    def _delta_in_base_layout(self) -> torch.Tensor:
        delta = self.delta_weight()
        return delta.T if self.fan_in_fan_out else delta  # Conv1D stores (in, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"expected input (..., {self.in_features}), got {tuple(x.shape)}")
        result = self.base(x)                                  # (..., out_features)
        if self.merged:
            return result
        h = F.linear(self.dropout(x), self.lora_A)             # (..., in_features) @ A.T -> (..., r)
        return result + F.linear(h, self.lora_B) * self.scaling  # (..., r) @ B.T -> (..., out_features)

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into the base weight (transposed for Conv1D); forward then costs one matmul."""
        if not self.merged:
            self.base.weight += self._delta_in_base_layout()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again, so A and B can keep training (exact up to float rounding)."""
        if self.merged:
            self.base.weight -= self._delta_in_base_layout()
            self.merged = False

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha}, fan_in_fan_out={self.fan_in_fan_out}")


def _as_list(target_modules: str | Iterable[str]) -> list[str]:
    return [target_modules] if isinstance(target_modules, str) else list(target_modules)


def matches_target(name: str, target_modules: str | Iterable[str]) -> bool:
    """PEFT's rule: a module matches a target if its full name equals it or ends with "." + target.

    "c_proj" matches both "transformer.h.0.attn.c_proj" and "transformer.h.0.mlp.c_proj";
    "attn.c_proj" only the first.
    """
    return any(name == t or name.endswith("." + t) for t in _as_list(target_modules))


def find_targets(model: nn.Module, target_modules: str | Iterable[str]) -> list[str]:
    """Names of the modules `add_lora` would wrap (same suffix rule as PEFT)."""
    return [name for name, _ in model.named_modules() if name and matches_target(name, target_modules)]


def add_lora(model: nn.Module, target_modules: str | Iterable[str], r: int, alpha: float,
             dropout: float = 0.0, rslora: bool = False) -> nn.Module:
    """Freeze every parameter of `model`, then wrap each target module in a `LoRALinear` (in place).

    target_modules: module-name suffixes such as ["c_attn"] or ["q_proj", "v_proj"] (see `matches_target`).
    rslora: scale the update by alpha / sqrt(r) instead of alpha / r (PEFT's `use_rslora=True`).
    Returns the same model; only the lora_A / lora_B parameters are trainable afterwards.
    """
    names = find_targets(model, target_modules)
    if not names:
        raise ValueError(f"no module of the model matches target_modules={_as_list(target_modules)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = getattr(parent, child)
        if isinstance(layer, LoRALinear):
            raise ValueError(f"{name} already carries LoRA")
        setattr(parent, child, LoRALinear(layer, r, alpha, dropout, rslora))
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """name -> LoRALinear for every wrapped layer of `model`."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRALinear into its base layer and put the plain layer back (in place); returns the model."""
    for name, module in lora_layers(model).items():
        module.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, module.base)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared (tied) tensors count once, like PEFT."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def lora_parameter_count(shapes: Iterable[tuple[int, int]], r: int) -> int:
    """Trainable LoRA parameters for weight matrices of the given shapes: sum of r * (d + k).

    shapes: one (d, k) = (out_features, in_features) per adapted weight - the LoRA paper's W (d x k), the
    orientation of `nn.Linear.weight` and what `target_shapes` returns. It gets B (d x r) and A (r x k):
    r * (d + k) numbers instead of d * k. The course's one LoRA-count formula (lessons 07-14, labs 08 and 12).
    """
    return sum(r * (d_out + d_in) for d_out, d_in in shapes)


def full_parameter_count(shapes: Iterable[tuple[int, int]]) -> int:
    """Parameters of full fine-tuning of the same layers' weights: sum of out * in."""
    return sum(d_out * d_in for d_out, d_in in shapes)


def target_shapes(model: nn.Module, target_modules: str | Iterable[str]) -> list[tuple[int, int]]:
    """(out_features, in_features) of every module `add_lora` would wrap; works on a meta-device model."""
    shapes = []
    for name in find_targets(model, target_modules):
        in_features, out_features = layer_shape(model.get_submodule(name))
        shapes.append((out_features, in_features))
    return shapes


@torch.no_grad()
def copy_lora_to_peft(model: nn.Module, peft_model: nn.Module, adapter_name: str = "default") -> int:
    """Copy every hand-built lora_A / lora_B into the matching PEFT LoRA layer; returns how many layers.

    `model` is the model `add_lora` wrapped; `peft_model` is `get_peft_model(same_base_architecture, config)`.
    Raises ValueError when a layer is missing in the PEFT model or its shapes or scaling differ.
    """
    peft_base = peft_model.get_base_model()
    copied = 0
    for name, layer in lora_layers(model).items():
        try:
            target = peft_base.get_submodule(name)
        except AttributeError:
            raise ValueError(f"the PEFT model has no module {name}") from None
        if not hasattr(target, "lora_A") or adapter_name not in target.lora_A:
            raise ValueError(f"{name} carries no LoRA adapter '{adapter_name}' in the PEFT model")
        a, b = target.lora_A[adapter_name].weight, target.lora_B[adapter_name].weight
        if a.shape != layer.lora_A.shape or b.shape != layer.lora_B.shape:
            raise ValueError(f"{name}: PEFT A {tuple(a.shape)}, B {tuple(b.shape)} vs hand-built "
                             f"A {tuple(layer.lora_A.shape)}, B {tuple(layer.lora_B.shape)}")
        if not math.isclose(target.scaling[adapter_name], layer.scaling):
            raise ValueError(f"{name}: PEFT scaling {target.scaling[adapter_name]} vs {layer.scaling}")
        a.copy_(layer.lora_A)
        b.copy_(layer.lora_B)
        copied += 1
    return copied
