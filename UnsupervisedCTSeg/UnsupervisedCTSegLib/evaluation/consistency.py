"""How consistent the labels are from one axial slice to the next.

A tissue does not change much between neighbouring slices, so its label should not either. Where a
label flips between two slices (slice mode trains a fresh network per slice, so its ids are
unrelated across slices; volume mode can still jump where the anatomy changes) a reviewer wants to
see it without paging through the whole volume. Two per-slice numbers show it:

* the identical fraction: how many pixels keep exactly the label they had one slice below. It drops
  when labels are renumbered or when tissue boundaries move;
* the adjusted Rand index (ARI) with the previous slice: how well the two partitions agree whatever
  the label numbers are. It stays high when a slice's regions merely got other numbers, so a low
  identical fraction with a high ARI means "same regions, renumbered", and both low means the
  partition itself changed.

Across runs (one per seed) the same two views apply to whole volumes: `run_to_run_ari` (same
partition whatever the numbers) and `matched_agreement` (the fraction of voxels that keep their
label once labels are matched one to one between runs), which `ctseg evaluate-ct` reports.

Pure numpy (plus scipy's assignment solver), no Slicer: the Slicer logic shows the slice numbers as
a table and a plot.
"""
from __future__ import annotations

import numpy as np

# Labels below this are counted with dense bincounts; larger ones are compacted with np.unique.
_MAX_DENSE_LABEL = 2048
# Above this many (label a, label b) cells a dense bincount table would be too large; the
# occurring cells are then counted with np.unique instead.
_MAX_DIRECT_PAIRS = 1 << 22


def adjusted_rand_index(a, b) -> float:
    """Adjusted Rand index of two labelings of the same items (1 = same partition, ~0 = chance).

    Computed from the contingency table in pair-counting form (as scikit-learn does), so the
    degenerate cases are defined the same way: two identical partitions, including two
    single-cluster ones, give 1.0. Label values themselves do not matter, only which items share a
    label.
    """
    (codes_a, size_a), (codes_b, size_b), n = _paired_codes(a, b)
    if n == 0:
        return 1.0
    # Sums of squared counts: of the contingency cells, of its rows and of its columns.
    joint_codes = codes_a * size_b + codes_b
    if size_a * size_b <= _MAX_DIRECT_PAIRS:
        joint = np.bincount(joint_codes).astype(np.float64)
    else:  # many labels (e.g. every item its own): count only the cells that occur
        joint = np.unique(joint_codes, return_counts=True)[1].astype(np.float64)
    cells = float(np.dot(joint, joint))
    rows = np.bincount(codes_a).astype(np.float64)
    columns = np.bincount(codes_b).astype(np.float64)
    rows_sq = float(np.dot(rows, rows))
    columns_sq = float(np.dot(columns, columns))
    # Ordered-pair counts (each unordered pair twice; the factor cancels in the ratio).
    together_both = cells - n  # same cluster in a and in b
    only_b = columns_sq - cells  # same cluster in b only
    only_a = rows_sq - cells  # same cluster in a only
    apart_both = float(n) * n - only_b - only_a - cells
    if only_a == 0 and only_b == 0:
        return 1.0
    numerator = 2.0 * (together_both * apart_both - only_a * only_b)
    denominator = (together_both + only_a) * (only_a + apart_both) + (together_both + only_b) * (only_b + apart_both)
    return float(numerator / denominator)


def _paired_codes(a, b) -> tuple:
    """((codes, size) of a, (codes, size) of b, item count) for two labelings of the same items."""
    a = np.asarray(a).reshape(-1)
    b = np.asarray(b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"labelings have {a.size} and {b.size} items: compare labelings of the same items")
    if a.size == 0:
        return (a, 0), (b, 0), 0
    return _dense_codes(a), _dense_codes(b), a.size


def _dense_codes(values: np.ndarray) -> tuple:
    """(codes 0..m-1, m) for any labels; small non-negative integers are used as they are (O(n))."""
    if _small_integers(values):
        return values.astype(np.int64, copy=False), int(values.max()) + 1
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), max(1, uniques.size)


def _small_integers(values: np.ndarray) -> bool:
    """Whether labels are non-negative integers small enough to count with a dense bincount."""
    return (values.dtype.kind in "biu" and values.size > 0
            and int(values.min()) >= 0 and int(values.max()) < _MAX_DENSE_LABEL)


