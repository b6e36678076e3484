"""SLIC superpixels and the superpixel variant's majority-vote refinement.

Each iteration of the superpixel variant replaces every pixel's argmax label by the most frequent
label inside its superpixel. Done with one bincount over (superpixel, label) pairs on the device,
so its cost does not grow with the number of superpixels the way a Python loop would.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.segmentation import slic


def slic_slices(channels: np.ndarray, n_segments: int, compactness: float, lab: bool = False) -> np.ndarray:
    """SLIC on each axial slice of `channels` (C, Z, H, W) in [0, 1]; ids (Z, H, W) unique per slice.

    HU windows are not colours: no Lab conversion, which skimage would otherwise apply to any
    three-channel input. `lab=True` is for RGB photographs, converted to Lab as the papers' code did.
    """
    _, depth, _, _ = channels.shape
    out = np.empty(channels.shape[1:], np.int64)
    for z in range(depth):
        image = np.moveaxis(channels[:, z], 0, -1)
        out[z] = slic(image, n_segments=n_segments, compactness=compactness, channel_axis=-1,
                      start_label=0, enforce_connectivity=True, convert2lab=lab)
    return out


def majority_vote(labels: torch.Tensor, segments: torch.Tensor, classes: int) -> torch.Tensor:
    """Replace each label by its superpixel's most frequent label (ties: the smallest label).

    `labels` and `segments` have the same shape; segment ids must be unique across the whole
    tensor (offset them per slice). Returns a tensor like `labels`.
    """
    flat_seg = segments.reshape(-1)
    _, compact = torch.unique(flat_seg, return_inverse=True)
    n_seg = int(compact.max()) + 1 if compact.numel() else 0
    pair = compact * classes + labels.reshape(-1)
    counts = torch.bincount(pair, minlength=n_seg * classes).reshape(n_seg, classes)
    winner = counts.argmax(dim=1)
    return winner[compact].reshape(labels.shape)


def majority_vote_loop(labels: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """The per-superpixel Python loop of the reference code, kept as the test oracle and for benchmarks."""
    out = labels.copy()
    for s in np.unique(segments):
        where = segments == s
        values, counts = np.unique(labels[where], return_counts=True)
        out[where] = values[np.argmax(counts)]
    return out
