# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 13 — teach the model to answer (and to stop)
#
# In lesson 13 a LoRA adapter turned the base model into a Q&A chatbot. Two small functions decide whether that
# works: the **collate function** that builds labels (which tokens the loss may look at) and the **evaluator** that
# says whether an answer is right. You write both, then use them for a short fine-tune. Then you write the loop
# that produces an answer — greedy decoding with its stop rules — and measure how often a model stops by itself.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some checks; hidden checks run on fresh random examples when graded.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 60 minutes. 18 points. (Restart & Run All takes about a minute on a 2-core laptop.)

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import random
import string

import torch

from utils.data import format_prompt, load_qa
from utils.generation import stop_token_ids
from utils.models import load_model
from utils.notebook import setup

setup(seed=0)
model, tokenizer = load_model(device="cpu")
qa = load_qa()
EOS = tokenizer.eos_token_id
STOP_IDS = stop_token_ids(tokenizer)                  # EOS and every token whose text holds a line break
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
# `format_prompt` strips the question (`"  What is …? "` gives the prompt of `"What is …?"`); the answer is used exactly
# as given, not stripped (`" " + answer` as it is). Nothing is truncated: a pair longer than the model's 128
# positions stays whole.
#
# Return a dict of three `torch.long` tensors of shape `(batch, longest)`, **right-padded** with `tokenizer.pad_token_id`:
#
# - `input_ids`;
# - `attention_mask`: 1 on real tokens, 0 on padding;
# - `labels`: `-100` on every prompt token, the answer ids **and the final EOS** as they are, `-100` on padding.
#
# Careful: the pad id *is* the EOS id. A label rule like "mask every pad id" also masks the one EOS the model must
# learn to produce — and then it never learns to stop. And the course tokenizer pads on the **left** by default
# (`tokenizer.padding_side == "left"`, for generation): `tokenizer(texts, padding=True)` does not give the
# right-padded batch asked for here.
#
# Allowed: the tokenizer, `format_prompt`, lists, `torch.tensor`. Not allowed: `utils.qa` (its `build_examples` and
# `QACollator` are lesson 13's collate function; the hidden tests make that module unimportable while they call
# yours).

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
from utils.rules import forbidden as _hidden_forbidden

for _hseed in range(3):
    _hpairs = _random_pairs(100 + _hseed, 7)
    with _hidden_forbidden(modules=("utils.qa",)):  # lesson 13's build_examples + QACollator
        _hbatch = collate(_hpairs)
    _hwidth = max(sum(map(len, _reference_parts(q, a))) for q, a in _hpairs)
    expect_equal(tuple(_hbatch["input_ids"].shape), (7, _hwidth))
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hp, _ht = _reference_parts(_hq, _ha)
        _hn = len(_hp) + len(_ht)
        expect_equal(_hbatch["input_ids"][_hrow].tolist(), _hp + _ht + [tokenizer.pad_token_id] * (_hwidth - _hn))
# the question through format_prompt (which strips it), the answer exactly as given, a long pair not truncated
_hpairs = [("  What is the capital of Peru? ", "Lima"), ("Who wrote Hamlet?\n", " William Shakespeare "),
           (" ".join(["very"] * 150) + " long question?", "Yes")]
with _hidden_forbidden(modules=("utils.qa",)):  # lesson 13's build_examples + QACollator
    _hbatch = collate(_hpairs)
_hwidth = max(sum(map(len, _reference_parts(q, a))) for q, a in _hpairs)
expect_equal(tuple(_hbatch["input_ids"].shape), (3, _hwidth),
             message=f"shape {tuple(_hbatch['input_ids'].shape)}: every pair whole, the longest {_hwidth} tokens")
for _hrow, (_hq, _ha) in enumerate(_hpairs):
    _hp, _ht = _reference_parts(_hq, _ha)
    _hn = len(_hp) + len(_ht)
    expect_equal(_hbatch["input_ids"][_hrow, :_hn].tolist(), _hp + _ht,
                 message=f"({_hq[:30]!r}, {_ha!r}): tokenizer(format_prompt(question)) + tokenizer(' ' + answer) + [EOS]")
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
from utils.rules import forbidden as _hidden_forbidden

