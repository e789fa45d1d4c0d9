# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 01 — tokens and one-hot vectors
#
# In lesson 01 you followed a sentence from text to token ids to a one-hot matrix, and computed what one-hot vectors of
# real text would cost. Here you write those pieces yourself.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. Hidden checks run when the lab is graded, on fresh random
#   inputs and sizes — make your function correct, not just right on the visible examples.
# - Allowed: plain Python, `torch.zeros`, indexing, `torch.arange`, `torch.as_tensor`, `scatter_`, comparisons, and
#   the `tokenizer` of the setup cell. Not allowed: `torch.nn.functional.one_hot`, and the course's own
#   `utils.tokenization` (it holds the reference versions of all three functions): the hidden tests compare with
#   them, and they raise while the hidden tests call your functions.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 30 minutes. Points: 9.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import random

import torch

from utils.data import load_corpus
from utils.models import load_tokenizer

tokenizer = load_tokenizer()  # the course's byte-level BPE tokenizer, 4,000 tokens
corpus = load_corpus()        # the pretraining corpus, one statement per line
print("vocabulary:", len(tokenizer), " example ids:", tokenizer.encode(corpus[0]))


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — the one-hot matrix (5 points)
#
# Write `one_hot(ids, vocab_size)`. For a sequence of `T` token ids it returns a **float32** tensor of shape
# `(T, vocab_size)` — one row per token, as in the lesson (not the seed text's `vocab × T` picture) — that is all zeros
# except a `1.0` at `[t, ids[t]]`.
#
# - `ids` may be a Python list or a 1-D integer tensor.
# - If any id is negative or `>= vocab_size`, raise `ValueError` (careful: a negative index is *valid* Python indexing,
#   so without a check it would silently mark the wrong column).
#
# Build it with `torch.zeros` and indexing (`torch.arange`, `scatter_`, comparisons are all fine). Do **not** call
# `torch.nn.functional.one_hot`: it is what the tests compare with, and it raises while they call your function.

# %% nbgrader={"grade": false, "grade_id": "one_hot", "locked": false, "schema_version": 3, "solution": true, "task": false}
def one_hot(ids, vocab_size: int) -> torch.Tensor:
    """One-hot matrix of a token sequence: float32 (len(ids), vocab_size), row t has a 1 in column ids[t].

    ids: a list of ints or a 1-D integer tensor. Raises ValueError if an id is outside [0, vocab_size).
    """
    ### BEGIN SOLUTION
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    out = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    out[torch.arange(len(ids)), ids] = 1.0
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_one_hot_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one_hot has shape (len(ids), vocab_size) (1 point)"""
assert tuple(one_hot([2, 0, 1], 4).shape) == (3, 4), "one row per token, one column per vocabulary entry"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(101)
for _ in range(10):
    _vocab = int(torch.randint(1, 700, (), generator=_g))
    _n = int(torch.randint(1, 60, (), generator=_g))
    _ids = torch.randint(0, _vocab, (_n,), generator=_g)
    expect_equal(tuple(one_hot(_ids, _vocab).shape), (_n, _vocab), message=f"wrong shape for {_n} ids, vocab {_vocab}")
    expect_equal(tuple(one_hot(_ids.tolist(), _vocab).shape), (_n, _vocab), message="a list of ids must work too")
expect_equal(tuple(one_hot([], 7).shape), (0, 7), message="no ids: a (0, vocab_size) matrix")
expect_equal(tuple(one_hot(torch.tensor([], dtype=torch.long), 7).shape), (0, 7),
             message="no ids (an empty tensor): a (0, vocab_size) matrix")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_one_hot_dtype", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one_hot returns float32 numbers (1 point)"""
