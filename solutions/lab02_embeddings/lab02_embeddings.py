# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 02 — embeddings
#
# Lesson 02 showed that `one_hot(ids) @ E` is just the row lookup `E[ids]`, that tokens stay distinguishable because
# the rows of `E` differ (not because the map is linear), and that trained embeddings put similar tokens close together.
# Here you write those tools and use them on the bundled model.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random matrices and shapes.
# - Allowed everywhere: indexing, matrix products, `torch.zeros`, `Tensor.norm`, `topk`, `torch.cdist`,
#   `Tensor.index_add_`, the course's `one_hot`, and your own functions from earlier exercises. Exercise 4 is about
#   the gradient, so autograd (`Tensor.backward`, `torch.autograd.grad`, `torch.func`, any operation on a tensor
#   that requires grad) raises while the hidden tests call your answer there. A test of a later exercise runs your
#   earlier functions' references, so one mistake costs points once.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 50 minutes. Points: 17.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import random

import torch

from utils.models import load_model
from utils.tokenization import one_hot

model, tokenizer = load_model(device="cpu")
E_model = model.transformer.wte.weight.detach()  # the bundled model's embedding matrix (vocab, d_model)
print("embedding matrix:", tuple(E_model.shape))


# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 — embedding lookup (3 points)
#
# Write `embed(ids, E)`: for an integer tensor `ids` of **any shape** `(...)` (one sequence `(T,)`, a batch `(B, T)`,
# an empty sequence `(0,)`, a transposed — non-contiguous — batch, …) and an embedding matrix `E` of shape
# `(vocab, d_model)`, return the tensor of shape `(..., d_model)` whose entry at `ids`' position is that token's row of
# `E`. It must equal `one_hot(ids) @ E` for a 1-D `ids`.
#
# Build it with indexing (or `one_hot` and a matrix product). Do **not** call `torch.nn.functional.embedding` or
# `torch.nn.Embedding`: that is the lookup this exercise asks you to write, and they raise while the hidden tests call
# your function.

# %% nbgrader={"grade": false, "grade_id": "embed", "locked": false, "schema_version": 3, "solution": true, "task": false}
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """The embeddings of token ids: ids of any shape (...,) -> (..., d_model), row ids[...] of E (vocab, d_model)."""
    ### BEGIN SOLUTION
    return E[ids]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_embed_one_sequence", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""embed of one sequence equals one_hot(ids) @ E (1 point)"""
_ids = torch.tensor(tokenizer.encode("The capital of France is Paris."))
assert embed(_ids, E_model).shape == (len(_ids), E_model.shape[1])
assert torch.allclose(embed(_ids, E_model), one_hot(_ids, E_model.shape[0]) @ E_model, atol=1e-6)
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.embedding", "torch.embedding", "torch.nn.Embedding",
                 "torch._decomp.decompositions.embedding")
