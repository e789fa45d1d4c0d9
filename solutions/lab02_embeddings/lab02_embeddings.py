# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Lab 02 — embeddings
#
# Lesson 02 showed that `one_hot(ids) @ E` is just the row lookup `E[ids]`, that tokens stay distinguishable because
# the rows of `E` differ (not because the map is linear), and that trained embeddings put similar tokens close together.
# Here you write those tools and use them on the bundled model.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Visible tests show some checks; hidden checks run at grading time on fresh random matrices and shapes.
# - Before you submit: *Kernel → Restart & Run All*.
#
# Time: about 30 minutes. Points: 10.

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
# Write `embed(ids, E)`: for an integer tensor `ids` of **any shape** `(...)` (one sequence `(T,)`, a batch `(B, T)`, …)
# and an embedding matrix `E` of shape `(vocab, d_model)`, return the tensor of shape `(..., d_model)` whose entry at
# `ids`' position is that token's row of `E`. It must equal `one_hot(ids) @ E` for a 1-D `ids`.

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
_g = torch.Generator().manual_seed(401)
for _ in range(8):
    _v, _d = int(torch.randint(2, 500, (), generator=_g)), int(torch.randint(1, 40, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _ids = torch.randint(0, _v, (int(torch.randint(1, 30, (), generator=_g)),), generator=_g)
    assert torch.allclose(embed(_ids, _E), one_hot(_ids, _v) @ _E, atol=1e-5), "rows of E, in the order of ids"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embed_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""embed keeps the shape of ids and appends d_model (2 points)"""
_batch = torch.tensor([[1, 2, 3], [3, 2, 1]])
assert embed(_batch, E_model).shape == (2, 3, E_model.shape[1]), "a (B, T) batch of ids gives (B, T, d_model)"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(402)
for _shape in [(4, 7), (2, 3, 5), (1, 1)]:
    _v, _d = int(torch.randint(2, 300, (), generator=_g)), int(torch.randint(1, 20, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g)
    _ids = torch.randint(0, _v, _shape, generator=_g)
    _out = embed(_ids, _E)
    assert _out.shape == (*_shape, _d), f"ids of shape {_shape} must give {(*_shape, _d)}"
    _flat = _ids.reshape(-1)
    assert torch.allclose(_out.reshape(-1, _d), one_hot(_flat, _v) @ _E, atol=1e-5), "wrong rows in a batch"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_instructions", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 — cosine similarity and nearest neighbours (5 points)
#
# `cosine_similarities(E, token_id)` returns, for every row `v` of `E`, the cosine of the angle between `E[v]` and
# `E[token_id]`: `E[v]·E[token_id] / (|E[v]| |E[token_id]|)` — shape `(vocab,)`. (A plain dot product is not enough:
# long rows would win just for being long.)
#
# `nearest_tokens(E, token_id, k)` returns the `k` ids with the highest cosine similarity to `token_id`, **most similar
# first**, and never `token_id` itself.

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
    assert abs(_s[_t].item() - 1) < 1e-5 and _s.abs().max() <= 1 + 1e-5, "cosine similarity lies in [-1, 1]"
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
    _ref = torch.nn.functional.cosine_similarity(_E, _E[_t].expand_as(_E), dim=1)
    assert torch.allclose(cosine_similarities(_E, _t), _ref, atol=1e-5), "compare directions, not lengths"
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
_g = torch.Generator().manual_seed(503)
for _ in range(5):
    _E = torch.randn(100, 8, generator=_g)
    _t, _k = int(torch.randint(0, 100, (), generator=_g)), int(torch.randint(1, 10, (), generator=_g))
    _near = list(nearest_tokens(_E, _t, _k))
    assert len(_near) == _k and _t not in _near and len(set(_near)) == _k, "k different ids, not the token itself"
for _t, _j in [(3, 40), (40, 3), (0, 99), (99, 0)]:
    _E = torch.randn(100, 8, generator=_g)
    _E[_j] = 2 * _E[_t]  # parallel to the token: cosine 1, exactly as the token's own
    _near = list(nearest_tokens(_E, _t, 3))
    assert _t not in _near and _near[0] == _j, "a row parallel to the token comes first; the token itself never"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_nearest_order", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""nearest_tokens ranks by cosine similarity, most similar first (1 point)"""
_E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [100.0, 60.0], [1.0, 0.1], [-1.0, 0.0]])
assert list(nearest_tokens(_E, 0, 2)) == [3, 2], "cosine: row 3 points almost the same way as row 0, row 2 is longer but further off"
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(504)
for _ in range(6):
    _v, _d = int(torch.randint(10, 300, (), generator=_g)), int(torch.randint(2, 24, (), generator=_g))
    _E = torch.randn(_v, _d, generator=_g) * torch.rand(_v, 1, generator=_g) * 5
    _t, _k = int(torch.randint(0, _v, (), generator=_g)), int(torch.randint(1, 8, (), generator=_g))
    _s = torch.nn.functional.cosine_similarity(_E, _E[_t].expand_as(_E), dim=1)
    _s[_t] = -float("inf")
    assert list(nearest_tokens(_E, _t, _k)) == _s.topk(_k).indices.tolist(), "wrong neighbours or wrong order"
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
    _dist = torch.cdist(_E.double(), _E.double())
    _dist.fill_diagonal_(float("inf"))
    assert abs(min_row_distance(_E) - _dist.min().item()) < 1e-3, "wrong smallest distance"
_E = torch.randn(20, 4, generator=_g)
_E[7] = _E[3]
assert min_row_distance(_E) < 1e-3, "two equal rows: distance 0"
assert type(min_row_distance(_E)) is float, "return a Python float (.item()), not a tensor"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "done", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Done
#
# You now have the tools of lesson 02. Try `nearest_tokens(E_model, tokenizer.encode(" Hydrogen")[0], 5)` and decode
# the ids: what did the model learn about chemical elements from statements alone?
