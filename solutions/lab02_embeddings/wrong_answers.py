"""Plausible-but-wrong answers to lab02_embeddings: never released; tests/test_labs.py proves each one loses points.

Each `# %% [<grade_id>] <name>` line starts a cell that replaces the solution cell <grade_id> for the wrong
answer <name>; the rest of the notebook keeps the reference solution. Cells run in the lab notebook, so names
come from its earlier cells.
"""


# %% [embed] looks up columns, as in the seed's vocab x seq picture
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """The embeddings of token ids."""
    return E[:, ids].T


# %% [embed] one_hot(ids) @ E: only works for a single 1-D sequence
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """The embeddings of token ids."""
    return one_hot(ids, E.shape[0]) @ E


# %% [cosine_similarities] dot product instead of cosine
def cosine_similarities(E: torch.Tensor, token_id: int) -> torch.Tensor:
    """Similarity between row token_id and every row."""
    return E @ E[token_id]


# %% [nearest_tokens] nearest list includes the token itself
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k most similar token ids."""
    return cosine_similarities(E, token_id).topk(k).indices.tolist()


# %% [nearest_tokens] nearest sorted least similar first
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k most similar token ids."""
    sims = cosine_similarities(E, token_id).clone()
    sims[token_id] = -float("inf")
    return sorted(sims.topk(k).indices.tolist(), key=lambda i: sims[i].item())


# %% [min_row_distance] forgets to exclude a row's distance to itself
def min_row_distance(E: torch.Tensor) -> float:
    """The smallest distance between two rows of E."""
    return torch.cdist(E, E).min().item()


# %% [nearest_tokens] skips the first hit, assuming it is the token itself
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k token ids most cosine-similar to token_id (itself excluded), most similar first."""
    return cosine_similarities(E, token_id).topk(k + 1).indices[1:].tolist()


# %% [min_row_distance] returns a 0-d tensor, not a float
def min_row_distance(E: torch.Tensor) -> float:
    """The smallest Euclidean distance between two different rows of E (vocab, d_model)."""
    dist = torch.cdist(E, E)
    dist.fill_diagonal_(float("inf"))
    return dist.min()


# %% [nearest_tokens] sets the token's own similarity to 0 instead of -inf (it returns when the others point away)
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k token ids most cosine-similar to token_id (itself excluded), most similar first."""
    sims = cosine_similarities(E, token_id).clone()
    sims[token_id] = 0.0
    return sims.topk(k).indices.tolist()


# %% [nearest_tokens] returns the tensor of ids, not a list of ints
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    """The k token ids most cosine-similar to token_id (itself excluded), most similar first."""
    sims = cosine_similarities(E, token_id).clone()
    sims[token_id] = -float("inf")
    return sims.topk(k).indices


# %% [embedding_grad] writes the gradient rows with an assignment: a repeated token keeps only its last row
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids]."""
    d_model = grad_out.shape[-1]
    grad = torch.zeros(vocab, d_model, dtype=grad_out.dtype)
    grad[ids.reshape(-1)] = grad_out.reshape(-1, d_model)
    return grad


# %% [embedding_grad] asks autograd for the gradient, which the exercise forbids
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids]."""
    E = torch.zeros(vocab, grad_out.shape[-1], dtype=grad_out.dtype, requires_grad=True)
    E[ids].backward(grad_out)
    return E.grad


# %% [embedding_grad] runs autograd's engine itself (Variable._execution_engine), which the exercise forbids
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids]."""
    from torch.autograd.variable import Variable

    E = torch.zeros(vocab, grad_out.shape[-1], dtype=grad_out.dtype, requires_grad=True)
    return Variable._execution_engine.run_backward((E[ids],), (grad_out,), False, False, (E,), False)[0]


# %% [embedding_grad] one_hot(ids).T @ grad_out, left in one_hot's float32
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids]."""
    d_model = grad_out.shape[-1]
    return one_hot(ids.reshape(-1), vocab).T @ grad_out.reshape(-1, d_model).float()


# %% [embedding_grad] returns grad_out itself: the gradient of the lookup's output, not of E
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    """dL/dE (vocab, d_model) of out = E[ids]."""
    return grad_out.reshape(-1, grad_out.shape[-1])


# %% [neighbour_overlap] keeps the token itself in the Euclidean list (its distance 0 wins)
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    """Mean over token_ids of |cosine top-k ∩ Euclidean top-k| / k."""
    shares = []
    for t in token_ids:
        by_cosine = set(nearest_tokens(E, t, k))
        dist = (E - E[t]).norm(dim=1)
        by_distance = set((-dist).topk(k).indices.tolist())
        shares.append(len(by_cosine & by_distance) / k)
    return sum(shares) / len(shares)


