"""utils.qa: label masking (prompt masked, answer and final EOS kept, padding masked), the loop, exact match."""

from __future__ import annotations

import random

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForLanguageModeling, GPT2Config, GPT2LMHeadModel

from utils.data import format_prompt, load_qa
from utils.lora import add_lora
from utils.models import load_tokenizer
from utils.numerics import assert_close
from utils.qa import (
    IGNORE_INDEX,
    QACollator,
    build_example,
    exact_match,
    heldout_loss,
    labelled_logits,
    normalize_answer,
    qa_dataloader,
    text_loss,
    train_loop,
    train_steps,
)
from utils.training import IGNORE_INDEX as TRAINING_IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("course-gpt2")


@pytest.fixture(scope="module")
def pairs():
    train = load_qa()["train"]
    rows = random.Random(13).sample(range(len(train)), 40)
    return [(train[i]["question"], train[i]["answer"]) for i in rows]


def test_example_masks_the_prompt_and_keeps_answer_and_eos(tokenizer, pairs):
    eos = tokenizer.eos_token_id
    for question, answer in pairs:
        ex = build_example(tokenizer, question, answer)
        prompt = tokenizer(format_prompt(question))["input_ids"]
        target = tokenizer(" " + answer)["input_ids"] + [eos]
        assert ex["input_ids"] == prompt + target
        assert ex["labels"] == [IGNORE_INDEX] * len(prompt) + target
        assert ex["labels"][-1] == eos
        assert tokenizer.decode(ex["input_ids"]) == f"{format_prompt(question)} {answer}<|endoftext|>"


def test_example_truncates_the_prompt_not_the_answer(tokenizer):
    ex = build_example(tokenizer, "why " * 100, "Paris", max_length=20)
    assert len(ex["input_ids"]) == 20
    assert ex["labels"][-2:] == tokenizer(" Paris")["input_ids"] + [tokenizer.eos_token_id]
    with pytest.raises(ValueError):
        build_example(tokenizer, "q", "a", max_length=1)


def test_collator_masks_padding_but_not_the_final_eos(tokenizer, pairs):
    examples = [build_example(tokenizer, q, a) for q, a in pairs[:8]]
    batch = QACollator(tokenizer)(examples)
    width = max(len(e["input_ids"]) for e in examples)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (8, width)
    for row, ex in enumerate(examples):
        n = len(ex["input_ids"])
        assert batch["input_ids"][row, :n].tolist() == ex["input_ids"]
        assert batch["labels"][row, :n].tolist() == ex["labels"]
        assert (batch["input_ids"][row, n:] == tokenizer.pad_token_id).all()
        assert (batch["labels"][row, n:] == IGNORE_INDEX).all()
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["labels"][row, n - 1] == tokenizer.eos_token_id  # pad id == EOS id, yet kept


def test_the_common_collator_forgets_eos(tokenizer, pairs):
    """DataCollatorForLanguageModeling with pad = EOS masks every EOS: the model would never learn to stop."""
    examples = [{"input_ids": build_example(tokenizer, q, a)["input_ids"]} for q, a in pairs[:4]]
    labels = DataCollatorForLanguageModeling(tokenizer, mlm=False)(examples)["labels"]
    assert not (labels == tokenizer.eos_token_id).any()
    ours = QACollator(tokenizer)([build_example(tokenizer, q, a) for q, a in pairs[:4]])["labels"]
    assert (ours == tokenizer.eos_token_id).sum() == 4


def test_collator_errors(tokenizer):
    with pytest.raises(ValueError, match="empty"):
        QACollator(tokenizer)([])
    with pytest.raises(ValueError, match="differ"):
        QACollator(tokenizer)([{"input_ids": [1, 2], "labels": [1]}])
    with pytest.raises(ValueError):
        QACollator()


def test_dataloader_is_seeded(tokenizer):
    split = {"question": [f"q{i}?" for i in range(50)], "answer": [f"a{i}" for i in range(50)]}
    first = [b["input_ids"].tolist() for b in qa_dataloader(tokenizer, split, batch_size=8, seed=3)]
    again = [b["input_ids"].tolist() for b in qa_dataloader(tokenizer, split, batch_size=8, seed=3)]
    other = [b["input_ids"].tolist() for b in qa_dataloader(tokenizer, split, batch_size=8, seed=4)]
    assert first == again and first != other
    assert len(qa_dataloader(tokenizer, split, batch_size=8, max_examples=20)) == 3