for _hseed in range(3):
    _hpairs = _random_pairs(200 + _hseed, 6)
    with _hidden_forbidden(modules=("utils.qa",)):  # lesson 13's build_examples + QACollator
        _hbatch = collate(_hpairs)
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hp, _ht = _reference_parts(_hq, _ha)
        expect_equal(_hbatch["labels"][_hrow, :len(_hp)].tolist(), [-100] * len(_hp))
        expect_equal(_hbatch["labels"][_hrow, len(_hp):len(_hp) + len(_ht) - 1].tolist(), _ht[:-1])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_collate_keeps_eos", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the final EOS after each answer keeps its label, although EOS is also the pad id (2 points)"""
_pairs = [("What is the capital of Peru?", "Lima"), ("Which currency is used in Japan?", "Japanese yen")]
_batch = collate(_pairs)
for _row, (_q, _a) in enumerate(_pairs):
    _n = sum(map(len, _reference_parts(_q, _a)))
    assert _batch["labels"][_row, _n - 1] == EOS, "keep the label of the final EOS: it teaches the model to stop"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

for _hseed in range(3):
    _hpairs = _random_pairs(300 + _hseed, 8)
    with _hidden_forbidden(modules=("utils.qa",)):  # lesson 13's build_examples + QACollator
        _hbatch = collate(_hpairs)
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hn = sum(map(len, _reference_parts(_hq, _ha)))
        expect_equal(_hbatch["labels"][_hrow, _hn - 1].item(), EOS)
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
from utils.rules import forbidden as _hidden_forbidden

for _hseed in range(3):
    _hpairs = _random_pairs(400 + _hseed, 9)
    with _hidden_forbidden(modules=("utils.qa",)):  # lesson 13's build_examples + QACollator
        _hbatch = collate(_hpairs)
    _hwidth = _hbatch["input_ids"].shape[1]
    for _hrow, (_hq, _ha) in enumerate(_hpairs):
        _hn = sum(map(len, _reference_parts(_hq, _ha)))
        expect_equal(_hbatch["attention_mask"][_hrow].tolist(), [1] * _hn + [0] * (_hwidth - _hn))
        expect_equal(_hbatch["labels"][_hrow, _hn:].tolist(), [-100] * (_hwidth - _hn))
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — exact match, fairly (4 points)
#
# "Paris", "paris." and "The Paris" are the same answer. Write
#
# - `normalize(text)`: lowercase (`str.lower()`: "Straße" stays "straße"); remove every character of
#   `string.punctuation` (ASCII punctuation only: `’`, `«`, `»` and other Unicode punctuation stay); remove the words
#   `a`, `an`, `the`; collapse runs of whitespace (spaces, tabs, newlines: whatever `str.split()` splits on) into
#   single spaces and strip the ends (SQuAD's rule);
# - `exact_match(predictions, references)`: the share (a float from 0 to 1) of pairs whose normalized forms are
#   equal — equal, not one containing the other: "Paris" does not match "Paris, Texas", nor "Texas Paris" (word order
#   counts); `0.0` for empty lists.
#
# Allowed: `str` methods, `string.punctuation`, `re`. Not allowed: `utils.qa` (its `normalize_answer` and
# `exact_match` are the reference; the hidden tests make them raise). The test of `exact_match` runs it with the
# reference `normalize`, so each function is graded on its own.

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
from utils.rules import forbidden as _hidden_forbidden

_hrng = random.Random(5150)
_pieces = ["The", "the", "A", "an", "An", "Paris", "SANA'A", "e.g.", "Côte", "  ", "\t", "Theme", "apple,", "x-y", "!!", "Map"]
_htexts = [" ".join(_hrng.choices(_pieces, k=_hrng.randint(0, 7))) for _ in range(200)]
# newlines are whitespace; only ASCII punctuation goes (’ « » stay); str.lower, not casefold (ß stays ß)
_htexts += ["Paris\nTexas", "The\nEuro\r\n", "a\n\nb  c", "Côte d’Ivoire", "«Paris»", "l’Île-de-France", "Straße", "STRASSE",
            "Gauß's law\n"]
### BEGIN REFERENCE
from utils.qa import normalize_answer as _normalize_reference

_hwant = [_normalize_reference(_htext) for _htext in _htexts]
### END REFERENCE
with _hidden_forbidden("utils.qa.normalize_answer", "utils.qa.exact_match", modules=("utils.qa",)):
    _hgot = [normalize(_htext) for _htext in _htexts]
