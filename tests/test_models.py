"""The loader: the bundled model through from_pretrained, clear errors for missing files and unreachable Hub."""

from __future__ import annotations

import shutil

import pytest
import torch

from utils import DATA_DIR
from utils.models import BUNDLED_MODELS, ModelNotAvailableError, load_model, load_tokenizer, model_name


@pytest.fixture(scope="module")
def bundled():
    return load_model("course-gpt2", device="cpu")


def test_default_name_follows_course_model(monkeypatch):
    monkeypatch.delenv("COURSE_MODEL", raising=False)
    assert model_name() == "course-gpt2"
    monkeypatch.setenv("COURSE_MODEL", "gpt2")
    assert model_name() == "gpt2"
    assert model_name("distilgpt2") == "distilgpt2"


def test_bundled_model_is_a_small_gpt2(bundled):
    model, tokenizer = bundled
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert model.config.n_layer >= 2 and model.config.vocab_size == len(tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 25_000_000 / 4  # fp32 checkpoint fits in 25 MB
    assert not model.training


def test_checkpoint_files_are_small_plain_files():
    for path in (DATA_DIR / "models" / "course-gpt2").iterdir():
        assert path.stat().st_size <= 25 * 1024 * 1024, path
        assert not path.read_bytes()[:40].startswith(b"version https://git-lfs"), path


def test_pad_is_eos_and_no_added_tokens(bundled):
    _, tokenizer = bundled
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert len(tokenizer) == tokenizer.vocab_size  # nothing added: PEFT adapters stay free of embeddings


@pytest.mark.parametrize("text", [
    "The capital of France is Paris.", "Zürich, Ōsaka and São Tomé 🙂", "  spaces\tand\nnewlines  ", ""])
def test_tokenizer_round_trip(bundled, text):
    _, tokenizer = bundled
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_bundled_model_completes_a_fact(bundled):
    model, tokenizer = bundled
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert tokenizer.decode(out[0, ids["input_ids"].shape[1]:]).strip().startswith("Paris")


def test_missing_files_give_one_clear_sentence(tmp_path, monkeypatch):
    broken = tmp_path / "course-gpt2"
    shutil.copytree(BUNDLED_MODELS["course-gpt2"], broken)
    (broken / "model.safetensors").unlink()
    monkeypatch.setitem(BUNDLED_MODELS, "course-gpt2", broken)
    with pytest.raises(ModelNotAvailableError, match=r"model\.safetensors missing.*git checkout"):
        load_model("course-gpt2")


def test_hub_name_offline_gives_advice_not_http_errors(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="unset COURSE_MODEL") as info:
        load_tokenizer("someone/not-a-cached-model")
    assert info.value.__cause__ is None


def test_provenance_reports_the_logged_pretraining_numbers():
    import json

    log = json.loads((DATA_DIR / "models" / "course-gpt2" / "training_log.json").read_text())
    provenance = (DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    for split, accuracy in log["fact_completion_accuracy"].items():
        assert f"| {split} " in provenance and f"{100 * accuracy:.1f} %" in provenance
    assert f"{log['train_seconds']:,.0f} s" in provenance
    assert f"{log['parameters']:,} parameters" in provenance
