# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 06 — the training loop
#
# You will write the cross-entropy loss by hand, the shifted language-model loss, and one training step, and check
# them against PyTorch and Hugging Face.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. More (hidden) checks run when the lab is graded,
#   on fresh random inputs, shapes and models.
# - Do **not** call `torch.nn.functional.cross_entropy`, `log_softmax` (`F.`, `torch.` or the tensor method) or
#   `torch.nn.CrossEntropyLoss` in exercises 1–2: the tests use them as the reference, and they raise while the hidden
#   tests call your functions. `torch.logsumexp`, `gather`, indexing, `mean` are all fine; exercise 3 may use anything.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 30 minutes. Runs in a few seconds on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging

torch.manual_seed(0)
logging.set_verbosity_error()   # nbgrader counts any stderr output of a test cell as a failure


def tiny_gpt2(vocab_size: int = 50, seed: int = 0) -> GPT2LMHeadModel:
    # a tiny GPT-2 with random weights and no dropout (so two copies with the same seed behave identically)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    return GPT2LMHeadModel(config)


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — cross-entropy by hand (4 points)
#
# Write `cross_entropy_by_hand(logits, targets)`: the **mean** over all positions of `−log p(target)`, where `p` is the
# softmax of the logits.
#
# - `logits` has shape `(..., vocab)`, `targets` has shape `(...)` (token ids); any number of leading dimensions.
# - Compute `log p` as `logit[target] − logsumexp(logits)`: taking `log(softmax(...))` underflows to `−inf` when a
#   probability is tiny.
#
# Hint: `torch.logsumexp(logits, dim=-1, keepdim=True)`, `Tensor.gather(-1, targets.unsqueeze(-1))`.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ce_single", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""one prediction: the loss is −log p(correct) (1 point)"""
for _p in (1.0, 0.5, 0.1, 0.01):
    _logits = torch.log(torch.tensor([[_p, 1 - _p + 1e-12]]))
    _loss = cross_entropy_by_hand(_logits, torch.tensor([0]))
    assert abs(_loss.item() - (-math.log(_p))) < 1e-4, f"p={_p}: expected {-math.log(_p):.4f}, got {_loss.item():.4f}"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(601)
_probs = torch.softmax(torch.randn(1, 9, generator=_g), -1)
for _t in range(9):
    assert abs(cross_entropy_by_hand(_probs.log(), torch.tensor([_t])).item() + math.log(_probs[0, _t])) < 1e-4
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ce_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a batch: the mean over positions, equal to F.cross_entropy (2 points)"""
_logits, _targets = torch.randn(6, 10), torch.randint(10, (6,))
assert torch.allclose(cross_entropy_by_hand(_logits, _targets), F.cross_entropy(_logits, _targets), atol=1e-5), \
    "differs from F.cross_entropy: the mean of −log p over the positions"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss")
_g = torch.Generator().manual_seed(602)
for _shape, _vocab in [((1,), 3), ((7,), 13), ((2, 5), 31), ((3, 2, 4), 101)]:
    _logits = 3 * torch.randn(*_shape, _vocab, generator=_g)
    _targets = torch.randint(_vocab, _shape, generator=_g)
    _want = F.cross_entropy(_logits.reshape(-1, _vocab), _targets.reshape(-1))
    with _hidden_forbidden(*_HIDDEN_RULES):
        _got = cross_entropy_by_hand(_logits, _targets)
    assert torch.allclose(_got, _want, atol=1e-5), f"wrong loss for shape {_shape}, vocab {_vocab}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ce_stable", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""huge logits do not overflow (1 point)"""
_logits = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 200.0, 100.0]])
_loss = cross_entropy_by_hand(_logits, torch.tensor([0, 2]))
assert torch.isfinite(_loss), "use logsumexp: exp(1000) overflows"
assert abs(_loss.item() - 50.0) < 1e-3
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss")
_logits = torch.tensor([[500.0, -500.0, 0.0, 80.0]] * 3)
_want = F.cross_entropy(_logits, torch.tensor([0, 1, 3]))
with _hidden_forbidden(*_HIDDEN_RULES):
    _got = cross_entropy_by_hand(_logits, torch.tensor([0, 1, 3]))
assert torch.allclose(_got, _want), "use logsumexp: exp(500) overflows"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — the language-model loss (2 points)
#
# A causal language model's logits at position `t` predict the token at position `t + 1`. Write
# `next_token_loss(logits, input_ids)` for logits `(batch, seq, vocab)` and ids `(batch, seq)`: the cross-entropy
# of the logits at positions `0 … seq−2` against the tokens at positions `1 … seq−1` (use your `cross_entropy_by_hand`).
# It must equal Hugging Face's `model(input_ids, labels=input_ids).loss`.

# %% nbgrader={"grade": false, "grade_id": "next_token_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return cross_entropy_by_hand(logits[:, :-1], input_ids[:, 1:])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_next_token_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""equals Hugging Face's loss with labels=input_ids (2 points)"""
_model = tiny_gpt2()
_ids = torch.randint(50, (2, 8))
with torch.no_grad():
    _out = _model(_ids, labels=_ids)
