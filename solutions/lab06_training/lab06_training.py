# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 06 — the training loop
#
# You will write the cross-entropy loss by hand, the shifted language-model loss, and one training step, and check
# them against PyTorch and Hugging Face. Then you derive what `backward()` computes for the loss — its gradient with
# respect to the logits — and measure what the learning rate does to a short training run.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - The test cell under each exercise shows some of the checks. More (hidden) checks run when the lab is graded,
#   on fresh random inputs, shapes and models.
# - Do **not** call `torch.nn.functional.cross_entropy`, `log_softmax` (`F.`, `torch.` or the tensor method) or
#   `torch.nn.CrossEntropyLoss` in exercises 1, 2 and 4: the tests use them as the reference, and they raise while the
#   hidden tests call your functions. Exercise 4 also may not use autograd. Nor the course's own answers in
#   `utils.training` (`cross_entropy_by_hand`, `next_token_loss`, `train_step`) anywhere: that module cannot be
#   imported while the hidden tests run.
# - **Allowed**: `torch.logsumexp`, `torch.softmax`, `gather`, indexing, `mean`, `F.one_hot`, arithmetic; your own
#   functions from earlier exercises. Exercises 3 and 5 may use anything else (the model's own `.loss`, `backward()`).
#   A test of a later exercise, visible checks included, runs references of the earlier ones (the setup's `torch_…`
#   functions, PyTorch's, which your answers to exercises 1, 2 and 4 cannot use): one mistake costs points once.
# - Before you submit: *Kernel → Restart & Run All*, and check that no cell fails.
#
# Time: about 50 minutes. 18 points. Runs in a few seconds on a 2-core laptop.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging

from utils.numerics import assert_close

torch.manual_seed(0)
logging.set_verbosity_error()   # nbgrader counts any stderr output of a test cell as a failure


def tiny_gpt2(vocab_size: int = 50, seed: int = 0) -> GPT2LMHeadModel:
    # a tiny GPT-2 with random weights and no dropout (so two copies with the same seed behave identically)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    return GPT2LMHeadModel(config)


# %% nbgrader={"grade": false, "grade_id": "torch_references", "locked": true, "schema_version": 3, "solution": false, "task": false}
from utils.rules import substituted


# PyTorch's own losses, for the visible checks: a check of a later exercise runs them in place of your earlier
# functions (`with substituted(...)`), so it judges that exercise alone. Built on F.cross_entropy: your answers to
# exercises 1, 2 and 4 cannot use them.
def torch_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def torch_next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    return torch_cross_entropy(logits[:, :-1], input_ids[:, 1:])


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — cross-entropy by hand (4 points)
#
# Write `cross_entropy_by_hand(logits, targets)`: the **mean** over all positions of `−log p(target)`, where `p` is the
# softmax of the logits.
#
# - `logits` has shape `(..., vocab)`, `targets` has shape `(...)` (token ids); any number of leading dimensions,
#   none included (one prediction: `logits` of shape `(vocab,)`, a 0-d `targets`).
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
    _got = cross_entropy_by_hand(_probs.log(), torch.tensor([_t])).item()
    ### BEGIN REFERENCE
    _want = -math.log(_probs[0, _t])
    ### END REFERENCE
    expect_close(_got, _want, atol=1e-4, rtol=0.0, message=f"target {_t}: got {_got:.4f}, want -log p(target)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ce_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a batch: the mean over positions, equal to F.cross_entropy (2 points)"""
_logits, _targets = torch.randn(6, 10), torch.randint(10, (6,))
assert torch.allclose(cross_entropy_by_hand(_logits, _targets), F.cross_entropy(_logits, _targets), atol=1e-5), \
    "differs from F.cross_entropy: the mean of −log p over the positions"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss", "torch._log_softmax",
                 "torch._refs.log_softmax", "torch._decomp.decompositions._log_softmax",
                 "torch.distributions.Categorical")
