"""Every picture of CT slices in radiological convention, whatever the storage order of the array.

Arrays are stored (z, y, x) in whatever direction the file had: a NIfTI from most tools is stored RAS
(direction diag(-1, -1, 1)), so drawing the array as stored puts the spine at the top and the patient's
right on the image's right. Radiologists read axial slices with anterior at the top and the patient's
right on the image's left; every drawing site turns its arrays with `radiological_view` (or
`radiological_slice`) first, so all pictures agree with each other and with Slicer. Only the picture
changes: slice indices chosen by callers and written in labels stay the stored ones.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

# Patient axes in LPS order: +L (0) is the patient's left, +P (1) posterior, +S (2) superior.
L, P, S = 0, 1, 2
# Which way a patient axis runs on the picture, as +1 (increasing index) or -1, for each picture axis.
# Rows: anterior at the top (+P down), superior at the top (-S down) for coronal and sagittal slices.
# Columns: the patient's right on the left (+L), anterior on the left (+P) for sagittal slices.
ROW_SIGN = {P: 1, S: -1, L: 1}
COLUMN_SIGN = {L: 1, P: 1, S: 1}
SLICE_SIGN = {S: 1, P: 1, L: 1}  # slices ordered inferior to superior (or right to left, anterior to posterior)
PICTURE_ORDER = (S, P, L)  # the patient axis a full view puts along (slices, rows, columns)


class RadiologicalView(NamedTuple):
    """An array turned for drawing, its voxel spacing (columns, rows, slices) in mm, and for each of
    its slices the stored index along the stored axis `stored_axis` (0 = z, 1 = y, 2 = x), for labels."""

    array: np.ndarray
    spacing: tuple
    stored: np.ndarray
    stored_axis: int


def patient_axes(direction) -> tuple:
    """(patient axis, sign) of the i (x), j (y) and k (z) index axes: the axis permutation and flips
    nearest to `direction` (the one with the largest total |component|), so an oblique scan is drawn
    as the plain orientation it is closest to."""
    matrix = np.asarray(direction if direction is not None else np.eye(3), dtype=float).reshape(3, 3)
    best = max(itertools.permutations(range(3)), key=lambda p: sum(abs(matrix[p[c], c]) for c in range(3)))
    return tuple((best[c], 1 if matrix[best[c], c] >= 0 else -1) for c in range(3))


def radiological_view(array, direction=None, spacing=(1.0, 1.0, 1.0), keep_slices: bool = False) -> RadiologicalView:
    """`array` (z, y, x, ...), HU or labels, with its axes permuted and flipped for a radiological picture.

    The view's axes are (slices, rows, columns): slices from inferior to superior, rows from anterior to
    posterior, columns from the patient's right to left, so view[i] is an axial slice to draw as is.
    `keep_slices`: the stored z slices stay the slices (for pictures of slices a caller chose by their
    stored index); only their order and their in-plane axes are turned. `direction` None means LPS.
    """
    array = np.asarray(array)
    axes = patient_axes(direction)  # per index axis c (x, y, z); its array axis is 2 - c
    slice_c = 2 if keep_slices else next(c for c in range(3) if axes[c][0] == S)
    rows_c, columns_c = sorted((c for c in range(3) if c != slice_c), key=lambda c: PICTURE_ORDER.index(axes[c][0]))
    picture = ((slice_c, SLICE_SIGN), (rows_c, ROW_SIGN), (columns_c, COLUMN_SIGN))
    view = np.transpose(array, tuple(2 - c for c, _ in picture) + tuple(range(3, array.ndim)))
    stored = np.arange(array.shape[2 - slice_c])
    for axis, (c, signs) in enumerate(picture):
        if axes[c][1] * signs[axes[c][0]] < 0:
            view = np.flip(view, axis)
            stored = stored[::-1] if axis == 0 else stored
    view_spacing = tuple(float(spacing[c]) for c in (columns_c, rows_c, slice_c))
    return RadiologicalView(view, view_spacing, stored, 2 - slice_c)


def radiological_slice(image, direction=None, spacing=(1.0, 1.0, 1.0)) -> tuple:
    """One stored axial slice (y, x, ...) turned for a radiological picture, and its spacing (columns,
    rows, slices) in mm: the in-plane half of `radiological_view` with the stored slice kept."""
    view = radiological_view(np.asarray(image)[None], direction, spacing, keep_slices=True)
    return view.array[0], view.spacing
