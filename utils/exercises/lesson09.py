"""Your-turn checks of lesson 09 (hyperparameters): the energy share of a spectrum, and what alpha/r does to a step."""

from __future__ import annotations

import math

import torch

from utils.exercises import as_number, exercise
from utils.numerics import tolerance


def _spectrum_energy_share(matrix: torch.Tensor, k: int) -> float:
    """Share of sum(sigma^2) in the k largest singular values, from the eigenvalues of M^T M (float64)."""
    m = matrix.double()
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T        # the smaller Gram matrix: (min, min)
    energy = torch.linalg.eigvalsh(gram).clamp(min=0).flip(0)        # sigma_i^2, largest first
    return (energy[:k].sum() / energy.sum()).item()


@exercise("09.1", hint="energy of direction i = sigma_i ** 2 (torch.linalg.svdvals gives sigma largest first); "
                       "share = energy of the top k / total energy",
          done="your energy shares match on 4 matrices, for k = 1 up to the full rank")
def _(energy_share_by_hand) -> None:
    g = torch.Generator().manual_seed(9)
    low_rank = torch.randn(20, 3, generator=g) @ torch.randn(3, 12, generator=g)
    cases = [low_rank + 0.1 * torch.randn(20, 12, generator=g), torch.randn(8, 30, generator=g),
             torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])), torch.randn(16, 16, generator=g) @ torch.diag(
                 torch.logspace(0, -2, 16))]
    for matrix in cases:
        for k in sorted({1, 2, 3, min(matrix.shape)}):
            got = as_number(energy_share_by_hand(matrix.clone(), k), "the share")
            want = _spectrum_energy_share(matrix, k)
            assert abs(got - want) <= tolerance(1.0, matrix.numel()), (
                f"for a {tuple(matrix.shape)} matrix and k = {k} you return {got:.4f}; "
                "that is not the share of the energy in the k largest directions")


def _first_adam_step_change(r: int, alpha: float, trials: int = 400, d: int = 32, k: int = 64,
                            lr: float = 1e-3, eps: float = 1e-8) -> float:
    """Mean |dh| after one Adam step on B (B = 0, A random): dh = (alpha / r) * dB @ A @ x, over many layers.

    Adam's first step in closed form: after bias correction m = g and v = g**2, so every entry moves by
    lr * g / (|g| + eps), about lr whatever the size of its gradient g.
    """
    g = torch.Generator().manual_seed(0)
    A = (torch.rand(trials, r, k, generator=g) * 2 - 1) / math.sqrt(k)    # (trials, r, k): bound 1/sqrt(k) like PEFT
    x = torch.randn(trials, k, generator=g)                                # (trials, k)
    grad_h = torch.randn(trials, d, generator=g)                           # (trials, d): dL/dh of some loss
    B = torch.zeros(trials, d, r, requires_grad=True)                      # (trials, d, r)
    ax = torch.einsum("trk,tk->tr", A, x)                                  # (trials, r)
    h = (alpha / r) * torch.einsum("tdr,tr->td", B, ax)                    # (trials, d)
    (h * grad_h).sum().backward()
    step = -lr * B.grad / (B.grad.abs() + eps)                             # (trials, d, r): Adam's first step
    dh = (alpha / r) * torch.einsum("tdr,tr->td", step, ax)                # (trials, d): B was 0, so dh is the change
    return dh.norm(dim=1).mean().item()


_WITHIN = 0.2   # a prediction is right within 20 % of the simulated ratio


@exercise("09.2", hint="Adam moves each entry of B by about lr whatever the gradient; (alpha / r) · B · (A x) "
                       "sums r such entries, so the change grows like (alpha / r) · r = alpha",
          done="right: the step on the output follows alpha, not alpha / r (simulated on 400 random layers)")
def _(my_ratio_alpha_fixed, my_ratio_alpha_2r) -> None:
    base = _first_adam_step_change(r=8, alpha=16)
    truths = {"alpha fixed at 16": (my_ratio_alpha_fixed, _first_adam_step_change(r=32, alpha=16) / base),
              "alpha = 2r = 64": (my_ratio_alpha_2r, _first_adam_step_change(r=32, alpha=64) / base)}
    for name, (guess, truth) in truths.items():
        guess = as_number(guess, f"your ratio for {name}")
        assert abs(guess - truth) <= _WITHIN * truth, (
            f"with {name}, your ratio {guess:g} is not within 20 % of the simulated one")