def tiny_lora_model(vocab_size: int, seed: int = 0):
    torch.manual_seed(seed)
    base = GPT2LMHeadModel(GPT2Config(n_embd=32, n_head=2, n_layer=2, n_positions=64, vocab_size=vocab_size))
    return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True))


def test_train_loop_lowers_the_loss_and_respects_max_steps(tokenizer):
    split = {"question": ["What is one?", "What is two?"] * 8, "answer": ["One", "Two"] * 8}
    model = tiny_lora_model(len(tokenizer)).get_base_model()  # a random model: train every weight
    for p in model.parameters():
        p.requires_grad_(True)
    losses = train_loop(model, qa_dataloader(tokenizer, split, batch_size=4), epochs=100, max_steps=30,
                        lr=1e-2, progress=False)
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert not model.training


def test_train_loop_calls_on_step_after_every_step_in_train_mode(tokenizer):
    split = {"question": ["What is one?", "What is two?"] * 4, "answer": ["One", "Two"] * 4}
    seen = []

    def on_step(step, loss):
        seen.append((step, loss, model.training))
        model.eval()  # a validation pass may leave eval mode behind: the loop must train on regardless

    model = tiny_lora_model(len(tokenizer), seed=4)
    losses = train_loop(model, qa_dataloader(tokenizer, split, batch_size=4), epochs=5, max_steps=7, progress=False,
                        on_step=on_step)
    assert [(step, loss) for step, loss, _ in seen] == list(enumerate(losses, start=1))
    assert all(training for _, _, training in seen)
    plain = train_loop(tiny_lora_model(len(tokenizer), seed=4), qa_dataloader(tokenizer, split, batch_size=4),
                       epochs=5, max_steps=7, progress=False)
    assert plain == losses  # the hook observes, it does not change the run


def test_text_loss_is_the_mean_over_every_next_token_with_eos(tokenizer):
    texts = ["The capital of Peru is Lima.", "Neon has atomic number 10.", "The currency of Japan is the yen."]
    model = tiny_lora_model(len(tokenizer), seed=2).eval()
    total, count = 0.0, 0
    with torch.no_grad():  # reference: one text at a time, plain cross-entropy of token t + 1 given tokens <= t
        for text in texts:
            ids = torch.tensor([[*tokenizer(text)["input_ids"], tokenizer.eos_token_id]])   # (1, seq)
            logits = model(input_ids=ids).logits[0, :-1]                                      # (seq - 1, vocab)
            total += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
    for batch_size in (1, 2, 3):
        assert text_loss(model, tokenizer, texts, batch_size=batch_size) == pytest.approx(total / count, rel=1e-5)
    assert text_loss(model, tokenizer, texts[:1]) != pytest.approx(total / count, rel=1e-3)


def test_scores_leave_the_global_rng_alone(tokenizer):
    # A score computed before get_peft_model must not change the adapter's random init (lesson 13 does that).
    model = tiny_lora_model(len(tokenizer), seed=2).eval()
    state = torch.get_rng_state()
    text_loss(model, tokenizer, ["The capital of Peru is Lima."] * 3, batch_size=2)
    heldout_loss(model, tokenizer, load_qa()["validation"].select(range(3)), batch_size=2)
    assert torch.equal(torch.get_rng_state(), state)


def _lora_models(vocab_size: int):
    yield "PEFT", tiny_lora_model(vocab_size, seed=5).eval()  # no dropout: two forward passes must match
    torch.manual_seed(5)
    base = GPT2LMHeadModel(GPT2Config(n_embd=32, n_head=2, n_layer=2, n_positions=64, vocab_size=vocab_size))
    course = add_lora(base, ["c_attn", "c_fc"], r=4, alpha=8)
    for layer in course.modules():  # B = 0 at init would give zero gradients for A: something to compare
        if hasattr(layer, "lora_B"):
            torch.nn.init.normal_(layer.lora_B, std=0.1)
    yield "utils.lora", course.eval()


