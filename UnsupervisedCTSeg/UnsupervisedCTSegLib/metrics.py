"""Agreement between our labels and reference masks, used by the demo, the tests and evaluations."""
from __future__ import annotations

import numpy as np


def iou_table(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """IoU of `mask` with each label value 0..labels.max() (one bincount pass, no loop over labels)."""
    labels = labels.reshape(-1).astype(np.int64)
    mask = mask.reshape(-1).astype(bool)
    n = int(labels.max()) + 1
    size = np.bincount(labels, minlength=n)
    inter = np.bincount(labels[mask], minlength=n)
    union = size + mask.sum() - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def best_match_iou(labels: np.ndarray, mask: np.ndarray, ignore_zero: bool = True) -> tuple:
    """(best IoU of any single label with `mask`, that label)."""
    table = iou_table(labels, mask)
    if ignore_zero:
        table[0] = -1.0
    best = int(np.argmax(table))
    return float(max(table[best], 0.0)), best
