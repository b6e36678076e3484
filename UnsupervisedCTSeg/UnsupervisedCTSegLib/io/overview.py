"""A one-picture summary of a segmentation: axial slices with the labels overlaid and a legend.

The montage lets a user judge a run at a glance (and attach it to a report) without opening a
viewer. It is drawn with matplotlib's object-oriented API on an Agg canvas, so it works headless
and never touches pyplot's global state or the backend of a host application such as Slicer.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..engine.errors import InputError
from ..engine.windows import SOFT_TISSUE_WINDOW
from .orientation import radiological_view
from .writers import atomic_output

COLUMNS = 4
TILE_INCHES = 3.0
DPI = 100


def choose_slices(n_slices: int, max_slices: int) -> list:
    """Up to `max_slices` axial indices spread evenly from the first to the last slice."""
    if n_slices < 1:
        return []
    count = max(1, min(int(max_slices), n_slices))
    return sorted({int(round(i)) for i in np.linspace(0, n_slices - 1, count)})


def label_colours(tissues, alpha: float = 0.45) -> np.ndarray:
    """RGBA lookup table indexed by label; label 0 and labels without a tissue stay transparent."""
    top = max([int(t.label) for t in tissues] + [0])
    lut = np.zeros((top + 1, 4), np.float32)
    for t in tissues:
        if int(t.label) > 0:
            lut[int(t.label), :3] = np.clip(np.asarray(t.color, float)[:3], 0.0, 1.0)
            lut[int(t.label), 3] = alpha
    return lut


def write_overview(path, volume, labels, tissues, max_slices: int = 12, title: str = "",
                   window=SOFT_TISSUE_WINDOW, alpha: float = 0.45) -> Path:
    """Write a PNG montage of evenly chosen axial slices with `labels` overlaid in the tissues' colours.

    `volume` is a :class:`Volume`, `labels` an integer array of the same (z, y, x) shape and
    `tissues` the :class:`Tissue` list describing the labels. Each tile shows the CT in grey
    (`window` = (low, high) HU) with the slice index; the legend lists each label's number, name,
    mean HU and share of the voxels in `labels`. Pixels keep their physical aspect ratio from the
    spacing; slices are drawn in radiological convention (see draw_overview). The file appears
    complete or not at all. Returns the path written.
    """
    figure = draw_overview(volume, labels, tissues, max_slices, title, window, alpha)
    path = Path(path)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI, facecolor=figure.get_facecolor())
    return path


def draw_overview(volume, labels, tissues, max_slices: int = 12, title: str = "",
                  window=SOFT_TISSUE_WINDOW, alpha: float = 0.45):
    """The figure write_overview saves. Slices are drawn in radiological convention (io.orientation:
    anterior at the top, the patient's right on the left, inferior to superior) whatever the storage,
    and labelled with their stored index, so the picture matches the file and any viewer."""
    hu = volume.hu
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.shape != hu.shape:
        raise InputError(f"labels have shape {labels.shape} but the volume has {hu.shape}: "
                         "pass the label array computed on this volume")
    if labels.dtype.kind not in "biu":
        raise InputError(f"labels have data type {labels.dtype}: pass integer label ids")
    low, high = (float(w) for w in window)
    if not high > low:
        raise InputError(f"display window {window} is empty: give (low, high) HU with high > low")
    tissues = sorted(tissues, key=lambda t: int(t.label))
    view = radiological_view(hu, volume.direction, volume.spacing)
    return _draw(view, radiological_view(labels, volume.direction).array, tissues, max_slices, title, (low, high),
                 alpha)


def _draw(view, labels, tissues, max_slices, title, window, alpha):
    """The montage of `view` (a RadiologicalView of the HU) with `labels` turned the same way."""
    # Imported here so that importing this module stays cheap for code that never draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hu, spacing = view.array, view.spacing
    # Chosen along the view, so the same slices are shown however the volume is stored.
    indices = choose_slices(hu.shape[0], max_slices)
    columns = min(COLUMNS, len(indices))
    rows = math.ceil(len(indices) / columns)
    ny, nx = hu.shape[1:]
    sx, sy = float(spacing[0]), float(spacing[1])
    tile_w = TILE_INCHES
    tile_h = TILE_INCHES * (ny * sy) / (nx * sx)
    tile_h = min(max(tile_h, 0.5), 4.0 * TILE_INCHES)
    legend_w = 4.0
    title_h = 0.5 if title else 0.15
    height = max(rows * tile_h, 0.22 * (len(tissues) + 2) + 0.4) + title_h

    figure = Figure(figsize=(columns * tile_w + legend_w, height), facecolor="black")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, columns + 1, width_ratios=[tile_w] * columns + [legend_w],
                               left=0.005, right=0.995, bottom=0.005, top=1.0 - title_h / height,
                               wspace=0.02, hspace=0.02)
    lut = label_colours(tissues, alpha)
    # Shares are counted on the labels drawn, so they always match the picture.
    counts = np.bincount(np.clip(labels.ravel(), 0, None).astype(np.int64))
    for i, z in enumerate(indices):
        ax = figure.add_subplot(grid[i // columns, i % columns])
        ax.imshow(hu[z], cmap="gray", vmin=window[0], vmax=window[1], interpolation="nearest",
                  aspect=sy / sx)
        ids = np.clip(labels[z].astype(np.int64), 0, lut.shape[0] - 1)
        ids[labels[z] >= lut.shape[0]] = 0
        ax.imshow(lut[ids], interpolation="nearest", aspect=sy / sx)
        ax.text(0.02, 0.98, _slice_name(view, z), transform=ax.transAxes, ha="left", va="top", fontsize=9,
                color="white", bbox=dict(facecolor="black", alpha=0.6, edgecolor="none", pad=1.5))
        ax.set_axis_off()

    legend_ax = figure.add_subplot(grid[:, columns])
    legend_ax.set_axis_off()
    legend_ax.set_xlim(0.0, 1.0)
    legend_ax.set_ylim(0.0, 1.0)
    _draw_legend(legend_ax, tissues, counts, height - title_h, legend_w)
    legend_ax.text(0.02, 0.005, f"window {window[0]:.0f}..{window[1]:.0f} HU  |  "
                   f"{hu.shape[0]} slices, {sx:g} x {sy:g} x {float(spacing[2]):g} mm",
                   transform=legend_ax.transAxes, ha="left", va="bottom", fontsize=7, color="0.7")
    if title:
        figure.suptitle(title, color="white", fontsize=12, y=1.0 - 0.1 / height, va="top")
    return figure


def _slice_name(view, z: int) -> str:
    """The stored index of the view's slice z, as the user finds it in the file and in a viewer."""
    index = int(view.stored[z])
    return f"slice {index}" if view.stored_axis == 0 else f"{'zyx'[view.stored_axis]} {index}"


def _draw_legend(ax, tissues, counts, height_in, width_in):
    """One row per tissue: colour swatch, label number, name, mean HU and % of voxels, in aligned columns."""
    from matplotlib.patches import Rectangle

    font = 8.0
    row = 1.55 * font / 72.0 / height_in  # row pitch in axes fraction
    char = 0.6 * font / 72.0 / width_in  # one monospace character in axes fraction
    swatch_w, x_text = 2.2 * char, 3.2 * char
    y = 1.0 - 0.5 * row
    style = dict(fontsize=font, family="monospace", va="center", ha="left")
    ax.text(x_text, y, f"{'#':>3} {'tissue':<25} {'HU':>6} {'vox %':>6}", color="0.75", **style)
    for t in tissues:
        y -= row
        colour = tuple(np.clip(np.asarray(t.color, float)[:3], 0.0, 1.0))
        ax.add_patch(Rectangle((0.4 * char, y - 0.32 * row), swatch_w, 0.64 * row, facecolor=colour,
                               edgecolor="white", linewidth=0.5))
        label = int(t.label)
        share = 100.0 * (counts[label] if 0 <= label < counts.size else 0) / max(int(counts.sum()), 1)
        ax.text(x_text, y, f"{label:>3} {_short(t.name):<25} {float(t.mean_hu):>6.0f} {share:>6.1f}",
                color="white", **style)


def _short(name: str, width: int = 25) -> str:
    name = str(name)
    return name if len(name) <= width else name[: width - 1] + "\u2026"