for _hi, _htext in enumerate(_htexts):
    expect_equal(_hgot[_hi], _hwant[_hi], message=f"normalize({_htext!r}) gave {_hgot[_hi]!r}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_exact_match", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""exact_match is the share of normalized matches (2 points)"""
assert exact_match(["Paris", "the euro.", "Lima"], ["paris", "Euro", "Quito"]) == 2 / 3
assert exact_match([], []) == 0.0
### BEGIN HIDDEN TESTS
import re as _hidden_re

from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_normalize(text):
    text = "".join(c for c in str(text).lower() if c not in string.punctuation)
    return " ".join(_hidden_re.sub(r"\b(a|an|the)\b", " ", text).split())


_hrng = random.Random(77)
_hanswers = ["Paris", "paris", "The Euro", "euro!", "Lima", "LIMA.", "Quito", "an Apple", "Paris, Texas", "Lima Peru",
             "euro zone", "Apple"]  # a prediction that contains its reference, or is contained in it, is no match
_hcases = []
for _ in range(50):
    _hn = _hrng.randint(1, 12)
    _hp, _r = _hrng.choices(_hanswers, k=_hn), _hrng.choices(_hanswers, k=_hn)
    _hcases.append((_hp, _r))
_hcases.append((["Texas Paris", "Lima", "euro zone"], ["Paris Texas", "lima", "zone euro"]))  # word order counts
_hcases.append((["Paris, Texas", "Lima"], ["Paris", "Lima Peru"]))
### BEGIN REFERENCE
from utils.qa import exact_match as _em_reference

_hwants = [_em_reference(_hp, _r) for _hp, _r in _hcases[:-1]] + [0.0]
### END REFERENCE
with _hidden_forbidden("utils.qa.normalize_answer", "utils.qa.exact_match", modules=("utils.qa",)), \
        _hidden_substituted(normalize=_hidden_normalize):  # judged with the reference normalize
    for _hi, (_hp, _r) in enumerate(_hcases):
        expect_close(exact_match(_hp, _r), _hwants[_hi], rtol=0.0, atol=1e-12, message=f"{_hp} vs {_r}")
    assert type(exact_match(["A"], ["a"])) is float
    assert type(exact_match([], [])) is float, "0.0 (a float) for empty lists"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — greedy generation with stop rules (4 points)
#
# `greedy_continue(model, input_ids, max_new_tokens, stop_ids)` writes the loop that produces an answer. `input_ids`
# is one prompt as a list of token ids (no padding). Repeat:
# 1. run the model on all the ids so far and take the id with the largest logit at the **last** position
#    (`torch.argmax`; on a tie it returns the smallest id, as `generate` does);
# 2. append it;
# 3. stop right after appending an id that is in `stop_ids` (that id is part of the result), or once
#    `max_new_tokens` ids have been added.
#
# Return only the new ids, as a list of Python `int`s. Raise `ValueError` when `max_new_tokens < 1`.
# This is what `model.generate(..., do_sample=False, max_new_tokens=n, eos_token_id=stop_ids)` computes; lesson 13's
# `generate_answers` passes `STOP_IDS` (EOS and every token with a line break), so an answer ends at EOS or at a
# newline, whichever comes first, or after `n` tokens.
#
# Allowed: the model's forward, `torch.argmax`, `torch.no_grad()`:
#
#     with torch.no_grad():
#         logits = model(torch.tensor([ids])).logits        # (1, len(ids), vocab)
#
# Not allowed: `model.generate` and `utils.generation`: the hidden tests compare with them and make
# them raise. They run fresh small models and prompts, with stop ids that are met at the first new token, in the
# middle, at the last allowed one, or never.

# %% nbgrader={"grade": false, "grade_id": "greedy_continue", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_continue(model: torch.nn.Module, input_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    """The greedy continuation of `input_ids`: new ids only, ending with the first stop id or after max_new_tokens."""
    ### BEGIN SOLUTION
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, new = list(input_ids), []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            logits = model(torch.tensor([ids])).logits          # (1, len(ids), vocab)
            token = int(torch.argmax(logits[0, -1]))
            ids.append(token)
            new.append(token)
            if token in stop_ids:
                break
    return new
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "greedy_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def tiny_gpt2(seed: int, vocab: int = 50):
    # A small random GPT-2, no dropout; large initial weights make its greedy continuations varied, handy for tests.
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=48, n_embd=32, n_layer=2, n_head=2,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=1.0,
                                      bos_token_id=0, eos_token_id=0)).eval()


peru_ids = tokenizer(format_prompt("What is the capital of Peru?"))["input_ids"]


# %% nbgrader={"grade": true, "grade_id": "test_greedy_length", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""greedy_continue without a stop: max_new_tokens ids, the argmax at each step (2 points)"""
_new = greedy_continue(model, peru_ids, 6, [])
print(repr(tokenizer.decode(_new)))
assert isinstance(_new, list) and len(_new) == 6 and all(type(_t) is int for _t in _new)
_first = int(model(torch.tensor([peru_ids])).logits[0, -1].argmax())
assert _new[0] == _first, "the first new id is the argmax of the last position's logits"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


### BEGIN REFERENCE
def _hidden_greedy(model, ids, n, stops):
    ids, new = list(ids), []
    with torch.no_grad():
        while len(new) < n:
            token = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(token)
            new.append(token)
            if token in stops:
                break
    return new


### END REFERENCE
_hgen = torch.Generator().manual_seed(1313)
for _hseed in (1, 2, 3):
    _hm = tiny_gpt2(_hseed)
    _hprompt = torch.randint(0, 50, (int(torch.randint(1, 12, (1,), generator=_hgen)),), generator=_hgen).tolist()
    _hn = int(torch.randint(2, 20, (1,), generator=_hgen))
    ### BEGIN REFERENCE
    _hwant = _hidden_greedy(_hm, _hprompt, _hn, [])
    ### END REFERENCE
    with _hidden_forbidden("transformers.GenerationMixin.generate", "transformers.GenerationMixin._sample",
                           "transformers.GenerationMixin.generate_batch",
                           "transformers.GenerationMixin.init_continuous_batching",
                           "transformers.generation.continuous_batching.ContinuousBatchingManager",
                           modules=("utils.generation",)):
        _hgot = greedy_continue(_hm, _hprompt, _hn, [])
    expect_equal(_hgot, _hwant, message=f"prompt {_hprompt}, {_hn} tokens: {_hgot} is not the greedy continuation")
    assert all(type(_t) is int for _t in _hgot), "Python ints"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_greedy_stops", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""greedy_continue stops right after a stop id (kept), agrees with generate, rejects max_new_tokens < 1 (2 points)"""
_x = torch.tensor([peru_ids])
_reference = model.generate(_x, attention_mask=torch.ones_like(_x), max_new_tokens=24, do_sample=False,
                            eos_token_id=STOP_IDS, pad_token_id=EOS)[0, len(peru_ids):].tolist()
assert greedy_continue(model, peru_ids, 24, STOP_IDS) == _reference, "the same ids as model.generate"
_third = _reference[2]
assert greedy_continue(model, peru_ids, 24, [_third]) == _reference[:3], "stop right after the first stop id"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


def _hidden_greedy(model, ids, n, stops):
    ids, new = list(ids), []
    with torch.no_grad():
        while len(new) < n:
            token = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(token)
            new.append(token)
            if token in stops:
                break
    return new


_hgen = torch.Generator().manual_seed(1314)
for _hseed in (4, 5, 6):
    _hm = tiny_gpt2(_hseed)
    _hprompt = torch.randint(0, 50, (int(torch.randint(1, 10, (1,), generator=_hgen)),), generator=_hgen).tolist()
    _hfree = _hidden_greedy(_hm, _hprompt, 16, [])
    _hfresh = [_i for _i, _t in enumerate(_hfree) if _t not in _hfree[:_i]]   # where a token appears first
    assert len(_hfresh) >= 3, "the hidden case must be informative"
    # stop at the first new token, at a middle one, and at the last allowed one (max_new_tokens = k + 1)
    # the greedy run stopped at the first occurrence of token _hfree[k] is the free run's first k + 1 tokens; the
    # list of stop ids starts with one the run never meets (any stop id counts, not only the first)
    _hnever = next(_t for _t in range(50) if _t not in _hfree)
    for _hk, _hn in ((0, 16), (_hfresh[len(_hfresh) // 2], 16), (_hfresh[-1], _hfresh[-1] + 1)):
        _hstops = [_hnever, _hfree[_hk]]
        with _hidden_forbidden("transformers.GenerationMixin.generate", "transformers.GenerationMixin._sample",
                               "transformers.GenerationMixin.generate_batch",
                               "transformers.GenerationMixin.init_continuous_batching",
                               "transformers.generation.continuous_batching.ContinuousBatchingManager",
                               modules=("utils.generation",)):
            _hgot = greedy_continue(_hm, _hprompt, _hn, _hstops)
        expect_equal(_hgot, _hfree[:_hk + 1], message=f"stop ids {_hstops}, max_new_tokens {_hn}: {_hgot}")
_hq = format_prompt(qa["validation"][4]["question"])   # the course model on a fresh question, with STOP_IDS
_hids = tokenizer(_hq)["input_ids"]
_hx = torch.tensor([_hids])
### BEGIN REFERENCE
_hwant = model.generate(_hx, attention_mask=torch.ones_like(_hx), max_new_tokens=10, do_sample=False,
                        eos_token_id=STOP_IDS, pad_token_id=EOS)[0, len(_hids):].tolist()
### END REFERENCE
with _hidden_forbidden("transformers.GenerationMixin.generate", "transformers.GenerationMixin._sample",
                       "transformers.GenerationMixin.generate_batch",
                       "transformers.GenerationMixin.init_continuous_batching",
                       "transformers.generation.continuous_batching.ContinuousBatchingManager",
                       modules=("utils.generation",)):
    _hgot = greedy_continue(model, _hids, 10, STOP_IDS)
expect_equal(_hgot, _hwant, message=f"{_hq!r}: {_hgot} is not what generate gives")
for _hbad in (0, -3):
    try:
        greedy_continue(tiny_gpt2(7), [1, 2], _hbad, [])
        _hraised = "nothing"
    except ValueError as _hidden_error:
        _hraised = "ValueError"
    expect_equal(_hraised, "ValueError", message=f"max_new_tokens={_hbad}: raise ValueError")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — experiment: how often does a model stop by itself? (2 points)
#
# `stop_rate(model, prompts, max_new_tokens, stop_ids)`: the share (a Python `float` from 0 to 1) of `prompts` (lists
# of token ids) whose greedy continuation (your `greedy_continue`) ends **with a stop id** — the model stopped by
# itself — rather than being cut off after `max_new_tokens` ids. A stop id that comes exactly as the last allowed
# token counts as a stop. Every prompt counts, also one that comes more than once. `0.0` for no prompts.
#
# Graded on fresh small models and prompts against the reference (exactly: it is a count), with the reference
# `greedy_continue`. After the fine-tune below, a cell uses it to compare the model before and after.

# %% nbgrader={"grade": false, "grade_id": "stop_rate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stop_rate(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, stop_ids: list[int]) -> float:
    """Share of prompts whose greedy continuation ends with a stop id within max_new_tokens."""
    ### BEGIN SOLUTION
    if not prompts:
        return 0.0
    stopped = 0
    for ids in prompts:
        new = greedy_continue(model, ids, max_new_tokens, stop_ids)
        stopped += new[-1] in stop_ids
    return stopped / len(prompts)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stop_rate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""stop_rate: the share of continuations that end with a stop id (2 points)"""
_rate = stop_rate(model, [peru_ids], 24, STOP_IDS)
print(f"the base model stops by itself on the Peru question within 24 tokens: {_rate:.0%}")
assert type(_rate) is float and 0.0 <= _rate <= 1.0
assert stop_rate(model, [], 8, STOP_IDS) == 0.0
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_greedy(model, ids, n, stops):
    ids, new = list(ids), []
    with torch.no_grad():
        while len(new) < n:
            token = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(token)
            new.append(token)
            if token in stops:
                break
    return new


_hgen = torch.Generator().manual_seed(1315)
_hm = tiny_gpt2(8)
_hprompts = [torch.randint(0, 50, (int(torch.randint(1, 8, (1,), generator=_hgen)),), generator=_hgen).tolist()
             for _ in range(9)]
_hn = 6
_hfree = [_hidden_greedy(_hm, _p, _hn, []) for _p in _hprompts]
_hlast = next(_i for _i, _f in enumerate(_hfree) if _f[-1] not in _f[:-1])   # its last new token comes only last
_hstops = [_hfree[_hlast][-1]] + [_f[2] for _f in _hfree if _f[2] not in _hfree[_hlast]][:1]
### BEGIN REFERENCE
# a greedy run with stop ids is the free run up to its first stop id: it stopped when the free run holds one
_hwant = sum(any(_t in _hstops for _t in _f) for _f in _hfree) / len(_hprompts)
assert 0 < _hwant < 1, "the hidden case must be informative"
### END REFERENCE
with _hidden_substituted(greedy_continue=_hidden_greedy):  # judged with the reference greedy loop
    _hgot = stop_rate(_hm, _hprompts, _hn, _hstops)
    _hgot_last = stop_rate(_hm, [_hprompts[_hlast]], _hn, _hstops)
assert type(_hgot) is float, "a Python float"
with _hidden_substituted(greedy_continue=_hidden_greedy):
    assert type(stop_rate(_hm, [], _hn, _hstops)) is float, "0.0 (a float) for no prompts"
expect_equal(_hgot_last, 1.0, message="a stop id that comes as the last allowed token counts as a stop")
expect_equal(_hgot, _hwant, message=f"stop rate {_hgot} is not the share of prompts that stopped")
# the same prompt twice counts twice: two of these three runs stop
_hnostop = next(_p for _p, _f in zip(_hprompts, _hfree, strict=True) if not any(_t in _hstops for _t in _f))
_hdup = [_hprompts[_hlast], _hnostop, _hprompts[_hlast]]
with _hidden_substituted(greedy_continue=_hidden_greedy):
    _hgot = stop_rate(_hm, _hdup, _hn, _hstops)
### BEGIN REFERENCE
_hwant = sum(any(_t in _hstops for _t in _hidden_greedy(_hm, _p, _hn, [])) for _p in _hdup) / len(_hdup)  # 2 / 3
### END REFERENCE
expect_equal(_hgot, _hwant, message=f"a prompt that comes twice counts twice: {_hgot}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 6 — a short fine-tune with your functions (1 point)
#
# Nothing to write: run the cells. A LoRA adapter (rank 8 on every linear layer) trains for 24 steps of 8 examples on
# batches built by **your** `collate`, then **your** `exact_match` scores greedy answers to 64 held-out test questions —
# facts the adapter never saw as questions. Lesson 13's full run reaches far higher; 24 steps already make a difference.

# %% nbgrader={"grade": false, "grade_id": "finetune", "locked": true, "schema_version": 3, "solution": false, "task": false}
from peft import LoraConfig, get_peft_model
from torch.utils.data import DataLoader

from utils.qa import generate_answers, train_loop

_test = qa["test"].select(range(64))
before = exact_match(generate_answers(model, tokenizer, _test["question"]), _test["answer"])
torch.manual_seed(0)  # the adapter's initial A, whatever the cells above drew
peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"],
                                              fan_in_fan_out=True))
_train = list(zip(qa["train"]["question"], qa["train"]["answer"]))
loader = DataLoader(_train, batch_size=8, shuffle=True, collate_fn=collate,
                    generator=torch.Generator().manual_seed(0))
losses = train_loop(peft_model, loader, max_steps=24, lr=1e-2)  # short and cheap: the lab grades in well under a minute
after = exact_match(generate_answers(peft_model, tokenizer, _test["question"]), _test["answer"])
print(f"loss {sum(losses[:10]) / 10:.2f} -> {sum(losses[-10:]) / 10:.2f}; exact match {before:.0%} -> {after:.0%}")

# %% nbgrader={"grade": true, "grade_id": "test_finetune", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the loss falls and held-out exact match rises (1 point)"""
assert sum(losses[-10:]) < sum(losses[:10]), "the loss should fall"
assert after > before, "exact match should rise after fine-tuning"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
_hlosses, _hbefore, _hafter = list(losses), before, after  # the reference kernel's own run of the cell above
### END REFERENCE
expect_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(_hlosses, dtype=torch.float64), rtol=1e-3,
             atol=1e-4, message="these losses are not the ones the fine-tune cell makes with a correct collate")
expect_close(float(before), _hbefore, rtol=0.0, atol=1.5 / 64, message=f"exact match before: {before}")
expect_close(float(after), _hafter, rtol=0.0, atol=1.5 / 64, message=f"exact match after: {after}")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "stop_reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your stop_rate, read: how often does the model end its answer by itself, before and after the fine-tune?
_prompts = [tokenizer(format_prompt(q))["input_ids"] for q in _test["question"][:8]]
with peft_model.disable_adapter():
    _rate_before = stop_rate(peft_model, _prompts, 6, STOP_IDS)
_rate_after = stop_rate(peft_model, _prompts, 6, STOP_IDS)
print(f"answers that end by themselves within 6 tokens: {_rate_before:.0%} before, {_rate_after:.0%} after")

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart & Run All, check that every cell ran, and submit. Then try: what happens to the answers if `collate`
# masks the EOS too? (Train, then call `generate_answers(..., max_new_tokens=16)` and look at where answers end.)
