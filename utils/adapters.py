"""LoRA adapters on disk: save one with a note of its base model, load it back onto the right base.

The capstone's two programs (`python -m chatbot.qa_finetune` writes, `python -m chatbot.chat` reads) and lesson 13
share this module, so the file format has one owner:

    adapter_dir/
        adapter_config.json, adapter_model.safetensors   PEFT's own files
        course_adapter.json                               ADAPTER_INFO: the base model's name and shapes
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ADAPTER_INFO = "course_adapter.json"
TRAIN_COMMAND = "python -m chatbot.qa_finetune"


class AdapterError(RuntimeError):
    """The adapter directory cannot be used with the requested base model; the message says why and what to do."""


def save_adapter(peft_model, output: str | Path, base_name: str) -> int:
    """Save the adapter and a note of its base model; returns the size of the adapter weights in bytes."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for config in peft_model.peft_config.values():
        config.base_model_name_or_path = base_name  # a name, not this machine's absolute path
    peft_model.save_pretrained(output, save_embedding_layers=False)
    base = peft_model.get_base_model().config
    info = {"base_model": base_name, "model_type": base.model_type, "vocab_size": base.vocab_size,
            "hidden_size": base.hidden_size, "num_layers": base.num_hidden_layers}
    (output / ADAPTER_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return (output / "adapter_model.safetensors").stat().st_size


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model an adapter directory was trained for (from its course note or its PEFT config)."""
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise AdapterError(
            f"No adapter directory at '{adapter_dir}'. Train one with "
            f"`{TRAIN_COMMAND} --output {adapter_dir}` (or fix the path)."
        )
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file() or not any(adapter_dir.glob("adapter_model.*")):
        raise AdapterError(
            f"'{adapter_dir}' is not a LoRA adapter directory (adapter_config.json or adapter_model.safetensors "
            f"missing). Train one with `{TRAIN_COMMAND} --output {adapter_dir}`."
        )
    info_file = adapter_dir / ADAPTER_INFO
    if info_file.is_file():
        return json.loads(info_file.read_text(encoding="utf-8"))["base_model"]
    return json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or "unknown"


def load_chatbot(adapter_dir: str | Path, model: str | None = None, device=None):
    """(PeftModel in eval mode, tokenizer) for an adapter directory.

    model: the base model to put the adapter on; None means $COURSE_MODEL, else the adapter's own base.
    Raises AdapterError when the directory is missing or not an adapter, or when it was trained for another
    base model (different name or different shapes).
    """
    from peft import PeftModel

    from utils.models import load_model

    base = adapter_base_model(adapter_dir)
    wanted = model or os.environ.get("COURSE_MODEL") or base
    if wanted != base:
        raise AdapterError(
            f"The adapter in '{adapter_dir}' was trained for the base model '{base}', not '{wanted}'. "
            f"Use --model {base} (or unset COURSE_MODEL), or train an adapter for '{wanted}' with "
            f"`{TRAIN_COMMAND} --model {wanted} --output DIR`."
        )
    base_model, tokenizer = load_model(wanted, device=device)
    _check_shapes(Path(adapter_dir), base_model.config, wanted)
    try:
        peft_model = PeftModel.from_pretrained(base_model, str(adapter_dir))
    except (RuntimeError, ValueError, KeyError) as err:
        raise AdapterError(f"The adapter in '{adapter_dir}' does not fit the base model '{wanted}': {err}") from None
    return peft_model.eval(), tokenizer


def _check_shapes(adapter_dir: Path, config, name: str) -> None:
    info_file = adapter_dir / ADAPTER_INFO
    if not info_file.is_file():
        return
    info = json.loads(info_file.read_text(encoding="utf-8"))
    have = {"model_type": config.model_type, "vocab_size": config.vocab_size,
            "hidden_size": config.hidden_size, "num_layers": config.num_hidden_layers}
    differ = {k: (info[k], v) for k, v in have.items() if k in info and info[k] != v}
    if differ:
        what = ", ".join(f"{k} {a} (adapter) vs {b} ('{name}')" for k, (a, b) in differ.items())
        raise AdapterError(f"The adapter in '{adapter_dir}' was made for another base model: {what}.")