_g = torch.Generator().manual_seed(602)
for _shape, _vocab in [((1,), 3), ((7,), 13), ((2, 5), 31), ((3, 2, 4), 101), ((), 11)]:  # (): one prediction
    _logits = 3 * torch.randn(*_shape, _vocab, generator=_g)
    _targets = torch.randint(_vocab, _shape, generator=_g)
    ### BEGIN REFERENCE
    _want = F.cross_entropy(_logits.reshape(-1, _vocab), _targets.reshape(-1))
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",)):
        _got = cross_entropy_by_hand(_logits, _targets)
    expect_close(_got, _want, atol=1e-5, message=f"wrong loss for shape {_shape}, vocab {_vocab}")
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
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss", "torch._log_softmax",
                 "torch._refs.log_softmax", "torch._decomp.decompositions._log_softmax",
                 "torch.distributions.Categorical")
_logits = torch.tensor([[500.0, -500.0, 0.0, 80.0]] * 3)
### BEGIN REFERENCE
_want = F.cross_entropy(_logits, torch.tensor([0, 1, 3]))
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",)):
    _got = cross_entropy_by_hand(_logits, torch.tensor([0, 1, 3]))
expect_close(_got, _want, message="use logsumexp: exp(500) overflows")
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
with substituted(cross_entropy_by_hand=torch_cross_entropy):  # PyTorch's in place of yours: this checks the shift
    _got = next_token_loss(_out.logits, _ids)
assert torch.allclose(_got, _out.loss, atol=1e-5), "the logits at position t are scored against the token at t + 1"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss", "torch._log_softmax",
                 "torch._refs.log_softmax", "torch._decomp.decompositions._log_softmax",
                 "torch.distributions.Categorical")
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
    ### BEGIN REFERENCE
    _want = _out.loss
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",)), \
            _hidden_substituted(cross_entropy_by_hand=_hidden_ce):  # your cross_entropy_by_hand swapped out
        _got = next_token_loss(_out.logits, _ids)
    expect_close(_got, _want, atol=1e-5, message=f"wrong for seq={_s}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — one training step (5 points)
#
# Write `train_step(model, batch, optimizer)` for a Hugging Face causal LM and a `(batch, seq)` tensor of token ids.
# It does one full step — clear the old gradients, forward, loss (the language-model loss of `batch` on itself),
# backward, optimizer step — and returns the loss as a Python `float` (the loss *before* the update). A plain step:
# no gradient clipping, and the model stays in the mode it comes in (training mode: its dropout, if it has any, is on).

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
    # your train_step, with PyTorch's next_token_loss in place of yours: these checks judge train_step alone
    model = tiny_gpt2(vocab, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with substituted(next_token_loss=torch_next_token_loss):
        return model, [train_step(model, b, opt) for b in batches]


def _same_weights(a, b):
    return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.parameters(), b.parameters(), strict=True))


# %% nbgrader={"grade": true, "grade_id": "test_step_loss", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""returns the loss before the update, as a float (1 point)"""
_batch = torch.randint(50, (4, 8))
_model = tiny_gpt2()
with torch.no_grad():
    _before = _model(_batch, labels=_batch).loss.item()
with substituted(next_token_loss=torch_next_token_loss):
    _loss = train_step(_model, _batch, torch.optim.SGD(_model.parameters(), lr=0.5))
assert isinstance(_loss, float), "return the loss as a Python float (Tensor.item())"
assert abs(_loss - _before) < 1e-4, "return the loss computed in the forward pass of this step"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


_batch = torch.randint(31, (3, 17), generator=torch.Generator().manual_seed(604))
_model = tiny_gpt2(31, seed=4)
### BEGIN REFERENCE
with torch.no_grad():
    _before = _model(_batch, labels=_batch).loss.item()
### END REFERENCE
with _hidden_forbidden(modules=("utils.training",)), \
        _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _loss = train_step(_model, _batch, torch.optim.SGD(_model.parameters(), lr=0.1))