assert torch.allclose(next_token_loss(_out.logits, _ids), _out.loss, atol=1e-5), \
    "the logits at position t are scored against the token at t + 1"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss")
from utils.rules import substituted as _hidden_substituted


def _hidden_ce(logits, targets):
    _log_p = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -_log_p.gather(-1, targets.unsqueeze(-1)).mean()


_g = torch.Generator().manual_seed(603)
for _vocab, _b, _s in [(23, 1, 2), (50, 3, 13), (97, 2, 31)]:
    _model = tiny_gpt2(_vocab, seed=_s)
    _ids = torch.randint(_vocab, (_b, _s), generator=_g)
    with torch.no_grad():
        _out = _model(_ids, labels=_ids)
    with _hidden_forbidden(*_HIDDEN_RULES), _hidden_substituted(cross_entropy_by_hand=_hidden_ce):  # your cross_entropy_by_hand swapped out
        _got = next_token_loss(_out.logits, _ids)
    assert torch.allclose(_got, _out.loss, atol=1e-5), f"wrong for seq={_s}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — one training step (5 points)
#
# Write `train_step(model, batch, optimizer)` for a Hugging Face causal LM and a `(batch, seq)` tensor of token ids.
# It does one full step — clear the old gradients, forward, loss (the language-model loss of `batch` on itself),
# backward, optimizer step — and returns the loss as a Python `float` (the loss *before* the update).

# %% nbgrader={"grade": false, "grade_id": "train_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_step(model, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    loss = next_token_loss(model(batch).logits, batch)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_reference", "locked": true, "schema_version": 3, "solution": false, "task": false}
def _reference_steps(batches, lr=0.5, seed=0, vocab=50):
    # the reference: the same tiny model, trained by a textbook loop with SGD
    model = tiny_gpt2(vocab, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for b in batches:
        opt.zero_grad()
        loss = model(b, labels=b).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def _student_steps(batches, lr=0.5, seed=0, vocab=50):
    model = tiny_gpt2(vocab, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return model, [train_step(model, b, opt) for b in batches]


def _same_weights(a, b):
    return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.parameters(), b.parameters(), strict=True))


# %% nbgrader={"grade": true, "grade_id": "test_step_loss", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""returns the loss before the update, as a float (1 point)"""
_batch = torch.randint(50, (4, 8))
_model = tiny_gpt2()
with torch.no_grad():
    _before = _model(_batch, labels=_batch).loss.item()
_loss = train_step(_model, _batch, torch.optim.SGD(_model.parameters(), lr=0.5))
assert isinstance(_loss, float), "return the loss as a Python float (Tensor.item())"
assert abs(_loss - _before) < 1e-4, "return the loss computed in the forward pass of this step"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


_batch = torch.randint(31, (3, 17), generator=torch.Generator().manual_seed(604))
_model = tiny_gpt2(31, seed=4)
with torch.no_grad():
    _before = _model(_batch, labels=_batch).loss.item()
with _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _loss = train_step(_model, _batch, torch.optim.SGD(_model.parameters(), lr=0.1))
assert isinstance(_loss, float) and abs(_loss - _before) < 1e-4
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_step_update", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""one step updates the weights exactly like the reference step (2 points)"""
_batch = torch.randint(50, (4, 8))
_ours, _ = _student_steps([_batch])
_ref, _ = _reference_steps([_batch])
assert _same_weights(_ours, _ref), "after one step the weights differ from forward → backward → step"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


_batch = torch.randint(37, (5, 11), generator=torch.Generator().manual_seed(605))
with _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _ours, _ = _student_steps([_batch], lr=0.3, seed=5, vocab=37)
_ref, _ = _reference_steps([_batch], lr=0.3, seed=5, vocab=37)
assert _same_weights(_ours, _ref), "after one step the weights differ from the reference"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_step_repeat", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""several steps in a row match the reference and lower the loss (2 points)"""
_batches = [torch.randint(50, (4, 8)) for _ in range(3)]
_ours, _our_losses = _student_steps(_batches)
_ref, _ref_losses = _reference_steps(_batches)
assert _same_weights(_ours, _ref), "after 3 steps the weights differ: are old gradients cleared every step?"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


_g = torch.Generator().manual_seed(606)
_batch = torch.randint(29, (4, 9), generator=_g)
with _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _ours, _our_losses = _student_steps([_batch] * 6, lr=0.5, seed=6, vocab=29)
_ref, _ref_losses = _reference_steps([_batch] * 6, lr=0.5, seed=6, vocab=29)
assert all(abs(a - b) < 1e-4 for a, b in zip(_our_losses, _ref_losses, strict=True)), "loss curve differs"
assert _our_losses[-1] < _our_losses[0], "training on one batch should lower its loss"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart the kernel, run all cells, and submit. Lesson 07 freezes all these weights and trains a small low-rank
# update instead: LoRA.