_g = torch.Generator().manual_seed(401)
for _ in range(8):
    _v, _d = int(torch.randint(2, 500, (), generator=_g)), int(torch.randint(1, 40, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _ids = torch.randint(0, _v, (int(torch.randint(1, 30, (), generator=_g)),), generator=_g)
    with _hidden_forbidden(*_HIDDEN_RULES):
        _got = embed(_ids, _E)
    expect_close(_got, one_hot(_ids, _v) @ _E, atol=1e-5, message="rows of E, in the order of ids")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embed_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""embed keeps the shape of ids and appends d_model (2 points)"""
_batch = torch.tensor([[1, 2, 3], [3, 2, 1]])
assert embed(_batch, E_model).shape == (2, 3, E_model.shape[1]), "a (B, T) batch of ids gives (B, T, d_model)"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.nn.functional.embedding", "torch.embedding", "torch.nn.Embedding",
                 "torch._decomp.decompositions.embedding")
_g = torch.Generator().manual_seed(402)
for _shape in [(4, 7), (2, 3, 5), (1, 1)]:
    _v, _d = int(torch.randint(2, 300, (), generator=_g)), int(torch.randint(1, 20, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _ids = torch.randint(0, _v, _shape, generator=_g)
    with _hidden_forbidden(*_HIDDEN_RULES):
        _out = embed(_ids, _E)
    expect_equal(tuple(_out.shape), (*_shape, _d), message=f"ids of shape {_shape} must give {(*_shape, _d)}")
    _flat = _ids.reshape(-1)
    expect_close(_out.reshape(-1, _d), one_hot(_flat, _v) @ _E, atol=1e-5, message="wrong rows in a batch")
_g = torch.Generator().manual_seed(403)
for _shape, _transposed in [((0,), False), ((2, 0), False), ((5, 3), True), ((2, 4, 3), True)]:
    _v, _d = int(torch.randint(2, 300, (), generator=_g)), int(torch.randint(1, 20, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _ids = torch.randint(0, _v, _shape, generator=_g)
    _ids = _ids.transpose(0, -1) if _transposed else _ids  # a transposed batch: not contiguous
    with _hidden_forbidden(*_HIDDEN_RULES):
        _out = embed(_ids, _E)
    _what = "a transposed (non-contiguous) batch of ids" if _transposed else f"ids of shape {tuple(_ids.shape)}"
    expect_equal(tuple(_out.shape), (*_ids.shape, _d), message=f"{_what} must give {(*_ids.shape, _d)}")
    ### BEGIN REFERENCE
    _want = _E[_ids.reshape(-1)].reshape(*_ids.shape, _d)
    ### END REFERENCE
    expect_close(_out, _want, atol=1e-5, message=f"wrong rows for {_what}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — cosine similarity and nearest neighbours (5 points)
#
# `cosine_similarities(E, token_id)` returns, for every row `v` of `E`, the cosine of the angle between `E[v]` and
# `E[token_id]`: `E[v]·E[token_id] / (|E[v]| |E[token_id]|)` — shape `(vocab,)`. (A plain dot product is not enough:
# long rows would win just for being long.)
#
# `nearest_tokens(E, token_id, k)` returns the `k` ids with the highest cosine similarity to `token_id`, **most similar
# first**, and never `token_id` itself, as a list of Python `int`s. `k` may be as large as `vocab − 1` (every other
# token).

# %% nbgrader={"grade": false, "grade_id": "cosine_similarities", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cosine_similarities(E: torch.Tensor, token_id: int) -> torch.Tensor:
    """Cosine similarity between row token_id of E (vocab, d_model) and every row: shape (vocab,)."""
    ### BEGIN SOLUTION
    unit = E / E.norm(dim=1, keepdim=True)
    return unit @ unit[token_id]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cosine_self", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a row's cosine similarity with itself is 1, and all values lie in [-1, 1] (1 point)"""
_sims = cosine_similarities(E_model, 1360)
assert _sims.shape == (E_model.shape[0],) and abs(_sims[1360].item() - 1) < 1e-5
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(501)
for _ in range(5):
    _E = torch.randn(200, 16, generator=_g) * torch.rand(200, 1, generator=_g) * 10
    _t = int(torch.randint(0, 200, (), generator=_g))
    _s = cosine_similarities(_E, _t)
    expect_close(_s[_t].item(), 1.0, rtol=0.0, atol=1e-5, message="a row's cosine with itself is 1")
    expect_equal(bool(_s.abs().max() <= 1 + 1e-5), True, message="cosine similarity lies in [-1, 1]")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cosine_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""cosine_similarities matches the definition on random matrices (2 points)"""
_E = torch.tensor([[1.0, 0.0], [10.0, 0.0], [0.0, 3.0], [-2.0, 2.0]])
print(cosine_similarities(_E, 0))
assert torch.allclose(cosine_similarities(_E, 0), torch.tensor([1.0, 1.0, 0.0, -0.5 ** 0.5]), atol=1e-6)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(502)
for _ in range(6):
    _v, _d = int(torch.randint(2, 400, (), generator=_g)), int(torch.randint(2, 32, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g) * torch.rand(_v, 1, generator=_g) * 5
    _t = int(torch.randint(0, _v, (), generator=_g))
    ### BEGIN REFERENCE
    _ref = torch.nn.functional.cosine_similarity(_E, _E[_t].expand_as(_E), dim=1)
    ### END REFERENCE
    expect_close(cosine_similarities(_E, _t), _ref, atol=1e-5, message="compare directions, not lengths")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "nearest_tokens", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k token ids most cosine-similar to token_id (itself excluded), most similar first."""
    ### BEGIN SOLUTION
    sims = cosine_similarities(E, token_id).clone()
    sims[token_id] = -float("inf")
    return sims.topk(k).indices.tolist()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nearest_excludes_self", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""nearest_tokens returns k ids, never the token itself (1 point)"""
_france = tokenizer.encode(" France")[0]
_near = nearest_tokens(E_model, _france, 5)
print("nearest to ' France':", [tokenizer.decode([i]) for i in _near])
assert len(_near) == 5 and _france not in _near
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_cosine(E, token_id):
    _unit = E.double() / E.double().norm(dim=1, keepdim=True)
    return (_unit @ _unit[token_id]).to(E.dtype)


_g = torch.Generator().manual_seed(503)
with _hidden_substituted(cosine_similarities=_hidden_cosine):  # judged with the reference cosine
    for _ in range(5):
        _E = torch.randn(100, 8, generator=_g)
        _t, _k = int(torch.randint(0, 100, (), generator=_g)), int(torch.randint(1, 10, (), generator=_g))
        _near = nearest_tokens(_E, _t, _k)
        assert isinstance(_near, list) and all(type(_i) is int for _i in _near), "return a list of Python ints"
        expect_equal(len(_near), _k, message=f"{len(_near)} ids for k = {_k}")
        expect_equal(len(set(_near) - {_t}), _k, message="k different ids, not the token itself")
    for _t, _j in [(3, 40), (40, 3), (0, 99), (99, 0)]:
        _E = torch.randn(100, 8, generator=_g)
        _E[_j] = 2 * _E[_t]  # parallel to the token: cosine 1, exactly as the token's own
        _near = list(nearest_tokens(_E, _t, 3))
        expect_equal(_t in _near, False, message="the token itself is never its own neighbour")
        expect_equal(_near[0], _j, message="a row parallel to the token comes first")
    for _v in (2, 7, 30):  # k = vocab - 1: every other token, even those pointing away (negative cosine)
        _E = torch.randn(_v, 5, generator=_g)
        _t = int(torch.randint(0, _v, (), generator=_g))
        _near = list(nearest_tokens(_E, _t, _v - 1))
        expect_equal(sorted(_near), [_i for _i in range(_v) if _i != _t], message="k = vocab - 1 returns every other token")
    for _t, _j in [(0, 5), (5, 0)]:  # a row pointing exactly away: cosine exactly -1, still not the token itself
        _E = torch.randn(6, 4, generator=_g).abs() + 0.1
        _E[_t], _E[_j] = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([-2.0, 0.0, 0.0, 0.0])
        _near = list(nearest_tokens(_E, _t, 5))
        expect_equal(sorted(_near), [_i for _i in range(6) if _i != _t],
                     message="k = vocab - 1 with a row at cosine -1: every other token, never the token itself "
                             "(exclude it by its id)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_nearest_order", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""nearest_tokens ranks by cosine similarity, most similar first (1 point)"""
_E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [100.0, 60.0], [1.0, 0.1], [-1.0, 0.0]])
assert list(nearest_tokens(_E, 0, 2)) == [3, 2], "cosine: row 3 points almost the same way as row 0, row 2 is longer but further off"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


def _hidden_cosine(E, token_id):
    _unit = E / E.norm(dim=1, keepdim=True)
    return _unit @ _unit[token_id]


_g = torch.Generator().manual_seed(504)
for _ in range(6):
    _v, _d = int(torch.randint(10, 300, (), generator=_g)), int(torch.randint(2, 24, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g) * torch.rand(_v, 1, generator=_g) * 5
    _t, _k = int(torch.randint(0, _v, (), generator=_g)), int(torch.randint(1, 8, (), generator=_g))
    _s = _hidden_cosine(_E, _t)
    _s[_t] = -float("inf")
    with _hidden_substituted(cosine_similarities=_hidden_cosine):  # judged with the reference cosine
        _near = list(nearest_tokens(_E, _t, _k))
    expect_equal(_near, _s.topk(_k).indices.tolist(), message="wrong neighbours or wrong order")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 — do any two tokens collide? (2 points)
#
# The embedding keeps tokens apart only if no two rows of `E` are equal. Write `min_row_distance(E)`: the smallest
# Euclidean distance between two **different** rows of `E` (a row's distance to itself, 0, does not count). Return a
# Python `float`. `torch.cdist` helps.

# %% nbgrader={"grade": false, "grade_id": "min_row_distance", "locked": false, "schema_version": 3, "solution": true, "task": false}
def min_row_distance(E: torch.Tensor) -> float:
    """The smallest Euclidean distance between two different rows of E (vocab, d_model)."""
    ### BEGIN SOLUTION
    dist = torch.cdist(E, E)
    dist.fill_diagonal_(float("inf"))
    return dist.min().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_min_row_distance", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""min_row_distance finds the closest pair of different rows (2 points)"""
_E = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
assert abs(min_row_distance(_E) - 1.0) < 1e-6, "rows 0 and 2 are 1 apart"
print(f"bundled model: closest two token rows are {min_row_distance(E_model):.3f} apart")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(601)
for _ in range(5):
    _v, _d = int(torch.randint(3, 200, (), generator=_g)), int(torch.randint(2, 16, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _i, _j = torch.randperm(_v, generator=_g)[:2].tolist()
    _gap = 0.1 + 0.9 * float(torch.rand((), generator=_g))
    _E[_j] = _E[_i] + _gap / _d ** 0.5
    ### BEGIN REFERENCE
    _dist = torch.cdist(_E.double(), _E.double())
    _dist.fill_diagonal_(float("inf"))
    ### END REFERENCE
    expect_close(min_row_distance(_E), _dist.min().item(), rtol=0.0, atol=1e-3, message="wrong smallest distance")
_E = torch.randn(20, 4, generator=_g)
_E[7] = _E[3]
expect_close(min_row_distance(_E), 0.0, rtol=0.0, atol=1e-3, message="two equal rows: distance 0")
_g = torch.Generator().manual_seed(602)
for _ in range(2):  # a scaled table: every two rows are more than 1 apart (7 to 11 here)
    _E = 10 * torch.randn(40, 6, generator=_g)
    ### BEGIN REFERENCE
    _dist = torch.cdist(_E.double(), _E.double())
    _dist.fill_diagonal_(float("inf"))
    ### END REFERENCE
    expect_close(min_row_distance(_E), _dist.min().item(), rtol=1e-5, atol=1e-3,
                 message="wrong smallest distance for rows far apart (more than 1)")
assert type(min_row_distance(_E)) is float, "return a Python float (.item()), not a tensor"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 — the gradient that reaches `E` (3 points)
#
# Lesson 06 trains `E`. In the backward pass the lookup `out = E[ids]` receives `grad_out` = ∂L/∂out (the shape of
# `out`, `(..., d_model)`) and must hand back ∂L/∂E, shape `(vocab, d_model)`. Flatten the ids to `(N,)` and the
# gradient to `(N, d_model)`: since `out = one_hot(ids) @ E`,
#
# $$\frac{\partial L}{\partial E} = \mathrm{one\_hot}(\mathrm{ids})^{\top}\, \frac{\partial L}{\partial\,\mathrm{out}},$$
#
# so row `v` of ∂L/∂E is the **sum** of `grad_out` over every position where `ids == v` (a token that occurs twice
# gets both contributions), and zero for a token that does not occur.
#
# Write `embedding_grad(ids, grad_out, vocab)` for `ids` of any shape `(...)` and `grad_out` of shape
# `(..., d_model)`; either may be non-contiguous (a gradient that went through a transpose, say). Return a tensor of
# `grad_out`'s dtype (the hidden tests use float32 and float64).
# **Not allowed**: autograd (`Tensor.backward`, `torch.autograd.grad`, `torch.autograd.backward`, `torch.func.vjp`,
# `torch.func.grad`, or any operation on a tensor that requires grad): the test computes its reference with it, and
# these raise while the hidden tests call your function. Allowed: `torch.zeros`, `Tensor.index_add_`, `one_hot` (then mind its float32 dtype), `reshape`, matmul.

# %% nbgrader={"grade": false, "grade_id": "embedding_grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids], given ids (...,) and grad_out = dL/dout (..., d_model)."""
    ### BEGIN SOLUTION
    d_model = grad_out.shape[-1]
    grad = torch.zeros(vocab, d_model, dtype=grad_out.dtype)
    return grad.index_add_(0, ids.reshape(-1), grad_out.reshape(-1, d_model))  # (vocab, d_model)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_embedding_grad_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""embedding_grad has E's shape, (vocab, d_model), for ids of any shape (1 point)"""
assert embedding_grad(torch.tensor([[1, 2], [2, 3]]), torch.ones(2, 2, 4), 5).shape == (5, 4), "one row per token"
_ids = torch.tensor(tokenizer.encode("The capital of France is Paris."))
_grad = embedding_grad(_ids, torch.randn(len(_ids), E_model.shape[1]), E_model.shape[0])
print(f"rows of E_model that this sentence moves: {int((_grad.abs().sum(1) > 0).sum())} of {E_model.shape[0]}")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(701)
for _shape in [(1,), (9,), (3, 4), (2, 3, 2)]:
    _v, _d = int(torch.randint(2, 50, (), generator=_g)), int(torch.randint(1, 9, (), generator=_g))
    _ids = torch.randint(0, _v, _shape, generator=_g)
    _out = embedding_grad(_ids, torch.randn(*_shape, _d, generator=_g), _v)
    expect_equal(tuple(_out.shape), (_v, _d),
                 message=f"ids of shape {_shape}, vocab {_v}, d_model {_d}: expected {(_v, _d)}")
    _absent = torch.ones(_v, dtype=torch.bool)
    _absent[_ids.reshape(-1)] = False
    expect_equal(_out[_absent], torch.zeros(int(_absent.sum()), _d),
                 message="a token that does not occur gets a zero gradient row")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embedding_grad_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""embedding_grad equals autograd's gradient; repeated ids add up (2 points)"""
_ids = torch.tensor([2, 0, 2])
_grad_out = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
print(embedding_grad(_ids, _grad_out, 3))
assert torch.equal(embedding_grad(_ids, _grad_out, 3), torch.tensor([[0.0, 1.0], [0.0, 0.0], [11.0, 10.0]])), \
    "token 2 occurs twice: its row is the sum of both gradient rows"
### BEGIN HIDDEN TESTS
from utils.rules import forbidden as _hidden_forbidden

_HIDDEN_RULES = ("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward", "torch.func.vjp",
                 "torch.func.grad", "torch.ops.aten.embedding_dense_backward", "torch.ops.aten.embedding_backward",
                 "torch._decomp.decompositions.embedding_dense_backward", "torch.func.jacfwd",
                 "torch.autograd.forward_ad.make_dual")
_g = torch.Generator().manual_seed(702)
for _shape, _dtype in [((12,), torch.float32), ((4, 6), torch.float64), ((2, 3, 5), torch.float32),
                       ((30,), torch.float64)]:
    _v, _d = int(torch.randint(2, 12, (), generator=_g)), int(torch.randint(1, 9, (), generator=_g))
    _ids = torch.randint(0, _v, _shape, generator=_g)  # few tokens, many positions: repeats are certain
    _grad_out = torch.randn(*_shape, _d, generator=_g, dtype=_dtype)
    _E = torch.randn(_v, _d, generator=_g, dtype=_dtype, requires_grad=True)
    ### BEGIN REFERENCE
    (_want,) = torch.autograd.grad(_E[_ids], _E, grad_outputs=_grad_out)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, no_autograd=True):
        _got = embedding_grad(_ids, _grad_out, _v)
    expect_equal(str(_got.dtype), str(_dtype), message=f"grad_out is {_dtype}: return the same dtype, got {_got.dtype}")
    _tol = 1e-10 if _dtype == torch.float64 else 1e-5  # float64 in, float64 precision out: no float32 detour
    expect_close(_got, _want,
                 rtol=_tol, atol=_tol, message=f"wrong gradient for ids of shape {_shape} ({_dtype}): do repeats add up?")
for _shape in [(3, 4), (2, 3, 5)]:  # ids and grad_out that went through a transpose: not contiguous
    _v, _d = int(torch.randint(2, 12, (), generator=_g)), int(torch.randint(2, 9, (), generator=_g))
    _ids = torch.randint(0, _v, _shape[::-1], generator=_g).transpose(0, -1)
    _grad_out = torch.randn(*_shape[::-1], _d, generator=_g).transpose(0, -2)
    _E = torch.randn(_v, _d, generator=_g, requires_grad=True)
    ### BEGIN REFERENCE
    (_want,) = torch.autograd.grad(_E[_ids], _E, grad_outputs=_grad_out)
    ### END REFERENCE
    with _hidden_forbidden(*_HIDDEN_RULES, no_autograd=True):
        _got = embedding_grad(_ids, _grad_out, _v)
    expect_close(_got, _want, rtol=1e-5, atol=1e-5,
                 message=f"wrong gradient for transposed (non-contiguous) ids and grad_out of shape {_shape}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex5_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 5 — experiment: does the metric change the neighbours? (4 points)
#
# Lesson 02 ranked neighbours by cosine similarity. The other natural choice is the Euclidean distance
# `|E[v] − E[t]|`, smallest first. Do the two agree?
#
# Write `neighbour_overlap(E, token_ids, k)`: for each `t` in `token_ids`, take its `k` cosine neighbours (your
# `nearest_tokens`) and its `k` Euclidean neighbours (`t` itself excluded from both lists, by its id: another token
# whose row equals `t`'s is a neighbour like any other, at distance 0), count the ids the two lists share and divide
# by `k`; return the **mean over `token_ids`**, a Python `float` in `[0, 1]`.
#
# Then measure, for the `probe_ids` below and `k = 10`:
# - `overlap_raw`: the overlap on the bundled model's rows `E_model`;
# - `overlap_unit`: the overlap on the same rows scaled to length 1.
#
# Graded: your function on fresh random matrices, within **0.02** of the reference (float rounding may swap two
# neighbours that are tied to the last digit; a real mistake moves the mean by far more); and both numbers
# **exactly**, to float rounding (about 1e-6): each is a count of shared neighbours divided by 26 · 10, and no probe's
# 10th and 11th neighbours come close to a tie (the closest call is a cosine gap of 1.6e-5, several times what
# float32 rounding can move), so every correct computation finds the same neighbours. Do not round them.
# Afterwards, explain `overlap_unit` to yourself: expand `|a − b|²` for unit vectors `a`, `b`.

# %% nbgrader={"grade": false, "grade_id": "probe", "locked": true, "schema_version": 3, "solution": false, "task": false}
probe_words = ["France", "Germany", "Spain", "Italy", "Japan", "China", "Paris", "Berlin", "Madrid", "Rome", "Tokyo",
               "Hydrogen", "Oxygen", "Carbon", "Iron", "Gold", "English", "French", "Spanish", "German", "Africa",
               "Europe", "Asia", "capital", "currency", "language"]
probe_ids = [tokenizer.encode(" " + w)[0] for w in probe_words]  # each word is one token
E_unit = E_model / E_model.norm(dim=1, keepdim=True)  # the same rows, length 1


# %% nbgrader={"grade": false, "grade_id": "neighbour_overlap", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    """Mean over token_ids of |cosine top-k ∩ Euclidean top-k| / k, the token itself excluded from both lists."""
    ### BEGIN SOLUTION
    shares = []
    for t in token_ids:
        by_cosine = set(nearest_tokens(E, t, k))
        dist = (E - E[t]).norm(dim=1)  # (vocab,)
        dist[t] = float("inf")
        by_distance = set((-dist).topk(k).indices.tolist())
        shares.append(len(by_cosine & by_distance) / k)
    return sum(shares) / len(shares)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "measure_overlap", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
overlap_raw = neighbour_overlap(E_model, probe_ids, 10)
overlap_unit = neighbour_overlap(E_unit, probe_ids, 10)
### END SOLUTION
print(f"cosine and Euclidean neighbours shared: {overlap_raw:.2f} on the raw rows, {overlap_unit:.2f} on unit rows")


# %% nbgrader={"grade": true, "grade_id": "test_overlap_function", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""neighbour_overlap matches the definition on random matrices (2 points)"""
_E = torch.tensor([[1.0, 0.0], [0.1, 0.0], [10.0, 1.0], [-1.0, 0.0]])
# row 0: cosine neighbour row 1 (same direction), Euclidean neighbour row 1 too (0.9 away): overlap 1
assert abs(neighbour_overlap(_E, [0], 1) - 1.0) < 1e-6
# row 3 = (-1, 0): cosine neighbour row 2 (the least opposite direction), Euclidean neighbour the short row 1
assert abs(neighbour_overlap(_E, [3], 1) - 0.0) < 1e-6, "row 3: cosine picks row 2, distance picks row 1"
assert type(neighbour_overlap(_E, [0, 3], 1)) is float, "return a Python float"
### BEGIN HIDDEN TESTS
from utils.rules import substituted as _hidden_substituted


### BEGIN REFERENCE
def _hidden_overlap(E, token_ids, k):
    _E = E.double()
    _unit = _E / _E.norm(dim=1, keepdim=True)
    _shares = []
    for _t in token_ids:
        _cos = _unit @ _unit[_t]
        _cos[_t] = -float("inf")
        _dist = torch.cdist(_E[_t][None], _E)[0]
        _dist[_t] = float("inf")
        _shared = set(_cos.topk(k).indices.tolist()) & set((-_dist).topk(k).indices.tolist())
        _shares.append(len(_shared) / k)
    return sum(_shares) / len(_shares)


### END REFERENCE
def _hidden_cosine(E, token_id):
    _unit = E / E.norm(dim=1, keepdim=True)
    return _unit @ _unit[token_id]


def _hidden_nearest(E, token_id, k):
    _sims = _hidden_cosine(E, token_id)
    _sims[token_id] = -float("inf")
    return _sims.topk(k).indices.tolist()


_g = torch.Generator().manual_seed(801)
for _ in range(4):
    _v, _d = int(torch.randint(30, 200, (), generator=_g)), int(torch.randint(3, 16, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g) * (0.2 + 3 * torch.rand(_v, 1, generator=_g))  # lengths vary 15x
    _ids = torch.randperm(_v, generator=_g)[:12].tolist()
    _k = int(torch.randint(2, 9, (), generator=_g))
    ### BEGIN REFERENCE
    _want = _hidden_overlap(_E, _ids, _k)
    ### END REFERENCE
    with _hidden_substituted(nearest_tokens=_hidden_nearest, cosine_similarities=_hidden_cosine):
        _got = neighbour_overlap(_E, _ids, _k)
    assert type(_got) is float, "return a Python float"
    expect_close(_got, _want, rtol=0.0, atol=0.02, message=f"overlap {_got:.3f} is off by more than 0.02 (vocab {_v}, k {_k})")
_g = torch.Generator().manual_seed(802)
for _ in range(3):  # token 0 of _ids has two other tokens with its very row: its nearest neighbours in both lists
    _E = torch.randn(40, 5, generator=_g) * (0.2 + 3 * torch.rand(40, 1, generator=_g))
    _perm = torch.randperm(40, generator=_g).tolist()
    _E[_perm[1:3]] = _E[_perm[0]].clone()
    _ids, _k = [_perm[0], *_perm[3:6]], int(torch.randint(3, 6, (), generator=_g))
    ### BEGIN REFERENCE
    _want = _hidden_overlap(_E, _ids, _k)
    ### END REFERENCE
    with _hidden_substituted(nearest_tokens=_hidden_nearest, cosine_similarities=_hidden_cosine):
        _got = neighbour_overlap(_E, _ids, _k)
    expect_close(_got, _want, rtol=0.0, atol=0.02,
                 message=f"overlap {_got:.3f} with duplicated rows: exclude t by its id, not every row at distance 0")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_overlap_measured", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""overlap_raw and overlap_unit measured on the bundled model, exactly (to float rounding) (2 points)"""
assert 0 <= overlap_raw <= 1 and 0 <= overlap_unit <= 1, "overlaps are fractions"
### BEGIN HIDDEN TESTS
### BEGIN REFERENCE
def _hidden_overlap(E, token_ids, k):
    _E = E.double()
    _unit = _E / _E.norm(dim=1, keepdim=True)
    _shares = []
    for _t in token_ids:
        _cos = _unit @ _unit[_t]
        _cos[_t] = -float("inf")
        _dist = torch.cdist(_E[_t][None], _E)[0]
        _dist[_t] = float("inf")
        _shared = set(_cos.topk(k).indices.tolist()) & set((-_dist).topk(k).indices.tolist())
        _shares.append(len(_shared) / k)
    return sum(_shares) / len(_shares)


_E = model.transformer.wte.weight.detach()
_ids = [tokenizer.encode(" " + _w)[0] for _w in probe_words]
_raw, _unit_rows = _hidden_overlap(_E, _ids, 10), _hidden_overlap(_E / _E.norm(dim=1, keepdim=True), _ids, 10)
### END REFERENCE
from utils.numerics import tolerance as _hidden_tolerance

# Each number is (shared neighbours) / 260: the sets are exact (no probe's 10th and 11th neighbours are closer than
# a cosine gap of 1.6e-5 or a relative distance gap of 1.2e-5, several times the float32 rounding of a 256-term dot
# product), so the only rounding left is that of the mean of 26 shares, a number at most 1.
_tol = _hidden_tolerance(1.0, 26)
expect_close(float(overlap_raw), _raw, rtol=0.0, atol=_tol,
             message=f"overlap_raw {float(overlap_raw)!r} is not the exact overlap (k = 10, not rounded)")
expect_close(float(overlap_unit), _unit_rows, rtol=0.0, atol=_tol,
             message=f"overlap_unit {float(overlap_unit)!r} is not the exact overlap (k = 10, not rounded)")
### END HIDDEN TESTS


# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# You now have the tools of lesson 02. Try `nearest_tokens(E_model, tokenizer.encode(" Hydrogen")[0], 5)` and decode
# the ids: what did the model learn about chemical elements from statements alone?
