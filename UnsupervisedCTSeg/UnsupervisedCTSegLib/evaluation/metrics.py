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


def hungarian_iou(labels: np.ndarray, masks: dict) -> dict:
    """One-to-one IoU: each group of `masks` (name -> boolean mask) gets its own distinct label.

    Best-match IoU lets one big label "explain" several groups at once (one soft-tissue label
    matching liver, spleen and kidney); the one-to-one assignment maximising the total IoU
    (scipy's linear_sum_assignment, the Hungarian method) charges a segmentation for that. Label 0
    (unlabelled) is never assigned. Returns name -> (IoU, label); a group left without a label
    (fewer labels than groups) gets (0.0, 0). The IoU matrix is one bincount per group.
    """
    from scipy.optimize import linear_sum_assignment

    names = list(masks)
    if not names:
        return {}
    labels = np.asarray(labels)
    table = np.stack([iou_table(labels, masks[name]) for name in names])  # groups x (0..max label)
    table[:, 0] = 0.0  # label 0 is not a segment: never worth assigning
    rows, columns = linear_sum_assignment(table, maximize=True)
    result = {name: (0.0, 0) for name in names}
    for row, column in zip(rows, columns):
        if column > 0 and table[row, column] > 0:
            result[names[row]] = (float(table[row, column]), int(column))
    return result


def split_components(labels: np.ndarray) -> np.ndarray:
    """Give every 4-connected region of each label value its own id 0..n-1 (2D label map).

    The TIP 2020 protocol scores segments, not clusters: one cluster label that covers two
    separate objects counts as two predicted segments.
    """
    from scipy import ndimage

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"split_components takes a 2D label map, not shape {labels.shape}")
    out = np.empty(labels.shape, np.int64)
    offset = 0
    for value in np.unique(labels):
        components, n = ndimage.label(labels == value)  # the default structure is 4-connectivity
        inside = components > 0
        out[inside] = components[inside] - 1 + offset
        offset += n
    return out


def segment_best_ious(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each ground-truth segment (each value of `truth`, in increasing order), the maximum IoU
    over the predicted segments (values of `prediction`), from one sparse contingency table."""
    prediction = np.asarray(prediction).reshape(-1)
    truth = np.asarray(truth).reshape(-1)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction has {prediction.size} pixels, truth {truth.size}")
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(prediction, return_inverse=True)
    t, p = t.reshape(-1), p.reshape(-1)
    t_size = np.bincount(t)
    p_size = np.bincount(p)
    pairs, inter = np.unique(t * p_size.size + p, return_counts=True)
    ti, pi = pairs // p_size.size, pairs % p_size.size
    iou = inter / (t_size[ti] + p_size[pi] - inter)
    best = np.zeros(t_size.size)
    np.maximum.at(best, ti, iou)
    return best
