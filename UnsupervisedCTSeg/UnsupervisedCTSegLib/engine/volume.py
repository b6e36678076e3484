"""The one in-memory form of a CT volume that every reader makes and the engine consumes.

Arrays are indexed (z, y, x), the order numpy, SimpleITK's GetArrayFromImage and Slicer's
arrayFromVolume share. Geometry follows ITK/DICOM conventions in LPS millimetres, so a labelmap
written with the same geometry lies exactly on the input in any viewer. A colour photograph (the
papers' natural-image benchmark) is a Volume too, made by Volume.from_photo, so it takes the same
path through the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import InputError

# Slicer works in RAS, ITK/DICOM (and this package) in LPS: the two differ by flipping x and y.
# The matrix is its own inverse, so it converts both ways.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

# Voxel sizes a CT scanner can produce, in mm: from micro-CT-like reconstructions to thick slabs.
# Outside this range the header is wrong (metres or micrometres, a garbled field), and every
# size in mm the engine uses (body mask, clean-up, the through-plane term) would be meaningless.
PLAUSIBLE_SPACING_MM = (0.05, 20.0)

# Voxel values beyond ±2^24 are refused. No CT encoding comes near it (16-bit stored values span
# -32768 to 65535, and even a rescale slope of 10, as extended scales for metal use, keeps them
# within ±655,360 HU), so such a value is a wrong rescale or a garbled file, and training on it
# gives meaningless labels and statistics. It is also where float32, the engine's number type,
# stops holding every whole number (label maps pass here too), and it refuses values float32
# cannot hold at all (which would turn into infinities) in the same words.
MAX_ABS_HU = float(2 ** 24)


@dataclass
class Volume:
    """Hounsfield units plus the geometry needed to write results back onto the input grid."""

    hu: np.ndarray  # float32, shape (z, y, x)
    spacing: tuple = (1.0, 1.0, 1.0)  # mm along (x, y, z)
    origin: tuple = (0.0, 0.0, 0.0)  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: x, y, z axes in LPS
    source: str = ""
    colour: Optional[np.ndarray] = None  # photographs only: float32 RGB in [0, 1], shape (z, y, x, 3)
    files: tuple = ()  # the files a reader took it from, so no output may overwrite them
    notes: tuple = ()  # what the reader had to assume (one line each), for the user and the run record

    def __post_init__(self):
        self.hu = as_hu_array(self.hu, self.source)
        if self.colour is not None:
            self.colour = np.asarray(self.colour, dtype=np.float32)
            if self.colour.shape != self.hu.shape + (3,):
                raise InputError(f"colour planes {self.colour.shape} do not match the image {self.hu.shape}: "
                                 "build photographs with Volume.from_photo")
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if len(self.spacing) != 3 or min(self.spacing) <= 0 or not np.all(np.isfinite(self.spacing)):
            raise InputError(f"voxel spacing {self.spacing} is not three positive numbers: "
                             "fix the file's header or pass --spacing X Y Z")

    @classmethod
    def from_photo(cls, rgb, source: str = "") -> "Volume":
        """A colour photograph (H, W, 3) or a stack (Z, H, W, 3), 8-bit or float in [0, 1], for the papers'
        natural-image benchmarks. The network sees the RGB values scaled to [0, 1], as in the reference
        code; `hu` holds the 0-255 luminance, which orders the labels and weights edges (edge_hu)."""
        where = f" in {source}" if source else ""
        rgb = np.asarray(rgb)
        if rgb.ndim == 3:
            rgb = rgb[None]
        if rgb.ndim != 4 or rgb.shape[-1] not in (3, 4) or rgb.dtype.kind not in "uif":
            raise InputError(f"the photograph{where} has shape {rgb.shape} and type {rgb.dtype}, not RGB: "
                             "give an (H, W, 3) colour image")
        if rgb.size == 0:
            raise InputError(f"the photograph{where} is empty {rgb.shape}: give an image that has pixels")
        colour = rgb[..., :3].astype(np.float32) / (255.0 if rgb.dtype.kind in "ui" else 1.0)
        if not np.all(np.isfinite(colour)):
            raise InputError(f"the photograph{where} has NaN or infinite values: give finite RGB values")
        luminance = 255.0 * (colour @ np.array([0.299, 0.587, 0.114], np.float32))
        return cls(luminance, source=source, colour=colour)

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
        colour = None if self.colour is None else self.colour[start:stop]
        return Volume(self.hu[start:stop], self.spacing, tuple(origin), self.direction.copy(), self.source, colour,
                      self.files, self.notes)

    def check_ct_spacing(self) -> "Volume":
        """Refuse a CT whose voxel spacing lies outside PLAUSIBLE_SPACING_MM, naming the fix.

        The slice spacing of a one-slice volume is only a placeholder (often 1 mm), so it is not judged.
        """
        low, high = PLAUSIBLE_SPACING_MM
        judged = self.spacing if self.shape[0] > 1 else self.spacing[:2]
        if all(low <= s <= high for s in judged):
            return self
        hint = ""
        if all(s < low for s in judged) and all(low <= s * 1000 <= high for s in judged):
            hint = ", as if the header were in metres"
        shown = " x ".join(f"{s:.3g}" for s in self.spacing)
        raise InputError(f"voxel spacing {shown} mm looks wrong for CT (expected {low:g} to {high:g} mm{hint}): "
                         "fix the file's header, or give the spacing in mm with --spacing X Y Z "
                         "(in Slicer: Volumes module, Volume Information, Image Spacing)")


@dataclass
class Grid:
    """A volume's geometry without its voxels: all a result needs to be put back onto its input.

    Why: the Slicer panel hands a whole CT to a child process and waits minutes for the labels;
    holding a float32 copy of the voxels meanwhile cost up to twice the CT's size in Slicer's memory.
    """

    shape: tuple  # (z, y, x)
    spacing: tuple
    origin: tuple
    direction: np.ndarray
    source: str = ""

    ijk_to_lps = Volume.ijk_to_lps
    ijk_to_ras = Volume.ijk_to_ras


def grid_of(volume: Volume) -> Grid:
    """The geometry of `volume`, without its voxels."""
    return Grid(tuple(volume.shape), volume.spacing, volume.origin, volume.direction.copy(), volume.source)


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

    A 2D image becomes a one-slice volume. RGB, 4D, empty and non-finite data, and values beyond
    ±MAX_ABS_HU, are refused with a message naming the fix (NaN and infinities told apart from huge
    values), because training on them silently gives meaningless labels.
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
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 are refused below, in words
        hu = array.astype(np.float32, copy=False)
    if -MAX_ABS_HU <= float(hu.min()) and float(hu.max()) <= MAX_ABS_HU:  # False with a NaN anywhere
        return hu
    raise InputError(_implausible_values(array, where))


def _implausible_values(array: np.ndarray, where: str) -> str:
    """The message for an image with NaN, infinite or implausibly large voxels, telling them apart."""
    nonfinite = ~np.isfinite(array) if array.dtype.kind == "f" else np.zeros(array.shape, bool)
    with np.errstate(invalid="ignore"):
        beyond = ((array > MAX_ABS_HU) | (array < -MAX_ABS_HU)) & ~nonfinite
    found = []
    if beyond.any():
        largest = float(np.max(np.abs(array[beyond].astype(np.float64))))
        found.append(f"{_voxels(np.count_nonzero(beyond))} beyond ±{MAX_ABS_HU:,.0f} (up to {largest:.3g} in "
                     "magnitude), no Hounsfield units (CT spans about -1024 to 30,000 HU)")
    if nonfinite.any():
        found.append(_voxels(np.count_nonzero(nonfinite), "NaN or infinite "))
    fix = ("check the file's rescale slope and intercept, or replace them (e.g. with -1024 HU) before segmenting"
           if beyond.any() else "replace them (e.g. with -1024 HU) before segmenting")
    return f"the image{where} has {' and '.join(found)}: {fix}"


def _voxels(count, kind: str = "") -> str:
    return f"{int(count)} {kind}voxel{'' if count == 1 else 's'}"


def check_same_grid(other: Volume, volume: Volume, what: str) -> None:
    """Refuse `other` unless it lies voxel for voxel on `volume`'s grid (shape, spacing, origin, direction)."""
    fix = "give the file made on this CT (or resample it onto the CT's grid, nearest neighbour)"
    if other.shape != volume.shape:
        raise InputError(f"the {what} has {other.shape} voxels (z, y, x) but the CT has {volume.shape}: {fix}")
    if not np.allclose(other.spacing, volume.spacing, rtol=1e-3, atol=1e-4):
        raise InputError(f"the {what} has spacing {other.spacing} mm but the CT has {volume.spacing} mm: {fix}")
    tolerance = 0.05 * min(volume.spacing)
    if not np.allclose(other.origin, volume.origin, atol=tolerance, rtol=0):
        raise InputError(f"the {what} starts at {other.origin} mm but the CT at {volume.origin} mm: {fix}")
    if not np.allclose(other.direction, volume.direction, atol=1e-3):
        raise InputError(f"the {what} has axis directions {other.direction.round(3).tolist()} but the CT has "
                         f"{volume.direction.round(3).tolist()}: {fix}")
