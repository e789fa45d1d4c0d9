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