assert one_hot([1, 2], 3).dtype == torch.float32, "the one-hot matrix is multiplied with float weights: use float32"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(102)
for _ in range(5):
    _ids = torch.randint(0, 50, (int(torch.randint(1, 20, (), generator=_g)),), generator=_g)
    expect_equal(str(one_hot(_ids, 50).dtype), "torch.float32", message="float32 also for tensor input")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_one_hot_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""one_hot puts exactly one 1 per row, in column ids[t] (2 points)"""
_expected = torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
print(one_hot([2, 0, 1], 4))
assert (one_hot([2, 0, 1], 4) == _expected).all(), "row t must have its 1 in column ids[t]"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_g = torch.Generator().manual_seed(103)
for _ in range(10):
    _vocab = int(torch.randint(2, 5000, (), generator=_g))
    _ids = torch.randint(0, _vocab, (int(torch.randint(1, 80, (), generator=_g)),), generator=_g)
    ### BEGIN REFERENCE
    _ref = torch.nn.functional.one_hot(_ids, _vocab)
    ### END REFERENCE
    with _hidden_forbidden("torch.nn.functional.one_hot", "torch._decomp.decompositions.one_hot",
                           modules=("utils.tokenization",)):
        _out, _out_list = one_hot(_ids, _vocab), one_hot(_ids.tolist(), _vocab)
    expect_equal(_out, _ref, message="values differ from torch.nn.functional.one_hot")
    expect_equal(_out_list, _ref, message="values differ for list input")
for _dtype in (torch.int32, torch.int16, torch.uint8):  # any integer tensor is a valid sequence of ids
    _ids = torch.randint(0, 200, (int(torch.randint(1, 40, (), generator=_g)),), generator=_g)
    ### BEGIN REFERENCE
    _ref = torch.nn.functional.one_hot(_ids, 200)
    ### END REFERENCE
    with _hidden_forbidden("torch.nn.functional.one_hot", "torch._decomp.decompositions.one_hot",
                           modules=("utils.tokenization",)):
        _out = one_hot(_ids.to(_dtype), 200)
    expect_equal(_out, _ref, message=f"values differ for ids given as a {_dtype} tensor")
_ids = tokenizer.encode(corpus[7])
expect_equal(one_hot(_ids, len(tokenizer)).argmax(dim=1), torch.tensor(_ids),
             message="argmax of each row must give the id")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_one_hot_errors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one_hot raises ValueError for ids outside [0, vocab_size) (1 point)"""
for _bad in ([0, 4], [-1, 2]):
    try:
        one_hot(_bad, 4)
    except ValueError:
        pass
    else:
        raise AssertionError(f"one_hot({_bad}, 4) must raise ValueError")
### BEGIN HIDDEN TESTS
_rng = random.Random(104)
for _ in range(5):
    _vocab = _rng.randint(2, 300)
    for _bad in ([0, _vocab + _rng.randint(0, 5)], [_rng.randint(-9, -1)], [_vocab - 1, _vocab]):
        try:
            one_hot(_bad, _vocab)
            _raised = "nothing"
        except ValueError:
            _raised = "ValueError"
        expect_equal(_raised, "ValueError", message=f"one_hot({_bad}, {_vocab}) must raise ValueError")
        try:
            one_hot(torch.tensor(_bad), _vocab)
            _raised = "nothing"
        except ValueError:
            _raised = "ValueError"
        expect_equal(_raised, "ValueError", message=f"one_hot(torch.tensor({_bad}), {_vocab}) must raise ValueError")
    expect_equal(tuple(one_hot([0, _vocab - 1], _vocab).shape), (2, _vocab), message="the edges 0 and vocab-1 are valid")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — what would it cost? (2 points)
#
# Write `one_hot_memory_bytes(n_tokens, vocab_size, bytes_per_value=4)`: the number of **bytes** the one-hot matrix of
# `n_tokens` tokens occupies when each of its numbers takes `bytes_per_value` bytes (4 for float32, 2 for float16).
# Return an `int`.