assert isinstance(_loss, float), "return the loss as a Python float (Tensor.item())"
expect_close(_loss, _before, atol=1e-4, rtol=0.0, message=f"returned {_loss}: the loss of this step's forward pass")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_step_update", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""one step updates the weights exactly like the reference step (2 points)"""
_batch = torch.randint(50, (4, 8))
_ours, _ = _student_steps([_batch])
_ref, _ = _reference_steps([_batch])
assert _same_weights(_ours, _ref), "after one step the weights differ from forward → backward → step"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


def _hidden_weights(model):
    # every parameter, flattened into one vector: _same_weights's per-parameter allclose is elementwise, so one
    # expect_close over the concatenation applies the same rule (atol 1e-5, rtol 1e-5) to every weight
    return torch.cat([_p.detach().reshape(-1) for _p in model.parameters()])


_batch = torch.randint(37, (5, 11), generator=torch.Generator().manual_seed(605))
with _hidden_forbidden(modules=("utils.training",)), \
        _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _ours, _ = _student_steps([_batch], lr=0.3, seed=5, vocab=37)
### BEGIN REFERENCE
_ref, _ = _reference_steps([_batch], lr=0.3, seed=5, vocab=37)
_want = _hidden_weights(_ref)
### END REFERENCE
expect_close(_hidden_weights(_ours), _want, atol=1e-5, message="after one step the weights differ from the reference")
_ours = tiny_gpt2(37, seed=5)
for _p in _ours.parameters():  # gradients an earlier backward left behind: the step clears them first
    _p.grad = torch.full_like(_p, 0.25)
with _hidden_forbidden(modules=("utils.training",)), \
        _hidden_substituted(next_token_loss=_hidden_next_token_loss):
    train_step(_ours, _batch, torch.optim.SGD(_ours.parameters(), lr=0.3))
expect_close(_hidden_weights(_ours), _want, atol=1e-5,
             message="old gradients were added into this step: clear them before backward")


def _hidden_gpt2(vocab, seed, **config):
    # like tiny_gpt2, with other settings: larger weights (large gradients), or dropout
    torch.manual_seed(seed)
    _settings = dict(vocab_size=vocab, n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0,
                     resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)  # tiny_gpt2's, with the vocabulary given
    return GPT2LMHeadModel(GPT2Config(**{**_settings, **config}))


