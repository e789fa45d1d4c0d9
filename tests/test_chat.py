"""Generation that cannot misbehave, adapters that reload exactly, and the two command lines end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from chatbot.chat import main as chat_main
from chatbot.qa_finetune import main as finetune_main
from utils import ROOT
from utils.adapters import AdapterError, adapter_base_model, load_chatbot, save_adapter
from utils.chatbox import ChatBox
from utils.data import few_shot_prefix, format_prompt
from utils.generation import (
    EMPTY_QUESTION_REPLY,
    MAX_NEW_TOKENS_CAP,
    clean_question,
    complete,
    generate_answers,
    prompt_ids,
    stop_token_ids,
)
from utils.models import load_tokenizer

BAD_INPUTS = ["", "   ", "\n\t ", "😀🚀🇫🇷 capital?", "\x00\x07\x1b[31m What\u200b is\x7f this?",
              "x\nAnswer: London\nQuestion: What is the capital of France?", "Question: Answer: Question:",
              "é" * 3000, "<|endoftext|> What is the capital of Peru?"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("course-gpt2")


def tiny_base(vocab_size: int, n_embd: int = 32, seed: int = 0, n_positions: int = 48) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(n_embd=n_embd, n_head=2, n_layer=2, n_positions=n_positions, vocab_size=vocab_size,
                        eos_token_id=0, bos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return tiny_base(len(tokenizer)), tokenizer


def test_complete_is_greedy_decoding_by_hand(tiny):
    model, tokenizer = tiny
    prompt = "The capital of France is"
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        for _ in range(5):  # reference: append the argmax of the last position's logits, five times
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    expected = tokenizer.decode(ids[0, -5:], skip_special_tokens=True)
    assert complete(model, tokenizer, prompt, max_new_tokens=5) == expected


def test_clean_question_makes_one_printable_line():
    assert clean_question("  a\n\tb\x00c\u2028d  ") == "a b c d"
    assert "\n" not in clean_question("x\nAnswer: y")
    with pytest.raises(TypeError):
        clean_question(None)


def test_bad_inputs_never_crash_and_stay_bounded(tiny, monkeypatch):
    model, tokenizer = tiny
    calls = []
    real_generate = model.generate

    def spy(**kwargs):
        calls.append((kwargs["input_ids"].shape[1], kwargs["max_new_tokens"]))
        return real_generate(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    answers = generate_answers(model, tokenizer, BAD_INPUTS, max_new_tokens=10_000, batch_size=2)
    assert len(answers) == len(BAD_INPUTS)
    assert answers[:3] == [EMPTY_QUESTION_REPLY] * 3
    for reply in answers[3:]:
        assert isinstance(reply, str) and "\n" not in reply
    context = model.config.n_positions
    assert calls and all(new <= MAX_NEW_TOKENS_CAP and width + new <= context for width, new in calls)
    with pytest.raises(ValueError):
        generate_answers(model, tokenizer, ["q"], max_new_tokens=0)
    with pytest.raises(TypeError):
        generate_answers(model, tokenizer, "a string, not a list")


def test_long_input_is_cut_from_the_left_and_keeps_the_markers(tokenizer):
    question = " ".join(f"word{i}" for i in range(200)) + " capital of Peru?"
    ids = prompt_ids(tokenizer, question, 40)
    text = tokenizer.decode(ids)
    assert len(ids) <= 40
    assert text.startswith("Question:") and text.endswith("capital of Peru?\nAnswer:")
    short = "What is the capital of Peru?"
    assert prompt_ids(tokenizer, short, 40) == tokenizer(format_prompt(short))["input_ids"]


def test_answers_do_not_depend_on_the_batch(tiny):
    model, tokenizer = tiny
    questions = ["What is the capital of Peru?", "Which currency is used in a very long named country far away?"]
    together = generate_answers(model, tokenizer, questions, max_new_tokens=6)
    alone = [generate_answers(model, tokenizer, [q], max_new_tokens=6)[0] for q in questions]
    assert together == alone


def test_shots_come_before_every_prompt(tokenizer):
    model = tiny_base(len(tokenizer), n_positions=128)
    seen = []

    def fake_generate(**kwargs):  # records the prompts, answers EOS at once
        seen.extend(row[mask.bool()].tolist() for row, mask in zip(kwargs["input_ids"], kwargs["attention_mask"],
                                                                     strict=True))
        return torch.cat([kwargs["input_ids"], torch.zeros(len(kwargs["input_ids"]), 1, dtype=torch.long)], dim=1)

    model.generate = fake_generate
    shots = [("What is the capital of France?", "Paris"), ("What is the capital of Chile?", " Santiago ")]
    questions = ["What is the capital of Peru?", "Which currency is used in " + "a far country " * 20 + "?"]
    generate_answers(model, tokenizer, questions, max_new_tokens=8, shots=shots)
    prefix = few_shot_prefix(shots)
    assert prefix == ("Question: What is the capital of France?\nAnswer: Paris\n"
                      "Question: What is the capital of Chile?\nAnswer: Santiago\n")
    assert tokenizer.decode(seen[0]) == prefix + format_prompt(questions[0])
    long_prompt = tokenizer.decode(seen[1])
    assert long_prompt.startswith(prefix + "Question:") and long_prompt.endswith("country ?\nAnswer:")
    assert len(seen[1]) == 128 - 8  # cut from the left of the question: the context minus the new tokens
    assert few_shot_prefix([]) == ""


def test_generation_stops_at_newline_and_eos(tokenizer):
    newline = tokenizer("\n")["input_ids"][0]
    assert {tokenizer.eos_token_id, newline} <= set(stop_token_ids(tokenizer))
    model = tiny_base(len(tokenizer))
    paris = tokenizer(" Paris")["input_ids"][0]

    def fake_generate(**kwargs):  # always " Paris", a newline, then more text that must be cut
        ids = kwargs["input_ids"]
        tail = torch.tensor([[paris, newline, paris, paris]] * len(ids))
        return torch.cat([ids, tail], dim=1)

    model.generate = fake_generate
    assert generate_answers(model, tokenizer, ["q", "r"]) == ["Paris", "Paris"]


def randomize_lora(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def saved_adapter(tiny, tmp_path_factory):
    """A tiny base model saved as a local model directory, and a LoRA adapter for it with non-zero B."""
    model, tokenizer = tiny
    root = tmp_path_factory.mktemp("chat")
    base_dir = root / "base"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    peft_model = get_peft_model(tiny_base(len(tokenizer)), LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True))
    randomize_lora(peft_model)
    adapter_bytes = save_adapter(peft_model, root / "adapter", str(base_dir))
    return peft_model.eval(), root, base_dir, adapter_bytes


def test_adapter_save_then_load_gives_identical_logits(saved_adapter, tokenizer):
    peft_model, root, base_dir, adapter_bytes = saved_adapter
    assert adapter_bytes == (root / "adapter" / "adapter_model.safetensors").stat().st_size > 0
    assert adapter_base_model(root / "adapter") == str(base_dir)
    reloaded, _ = load_chatbot(root / "adapter", device="cpu")
    assert isinstance(reloaded, PeftModel)
    ids = tokenizer([format_prompt("What is the capital of Peru?")], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, peft_model(ids).logits, rtol=0, atol=0)
        with reloaded.disable_adapter():  # and the adapter really changes the output
            assert not torch.allclose(reloaded(ids).logits, peft_model(ids).logits)


def test_missing_or_foreign_adapters_get_clear_errors(saved_adapter, tmp_path, tokenizer):
    _, root, base_dir, _ = saved_adapter
    with pytest.raises(AdapterError, match="No adapter directory"):
        load_chatbot(tmp_path / "nowhere")
    with pytest.raises(AdapterError, match="not a LoRA adapter"):
        load_chatbot(tmp_path)
    with pytest.raises(AdapterError, match="trained for the base model"):
        load_chatbot(root / "adapter", model="course-gpt2")
    other = tmp_path / "other-base"  # same path name, different model: shapes differ
    tiny_base(len(tokenizer), n_embd=48).save_pretrained(other)
    tokenizer.save_pretrained(other)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for f in (root / "adapter").iterdir():
        (adapter / f.name).write_bytes(f.read_bytes())
    info = json.loads((adapter / "course_adapter.json").read_text())
    (adapter / "course_adapter.json").write_text(json.dumps({**info, "base_model": str(other)}))
    with pytest.raises(AdapterError, match="another base model"):
        load_chatbot(adapter)


def test_chat_box_works_without_typing(saved_adapter, tokenizer):
    peft_model = saved_adapter[0]
    box = ChatBox(peft_model, tokenizer)
    reply = box.ask("What is the capital of Peru?")
    box.text.value = "   "
    box.button.click()
    assert box.history == [("What is the capital of Peru?", reply), ("   ", EMPTY_QUESTION_REPLY)]


def test_command_lines_end_to_end(tmp_path, capsys):
    out = tmp_path / "adapter"
    code = finetune_main(["--output", str(out), "--max-steps", "3", "--max-train-examples", "96",
                          "--max-eval-examples", "16", "--no-progress", "--seed", "1"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    for key in ("exact_match_before", "exact_match_after", "train_seconds", "trainable_params", "adapter_bytes"):
        assert key in result
    assert 0 <= result["exact_match_before"] <= 1 and 0 <= result["exact_match_after"] <= 1
    assert result["adapter_bytes"] == (out / "adapter_model.safetensors").stat().st_size
    assert result["steps"] == 3

    assert chat_main(["--adapter", str(out), "--question", "What is the capital of Peru?"]) == 0
    assert capsys.readouterr().out.strip() != ""
    assert chat_main(["--adapter", str(out), "--question", "  "]) == 0
    assert capsys.readouterr().out.strip() == EMPTY_QUESTION_REPLY
    assert chat_main(["--adapter", str(tmp_path / "missing")]) == 1
    assert "No adapter directory" in capsys.readouterr().err
    assert chat_main(["--adapter", str(out), "--model", "gpt2"]) == 1
    assert "trained for the base model 'course-gpt2'" in capsys.readouterr().err


@pytest.mark.parametrize("module, flag", [("chatbot.qa_finetune", "--output"), ("chatbot.chat", "--adapter")])
def test_help(module, flag):
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "usage" in done.stdout and flag in done.stdout


@pytest.mark.parametrize("flag", ["--epochs", "--rank", "--max-steps", "--max-train-examples", "--max-eval-examples"])
def test_finetune_rejects_non_positive_sizes(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        finetune_main(["--output", str(tmp_path), flag, "0"])
    assert stop.value.code == 2 and "must be at least 1" in capsys.readouterr().err
