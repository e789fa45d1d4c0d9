"""Plot helpers shared by the lessons: one look for every heatmap and every curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def heatmap(matrix, xlabels: Sequence[str] | None = None, ylabels: Sequence[str] | None = None,
            title: str = "", xlabel: str = "", ylabel: str = "", ax=None, cmap: str = "viridis",
            colorbar: bool = True, **imshow_kwargs):
    """Show a 2-D array (a tensor is fine) as a labelled heatmap; returns the axes."""
    data = np.asarray(matrix.detach().cpu() if hasattr(matrix, "detach") else matrix, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D array, got shape {data.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 1 + 0.45 * data.shape[1]) if xlabels else 6,
                                      min(10, 1 + 0.4 * data.shape[0]) if ylabels else 4))
    image = ax.imshow(data, cmap=cmap, aspect="auto", **imshow_kwargs)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=60, ha="right", fontsize=8)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_curves(curves: Mapping[str, Sequence[float]], xlabel: str = "step", ylabel: str = "loss",
                title: str = "", ax=None, x: Sequence[float] | None = None, logy: bool = False, **plot_kwargs):
    """Several named curves on one labelled axes (loss curves, sweeps); returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        xs = x if x is not None else range(len(values))
        ax.plot(xs, values, label=name, **plot_kwargs)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def scatter_labelled(points, labels: Sequence[str], groups: Sequence[str] | None = None, title: str = "",
                     xlabel: str = "component 1", ylabel: str = "component 2", ax=None, fontsize: int = 7):
    """A 2-D scatter (points: (n, 2) array or tensor) with a text label at every point, coloured by group."""
    data = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=float)
    if data.ndim != 2 or data.shape[1] != 2 or len(data) != len(labels):
        raise ValueError(f"need points of shape (n, 2) and n labels, got {data.shape} and {len(labels)} labels")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6))
    groups = list(groups) if groups is not None else [""] * len(data)
    for group in dict.fromkeys(groups):
        mask = np.array([g == group for g in groups])
        ax.scatter(data[mask, 0], data[mask, 1], s=14, label=group or None)
    for (x, y), label in zip(data, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=fontsize, xytext=(2, 2), textcoords="offset points")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if any(groups):
        ax.legend(fontsize=8)
    return ax