# weights of std 1: a gradient norm of about 10, which a plain step does not clip; then a model with dropout, in
# training mode as it comes (the same dropout masks in both kernels: the generator is seeded just before the step)
for _config, _lr, _seed in [(dict(initializer_range=1.0), 0.1, 613),
                            (dict(resid_pdrop=0.2, attn_pdrop=0.2, embd_pdrop=0.2), 0.3, 614)]:
    _batch = torch.randint(41, (4, 10), generator=torch.Generator().manual_seed(_seed))
    _ours = _hidden_gpt2(41, 7, **_config)
    _opt = torch.optim.SGD(_ours.parameters(), lr=_lr)
    torch.manual_seed(_seed)
    with _hidden_forbidden(modules=("utils.training",)), \
            _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
        train_step(_ours, _batch, _opt)
    ### BEGIN REFERENCE
    _ref = _hidden_gpt2(41, 7, **_config)
    _ref_opt = torch.optim.SGD(_ref.parameters(), lr=_lr)
    torch.manual_seed(_seed)
    _ref_opt.zero_grad()
    _ref(_batch, labels=_batch).loss.backward()
    _ref_opt.step()
    _want = _hidden_weights(_ref)
    ### END REFERENCE
    expect_close(_hidden_weights(_ours), _want, atol=1e-5,
                 message=f"{_config}: after one step the weights differ (a plain step: no clipping, no eval mode)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_step_repeat", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""several steps in a row match the reference and lower the loss (2 points)"""
_batches = [torch.randint(50, (4, 8)) for _ in range(3)]
_ours, _our_losses = _student_steps(_batches)
_ref, _ref_losses = _reference_steps(_batches)
assert _same_weights(_ours, _ref), "after 3 steps the weights differ: are old gradients cleared every step?"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


_g = torch.Generator().manual_seed(606)
_batch = torch.randint(29, (4, 9), generator=_g)
with _hidden_forbidden(modules=("utils.training",)), \
        _hidden_substituted(next_token_loss=_hidden_next_token_loss):  # judged with the reference loss
    _ours, _our_losses = _student_steps([_batch] * 6, lr=0.5, seed=6, vocab=29)
### BEGIN REFERENCE
_ref, _ref_losses = _reference_steps([_batch] * 6, lr=0.5, seed=6, vocab=29)
_want = torch.tensor(_ref_losses, dtype=torch.float64)
### END REFERENCE
_got = torch.tensor([float(_l) for _l in _our_losses], dtype=torch.float64)  # 6 steps, 6 losses
expect_close(_got, _want, atol=1e-4, rtol=0.0, message=f"loss curve {[round(float(_l), 4) for _l in _got]} differs")
expect_equal(bool(_got[-1] < _got[0]), True, message="training on one batch should lower its loss")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — the gradient of the loss, by hand (4 points)
#
# `loss.backward()` in exercise 3 computed, among everything else, the gradient of the loss with respect to the
# logits. It has a closed form. For one position with probabilities `p = softmax(z)` and target `t`,
# `∂(−log p_t)/∂z_j = p_j − [j = t]`; the loss of exercise 1 is the **mean** over `N` positions, so each position's
# gradient is divided by `N`:
#
# $$\frac{\partial\,\text{loss}}{\partial z} = \frac{\operatorname{softmax}(z) - \operatorname{onehot}(t)}{N}$$
#
# Write `cross_entropy_grad(logits, targets)`: that gradient, a tensor of the shape and dtype of `logits`
# (`(..., vocab)`, any number of leading dimensions, none included; `N` counts all positions; bfloat16 logits give a
# bfloat16 gradient). It must stay finite for huge logits.
#
# - Do **not** use autograd (`.backward()`, `torch.autograd.grad`, `torch.autograd.backward`, `torch.func`, any
#   operation on a tensor that requires grad) nor `F.cross_entropy`, `log_softmax` or `CrossEntropyLoss`: they
#   raise while the hidden tests call your function, which is compared with what autograd computes.
# - **Allowed**: `torch.softmax` (it subtracts the max for you), `torch.exp`, `torch.logsumexp`,
#   `F.one_hot`, `scatter`, indexing, arithmetic.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy_grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    probs = torch.softmax(logits, dim=-1)  # (..., vocab)
    one_hot = F.one_hot(targets, logits.shape[-1]).to(logits.dtype)  # (..., vocab)
    return (probs - one_hot) / targets.numel()  # (..., vocab)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "grad_reference", "locked": true, "schema_version": 3, "solution": false, "task": false}
def autograd_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # what loss.backward() puts in logits.grad: the reference your function is compared with
    z = logits.detach().clone().requires_grad_(True)
    F.cross_entropy(z.reshape(-1, z.shape[-1]), targets.reshape(-1)).backward()
    return z.grad


# %% nbgrader={"grade": true, "grade_id": "test_grad_rows", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the gradient has the logits' shape and each position's gradient sums to 0 (1 point)"""
_logits, _targets = torch.randn(5, 7), torch.randint(7, (5,))
_grad = cross_entropy_grad(_logits, _targets)
assert _grad.shape == _logits.shape, "one gradient entry per logit"
assert torch.allclose(_grad.sum(-1), torch.zeros(5), atol=1e-6), "probabilities sum to 1, the one-hot too: rows sum to 0"
assert (_grad.gather(-1, _targets.unsqueeze(-1)) < 0).all(), "raising the target's logit lowers the loss"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad", "torch.func.grad",
                 "torch.func.vjp", "torch.func.jacrev", "torch.nn.functional.cross_entropy",
                 "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
                 "torch.nn.CrossEntropyLoss", "torch._log_softmax", "torch._refs.log_softmax",
                 "torch._decomp.decompositions._log_softmax", "torch.distributions.Categorical", "torch.func.jacfwd",
                 "torch.autograd.forward_ad.make_dual")
