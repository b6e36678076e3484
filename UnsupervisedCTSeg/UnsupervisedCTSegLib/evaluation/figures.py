"""The study's figures: consecutive slices with their labels (Fig. 3), θ x μ montages per M (Fig. 2 and
the supplementary figures) and per-image score box plots (Fig. 1).

One colour per label value in every panel of a figure, so a label that flips from one slice (or one
setting) to the next shows as a change of colour. Drawn on an Agg canvas without pyplot, like the
overview, so it works headless and inside Slicer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.windows import SOFT_TISSUE_WINDOW
from ..io.orientation import radiological_slice, radiological_view
from ..io.writers import atomic_output

LABEL_ALPHA = 0.75


def label_colour(i: int) -> tuple:
    """Colour of label i+1: tab20's dark shades first, then its light ones, so neighbouring labels differ."""
    from matplotlib import colormaps

    return colormaps["tab20"]((2 * i) % 20 + (i // 10) % 2)


def label_lut(top: int, alpha: float = LABEL_ALPHA) -> np.ndarray:
    """RGBA table indexed by label 0..top; label 0 (not labelled) is transparent."""
    lut = np.array([(0.0, 0.0, 0.0, 0.0)] + [label_colour(i) for i in range(int(top))], np.float32)
    lut[1:, 3] = alpha
    return lut


def _show(ax, hu, labels, lut, spacing, title: str = "") -> None:
    aspect = spacing[1] / spacing[0]
    ax.imshow(hu, cmap="gray", vmin=SOFT_TISSUE_WINDOW[0], vmax=SOFT_TISSUE_WINDOW[1], interpolation="nearest", aspect=aspect)
    if labels is not None:
        ax.imshow(lut[np.asarray(labels, np.int64)], interpolation="nearest", aspect=aspect)
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_series(hu: np.ndarray, labels: np.ndarray, first: int, spacing=(1.0, 1.0, 1.0), title: str = "",
                direction=None):
    """Slices of `hu` (z, y, x) in a row, their `labels` beneath in one colour table.

    Drawn in radiological convention for `direction` (io.orientation; None: LPS), inferior to superior,
    each titled with its stored index (`first` + its index in `hu`), so the row reads the same
    however the file was stored and its titles still name the slices the caller chose.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    view = radiological_view(hu, direction, spacing, keep_slices=True)
    hu, labels, spacing = view.array, radiological_view(labels, direction, keep_slices=True).array, view.spacing
    depth, height, width = hu.shape
    tile = 2.4
    figure = Figure(figsize=(tile * depth + 0.4, tile * 2 * height * spacing[1] / (width * spacing[0]) + 0.5))
    FigureCanvasAgg(figure)
    lut = label_lut(int(labels.max()) if labels.size else 0)
    axes = figure.subplots(2, depth, squeeze=False, gridspec_kw=dict(wspace=0.03, hspace=0.03, left=0.03,
                                                                     right=0.99, bottom=0.01, top=0.88))
    for z in range(depth):
        _show(axes[0, z], hu[z], None, lut, spacing, f"slice {first + int(view.stored[z])}")
        _show(axes[1, z], hu[z], labels[z], lut, spacing)
    axes[0, 0].set_ylabel("CT", fontsize=9)
    axes[1, 0].set_ylabel("labels", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def draw_montage(hu: np.ndarray, panels: dict, thetas, mus, spacing=(1.0, 1.0, 1.0), title: str = "",
                 direction=None):
    """A θ (rows) x μ (columns) grid of one slice's labels; `panels[(θ, μ)]` is a 2D label map or None.

    The stored slice `hu` (y, x) and its label maps are drawn in radiological convention for
    `direction` (io.orientation; None: LPS), like every picture of the package.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hu, spacing = radiological_slice(hu, direction, spacing)
    panels = {key: None if p is None else radiological_slice(p, direction)[0] for key, p in panels.items()}
    height, width = hu.shape
    tile, left, header = 1.9, 0.45, 0.75  # inches: a panel's width, the θ labels, the titles above
    figure_height = tile * len(thetas) * height * spacing[1] / (width * spacing[0]) + header + 0.1
    figure = Figure(figsize=(tile * len(mus) + left + 0.1, figure_height))
    FigureCanvasAgg(figure)
    top = max([int(p.max()) for p in panels.values() if p is not None] + [0])
    lut = label_lut(top)
    margins = dict(left=left / (tile * len(mus) + left + 0.1), right=0.995, bottom=0.005,
                   top=1 - header / figure_height)
    axes = figure.subplots(len(thetas), len(mus), squeeze=False, gridspec_kw=dict(wspace=0.04, hspace=0.04, **margins))
    for r, theta in enumerate(thetas):
        for c, mu in enumerate(mus):
            labels = panels.get((theta, mu))
            ax = axes[r, c]
            _show(ax, hu, labels, lut, spacing)
            if labels is None:
                ax.text(0.5, 0.5, "no result", ha="center", va="center", transform=ax.transAxes, color="red")
            if r == 0:
                ax.set_title(f"μ = {mu:g}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"θ = {theta:g}", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=8)
    return figure


def draw_boxplot(scores: dict, title: str):
    """Per-image scores per name (box and whiskers), the mean marked "x" and the median a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [name for name, values in scores.items() if len(values)]
    figure = Figure(figsize=(max(5.0, 1.3 * len(names) + 1.5), 4.5))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    if names:
        ax.boxplot([scores[name] for name in names], showmeans=True,
                   meanprops=dict(marker="x", markeredgecolor="black", markersize=8),
                   medianprops=dict(color="tab:orange", linewidth=2))
        ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("per-image score (best annotation's mean IoU)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def draw_volumes(columns: dict, ylabel: str, title: str):
    """One column of dots per key of `columns` (name -> values), on a log scale: ctseg batch's cohort.png."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(6.0, 0.7 * len(columns) + 2), 4.5))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for x, values in enumerate(columns.values()):
        axis.scatter([x] * len(values), values, s=14, alpha=0.7)
    axis.set_yscale("log")
    axis.set_xticks(range(len(columns)))
    axis.set_xticklabels(list(columns), rotation=45, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def save_figure(figure, path, dpi: int = 110, final: bool = False) -> Path:
    """Write `figure` as a PNG, whole or not at all; `final`: the command's last output (stops.commit)."""
    path = Path(path)
    with atomic_output(path, final) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return path
