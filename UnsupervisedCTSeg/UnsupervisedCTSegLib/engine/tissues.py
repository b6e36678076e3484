"""Turn arbitrary cluster ids into stable, named tissue labels.

The network's channel indices are arbitrary and change from run to run. Renumbering clusters by
mean HU and naming each from the HU band its mean falls in makes label 1 always the darkest tissue
and gives clinicians words instead of numbers; colours follow the names so the same tissue looks the
same in every run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# (upper HU bound, name, RGB colour 0..1). Bands follow common CT practice; a cluster is named by
# the band its mean HU falls in.
HU_BANDS = (
    (-900.0, "air", (0.10, 0.10, 0.10)),
    (-500.0, "lung", (0.55, 0.75, 0.95)),
    (-150.0, "lung/fat partial volume", (0.85, 0.80, 0.55)),
    (-30.0, "fat", (0.95, 0.85, 0.35)),
    (25.0, "fluid", (0.35, 0.65, 0.85)),
    (70.0, "soft tissue", (0.85, 0.45, 0.40)),
    (150.0, "enhanced soft tissue", (0.80, 0.20, 0.30)),
    (400.0, "contrast/cancellous bone", (0.95, 0.60, 0.80)),
    (float("inf"), "bone", (0.98, 0.98, 0.90)),
)


@dataclass
class Tissue:
    """One output label: its number, HU-band name, display colour and HU statistics."""

    label: int
    name: str
    color: tuple
    mean_hu: float
    sd_hu: float
    voxels: int
    terminology: str = ""  # a Slicer terminology entry the user gave (scribbles); "" = from the name

    def as_dict(self) -> dict:
        return asdict(self)


def hu_band(mean_hu: float) -> tuple:
    """Name and colour of the HU band that contains `mean_hu`."""
    for upper, name, color in HU_BANDS:
        if mean_hu < upper:
            return name, color
    raise AssertionError("unreachable: the last band is unbounded")


def renumber_by_hu(clusters: np.ndarray, hu: np.ndarray, mask: np.ndarray | None = None):
    """Relabel cluster ids 1..K by increasing mean HU and describe each label.

    `clusters` holds arbitrary non-negative ids; voxels outside `mask` become 0. Returns the new
    label array (uint16) and one Tissue per label. Names that repeat (two clusters in the same
    band) get a numeric suffix so every segment name is unique.
    """
    if mask is None:
        mask = np.ones(clusters.shape, bool)
    ids = clusters[mask].astype(np.int64)
    values = hu[mask].astype(np.float64)
    counts = np.bincount(ids)
    present = np.flatnonzero(counts)
    sums = np.bincount(ids, weights=values)[present]
    squares = np.bincount(ids, weights=values * values)[present]
    n = counts[present]
    means = sums / n
    sds = np.sqrt(np.maximum(squares / n - means * means, 0.0))
    order = np.argsort(means, kind="stable")
    lookup = np.zeros(counts.size, np.uint16)
    lookup[present[order]] = np.arange(1, present.size + 1, dtype=np.uint16)
    labels = np.zeros(clusters.shape, np.uint16)
    labels[mask] = lookup[ids]
    tissues = []
    for new, k in enumerate(order, start=1):
        name, color = hu_band(means[k])
        tissues.append(Tissue(new, name, color, float(means[k]), float(sds[k]), int(n[k])))
    _make_names_unique(tissues)
    return labels, tissues


OUTSIDE_NAME = "outside body"
OUTSIDE_COLOR = (0.45, 0.45, 0.45)


def add_outside_segment(labels: np.ndarray, tissues: list, hu: np.ndarray, body: np.ndarray):
    """Give everything outside the body (table, clothing, air) one last label, 'outside body'."""
    label = len(tissues) + 1
    outside = ~body
    labels[outside] = label
    values = hu[outside].astype(np.float64)
    mean = float(values.mean()) if values.size else 0.0
    sd = float(values.std()) if values.size else 0.0
    return labels, tissues + [Tissue(label, OUTSIDE_NAME, OUTSIDE_COLOR, mean, sd, int(values.size))]


def _make_names_unique(tissues: list) -> None:
    by_name: dict = {}
    for t in tissues:
        by_name.setdefault(t.name, []).append(t)
    for name, group in by_name.items():
        if len(group) > 1:
            for i, t in enumerate(group, start=1):
                t.name = f"{name} {i}"
                # Shade repeated bands so neighbouring labels of one band stay distinguishable.
                shade = 0.6 + 0.4 * i / len(group)
                t.color = tuple(round(min(1.0, c * shade), 4) for c in t.color)


def label_statistics(labels: np.ndarray, hu: np.ndarray, count: int) -> tuple:
    """(voxel counts, mean HUs, sd HUs) of labels 0..count, counted slice by slice so that no
    volume-sized int64 or float64 copy is made."""
    n, sums, squares = np.zeros(count + 1), np.zeros(count + 1), np.zeros(count + 1)
    for plane, values in zip(labels, hu):
        flat, v = plane.ravel(), values.ravel().astype(np.float64)
        n += np.bincount(flat, minlength=count + 1)[:count + 1]
        sums += np.bincount(flat, weights=v, minlength=count + 1)[:count + 1]
        squares += np.bincount(flat, weights=v * v, minlength=count + 1)[:count + 1]
    means = sums / np.maximum(n, 1)
    sds = np.sqrt(np.maximum(squares / np.maximum(n, 1) - means * means, 0.0))
    return n, [float(m) for m in means], [float(s) for s in sds]
