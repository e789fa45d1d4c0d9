# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 13 — teach the model to answer (and to stop)
#
# In lesson 13 a LoRA adapter turned the base model into a Q&A chatbot. Two small functions decide whether that
# works: the **collate function** that builds labels (which tokens the loss may look at) and the **evaluator** that
# says whether an answer is right. You write both, then use them for a short fine-tune.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some checks; hidden checks run on fresh random examples when graded.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: under a minute on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import random
import string

import torch

from utils.data import format_prompt, load_qa
from utils.models import load_model
from utils.notebook import setup

setup(seed=0)
model, tokenizer = load_model(device="cpu")
qa = load_qa()
EOS = tokenizer.eos_token_id
print(f"pad id = EOS id = {tokenizer.pad_token_id} = {EOS}")
print(repr(format_prompt("What is the capital of Peru?") + " Lima" + tokenizer.eos_token))


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — a collate function that masks the right tokens (7 points)
#
# Write `collate(pairs)`. `pairs` is a list of `(question, answer)` strings. For each pair the token ids are
#
#     prompt_ids = tokenizer(format_prompt(question))["input_ids"]
#     answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
#     input_ids  = prompt_ids + answer_ids
#
# Return a dict of three `torch.long` tensors of shape `(batch, longest)`, **right-padded** with `tokenizer.pad_token_id`:
#
# - `input_ids`;
# - `attention_mask`: 1 on real tokens, 0 on padding;
# - `labels`: `-100` on every prompt token, the answer ids **and the final EOS** as they are, `-100` on padding.
#
# Careful: the pad id *is* the EOS id. A label rule like "mask every pad id" also masks the one EOS the model must
# learn to produce — and then it never learns to stop.

# %% nbgrader={"grade": false, "grade_id": "collate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def collate(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on the prompt and on padding)."""
    ### BEGIN SOLUTION
    rows = []
    for question, answer in pairs:
        prompt_ids = tokenizer(format_prompt(question))["input_ids"]
        answer_ids = tokenizer(" " + answer)["input_ids"] + [EOS]
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = [ids + [pad] * (width - len(ids)) for ids, _ in rows]
    attention_mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
    labels = [labs + [-100] * (width - len(labs)) for _, labs in rows]
    return {name: torch.tensor(value, dtype=torch.long) for name, value in
            [("input_ids", input_ids), ("attention_mask", attention_mask), ("labels", labels)]}
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def _reference_parts(question, answer):
    """(prompt ids, answer ids + EOS) of one pair, the way the exercise defines them."""
    return tokenizer(format_prompt(question))["input_ids"], tokenizer(" " + answer)["input_ids"] + [EOS]


def _random_pairs(seed, n):
    rng = random.Random(seed)
    word = lambda: "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 8)))
    return [(" ".join(word() for _ in range(rng.randint(1, 9))) + "?", " ".join(word() for _ in range(rng.randint(1, 4))))
            for _ in range(n)]


# %% nbgrader={"grade": true, "grade_id": "test_collate_inputs", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""input_ids are prompt + answer + EOS, right-padded with the pad id; three long tensors (1 point)"""
_pairs = [("What is the capital of Peru?", "Lima"), ("Which currency is used in Japan?", "Japanese yen")]
_batch = collate(_pairs)
assert set(_batch) >= {"input_ids", "attention_mask", "labels"}, "return input_ids, attention_mask and labels"
for _name in ("input_ids", "attention_mask", "labels"):
    assert _batch[_name].dtype == torch.long, f"{_name} must be a torch.long tensor"
for _row, (_q, _a) in enumerate(_pairs):
    _p, _t = _reference_parts(_q, _a)
    _n = len(_p) + len(_t)
    assert _batch["input_ids"][_row, :_n].tolist() == _p + _t, "input_ids = prompt ids + answer ids + EOS"
    assert (_batch["input_ids"][_row, _n:] == tokenizer.pad_token_id).all(), "pad on the right with the pad id"
