"""Your-turn checks of lesson 08 (LoRA with PEFT): the target-module rule, and the count it implies."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from utils.exercises import as_number, exercise
from utils.lora import lora_parameter_count, matches_target, target_shapes
from utils.models import resolve_model_path

# Module names as GPT-2 writes them, and targets that separate the right rule from the tempting ones.
_NAMES = ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
          "transformer.h.0.mlp.c_proj", "transformer.h.11.attn.c_proj", "transformer.h.0.attn", "transformer.wte",
          "lm_head", "transformer.h.0.mlp.c_proj_extra"]
_TARGETS = ["c_proj", "attn.c_proj", "mlp.c_proj", "proj", "attn", "c_attn", "lm_head", "h.0.attn.c_attn",
            "0.attn.c_attn", "transformer.h.0.mlp.c_fc", "1.attn.c_proj"]


@exercise("08.1", hint='a target matches a name that equals it or ends with "." + target',
          done=f"your rule agrees with PEFT's on all {len(_NAMES) * len(_TARGETS)} name/target pairs")
def _(matches_by_hand) -> None:
    for target in _TARGETS:
        for name in _NAMES:
            got, want = matches_by_hand(name, target), matches_target(name, target)
            assert isinstance(got, bool), f"return True or False, got {got!r} for ({name!r}, {target!r})"
            assert got == want, (f"matches_by_hand({name!r}, {target!r}) returned {got}; "
                                 f"PEFT {'wraps' if want else 'does not wrap'} that module for that target")


def _course_model_count(targets: list[str], r: int) -> int:
    """LoRA parameters on the lesson's model (its config only, built on the meta device: no weights read)."""
    config = AutoConfig.from_pretrained(resolve_model_path())
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return lora_parameter_count(target_shapes(model, targets), r)


@exercise("08.2", hint='"c_proj" is the name of two modules in every block, of different shapes: '
                       'count r·(in + out) for each, times the blocks',
          done="right: both c_proj modules of every block, as the next cell prints")
def _(my_guess_c_proj) -> None:
    want = _course_model_count(["c_proj"], r=8)
    attn_only = _course_model_count(["attn.c_proj"], r=8)
    mlp_only = _course_model_count(["mlp.c_proj"], r=8)
    my_guess_c_proj = as_number(my_guess_c_proj, "your guess")
    assert my_guess_c_proj != attn_only, "that is the count of the attention c_proj only; which modules end in c_proj?"
    assert my_guess_c_proj != mlp_only, "that is the count of the MLP c_proj only; which modules end in c_proj?"
    assert my_guess_c_proj == want, f"{my_guess_c_proj:,} is not the number of trainable parameters"
