"""Your-turn checks of lesson 02 (embeddings): nearest neighbours by cosine, the closest pair of rows."""

from __future__ import annotations

import torch

from utils.exercises import exercise


def _embedding(V: int, d: int, g: torch.Generator) -> torch.Tensor:
    """Random rows whose lengths differ by up to 30x: a dot product ranks them differently from the cosine."""
    return torch.randn(V, d, generator=g) * torch.logspace(-1, 0.5, V)[torch.randperm(V, generator=g)][:, None]


@exercise("02.1", hint="divide every row by its length (E / E.norm(dim=1, keepdim=True)), take dot products with "
          "the token's unit row, set the token's own score to -inf, then topk",
          done="your neighbours are the cosine neighbours for 4 embedding matrices")
def _(nearest_by_hand) -> None:
    g = torch.Generator().manual_seed(2)
    for V, d, k in [(50, 8, 5), (30, 4, 1), (200, 16, 10), (12, 3, 11)]:
        E = _embedding(V, d, g)
        token = int(torch.randint(V, (), generator=g))
        unit = E.double() / E.double().norm(dim=1, keepdim=True)
        sims = unit @ unit[token]
        sims[token] = -float("inf")
        want = sims.topk(k).indices.tolist()
        got = nearest_by_hand(E.clone(), token, k)
        got = got.tolist() if isinstance(got, torch.Tensor) else got
        if not isinstance(got, list) or not all(isinstance(i, int) for i in got):
            raise AssertionError(f"return a list of k token ids (ints), got {got!r}")
        assert token not in got, f"the token itself ({token}) is in its own neighbour list: leave it out"
        assert len(got) == k and len(set(got)) == k, f"asked for k = {k} different neighbours, got {got}"
        # compared by cosine, not by id: two rows whose cosines agree to rounding may come in either order
        gap = (sims[got] - sims[want]).abs().max().item()
        assert gap <= 1e-6, (f"for token {token} of a {V} x {d} matrix the {k} nearest by cosine, most similar "
                             f"first, are {want}; yours are {got}")


@exercise("02.2", hint="torch.cdist(E, E) gives every distance; fill the diagonal with inf (a row is at distance 0 "
          "from itself), then argmin and divmod by V", done="you found the closest pair in 4 matrices")
def _(closest_pair_by_hand) -> None:
    g = torch.Generator().manual_seed(5)
    for V, d in [(40, 6), (25, 2), (100, 10), (4, 4)]:
        E = _embedding(V, d, g)
        a, b, c, e = torch.randperm(V, generator=g)[:4].tolist()
        a, b = sorted((a, b))
        E[b] = E[a] + 1e-3 * torch.randn(d, generator=g)        # one pair planted closer than any other
        E[e] = 3 * E[c]                                          # and a decoy: same direction, far apart
        dist = torch.cdist(E.double(), E.double())
        dist.fill_diagonal_(float("inf"))
        got = closest_pair_by_hand(E.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"return a pair (a, b) of token ids, got {got!r}")
        i, j = (int(x) for x in got)
        assert i != j, f"({i}, {j}) is one token twice: its distance to itself is 0; exclude the diagonal"
        assert {i, j} == {a, b}, (f"in a {V} x {d} matrix the closest distinct rows are {a} and {b} (distance "
                                  f"{dist[a, b]:.2g}); yours, {i} and {j}, are {dist[i, j]:.2g} apart")
