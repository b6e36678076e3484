"""Where a voxel lies in the body: coordinate channels that let tissues of one density part by place.

Liver, spleen, kidney and muscle overlap in Hounsfield units on a scan without contrast, so density
alone puts them in one label. Their places differ: the liver fills the right upper abdomen, the
spleen the left, the kidneys lie at the back. With `Settings.position` > 0 each voxel gets two more
features, its left-right and front-back place within the body's in-plane bounding box, each from
-0.5 to 0.5 and multiplied by the weight: the network sees them as input channels and the warm start
clusters on them beside the windowed HU. The frame is the body's, not the image's, so the cue does
not depend on the field of view or on where the table lies. Label-free: no atlas, no organ model.

Only in-plane: a head-foot channel was measured too (the example CT, weight 0.3, seeds 0, 1, 2) and
lowered the mean best-match IoU from 0.320 to 0.305, splitting organs by level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

CHANNELS = 2  # left-right (x), front-back (y)


@dataclass(frozen=True)
class BodyFrame:
    """The body's in-plane bounding box in voxels, (y, x), and the weight the coordinates get."""

    centre: tuple
    extent: tuple
    weight: float

    @classmethod
    def of(cls, body: Optional[np.ndarray], shape: tuple, weight: float) -> Optional["BodyFrame"]:
        """The frame of `body` (the whole slice without one); None when the weight is 0 (off)."""
        if not weight:
            return None
        if body is None or not body.any():
            low, high = (0, 0), (shape[1] - 1, shape[2] - 1)
        else:
            rows, cols = np.flatnonzero(body.any(axis=(0, 2))), np.flatnonzero(body.any(axis=(0, 1)))
            low, high = (int(rows[0]), int(cols[0])), (int(rows[-1]), int(cols[-1]))
        centre = tuple((a + b) / 2.0 for a, b in zip(low, high))
        extent = tuple(float(max(1, b - a)) for a, b in zip(low, high))
        return cls(centre, extent, float(weight))

    def points(self, y, x) -> np.ndarray:
        """(N, 2) weighted coordinates (x, y) of voxels at index arrays y, x."""
        return np.stack([self._axis(x, 1), self._axis(y, 0)], axis=1)

    def planes(self, count: int, box) -> np.ndarray:
        """(count, 2, h, w) weighted coordinates of `count` slices cropped to box (y, x, h, w)."""
        y, x, h, w = box
        shape = (count, h, w)
        xs = np.broadcast_to(self._axis(np.arange(x, x + w), 1)[None, None, :], shape)
        ys = np.broadcast_to(self._axis(np.arange(y, y + h), 0)[None, :, None], shape)
        return np.ascontiguousarray(np.stack([xs, ys], axis=1))

    def _axis(self, index, axis: int) -> np.ndarray:
        return (self.weight * (np.asarray(index, np.float32) - self.centre[axis]) / self.extent[axis]).astype(np.float32)