@pytest.mark.parametrize("pick", ["PEFT", "utils.lora"])
def test_labelled_logits_give_the_models_own_loss_and_gradients(tokenizer, pick):
    # train_loop's loss: cross-entropy over the logits at labelled positions only. It must be Hugging Face's
    # `model(**batch).loss` (every position's logits, labels shifted inside) with the same gradients, on a batch with
    # prompts masked, padding and a final EOS (the Q&A collator's).
    name, model = next((n, m) for n, m in _lora_models(len(tokenizer)) if n == pick)
    split = load_qa()["train"].select(range(6))
    batch = next(iter(qa_dataloader(tokenizer, split, batch_size=6, shuffle=False)))
    params = [p for p in model.parameters() if p.requires_grad]
    reference = model(**batch).loss
    want = torch.autograd.grad(reference, params)
    logits, labels = labelled_logits(model, batch)
    n_labels = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert logits.shape == (n_labels, len(tokenizer)) and labels.shape == (n_labels,)
    assert n_labels < batch["labels"].numel() / 3  # the point: far fewer rows than positions
    loss = torch.nn.functional.cross_entropy(logits, labels)
    assert_close(loss, reference, reduction=len(tokenizer) * n_labels, what=f"{name} loss")
    for g_want, g_got in zip(want, torch.autograd.grad(loss, params), strict=True):
        assert_close(g_got, g_want, reduction=len(tokenizer) * n_labels, scale=g_want.abs().max().item(),
                     what=f"{name} gradient")
    # Had the labels not been shifted (logits at t scoring token t), the loss would differ:
    full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    unshifted = torch.nn.functional.cross_entropy(full.flatten(0, 1), batch["labels"].flatten())
    assert abs(unshifted.item() - reference.item()) > 1e-3


def test_train_loop_needs_trainable_parameters(tokenizer):
    model = tiny_lora_model(len(tokenizer))
    for p in model.parameters():
        p.requires_grad_(False)
    loader = qa_dataloader(tokenizer, {"question": ["q"], "answer": ["a"]})
    with pytest.raises(ValueError, match="requires grad"):
        train_loop(model, loader, progress=False)


def test_train_steps_is_a_deprecated_alias_of_train_loop(tokenizer):
    split = {"question": ["What is one?", "What is two?"] * 4, "answer": ["One", "Two"] * 4}
    new = train_loop(tiny_lora_model(len(tokenizer), seed=3), qa_dataloader(tokenizer, split, batch_size=4),
                     max_steps=3, progress=False)
    with pytest.warns(DeprecationWarning, match=r"utils\.qa\.train_steps is now utils\.qa\.train_loop"):
        old = train_steps(tiny_lora_model(len(tokenizer), seed=3), qa_dataloader(tokenizer, split, batch_size=4),
                          max_steps=3, progress=False)
    assert old == new  # the same loop under the old name


def test_ignore_index_is_defined_once():
    assert IGNORE_INDEX is TRAINING_IGNORE_INDEX == -100 == torch.nn.CrossEntropyLoss().ignore_index


def test_heldout_loss_is_the_mean_over_answer_tokens_whatever_the_batching(tokenizer):
    split = load_qa()["validation"].select(range(12))
    model = tiny_lora_model(len(tokenizer), seed=1).eval()
    losses = [heldout_loss(model, tokenizer, split, batch_size=b) for b in (1, 5, 12)]
    # Reference: Hugging Face's own loss on all 12 examples in one batch (a mean over every labelled token).
    one_batch = next(iter(qa_dataloader(tokenizer, split, batch_size=12, shuffle=False)))
    with torch.no_grad():
        reference = model(**one_batch).loss.item()
    assert losses == pytest.approx([reference] * 3, rel=1e-5)
    # A mean of per-batch means (what a loop over `.loss` gives) weighs short answers more: not the same number.
    per_example = []
    for ex in qa_dataloader(tokenizer, split, batch_size=1, shuffle=False):
        with torch.no_grad():
            per_example.append(model(**ex).loss.item())
    assert abs(sum(per_example) / len(per_example) - reference) > 1e-4
    model.train()
    heldout_loss(model, tokenizer, split, max_examples=2)
    assert model.training  # mode restored


@pytest.mark.parametrize("raw, normal", [
    ("Paris", "paris"), ("  The  Paris. ", "paris"), ("an Apple!", "apple"), ("Sana'a", "sanaa"),
    ("Latin America and the Caribbean", "latin america and caribbean"), ("", ""), ("THE", ""),
    ("Theodore", "theodore"), ("Côte d’Ivoire", "côte d’ivoire"),
])
def test_normalize_answer(raw, normal):
    assert normalize_answer(raw) == normal


def test_exact_match():
    assert exact_match(["Paris", "the euro.", "Lima"], ["paris", "Euro", "Quito"]) == pytest.approx(2 / 3)
    assert exact_match([], []) == 0.0
    assert exact_match(["Parisian"], ["Paris"]) == 0.0
    with pytest.raises(ValueError):
        exact_match(["a"], ["a", "b"])
