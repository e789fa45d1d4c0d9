"""Correct but unusual answers to lab02_embeddings: full marks each (tests/test_labs.py)."""


# %% [embed] index_select on the flattened ids, then the shape back
def embed(ids, E):
    return E.index_select(0, ids.reshape(-1)).reshape(*ids.shape, E.shape[1])


# %% [nearest_tokens] a full sort, then a Python filter that drops the token by its id (not by its value)
def nearest_tokens(E, token_id, k):
    order = torch.argsort(cosine_similarities(E, token_id), descending=True, stable=True).tolist()
    return [int(i) for i in order if i != token_id][:k]


# %% [embedding_grad] one_hot(ids)^T @ grad_out, in grad_out's dtype
def embedding_grad(ids, grad_out, vocab):
    flat = ids.reshape(-1)
    return one_hot(flat, vocab).to(grad_out.dtype).T @ grad_out.reshape(len(flat), -1)


# %% [neighbour_overlap] squared distances by cdist, and a loop of sets
def neighbour_overlap(E, token_ids, k):
    total = 0.0
    for t in token_ids:
        d2 = torch.cdist(E[t:t + 1], E)[0] ** 2
        d2[t] = float("inf")
        by_distance = set(torch.argsort(d2)[:k].tolist())
        total += len(by_distance.intersection(nearest_tokens(E, t, k))) / k
    return total / len(token_ids)


# %% [cosine_similarities] torch.nn.functional.cosine_similarity against the row broadcast to every row (not forbidden)
def cosine_similarities(E, token_id):
    return torch.nn.functional.cosine_similarity(E, E[token_id].unsqueeze(0), dim=1)


# %% [nearest_tokens] top k + 1, then drop the token by its id (or the last one if the token is not among them)
def nearest_tokens(E, token_id, k):
    ids = cosine_similarities(E, token_id).topk(k + 1).indices.tolist()
    if token_id in ids:
        ids.remove(token_id)
    return ids[:k]


# %% [min_row_distance] torch.pdist: the distances of all different pairs, no diagonal to hide
def min_row_distance(E):
    return float(torch.pdist(E).min())


# %% [embedding_grad] a loop over the distinct ids: each row is the sum of grad_out over the positions of that id
def embedding_grad(ids, grad_out, vocab):
    d_model = grad_out.shape[-1]
    flat_ids, flat_grad = ids.reshape(-1), grad_out.reshape(-1, d_model)
    grad = torch.zeros(vocab, d_model, dtype=grad_out.dtype)
    for v in flat_ids.unique().tolist():
        grad[v] = flat_grad[flat_ids == v].sum(0)
    return grad


# %% [embedding_grad] scatter_add_ with the ids broadcast over d_model
def embedding_grad(ids, grad_out, vocab):
    d_model = grad_out.shape[-1]
    index = ids.reshape(-1, 1).expand(-1, d_model)
    return torch.zeros(vocab, d_model, dtype=grad_out.dtype).scatter_add_(0, index, grad_out.reshape(-1, d_model))


# %% [embed] one_hot(flat ids) @ E, reshaped: the route the exercise suggests (float32 E, as every test uses)
def embed(ids, E):
    flat = ids.reshape(-1)
    return (one_hot(flat, E.shape[0]) @ E).reshape(*ids.shape, E.shape[1])


# %% [embed] one_hot of the flattened ids times E, in E's dtype, reshaped back (the spec's own formula, any shape)
def embed(ids, E):
    flat = ids.reshape(-1)
    return (one_hot(flat, E.shape[0]).to(E.dtype) @ E).reshape(*ids.shape, E.shape[1])


# %% [embed] through numpy fancy indexing, back to a torch tensor
def embed(ids, E):
    import numpy as np
    return torch.from_numpy(np.ascontiguousarray(E.detach().numpy()[ids.numpy()]))