_g = torch.Generator().manual_seed(607)
for _shape, _vocab in [((1,), 2), ((3, 4), 9), ((2, 1, 3), 17), ((), 5)]:  # (): one prediction
    _logits = 2 * torch.randn(*_shape, _vocab, generator=_g)
    _targets = torch.randint(_vocab, _shape, generator=_g)
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",), no_autograd=True):
        _grad = cross_entropy_grad(_logits, _targets)
    expect_equal(tuple(_grad.shape), tuple(_logits.shape),
                 message=f"shape {tuple(_grad.shape)} for logits {tuple(_logits.shape)}")
    expect_equal(str(_grad.dtype), str(_logits.dtype), message="the gradient has the logits' dtype")
    expect_close(_grad.sum(-1), torch.zeros(_shape), atol=1e-6, message="each position's gradient sums to 0")
_logits = (2 * torch.randn(3, 7, generator=_g)).to(torch.bfloat16)
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",), no_autograd=True):
    _grad = cross_entropy_grad(_logits, torch.randint(7, (3,), generator=_g))
expect_equal(str(_grad.dtype), "torch.bfloat16", message=f"bfloat16 logits gave a {_grad.dtype} gradient: keep the logits' dtype")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_grad_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""equals autograd's gradient of the mean cross-entropy (2 points)"""
_logits, _targets = torch.randn(4, 6), torch.randint(6, (4,))
assert_close(cross_entropy_grad(_logits, _targets), autograd_grad(_logits, _targets), reduction=6,
             what="gradient (softmax − one-hot, divided by the number of positions)")
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

### BEGIN REFERENCE
from utils.numerics import tolerance as _hidden_tolerance

### END REFERENCE
_HIDDEN_RULES = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad", "torch.func.grad",
                 "torch.func.vjp", "torch.func.jacrev", "torch.nn.functional.cross_entropy",
                 "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
                 "torch.nn.CrossEntropyLoss", "torch._log_softmax", "torch._refs.log_softmax",
                 "torch._decomp.decompositions._log_softmax", "torch.distributions.Categorical", "torch.func.jacfwd",
                 "torch.autograd.forward_ad.make_dual")
_g = torch.Generator().manual_seed(608)
for _shape, _vocab in [((1,), 3), ((7,), 13), ((2, 5), 31), ((3, 2, 4), 101), ((), 6)]:  # (): one prediction
    _logits = 3 * torch.randn(*_shape, _vocab, generator=_g)
    _targets = torch.randint(_vocab, _shape, generator=_g)
    _atol = 0.0  # the grader compares with the reference kernel's tolerance, set below
    ### BEGIN REFERENCE
    _want = autograd_grad(_logits, _targets)
    # utils.numerics.assert_close's rule: max |got - want| <= tolerance(scale, reduction), scale = max |want|
    _atol = _hidden_tolerance(_want.abs().max().item(), _vocab)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",), no_autograd=True):
        _got = cross_entropy_grad(_logits, _targets)
    expect_close(_got, _want, atol=_atol, rtol=0.0, message=f"gradient for shape {_shape}, vocab {_vocab}: wrong values")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_grad_stable", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""huge logits: the gradient stays finite and right (1 point)"""