### BEGIN HIDDEN TESTS
for _hseed in range(3):
    _hpairs = _random_pairs(100 + _hseed, 7)
    _hbatch = collate(_hpairs)
    _hwidth = max(sum(map(len, _reference_parts(q, a))) for q, a in _hpairs)
    assert tuple(_hbatch["input_ids"].shape) == (7, _hwidth)
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hp, _ht = _reference_parts(_hq, _ha)
        _hn = len(_hp) + len(_ht)
        assert _hbatch["input_ids"][_hrow].tolist() == _hp + _ht + [tokenizer.pad_token_id] * (_hwidth - _hn)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_collate_masks_question", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""every prompt token has label -100, every answer token keeps its id (2 points)"""
_pairs = [("What is the capital of Peru?", "Lima"), ("Which currency is used in Japan?", "Japanese yen")]
_batch = collate(_pairs)
for _row, (_q, _a) in enumerate(_pairs):
    _p, _t = _reference_parts(_q, _a)
    assert (_batch["labels"][_row, :len(_p)] == -100).all(), "mask the question: label -100 on the prompt"
    assert _batch["labels"][_row, len(_p):len(_p) + len(_t) - 1].tolist() == _t[:-1], "keep the answer ids as labels"
### BEGIN HIDDEN TESTS
for _hseed in range(3):
    _hpairs = _random_pairs(200 + _hseed, 6)
    _hbatch = collate(_hpairs)
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hp, _ht = _reference_parts(_hq, _ha)
        assert _hbatch["labels"][_hrow, :len(_hp)].tolist() == [-100] * len(_hp)
        assert _hbatch["labels"][_hrow, len(_hp):len(_hp) + len(_ht) - 1].tolist() == _ht[:-1]
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_collate_keeps_eos", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the final EOS after each answer keeps its label, although EOS is also the pad id (2 points)"""
_pairs = [("What is the capital of Peru?", "Lima"), ("Which currency is used in Japan?", "Japanese yen")]
_batch = collate(_pairs)
for _row, (_q, _a) in enumerate(_pairs):
    _n = sum(map(len, _reference_parts(_q, _a)))
    assert _batch["labels"][_row, _n - 1] == EOS, "keep the label of the final EOS: it teaches the model to stop"
### BEGIN HIDDEN TESTS
for _hseed in range(3):
    _hpairs = _random_pairs(300 + _hseed, 8)
    _hbatch = collate(_hpairs)
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hn = sum(map(len, _reference_parts(_hq, _ha)))
        assert _hbatch["labels"][_hrow, _hn - 1].item() == EOS
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_collate_masks_padding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""padding: attention 0 and label -100; real tokens: attention 1 (2 points)"""
_pairs = [("What is the capital of Peru?", "Lima"), ("Which currency is used in Japan?", "Japanese yen")]
_batch = collate(_pairs)
_width = _batch["input_ids"].shape[1]
for _row, (_q, _a) in enumerate(_pairs):
    _n = sum(map(len, _reference_parts(_q, _a)))
    assert _batch["attention_mask"][_row].tolist() == [1] * _n + [0] * (_width - _n), "attention 1 on tokens, 0 on padding"
    assert (_batch["labels"][_row, _n:] == -100).all(), "label -100 on padding"
### BEGIN HIDDEN TESTS
for _hseed in range(3):
    _hpairs = _random_pairs(400 + _hseed, 9)
    _hbatch = collate(_hpairs)
    _hwidth = _hbatch["input_ids"].shape[1]
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hn = sum(map(len, _reference_parts(_hq, _ha)))
        assert _hbatch["attention_mask"][_hrow].tolist() == [1] * _hn + [0] * (_hwidth - _hn)
        assert _hbatch["labels"][_hrow, _hn:].tolist() == [-100] * (_hwidth - _hn)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — exact match, fairly (4 points)
#
# "Paris", "paris." and "The Paris" are the same answer. Write
#
# - `normalize(text)`: lowercase; remove every character of `string.punctuation`; remove the words `a`, `an`, `the`;
#   collapse runs of whitespace into single spaces and strip the ends (SQuAD's rule);
# - `exact_match(predictions, references)`: the share (a float from 0 to 1) of pairs whose normalized forms are
#   equal; `0.0` for empty lists.

# %% nbgrader={"grade": false, "grade_id": "evaluator", "locked": false, "schema_version": 3, "solution": true, "task": false}
import re


def normalize(text: str) -> str:
    """Lowercase, no punctuation, no articles, single spaces."""
    ### BEGIN SOLUTION
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
    ### END SOLUTION


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Share of predictions equal to their reference after normalize()."""
    ### BEGIN SOLUTION
    if not predictions:
        return 0.0
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(predictions)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_normalize", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""normalize: case, punctuation, articles, whitespace (2 points)"""
assert normalize("  The Paris. ") == "paris"
assert normalize("Latin America and the Caribbean") == "latin america and caribbean"
assert normalize("Theodore") == "theodore", "remove the word 'the', not the letters"
### BEGIN HIDDEN TESTS
from utils.qa import normalize_answer as _normalize_reference
_hrng = random.Random(5150)
_pieces = ["The", "the", "A", "an", "An", "Paris", "SANA'A", "e.g.", "Côte", "  ", "\t", "Theme", "apple,", "x-y", "!!", "Map"]
for _ in range(200):
    _htext = " ".join(_hrng.choices(_pieces, k=_hrng.randint(0, 7)))
    assert normalize(_htext) == _normalize_reference(_htext), repr(_htext)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_exact_match", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""exact_match is the share of normalized matches (2 points)"""
