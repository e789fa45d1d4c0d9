"""One loader for every lesson: the bundled course model by default, any Hub model by name.

    model, tokenizer = load_model()            # data/models/course-gpt2, offline
    model, tokenizer = load_model("gpt2")      # the real GPT-2, where the Hub (or its cache) is reachable

`COURSE_MODEL=gpt2` switches every lesson at once. Both paths go through `from_pretrained`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from utils import DATA_DIR
from utils.device import get_device

DEFAULT_MODEL = "course-gpt2"
BUNDLED_MODELS = {"course-gpt2": DATA_DIR / "models" / "course-gpt2"}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class ModelNotAvailableError(RuntimeError):
    """The requested model cannot be loaded here; the message says what to do."""


def model_name(name: str | None = None) -> str:
    """The model a lesson should use: `name`, else $COURSE_MODEL, else the bundled course model."""
    return name or os.environ.get("COURSE_MODEL") or DEFAULT_MODEL


def resolve_model_path(name: str | None = None) -> str:
    """A local directory for bundled names, the name itself (a Hub id or a path) otherwise."""
    name = model_name(name)
    if name not in BUNDLED_MODELS:
        return name
    path = BUNDLED_MODELS[name]
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelNotAvailableError(
            f"The bundled model '{name}' is incomplete: {', '.join(missing)} missing in {path}. "
            "Restore it with `git checkout -- data/models` (or rebuild it with "
            "`python scripts/pretrain_base_model.py`)."
        )
    return str(path)


def load_tokenizer(name: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of `name` (see `model_name`), with padding set to EOS (GPT-2 has no pad token)."""
    path = resolve_model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as err:
        raise _not_available(model_name(name), err) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str | None = None, device: str | torch.device | None = None, **from_pretrained_kwargs
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load `(model, tokenizer)` in eval mode.

    name: "course-gpt2" (bundled, default), a Hub id such as "gpt2", or a local directory;
        None means $COURSE_MODEL or the bundled model.
    device: where to put the model; None picks a GPU when present, else the CPU. Ignored when
        `device_map` is passed (e.g. for 4-bit loading).
    """
    path = resolve_model_path(name)
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **from_pretrained_kwargs)
    except OSError as err:
        raise _not_available(model_name(name), err) from None
    if "device_map" not in from_pretrained_kwargs:
        model.to(device or get_device())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def _not_available(name: str, err: Exception) -> ModelNotAvailableError:
    if Path(name).exists():
        return ModelNotAvailableError(f"'{name}' is not a loadable model directory: {err}")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    why = ("HF_HUB_OFFLINE=1 is set" if offline
           else "the Hugging Face Hub could not provide it (no network, or no such model)")
    return ModelNotAvailableError(
        f"Cannot load '{name}': it is not in the local cache and {why}. "
        f"Connect once to download it, or unset COURSE_MODEL to use the bundled '{DEFAULT_MODEL}'."
    )