_logits = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 200.0, 100.0]])
_grad = cross_entropy_grad(_logits, torch.tensor([0, 2]))
assert torch.isfinite(_grad).all(), "exp(1000) overflows: softmax must subtract the max first"
assert torch.allclose(_grad, torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, -0.5]]), atol=1e-6)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad", "torch.func.grad",
                 "torch.func.vjp", "torch.func.jacrev", "torch.nn.functional.cross_entropy",
                 "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
                 "torch.nn.CrossEntropyLoss", "torch._log_softmax", "torch._refs.log_softmax",
                 "torch._decomp.decompositions._log_softmax", "torch.distributions.Categorical", "torch.func.jacfwd",
                 "torch.autograd.forward_ad.make_dual")
_logits = torch.tensor([[500.0, -500.0, 0.0, 80.0]] * 3)
_targets = torch.tensor([0, 1, 3])
### BEGIN REFERENCE
_want = autograd_grad(_logits, _targets)
### END REFERENCE
with _hidden_forbidden(*_HIDDEN_RULES, modules=("utils.training",), no_autograd=True):
    _got = cross_entropy_grad(_logits, _targets)
expect_equal(bool(torch.isfinite(_got).all()), True, message="exp(500) overflows: subtract the max first")
expect_close(_got, _want, atol=1e-6, message="wrong gradient for huge logits")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — experiment: the learning rate (3 points)
#
# 1. Write `loss_after_training(batch, lr, steps)`: build a fresh `tiny_gpt2()` (vocabulary 50, seed 0), an optimizer
#    `torch.optim.SGD(model.parameters(), lr=lr)`, run `steps` training steps on `batch` (your `train_step` does one),
#    then return the language-model loss of `batch` under the trained model, as a Python `float` (computed without
#    gradients). The hidden test calls it with fresh batches, learning rates and step counts: it must agree with the
#    reference to a relative **1e-3** (a loss that is `nan` or infinite must be returned as it is).
# 2. Run it on `experiment_batch` for 20 steps at every learning rate of `learning_rates` below: store the dict
#    `losses` (learning rate → loss) and `best_lr`, the learning rate with the lowest **finite** loss. (One of them
#    diverges: its loss is `nan`, and `nan < x` is `False` for every `x`, so a plain `min` can pick it.)
#    Graded: each loss within a relative 1e-3 of the reference (or, where your `loss_after_training` is off — its own
#    test takes those points — of what it returns), `best_lr` exactly.

# %% nbgrader={"grade": false, "grade_id": "experiment_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
experiment_batch = torch.randint(50, (8, 16), generator=torch.Generator().manual_seed(6))   # (batch, seq)
learning_rates = (10.0, 0.01, 0.1, 1.0)

# %% nbgrader={"grade": false, "grade_id": "loss_after_training", "locked": false, "schema_version": 3, "solution": true, "task": false}
def loss_after_training(batch: torch.Tensor, lr: float, steps: int) -> float:
    ### BEGIN SOLUTION
    fresh = tiny_gpt2()  # seed 0: every call starts from the same weights
    optimizer = torch.optim.SGD(fresh.parameters(), lr=lr)
    for _ in range(steps):
        train_step(fresh, batch, optimizer)
    with torch.no_grad():
        return next_token_loss(fresh(batch).logits, batch).item()  # measured after the last update
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "lr_sweep", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
losses = {lr: loss_after_training(experiment_batch, lr, 20) for lr in learning_rates}
best_lr = min((lr for lr in losses if math.isfinite(losses[lr])), key=losses.__getitem__)
### END SOLUTION
for _lr, _loss in sorted(losses.items()):
    print(f"lr {_lr:>5}: loss after 20 steps {_loss:.3f}")
print("best learning rate:", best_lr)

# %% nbgrader={"grade": true, "grade_id": "test_loss_after_training", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""loss_after_training trains a fresh model and measures the loss afterwards (2 points)"""
with substituted(next_token_loss=torch_next_token_loss):
    _loss0 = loss_after_training(experiment_batch, 0.5, 0)
assert isinstance(_loss0, float), "return a Python float"
with torch.no_grad():
    _fresh = tiny_gpt2()(experiment_batch, labels=experiment_batch).loss.item()
