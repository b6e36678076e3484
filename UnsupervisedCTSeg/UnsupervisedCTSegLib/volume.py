"""The one in-memory form of a CT volume that every reader makes and the engine consumes.

Arrays are indexed (z, y, x), the order numpy, SimpleITK's GetArrayFromImage and Slicer's
arrayFromVolume share. Geometry follows ITK/DICOM conventions in LPS millimetres, so a labelmap
written with the same geometry lies exactly on the input in any viewer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

# Slicer works in RAS, ITK/DICOM (and this package) in LPS: the two differ by flipping x and y.
# The matrix is its own inverse, so it converts both ways.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Volume:
    """Hounsfield units plus the geometry needed to write results back onto the input grid."""

    hu: np.ndarray  # float32, shape (z, y, x)
    spacing: tuple = (1.0, 1.0, 1.0)  # mm along (x, y, z)
    origin: tuple = (0.0, 0.0, 0.0)  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: x, y, z axes in LPS
    source: str = ""

    def __post_init__(self):
        self.hu = as_hu_array(self.hu, self.source)
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if len(self.spacing) != 3 or min(self.spacing) <= 0 or not np.all(np.isfinite(self.spacing)):
            raise InputError(f"voxel spacing {self.spacing} is not three positive numbers: "
                             "fix the file's header or pass --spacing X Y Z")

    @property
    def shape(self) -> tuple:
        return self.hu.shape

    def ijk_to_lps(self) -> np.ndarray:
        """4x4 matrix taking voxel indices (i, j, k, 1) = (x, y, z, 1) to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def ijk_to_ras(self) -> np.ndarray:
        """Slicer's IJKToRAS matrix of this grid (the LPS matrix with x and y flipped)."""
        flip = np.eye(4)
        flip[:3, :3] = LPS_TO_RAS
        return flip @ self.ijk_to_lps()

    def with_array(self, array: np.ndarray) -> "Volume":
        """Same geometry, other voxels (used to attach labels or a slab to the input's grid)."""
        return Volume(array, self.spacing, self.origin, self.direction.copy(), self.source)

    def slab(self, start: int, stop: int) -> "Volume":
        """Axial slices start..stop-1 with the origin moved so the slab lies where it was."""
        origin = np.asarray(self.origin) + self.direction[:, 2] * self.spacing[2] * start
        return Volume(self.hu[start:stop], self.spacing, tuple(origin), self.direction.copy(), self.source)


def geometry_from_ijk_to_ras(matrix) -> tuple:
    """(spacing, LPS origin, LPS direction) of a grid given by Slicer's 4x4 IJKToRAS matrix.

    The inverse of Volume.ijk_to_ras: the column lengths are the spacing, the unit columns the axis
    directions, the last column the position of voxel (0, 0, 0).
    """
    matrix = np.asarray(matrix, dtype=float).reshape(4, 4)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    if not np.all(spacing > 0):
        raise InputError(f"the IJK to RAS matrix has a zero-length axis (spacing {tuple(spacing)}): "
                         "fix the volume's spacing")
    direction = LPS_TO_RAS @ matrix[:3, :3] / spacing
    origin = LPS_TO_RAS @ matrix[:3, 3]
    return tuple(spacing), tuple(origin), direction


def as_hu_array(array, source: str = "") -> np.ndarray:
    """Check that `array` is one scalar 2D or 3D image of finite numbers and return it as float32 (z, y, x).

    A 2D image becomes a one-slice volume. RGB, 4D, empty and non-finite data are refused with a
    message naming the fix, because training on them silently gives meaningless labels.
    """
    where = f" in {source}" if source else ""
    array = np.asarray(array)
    if array.dtype.fields is not None or array.dtype.kind not in "biuf":
        raise InputError(f"the image{where} has data type {array.dtype}, not scalar numbers: "
                         "convert it to a grayscale (single-component) CT volume")
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4 and array.dtype == np.uint8:
        raise InputError(f"the image{where} looks like RGB colour data {array.shape}: "
                         "give a single-component CT volume in Hounsfield units")
    if array.ndim != 3:
        raise InputError(f"the image{where} has {array.ndim} dimensions {array.shape}; a 2D slice or a 3D "
                         "volume is needed: pick one time point or channel of 4D/multi-component data")
    if array.size == 0:
        raise InputError(f"the image{where} is empty {array.shape}: load a volume that has voxels")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InputError(f"the image{where} has {bad} NaN or infinite voxels: "
                         "replace them (e.g. with -1024 HU) before segmenting")
    return array