# %% nbgrader={"grade": false, "grade_id": "one_hot_memory_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def one_hot_memory_bytes(n_tokens: int, vocab_size: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to store the one-hot matrix of n_tokens tokens (fp32 by default: 4 bytes per number)."""
    ### BEGIN SOLUTION
    return n_tokens * vocab_size * bytes_per_value
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_memory_matches_tensor", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one_hot_memory_bytes agrees with a real tensor (1 point)"""
_t = torch.zeros(3, 4)  # the one-hot matrix of 3 tokens, vocabulary 4, float32
assert one_hot_memory_bytes(3, 4) == _t.numel() * _t.element_size() == 48, "3 tokens x 4 columns x 4 bytes"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(201)
for _ in range(10):
    _n, _v = _rng.randint(1, 200), _rng.randint(1, 300)
    _t = torch.zeros(_n, _v)
    with _hidden_forbidden(modules=("utils.tokenization",)):
        _got = one_hot_memory_bytes(_n, _v)
    assert type(_got) is int, "return an int: a number of bytes is whole"
    expect_equal(_got, _t.numel() * _t.element_size(), message=f"wrong for {_n} tokens, vocab {_v}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_memory_other_precisions", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one_hot_memory_bytes uses bytes_per_value (1 point)"""
assert one_hot_memory_bytes(3, 4, bytes_per_value=2) == 24, "float16: 2 bytes per number"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(202)
with _hidden_forbidden(modules=("utils.tokenization",)):
    for _dtype in (torch.float16, torch.float64, torch.int8, torch.bfloat16):
        _n, _v = _rng.randint(1, 10_000), _rng.randint(1, 60_000)
        _size = torch.zeros((), dtype=_dtype).element_size()
        expect_equal(one_hot_memory_bytes(_n, _v, bytes_per_value=_size), _n * _v * _size, message=f"wrong for {_dtype}")
    expect_equal(one_hot_memory_bytes(125_000, 4_000), 2_000_000_000,
                 message="the seed's 2 GB: 125,000 tokens, vocab 4,000, fp32")
    _big = one_hot_memory_bytes(3_000_000, 50_257, bytes_per_value=8)  # past 2**31 and 2**32: Python ints do not overflow
    assert type(_big) is int, "return an int: a number of bytes is whole"
    expect_equal(_big, 3_000_000 * 50_257 * 8, message="a real corpus: 1.2 TB, exactly")
    _huge = one_hot_memory_bytes(10**15 + 3, 50_257, bytes_per_value=8)  # past 2**53 (floats) and 2**63 (int64)
    assert type(_huge) is int, "return an int: a number of bytes is whole"
    expect_equal(_huge, (10**15 + 3) * 50_257 * 8, message="past 2**63 bytes: exact, as Python ints are")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — characters per token (2 points)
#
# The memory estimate needs the number of tokens in a text, and that depends on how many characters a token covers
# on average. Write `chars_per_token(texts)`: encode each text with `tokenizer` (`tokenizer.encode(text)`) and return
# **all characters divided by all tokens**, as a `float`.
#
# Careful: that is not the average of each text's own ratio — long texts must weigh more than short ones.

# %% nbgrader={"grade": false, "grade_id": "chars_per_token", "locked": false, "schema_version": 3, "solution": true, "task": false}
def chars_per_token(texts: list[str]) -> float:
    """Characters per token over all of `texts` together (each text encoded on its own by `tokenizer`)."""
    ### BEGIN SOLUTION
    n_chars = sum(len(text) for text in texts)
    n_tokens = sum(len(tokenizer.encode(text)) for text in texts)
    return n_chars / n_tokens
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cpt_one_text", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""chars_per_token of a single text (1 point)"""
_text = "The capital of France is Paris."
print(f"{chars_per_token([_text]):.3f} characters per token")
assert abs(chars_per_token([_text]) - len(_text) / len(tokenizer.encode(_text))) < 1e-9
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(301)
for _text in [_rng.choice(corpus) for _ in range(8)] + ["Curaçao is in the Caribbean.", "  Rome.\n"]:
    with _hidden_forbidden(modules=("utils.tokenization",)):
        _got = chars_per_token([_text])
    assert isinstance(_got, float), f"return a Python float, not {type(_got).__name__}"
    expect_close(_got, len(_text) / len(tokenizer.encode(_text)), rtol=0.0, atol=1e-9,
                 message=f"wrong for {_text!r} (characters, not bytes; spaces count)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cpt_many_texts", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""chars_per_token pools all texts: total characters / total tokens (1 point)"""
_texts = ["Paris", "The capital of France is Paris, and the capital of Italy is Rome."]
_expected = sum(map(len, _texts)) / sum(len(tokenizer.encode(t)) for t in _texts)
assert abs(chars_per_token(_texts) - _expected) < 1e-9, "divide the total characters by the total tokens"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_rng = random.Random(302)
for _ in range(5):
    _texts = _rng.sample(corpus, _rng.randint(2, 40)) + ["x" * _rng.randint(1, 3)]
    _texts += _texts[:3]  # a text given twice counts twice
    _texts.append(" ".join(_rng.sample(corpus, 25)))  # longer than the model's 128-token context: every token counts
    _rng.shuffle(_texts)
    _line = _rng.choice(corpus)
    _cut = _rng.choice([i for i in range(1, len(_line)) if _line[i - 1].isalpha() and _line[i].isalpha()])
    _texts += [_line[:_cut], _line[_cut:]]  # one word cut in two: encoding the texts joined is not encoding each one
    ### BEGIN REFERENCE
    _expected = sum(map(len, _texts)) / sum(len(tokenizer.encode(t)) for t in _texts)
    ### END REFERENCE
    with _hidden_forbidden(modules=("utils.tokenization",)):
        _got = chars_per_token(_texts)
    assert isinstance(_got, float), f"return a Python float, not {type(_got).__name__}"
    expect_close(_got, _expected, rtol=0.0, atol=1e-9,
                 message="total characters / total tokens over all texts, each text encoded on its own")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Put the pieces together: how large would the fp32 one-hot matrix of our whole corpus be?
# (`one_hot_memory_bytes(round(sum(map(len, corpus)) / chars_per_token(corpus)), len(tokenizer))` — about a gigabyte,
# for a 0.3 MB text.) Lesson 02 shows why no model ever builds it.