assert abs(_loss0 - _fresh) < 1e-4, "0 steps: the loss of the fresh tiny_gpt2() (seed 0)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden
from utils.rules import substituted as _hidden_substituted


def _hidden_train_step(model, batch, optimizer):
    optimizer.zero_grad()
    _loss = model(batch, labels=batch).loss
    _loss.backward()
    optimizer.step()
    return _loss.item()


def _hidden_next_token_loss(logits, input_ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


def _hidden_loss_after(batch, lr, steps):
    _m = tiny_gpt2()
    _opt = torch.optim.SGD(_m.parameters(), lr=lr)
    for _ in range(steps):
        _hidden_train_step(_m, batch, _opt)
    with torch.no_grad():
        return _m(batch, labels=batch).loss.item()


_g = torch.Generator().manual_seed(609)
# lr 1000 diverges: the loss is nan, and nan is what the function returns (equal_nan: nan matches nan only)
for _shape, _lr, _steps in [((3, 9), 0.7, 4), ((5, 12), 2.0, 3), ((2, 20), 0.05, 6), ((4, 12), 1000.0, 3)]:
    _batch = torch.randint(50, _shape, generator=_g)
    ### BEGIN REFERENCE
    _want = _hidden_loss_after(_batch, _lr, _steps)
    assert math.isfinite(_want) == (_lr < 100), "only the lr-1000 case diverges (to nan here: inf - inf in the logits)"
    ### END REFERENCE
    with _hidden_forbidden(modules=("utils.training",)), \
            _hidden_substituted(train_step=_hidden_train_step, next_token_loss=_hidden_next_token_loss):
        _got = loss_after_training(_batch, _lr, _steps)
    assert isinstance(_got, float), "return a Python float"
    expect_close(_got, _want, atol=0.0, rtol=1e-3, equal_nan=True,
                 message=f"lr={_lr}, {_steps} steps: got {_got:.4f}, wrong loss (a nan is returned as it is)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_lr_sweep", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the measured losses, and the best learning rate among them (1 point)"""
assert set(losses) == set(learning_rates), "one loss per learning rate"
assert best_lr in learning_rates and math.isfinite(losses[best_lr])
### BEGIN HIDDEN TESTS
# This cell is judged on running the sweep with the loss_after_training you wrote and reading it (a function that
# differs from the reference costs its own points, above). So the numbers are compared with your own function's,
# rerun here: only this kernel has it, so the grader receives the gaps between the two, not a reference's values.
def _hidden_gap(got, own):
    # 0 when both are non-finite or within a relative 1e-3 of each other is the rule: the relative gap, inf when
    # only one of them is finite
    if not math.isfinite(got) and not math.isfinite(own):
        return 0.0
    if math.isfinite(got) != math.isfinite(own):
        return math.inf
    return abs(got - own) / abs(own) if own != 0 else abs(got - own)


_own = {_lr: float(loss_after_training(experiment_batch, _lr, 20)) for _lr in learning_rates}
_best = min((_lr for _lr in _own if math.isfinite(_own[_lr])), key=_own.__getitem__)
expect_equal(sorted(float(_lr) for _lr in losses), sorted(learning_rates), message="one loss per learning rate")
_gaps = [_hidden_gap(float(losses[_lr]), _own[_lr]) if _lr in losses else math.inf for _lr in learning_rates]
### BEGIN REFERENCE
_want = [0.0] * len(learning_rates)
### END REFERENCE
expect_close(torch.tensor(_gaps, dtype=torch.float64), torch.tensor(_want, dtype=torch.float64), atol=1e-3, rtol=0.0,
             message=f"losses {losses} are not what loss_after_training(experiment_batch, lr, 20) returns")
expect_equal(best_lr == _best, True, message=f"best_lr {best_lr}: the learning rate with the lowest finite loss")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# Restart the kernel, run all cells, and submit. Lesson 07 freezes all these weights and trains a small low-rank
# update instead: LoRA.
