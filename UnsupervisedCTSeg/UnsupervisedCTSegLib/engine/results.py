"""What a run reports: Progress while it runs, the Segmentation at the end.

Without torch, so that the Slicer panel can read a child process's progress and result without
importing it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .tissues import Tissue
from .volume import Volume


class Progress(NamedTuple):
    """What a progress callback receives, at least once per training iteration."""

    fraction: float  # 0..1 of the whole run
    iteration: int
    labels: int  # distinct labels at this iteration
    loss: float
    stage: str  # e.g. "training", "slice 3/12", "labelling slices"
    elapsed: float  # seconds since the run started


@dataclass
class Segmentation:
    """Labels 1..K on the input grid (0 = not labelled), one Tissue per label, and the run record."""

    labels: np.ndarray  # uint16 (z, y, x)
    tissues: list
    record: dict
    volume: Volume
    checkpoint: object = None  # scribble runs: a scribbles.Checkpoint a rerun can start from

    def tissue(self, label: int) -> Tissue:
        return next(t for t in self.tissues if t.label == label)
