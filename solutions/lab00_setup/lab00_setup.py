# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 00 — is your environment ready?
#
# This lab checks that the course runs on your machine, offline, and shows you how labs work.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. More (hidden) checks run when the lab is graded,
#   on fresh random inputs — so make your function correct, not just the visible examples.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 2 minutes on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import random
import string

from utils.models import load_model, load_tokenizer

tokenizer = load_tokenizer()
model, _ = load_model(device="cpu")
print(f"vocabulary: {len(tokenizer)} tokens, model: {sum(p.numel() for p in model.parameters()):,} parameters")


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — count tokens (3 points)
#
# A language model does not read characters or words: it reads **tokens**, the ids the tokenizer gives to pieces of
# text. Write `count_tokens(text)` that returns how many tokens the course tokenizer (`tokenizer`, loaded above) turns
# `text` into, as an `int`. Do not add special tokens (GPT-2's tokenizer adds none by default).

# %% nbgrader={"grade": false, "grade_id": "count_tokens", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_tokens(text: str) -> int:
    """The number of tokens the course tokenizer produces for `text`."""
    ### BEGIN SOLUTION
    return len(tokenizer(text)["input_ids"])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_tokens_type", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""count_tokens returns an int, 0 for the empty string (1 point)"""
assert isinstance(count_tokens("hello world"), int), "count_tokens must return an int"
assert count_tokens("") == 0, "the empty string has no tokens"
### BEGIN HIDDEN TESTS
_rng = random.Random(1234)
for _ in range(5):
    _text = " ".join("".join(_rng.choices(string.ascii_lowercase, k=_rng.randint(1, 9))) for _ in range(_rng.randint(1, 6)))
    expect_equal(isinstance(count_tokens(_text), int), True, message="count_tokens must return an int")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_tokens_value", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""count_tokens counts tokens, not words or characters (2 points)"""
_text = "The capital of France is Paris."
assert count_tokens(_text) == len(tokenizer.encode(_text)), "count the tokenizer's ids, not words or characters"
### BEGIN HIDDEN TESTS
_rng = random.Random(20251)
_alphabet = string.ascii_letters + string.digits + string.punctuation + "  éü€\n"
for _ in range(20):
    _text = "".join(_rng.choices(_alphabet, k=_rng.randint(1, 60)))
    expect_equal(count_tokens(_text), len(tokenizer(_text)["input_ids"]),
                 message=f"wrong count for a random string {_text!r}")
_text = " ".join(_rng.choices(["capital", "of", "France", "is", "Paris."], k=1500))  # longer than any context
expect_equal(count_tokens(_text), len(tokenizer(_text)["input_ids"]),
             message="a text longer than the model's 128-token context still has all its tokens")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — complete a prompt (3 points)
#
# Write `complete(prompt, max_new_tokens=8)` that asks the bundled model (`model`) for a **greedy** continuation of
# `prompt` — at most `max_new_tokens` new tokens, always the most likely next token — and returns **only the new
# text** (not the prompt), decoded without special tokens such as `<|endoftext|>`.
#
# Hint: `tokenizer(prompt, return_tensors="pt")`, `model.generate(..., max_new_tokens=..., do_sample=False)`, then
# decode the ids that come after the prompt's ids. Not allowed: lesson 00's own `complete` in `utils.generation`
# (the hidden tests make that module unimportable while they call yours).

# %% nbgrader={"grade": false, "grade_id": "complete", "locked": false, "schema_version": 3, "solution": true, "task": false}
def complete(prompt: str, max_new_tokens: int = 8) -> str:
    """The greedy continuation of `prompt` by `model`: the new text only, without special tokens."""
    ### BEGIN SOLUTION
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new_ids = output[0, inputs["input_ids"].shape[1]:]
    return tokenizer.decode(new_ids, skip_special_tokens=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_complete_type", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""complete returns a str and is deterministic (1 point)"""
_first = complete("The capital of France is")
assert isinstance(_first, str), "complete must return a str"
assert complete("The capital of France is") == _first, "greedy decoding gives the same text every time"
assert complete("The capital of France is", max_new_tokens=8) == _first, "max_new_tokens=8 is the default: the same text"
### BEGIN HIDDEN TESTS
expect_equal(isinstance(complete("Water is made of", max_new_tokens=3), str), True,
             message="complete must return a str")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_complete_value", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""complete returns only the new text of a greedy continuation (2 points)"""
print(repr(complete("The capital of France is")))
assert not complete("The capital of France is").startswith("The capital"), "return only the new text, not the prompt"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden


### BEGIN REFERENCE
def _hidden_reference(prompt, n):
    inputs = tokenizer(prompt, return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=n, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    return tokenizer.decode(ids, skip_special_tokens=True)


### END REFERENCE
_rng = random.Random(20252)
_words = ["The", "capital", "of", "country", "is", "language", "spoken", "in", "element", "symbol", "the", "a"]
_cases = [(" ".join(_rng.choices(_words, k=_rng.randint(2, 6))), _rng.randint(1, 6)) for _ in range(3)]
_cases += [("The", 12),                           # more than the default 8 new tokens
           ("The capital of France is ", 4),      # a trailing space is part of the prompt
           ("<|endoftext|>The capital of", 6)]    # a special token in the prompt: not in the decoded text
for _prompt, _n in _cases:
    with _hidden_forbidden(modules=("utils.generation",)):  # lesson 00's complete
        _got = complete(_prompt, max_new_tokens=_n)
    expect_equal(_got, _hidden_reference(_prompt, _n),
                 message=f"not the greedy continuation of the prompt {_prompt!r}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# If every cell above ran without an error, your environment is ready: submit this notebook.
