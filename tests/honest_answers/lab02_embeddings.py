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
