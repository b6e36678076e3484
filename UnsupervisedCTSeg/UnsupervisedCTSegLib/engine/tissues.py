"""Turn arbitrary cluster ids into stable, named tissue labels.

The network's channel indices are arbitrary and change from run to run. Renumbering clusters by
mean HU makes label 1 always the darkest tissue; naming each from the HU band of its median gives
clinicians words instead of numbers, and colours follow the names so the same tissue looks the same
in every run. The median, not the mean: a few partial-volume voxels (a rim of gas or bone) pull a
mean across a band edge, not a median. A label whose middle half of voxels spreads over more than two
neighbouring bands is no one tissue and is named so ("mixed fat to soft tissue").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# (upper HU bound, name, RGB colour 0..1). Bands follow common CT practice: fat is -190 to -30 HU
# (the body-composition range), simple fluid -10 to 20 HU (the radiologists' bound for a simple cyst),
# and between fat and fluid lie voxels that hold some of each.
HU_BANDS = (
    (-900.0, "air", (0.10, 0.10, 0.10)),
    (-500.0, "lung", (0.55, 0.75, 0.95)),
    (-190.0, "lung/fat partial volume", (0.85, 0.80, 0.55)),
    (-30.0, "fat", (0.95, 0.85, 0.35)),
    (-10.0, "fat/fluid partial volume", (0.70, 0.78, 0.62)),
    (20.0, "fluid", (0.35, 0.65, 0.85)),
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
    band: str = ""  # the name before numbering or placing ("fluid", "mixed fat to fluid"); "" = unknown

    def as_dict(self) -> dict:
        return asdict(self)


def hu_band(mean_hu: float) -> tuple:
    """Name and colour of the HU band that contains `mean_hu`."""
    return HU_BANDS[band_index(mean_hu)][1:]


def band_index(hu: float) -> int:
    """Index in HU_BANDS of the band that contains `hu`."""
    return next(i for i, (upper, _, _) in enumerate(HU_BANDS) if hu < upper)


MIXED, MIXED_GREY = "mixed", (0.6, 0.6, 0.6)  # the name's first word and the colour's blend of a mixed label


def describe_band(quartiles) -> tuple:
    """Name and colour of a label from its (25th, 50th, 75th) HU percentiles: the band of the median,
    or "mixed <band> to <band>" when the middle half of its voxels reaches over more than two
    neighbouring bands (a partial-volume rim, or several tissues in one label)."""
    low, middle, high = (band_index(value) for value in quartiles)
    if high - low < 2:
        return HU_BANDS[middle][1:]
    color = tuple(round((a + b) / 2, 4) for a, b in zip(HU_BANDS[middle][2], MIXED_GREY))
    return f"{MIXED} {HU_BANDS[low][1]} to {HU_BANDS[high][1]}", color


HISTOGRAM_LOW, HISTOGRAM_BINS = -1024, 4096  # 1 HU bins from air to dense bone; values beyond are clipped
HISTOGRAM_CHUNK = 1 << 20  # voxels counted at a time: bounds the temporaries on a 512 x 512 x 1000 CT


def label_quartiles(labels: np.ndarray, hu: np.ndarray, count: int) -> np.ndarray:
    """(count + 1, 3) 25th, 50th and 75th HU percentiles of labels 0..count to within 1 HU, from one
    histogram per label counted a million voxels at a time (no volume-sized copy, no sort); NaN for
    empty labels. `labels` and `hu` may have any shape, the same one."""
    histogram = np.zeros((count + 1) * HISTOGRAM_BINS, np.int64)
    labels, hu = np.ravel(labels), np.ravel(hu)
    for start in range(0, labels.size, HISTOGRAM_CHUNK):
        values = hu[start:start + HISTOGRAM_CHUNK]
        bins = np.clip(np.round(values) - HISTOGRAM_LOW, 0, HISTOGRAM_BINS - 1).astype(np.int64)
        keys = labels[start:start + HISTOGRAM_CHUNK].astype(np.int64) * HISTOGRAM_BINS + bins
        histogram += np.bincount(keys, minlength=histogram.size)[:histogram.size]
    cumulative = np.cumsum(histogram.reshape(count + 1, HISTOGRAM_BINS), axis=1)
    totals = cumulative[:, -1:]
    out = np.full((count + 1, 3), np.nan)
    for column, share in enumerate((0.25, 0.5, 0.75)):
        index = (cumulative < share * totals).sum(axis=1)  # the first bin that reaches the share
        out[:, column] = index + HISTOGRAM_LOW
    out[totals[:, 0] == 0] = np.nan
    return out


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
    quartiles = label_quartiles(labels, hu, present.size)
    tissues = []
    for new, k in enumerate(order, start=1):
        name, color = describe_band(quartiles[new])
        tissues.append(Tissue(new, name, color, float(means[k]), float(sds[k]), int(n[k]), band=name))
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