# %% [neighbour_overlap] ranks by the dot product instead of the Euclidean distance
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    """Mean over token_ids of |cosine top-k ∩ Euclidean top-k| / k."""
    shares = []
    for t in token_ids:
        by_cosine = set(nearest_tokens(E, t, k))
        dots = E @ E[t]
        dots[t] = -float("inf")
        shares.append(len(by_cosine & set(dots.topk(k).indices.tolist())) / k)
    return sum(shares) / len(shares)


# %% [neighbour_overlap] returns the mean count of shared ids, not the fraction of k
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    """Mean over token_ids of |cosine top-k ∩ Euclidean top-k| / k."""
    counts = []
    for t in token_ids:
        dist = torch.cdist(E[t][None], E)[0]
        dist[t] = float("inf")
        counts.append(len(set(nearest_tokens(E, t, k)) & set((-dist).topk(k).indices.tolist())))
    return sum(counts) / len(counts)


# %% [neighbour_overlap] hard-codes the printed numbers and the function, copied from a classmate
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    """Mean over token_ids of |cosine top-k ∩ Euclidean top-k| / k."""
    return 0.5


# %% [measure_overlap] hard-codes the printed numbers and the function, copied from a classmate
overlap_raw = 0.5
overlap_unit = 1.0


# %% [measure_overlap] measures overlap_unit on the raw rows again (forgets to normalise)
overlap_raw = neighbour_overlap(E_model, probe_ids, 10)
overlap_unit = neighbour_overlap(E_model, probe_ids, 10)


# %% [embed] torch.nn.functional.embedding, the library's lookup, which the exercise forbids
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.embedding(ids, E)


# %% [nearest_tokens] excludes the token with a similarity of -1: a row at cosine exactly -1 ties with it
def nearest_tokens(E: torch.Tensor, token_id: int, k: int) -> list[int]:
    sims = cosine_similarities(E, token_id).clone()
    sims[token_id] = -1.0
    return sims.topk(k).indices.tolist()


# %% [embedding_grad] one_hot(ids).T @ grad_out computed in float32, then cast back (float64 precision lost)
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    d_model = grad_out.shape[-1]
    grad = one_hot(ids.reshape(-1), vocab).T @ grad_out.reshape(-1, d_model).float()
    return grad.to(grad_out.dtype)


# %% [embed] stacks the rows in a Python loop: torch.stack of an empty list raises for an empty sequence
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    rows = torch.stack([E[i] for i in ids.reshape(-1).tolist()])
    return rows.reshape(*ids.shape, E.shape[1])


# %% [embed] flattens with .view: raises for non-contiguous ids (a transposed batch)
def embed(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    return E[ids.view(-1)].view(*ids.shape, E.shape[1])


# %% [min_row_distance] hides the diagonal by adding the identity (a 1 there, not infinity): capped at 1
def min_row_distance(E: torch.Tensor) -> float:
    dist = torch.cdist(E, E) + torch.eye(E.shape[0])
    return dist.min().item()


# %% [embedding_grad] flattens grad_out with .view: raises for a non-contiguous gradient (one that went through a transpose)
def embedding_grad(ids: torch.Tensor, grad_out: torch.Tensor, vocab: int) -> torch.Tensor:
    d_model = grad_out.shape[-1]
    grad = torch.zeros(vocab, d_model, dtype=grad_out.dtype)
    return grad.index_add_(0, ids.view(-1), grad_out.view(-1, d_model))


# %% [neighbour_overlap] excludes the token from the Euclidean list by its distance 0, not by its id (a duplicate row goes too)
def neighbour_overlap(E: torch.Tensor, token_ids: list[int], k: int) -> float:
    shares = []
    for t in token_ids:
        by_cosine = set(nearest_tokens(E, t, k))
        dist = (E - E[t]).norm(dim=1)
        dist[dist == 0] = float("inf")  # the token itself
        by_distance = set((-dist).topk(k).indices.tolist())
        shares.append(len(by_cosine & by_distance) / k)
    return sum(shares) / len(shares)


# %% [measure_overlap] measures with k = 5 (the k of the lesson's nearest-neighbour example), not k = 10
overlap_raw = neighbour_overlap(E_model, probe_ids, 5)
overlap_unit = neighbour_overlap(E_unit, probe_ids, 5)


# %% [measure_overlap] hard-codes the two numbers the solution printed, rounded to two decimals
overlap_raw = 0.49
overlap_unit = 1.0