def slice_consistency(labels) -> dict:
    """Per axial slice z of `labels` (z, y, x): how it agrees with slice z-1.

    Returns a dict of equal-length arrays:

    * ``slice``: the index z;
    * ``labels``: the number of distinct non-zero labels in the slice (a label that appears or
      vanishes explains a drop in agreement);
    * ``identical_fraction``: the fraction of pixels whose label equals the label at the same pixel
      of slice z-1 (NaN for slice 0, which has no previous slice);
    * ``ari_previous``: the adjusted Rand index of the slice with slice z-1 (NaN for slice 0).
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3:
        raise ValueError(f"labels have shape {labels.shape}: give a (z, y, x) label volume")
    depth = labels.shape[0]
    distinct = np.zeros(depth, np.int64)
    identical = np.full(depth, np.nan)
    ari = np.full(depth, np.nan)
    for z in range(depth):
        distinct[z] = _distinct_nonzero(labels[z])
        if z > 0:
            identical[z] = float(np.mean(labels[z] == labels[z - 1])) if labels[z].size else np.nan
            ari[z] = adjusted_rand_index(labels[z], labels[z - 1])
    return {"slice": np.arange(depth), "labels": distinct, "identical_fraction": identical, "ari_previous": ari}


def _distinct_nonzero(plane: np.ndarray) -> int:
    """Number of distinct non-zero values (one bincount for small non-negative integer labels)."""
    values = plane.reshape(-1)
    if _small_integers(values):
        return int(np.count_nonzero(np.bincount(values.astype(np.intp, copy=False))[1:]))
    return int(np.count_nonzero(np.unique(values)))


def summary(consistency) -> dict:
    """Means of the identical fraction and the ARI over slices 1..Z-1, plus the worst slice.

    Accepts the dict of slice_consistency or a label volume. A one-slice volume has nothing to
    compare: its means are NaN and ``worst_slice`` is -1. ``worst_slice`` is the slice with the
    lowest ARI, the first place a reviewer should look for a label jump.
    """
    if not isinstance(consistency, dict):
        consistency = slice_consistency(consistency)
    identical = np.asarray(consistency["identical_fraction"], float)[1:]
    ari = np.asarray(consistency["ari_previous"], float)[1:]
    if ari.size == 0:
        return {"mean_identical_fraction": float("nan"), "mean_ari_previous": float("nan"),
                "min_ari_previous": float("nan"), "worst_slice": -1}
    worst = int(np.argmin(ari)) + 1
    return {"mean_identical_fraction": float(identical.mean()), "mean_ari_previous": float(ari.mean()),
            "min_ari_previous": float(ari[worst - 1]), "worst_slice": worst}


def run_to_run_ari(labelings) -> float:
    """Mean adjusted Rand index over all pairs of labelings of the same volume (e.g. one per seed).

    Every voxel counts, label 0 included, so a run that leaves other voxels unlabelled disagrees.
    It measures whether the method finds the same partition whatever the seed, independent of the
    label numbers. NaN for fewer than two labelings (nothing to compare).
    """
    return _mean_over_pairs(labelings, adjusted_rand_index)


def run_to_run_matched_agreement(labelings) -> float:
    """Mean `matched_agreement` over all pairs of labelings; NaN for fewer than two."""
    return _mean_over_pairs(labelings, matched_agreement)


def _mean_over_pairs(labelings, measure) -> float:
    labelings = list(labelings)
    values = [measure(a, b) for i, a in enumerate(labelings) for b in labelings[i + 1:]]
    return float(np.mean(values)) if values else float("nan")


def matched_agreement(a, b) -> float:
    """Fraction of voxels whose label agrees after renaming b's labels to a's, one to one.

    The renaming is the Hungarian matching (scipy's linear_sum_assignment) that maximises the
    voxels kept, on the table of overlap counts; labels of the larger side left without a partner
    count as disagreeing. Unlike the ARI it reads as "x % of the voxels get the same tissue", the
    measure the evaluation protocol asks for ("labels matched between runs by Hungarian matching on overlap").
    Every value, 0 included, is a label. 1.0 means b is a relabelling of a.
    """
    from scipy.optimize import linear_sum_assignment

    (codes_a, size_a), (codes_b, size_b), n = _paired_codes(a, b)
    if n == 0:
        return 1.0
    overlap = np.bincount(codes_a * size_b + codes_b, minlength=size_a * size_b).reshape(size_a, size_b)
    overlap = overlap[overlap.any(axis=1)][:, overlap.any(axis=0)]  # only labels that occur
    rows, columns = linear_sum_assignment(overlap, maximize=True)
    return float(overlap[rows, columns].sum() / n)