# %% [embed] torch.take_along_dim / index_select on a contiguous copy, then view
def embed(ids, E):
    flat = ids.contiguous().view(-1)
    return torch.index_select(E, 0, flat).view(*ids.shape, E.shape[1])


# %% [min_row_distance] Gram-matrix formula in float64, clamp, sqrt, the diagonal masked with torch.where
def min_row_distance(E):
    X = E.double()
    sq = (X * X).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * X @ X.T).clamp_min(0)
    eye = torch.eye(len(X), dtype=torch.bool)
    return torch.where(eye, torch.full_like(d2, float("inf")), d2).min().sqrt().item()


# %% [min_row_distance] torch.pdist (every pair once), float
def min_row_distance(E):
    return float(torch.pdist(E).min())


# %% [min_row_distance] a plain double loop over pairs with math.dist
def min_row_distance(E):
    import math
    rows = E.tolist()
    best = math.inf
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            best = min(best, math.dist(rows[i], rows[j]))
    return float(best)


# %% [embedding_grad] numpy's np.add.at on a float64 buffer, cast back to grad_out's dtype
def embedding_grad(ids, grad_out, vocab):
    import numpy as np
    d = grad_out.shape[-1]
    g = np.zeros((vocab, d), dtype=np.float64)
    np.add.at(g, ids.numpy().ravel(), grad_out.numpy().reshape(-1, d).astype(np.float64))
    return torch.from_numpy(g).to(grad_out.dtype)


# %% [embedding_grad] index_put_ with accumulate=True
def embedding_grad(ids, grad_out, vocab):
    d = grad_out.shape[-1]
    g = grad_out.new_zeros(vocab, d)
    return g.index_put_((ids.flatten(),), grad_out.flatten(0, -2), accumulate=True)


# %% [embedding_grad] scatter_add_ with an expanded index; einsum not needed
def embedding_grad(ids, grad_out, vocab):
    d = grad_out.shape[-1]
    src = grad_out.reshape(-1, d)
    idx = ids.reshape(-1, 1).expand(-1, d)
    return torch.zeros(vocab, d, dtype=grad_out.dtype).scatter_add_(0, idx, src)


# %% [embedding_grad] einsum of one_hot (cast) and the gradient
def embedding_grad(ids, grad_out, vocab):
    oh = one_hot(ids.reshape(-1), vocab).to(grad_out.dtype)
    return torch.einsum("nv,nd->vd", oh, grad_out.reshape(-1, grad_out.shape[-1]))


# %% [neighbour_overlap] float64 squared distances by the Gram expansion; stable argsort; exact fraction sum
def neighbour_overlap(E, token_ids, k):
    from fractions import Fraction
    X = E.double()
    sq = (X * X).sum(1)
    total = Fraction(0)
    for t in token_ids:
        d2 = sq + sq[t] - 2 * X @ X[t]
        d2[t] = float("inf")
        by_distance = set(torch.argsort(d2, stable=True)[:k].tolist())
        total += Fraction(len(by_distance & set(nearest_tokens(E, t, k))), k)
    return float(total / len(token_ids))


# %% [neighbour_overlap] total shared count over k * n (one division), distances by torch.where mask
def neighbour_overlap(E, token_ids, k):
    shared = 0
    idx = torch.arange(E.shape[0])
    for t in token_ids:
        dist = torch.linalg.vector_norm(E - E[t], dim=1)
        dist = torch.where(idx == t, torch.tensor(float("inf")), dist)
        shared += len(set(torch.topk(dist, k, largest=False).indices.tolist()) & set(nearest_tokens(E, t, k)))
    return shared / (k * len(token_ids))


# %% [measure_overlap] unit rows by F.normalize instead of E_unit, numbers from float64 rows
overlap_raw = neighbour_overlap(E_model.double(), probe_ids, 10)
overlap_unit = neighbour_overlap(torch.nn.functional.normalize(E_model, dim=1), probe_ids, 10)
