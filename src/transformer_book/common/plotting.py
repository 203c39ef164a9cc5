"""The book's one plotting module: one style, labelled axes, readable sizes.

Heatmaps (attention weights, encodings) use seaborn; curves (losses, timings) use matplotlib.
Every function takes an optional ``ax`` and returns the ``Axes`` it drew on.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from transformer_book.common.validation import check_int, check_number

FIGURE_WIDTH = 7.0   # inches; fits the book's text column
DPI = 110


def set_book_style() -> None:
    """Apply the book's style to every later figure."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update(
        {"figure.dpi": DPI, "savefig.dpi": DPI, "axes.titleweight": "bold", "figure.autolayout": True}
    )


def new_axes(ncols: int = 1, nrows: int = 1, height: float = 3.6, width: float = FIGURE_WIDTH):
    """A figure with ``nrows x ncols`` axes in the book's size; returns ``(figure, axes)``.

    ``ncols`` and ``nrows`` must be positive integers, ``height`` and ``width`` positive numbers
    (inches)."""
    check_int("ncols", ncols)
    check_int("nrows", nrows)
    check_number("height", height, low=0.0, low_open=True)
    check_number("width", width, low=0.0, low_open=True)
    set_book_style()
    return plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False)


def _as_numpy(matrix) -> np.ndarray:
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu()
        if matrix.dtype == torch.bool:
            matrix = matrix.int()
        matrix = matrix.numpy() if not matrix.is_floating_point() else matrix.float().numpy()
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {matrix.shape}")
    if matrix.size == 0:
        raise ValueError(f"heatmap needs a non-empty matrix, got shape {matrix.shape}")
    if matrix.dtype == np.bool_:
        matrix = matrix.astype(int)
    if not (np.issubdtype(matrix.dtype, np.integer) or np.issubdtype(matrix.dtype, np.floating)):
        raise TypeError(f"heatmap needs a matrix of real numbers, got dtype {matrix.dtype}")
    return matrix


def heatmap(
    matrix,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    ax: plt.Axes | None = None,
    annotate: bool = False,
    fmt: str = ".2f",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    center: float | None = None,
) -> plt.Axes:
    """Draw a 2-D matrix (tensor or array) as a heatmap, rows top to bottom.

    The matrix must be non-empty and hold real numbers (booleans are drawn as 0/1);
    ``row_labels`` and ``col_labels``, when given, need one label per row and per column.
    """
    data = _as_numpy(matrix)
    for name, labels, count in (("row_labels", row_labels, data.shape[0]), ("col_labels", col_labels, data.shape[1])):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{name} has {len(labels)} labels for a matrix of shape {data.shape}: need {count}")
    if ax is None:
        _, axes = new_axes(height=min(6.0, 1.0 + 0.35 * data.shape[0]) if annotate else 4.0)
        ax = axes[0, 0]
    sns.heatmap(
        data,
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        center=center,
        annot=annotate,
        fmt=fmt,
        square=False,
        cbar=True,
        xticklabels=list(col_labels) if col_labels is not None else "auto",
        yticklabels=list(row_labels) if row_labels is not None else "auto",
    )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    ax: plt.Axes | None = None,
    logx: bool = False,
    logy: bool = False,
    marker: str | None = "o",
) -> plt.Axes:
    """Plot named ``(x, y)`` curves on one set of axes, with a legend when there is more than one.

    ``curves`` maps each name to a pair of sequences of the same length (an empty pair draws
    nothing for that name)."""
    if not isinstance(curves, Mapping):
        raise TypeError(f"curves must be a mapping from name to (xs, ys), got {type(curves).__name__}")
    if not curves:
        raise ValueError("plot_curves needs at least one curve")
    for name, curve in curves.items():
        if not isinstance(curve, (tuple, list)) or len(curve) != 2 or not all(
            hasattr(values, "__len__") and not isinstance(values, str) for values in curve
        ):
            raise ValueError(f"curve {name!r} must be a pair (xs, ys) of sequences, got {curve!r}")
        if len(curve[0]) != len(curve[1]):
            raise ValueError(f"curve {name!r} has {len(curve[0])} x values but {len(curve[1])} y values")
    if ax is None:
        _, axes = new_axes()
        ax = axes[0, 0]
    for name, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker=marker, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    return ax
