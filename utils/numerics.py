"""When are two float computations "equal"? One tolerance policy for every lesson and test.

    close(merged_logits, adapted_logits, reduction=forward_reduction(model.config))   # a lesson prints this
    assert_close(ours, reference, reduction=256)                                      # a test asserts this

Two correct float32 computations of the same quantity rarely agree bit for bit: a matmul sums its K products in
an order that depends on the CPU's vector width, the BLAS kernel and the number of threads, and each order rounds
differently. How far apart may they be? The standard error analysis of a dot product of length K computed with
unit roundoff u (Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput.
2019) bounds the error by

    |fl(x . y) - x . y|  <=  lam * sqrt(K) * u * sum_i |x_i y_i|     (rounding errors as a random walk; lam ~ 1-4)

(the worst case, every rounding in the same direction, is K * u instead of sqrt(K) * u; it never happens in
practice and would hide real bugs). A test cannot see sum |x_i y_i|; it sees the values it compares, so the scale
is the largest magnitude of either tensor. Chained reductions (the layers of a network) add their errors, so a
whole forward pass counts the terms summed along its longest path (`forward_reduction`). Two computations each
carry such an error, so the tolerance is

    tolerance = SAFETY * sqrt(K) * u * max(|a|, |b|),      SAFETY = 4 = 2 computations x lam = 2

with u = 2**-24 for float32 (half the machine epsilon). lam = 2 is the modest safety factor: the largest lam
measured over matmuls of K = 64 ... 4096 summed in four different orders is 0.9. It grows with the magnitudes and
the reduction length and nothing else: a difference far above it is a bug, not rounding. (When the result cancels,
a vector sent to zero, pass the size of the terms as `scale`: the compared values no longer show it.) tests/test_numerics.py checks both directions on
the bundled model's sizes (reordered sums, merged vs unmerged LoRA, other kernels pass; a wrong LoRA scale, a
missing 1/sqrt(d), an untransposed merge fail by orders of magnitude); docs/CONTRIBUTING.md records the margins
measured across CPU kernels and thread counts.
"""

from __future__ import annotations

import math

import torch

SAFETY = 4.0


def unit_roundoff(dtype: torch.dtype = torch.float32) -> float:
    """u = eps / 2: the largest relative error of rounding one real number to `dtype` (2**-24 for float32)."""
    return torch.finfo(dtype).eps / 2


def tolerance(scale: float, reduction: int, dtype: torch.dtype = torch.float32) -> float:
    """Largest difference two correct computations may show: SAFETY * sqrt(reduction) * u(dtype) * scale.

    scale: the largest |value| compared; reduction: terms summed along the longest path (1 for elementwise ops).
    """
    if reduction < 1:
        raise ValueError(f"reduction is a number of summed terms, at least 1; got {reduction}")
    return SAFETY * math.sqrt(reduction) * unit_roundoff(dtype) * scale


def _compare(a: torch.Tensor, b: torch.Tensor, reduction: int, scale: float | None) -> tuple[float, float, float]:
    """(max |a - b|, tolerance, scale) for two tensors of the same shape, in the coarser of their two dtypes."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    dtype = a.dtype if torch.finfo(a.dtype).eps >= torch.finfo(b.dtype).eps else b.dtype
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    if scale is None:
        scale = max(a.abs().max().item(), b.abs().max().item()) if a.numel() else 0.0
    error = (a - b).abs().max().item() if a.numel() else 0.0
    return error, tolerance(scale, reduction, dtype), scale


def close(a: torch.Tensor, b: torch.Tensor, reduction: int, scale: float | None = None) -> bool:
    """True when a and b (same shape, any float dtype) differ by no more than rounding: see `tolerance`.

    scale defaults to the largest |value| of a and b. Pass it when the result cancels (a vector sent to zero, a
    difference of nearly equal numbers): the rounding is then set by the size of the terms, not of the result.
    """
    error, tol, _ = _compare(a, b, reduction, scale)
    return error <= tol


def assert_close(a: torch.Tensor, b: torch.Tensor, reduction: int, what: str = "values",
                 scale: float | None = None) -> None:
    """Raise AssertionError, with the max error, the tolerance and how it was derived, unless `close(a, b, ...)`."""
    error, tol, scale = _compare(a, b, reduction, scale)
    if not error <= tol:
        raise AssertionError(f"{what}: max |a - b| = {error:.3e} > tolerance {tol:.3e} "
                             f"(= {SAFETY:g} * sqrt({reduction}) * u * scale {scale:.3e}; {error / tol:.1f} x over)")


def block_reduction(config) -> int:
    """Terms summed along the longest path through one transformer block (GPT-2 or Llama config).

    Two norms (mean and variance: 2 * hidden each), the q/k/v projection (hidden), the scores q . k (head_dim),
    the softmax's sum and the weighted sum of values (at most max_position_embeddings each), the output projection
    (hidden), the MLP's two projections (hidden, intermediate; GPT-2's `n_inner=None` means 4 * hidden).
    """
    hidden, heads, positions = config.hidden_size, config.num_attention_heads, config.max_position_embeddings
    inner = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    return 4 * hidden + hidden + hidden // heads + 2 * positions + hidden + hidden + inner


def forward_reduction(config) -> int:
    """Terms summed along the longest path of a decoder-only transformer, input ids to logits.

    Every block (`block_reduction`), then the final norm (2 * hidden) and the output layer (hidden).
    """
    return config.num_hidden_layers * block_reduction(config) + 2 * config.hidden_size + config.hidden_size
