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