assert exact_match(["Paris", "the euro.", "Lima"], ["paris", "Euro", "Quito"]) == 2 / 3
assert exact_match([], []) == 0.0
### BEGIN HIDDEN TESTS
from utils.qa import exact_match as _em_reference
_hrng = random.Random(77)
_hanswers = ["Paris", "paris", "The Euro", "euro!", "Lima", "LIMA.", "Quito", "an Apple"]
for _ in range(50):
    _hn = _hrng.randint(1, 12)
    _hp, _r = _hrng.choices(_hanswers, k=_hn), _hrng.choices(_hanswers, k=_hn)
    assert abs(exact_match(_hp, _r) - _em_reference(_hp, _r)) < 1e-12
assert isinstance(exact_match(["A"], ["a"]), float)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — a short fine-tune with your functions (1 point)
#
# Nothing to write: run the cells. A LoRA adapter (rank 8 on every linear layer) trains for 60 steps on batches built
# by **your** `collate`, then **your** `exact_match` scores greedy answers to 64 held-out test questions — facts the
# adapter never saw as questions. Lesson 13's full run reaches far higher; 60 steps already make a difference.

# %% nbgrader={"grade": false, "grade_id": "finetune", "locked": true, "schema_version": 3, "solution": false, "task": false}
from peft import LoraConfig, get_peft_model
from torch.utils.data import DataLoader

from utils.qa import generate_answers, train_loop

_test = qa["test"].select(range(64))
before = exact_match(generate_answers(model, tokenizer, _test["question"]), _test["answer"])
peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"],
                                              fan_in_fan_out=True))
_train = list(zip(qa["train"]["question"], qa["train"]["answer"]))
loader = DataLoader(_train, batch_size=16, shuffle=True, collate_fn=collate,
                    generator=torch.Generator().manual_seed(0))
losses = train_loop(peft_model, loader, max_steps=60, lr=3e-3)
after = exact_match(generate_answers(peft_model, tokenizer, _test["question"]), _test["answer"])
print(f"loss {sum(losses[:10]) / 10:.2f} -> {sum(losses[-10:]) / 10:.2f}; exact match {before:.0%} -> {after:.0%}")

# %% nbgrader={"grade": true, "grade_id": "test_finetune", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the loss falls and held-out exact match rises (1 point)"""
assert sum(losses[-10:]) < sum(losses[:10]), "the loss should fall"
assert after > before, "exact match should rise after fine-tuning"

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart & Run All, check that every cell ran, and submit. Then try: what happens to the answers if `collate`
# masks the EOS too? (Train, then call `generate_answers(..., max_new_tokens=16)` and look at where answers end.)
