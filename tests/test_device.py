"""The GPU path, checked on the CPU: device choice, bf16 autocast, batches moved, the setup cell, and the lessons.

This machine has no GPU, so CUDA is simulated where a decision depends on it (`torch.cuda.is_available`,
`is_bf16_supported`); what runs on the CPU must stay exactly fp32, so committed outputs do not move.
"""

from __future__ import annotations

import json
import re
import sys
import types

import pytest
import torch

from utils import ROOT, notebook
from utils import device as dev

# Lessons whose training benefits from a GPU: their models and batches must follow `device`, never pin the CPU.
TRAINING_LESSONS = ["08_lora_with_peft", "09_hyperparameters", "12_qlora", "13_chatbot"]


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend a CUDA GPU is present; `bf16` says whether it supports bfloat16."""
    def install(bf16: bool) -> None:
        monkeypatch.delenv("COURSE_DEVICE", raising=False)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Fake GPU")
    return install


def test_cpu_when_no_gpu_and_course_device_overrides(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    assert dev.get_device() == torch.device("cuda:1")


def test_gpu_is_picked_with_bf16_only_where_supported(fake_gpu):
    fake_gpu(bf16=True)
    assert dev.get_device() == torch.device("cuda")
    assert dev.training_dtype(torch.device("cuda")) == torch.bfloat16
    assert dev.describe(torch.device("cuda")) == "cuda (Fake GPU), training in bfloat16"
    fake_gpu(bf16=False)  # a T4 or V100
    assert dev.training_dtype(torch.device("cuda")) == torch.float32


def test_autocast_is_bf16_on_a_bf16_gpu_and_nothing_on_the_cpu(fake_gpu):
    layer, x = torch.nn.Linear(8, 4), torch.randn(3, 8)
    with dev.autocast(torch.device("cpu")):
        inside = layer(x)
    assert inside.dtype == torch.float32 and torch.equal(inside, layer(x))  # the CPU path is bit-for-bit fp32
    fake_gpu(bf16=True)
    context = dev.autocast(torch.device("cuda"))  # built, not entered: this torch has no CUDA kernels
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
    fake_gpu(bf16=False)
    assert not isinstance(dev.autocast(torch.device("cuda")), torch.autocast)


def test_to_device_moves_every_tensor_of_a_batch():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": torch.zeros(2, 3, dtype=torch.long)}
    moved = dev.to_device(batch, torch.device("meta"))
    assert set(moved) == set(batch) and all(t.device.type == "meta" for t in moved.values())
    assert all(t.device.type == "cpu" for t in batch.values())  # the original is left alone


def test_setup_is_silent_on_cpu_and_names_the_gpu(monkeypatch, fake_gpu, capsys):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert notebook.setup(seed=3) == torch.device("cpu")
    first = torch.rand(3)
    notebook.setup(seed=3)
    assert torch.equal(first, torch.rand(3))  # seeded
    assert capsys.readouterr().out == ""  # committed CPU outputs of the setup cells do not change
    fake_gpu(bf16=True)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)
    assert notebook.setup() == torch.device("cuda")
    assert "running on cuda (Fake GPU), training in bfloat16" in capsys.readouterr().out


def test_importing_the_notebook_module_quiets_bitsandbytes(caplog):
    import logging

    child = logging.getLogger("bitsandbytes.backends.cpu.ops")  # where the CPU-kernel notice comes from
    with caplog.at_level(logging.WARNING):
        child.warning("Failed to load CPU gemm_4bit_forward from kernels-community")
        child.error("a real error")
    assert [r.levelname for r in caplog.records if r.name.startswith("bitsandbytes")] == ["ERROR"]


def test_setup_turns_on_colabs_widget_manager(monkeypatch):
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("widgets"))
    colab = types.ModuleType("google.colab")
    colab.output = output
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert dev.in_colab()
    notebook.setup()
    assert calls == ["widgets"]


@pytest.mark.parametrize("lesson", TRAINING_LESSONS)
def test_training_lessons_follow_the_device(lesson):
    """No model or batch in a training lesson is pinned to the CPU, and every tokenized batch is moved."""
    cells = json.loads((ROOT / "notebooks" / f"{lesson}.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "device = setup(" in code
    assert not re.search(r"""device(_map)?\s*=\s*["']cpu["']""", code), f"{lesson} pins the CPU"
    moved = re.findall(r"tokenizer\([^()]*(?:\([^()]*\)[^()]*)*return_tensors=\"pt\"[^)]*\)(\S*)", code)
    assert len(moved) == code.count('return_tensors="pt"'), f"{lesson}: a tokenizer call this check cannot read"
    for call in moved:
        assert call.startswith(".to("), f"{lesson}: a tokenized batch is not moved to the model's device"
