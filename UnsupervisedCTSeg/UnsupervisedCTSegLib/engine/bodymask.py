"""The patient's body in a CT volume, without the table, its cushion, clothing, blankets or outside air.

Why: the study this project reproduces (unsupervised segmentation by backpropagation) clustered
every voxel of the image, so the CT table, the mattress and the patient's clothes came out as
segments of "anatomy" and took clusters away from the tissues inside the body. Segmenting only
inside a body mask avoids that. The mask keeps everything inside the skin, air included (lungs,
bowel gas), and nothing outside it.

Algorithm, slice by slice in 2D wherever possible (a table and a gown are thin in the axial plane,
the body is thick) and with every size in millimetres (so it behaves the same at 0.6 and 1 mm
pixels):

1. Soft tissue = HU > TISSUE_HU (-225). Fat (about -100 HU) and everything denser is in; air,
   foam mattresses and cushions (-300 HU and below) are out. The usual -500 HU (half way from air
   to tissue) is the better skin outline, but it also takes in a cushion lying against the back,
   which then touches the body along its whole width and cannot be cut away by shape. Holes
   smaller than the opening disk are filled first, so noise speckle in fat cannot let the opening
   eat into the body wall.
2. Opening with a disk of OPENING_MM (3 mm) radius (an octagon, the usual fast stand-in for a
   disk, sized in mm from the pixel spacing): removes everything thinner than 6 mm (table shells,
   sheets, gowns, blankets, cables) and the thin bridges by which they touch the skin, while the
   body, far thicker, keeps its shape. It also shaves the cushion's denser specks off the back.
3. The largest 3D face-connected component is the body; the table, clothing and padding are now
   separate objects and are dropped.
4. The few sharp features the opening rounded off (skin folds, the edge of an ear) are regrown by
   geodesic dilation from the body, at most OPENING_MM far, only into voxels above DENSE_HU
   (-150 HU: fat, skin, muscle). Limiting the distance keeps a table or gown that still touches
   the skin to a stub; limiting the HU keeps the cushion's denser specks out.
5. Partial-volume rim: a voxel above SKIN_OUTLINE_HU (-500) that touches both the body and clear air
   (HU <= CLEAR_AIR_HU, -600) is half skin, half air, and is added, so the outline lies on the
   -500 HU level as with a plain threshold. A cushion voxel of the same HU touches the body but
   lies within more cushion, not clear air, and stays out.
6. Holes are filled per slice: lungs, bowel gas, the trachea, anything the body wall encloses.

Cost: 2D operations on each slice's bounding box and one 3D labelling of a bool volume; memory is
about three bytes per voxel besides the input (the bool mask and a uint16 labelling), no float copy.
About 0.5 s for 512 x 512 x 64 and 3 s for 512 x 512 x 300 voxels on one CPU core.
Tiny or very finely sampled images (a 4 x 4 crop, 0.05 mm pixels): no structuring element is wider
than an eighth of the slice, and if the opening still removes all the tissue, the thresholded tissue
itself is the body, so a sample smaller than a body is not reported as "no body".
Known limits: a body part that joins the rest only outside the scanned range (arms beside the
abdomen) is a separate component and is dropped; a sheet lying on the skin with no air between is
kept for the 1-2 voxels where it touches; a body wall thinner than 6 mm over more than about 6 mm
(small infants) may be cut open, and then the lung behind it is not filled.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

TISSUE_HU = -225.0  # soft tissue (fat and denser) is above; air, foam and cushions below
DENSE_HU = -150.0  # the outline is regrown (step 4) only into voxels denser than this
SKIN_OUTLINE_HU = -500.0  # half way from air to tissue: where the skin outline lies
CLEAR_AIR_HU = -600.0  # the air beside a partial-volume skin voxel is below this
OPENING_MM = 3.0  # radius of the disk that cuts thin table, cushion and clothing connections

_CROSS = ndimage.generate_binary_structure(2, 1)


def body_mask(hu: np.ndarray, spacing: tuple, *, tissue_hu: float = TISSUE_HU,
              opening_mm: float = OPENING_MM) -> np.ndarray:
    """Boolean mask of the patient's body, the shape of `hu` ((z, y, x) HU); spacing is (x, y, z) mm.

    A 2D array is one slice. A volume without soft tissue gives an all-False mask; one that is
    tissue everywhere gives (nearly) all True. The steps and why each is there are in the module
    docstring. The input is not modified.
    """
    hu = np.asarray(hu)
    flat = hu.ndim == 2
    if flat:
        hu = hu[None]
    if hu.ndim != 3 or hu.size == 0:
        raise ValueError(f"body_mask needs a non-empty 2D or 3D (z, y, x) array, got shape {hu.shape}")
    sx, sy = float(spacing[0]), float(spacing[1])
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0 and opening_mm > 0):
        raise ValueError(f"body_mask needs positive spacing and opening, got {spacing}, {opening_mm} mm")
    # No structuring element wider than an eighth of the slice: on a tiny or very finely sampled
    # image a 3 mm disk would erase everything, and absurd spacings would make the loops endless.
    cap = min(hu.shape[1:]) // 8
    disk = _octagon(min(opening_mm / sy, cap), min(opening_mm / sx, cap))
    small_hole_px = int(min(np.pi * opening_mm * opening_mm / (sx * sy), hu.shape[1] * hu.shape[2]))
    regrow_steps = min(max(int(np.ceil(opening_mm / min(sx, sy))), 1), max(cap, 1))

    # Steps 1-2 per slice, on the bounding box of the slice's tissue.
    body = np.zeros(hu.shape, bool)
    for z in range(hu.shape[0]):
        tissue = hu[z] > tissue_hu
        box = _bbox(tissue)
        if box is not None:
            body[z][box] = _open(_fill_holes(tissue[box], small_hole_px), *disk)
    if not body.any():  # the opening took all the tissue there is (a sample smaller than a body): keep the tissue
        np.greater(hu, tissue_hu, out=body)

    # Step 3.
    if not _keep_largest_component(body):
        return np.zeros(hu.shape[1:] if flat else hu.shape, bool)

    # Steps 4-6 per slice, on the body's bounding box grown by the regrowth distance.
    for z in range(hu.shape[0]):
        box = _bbox(body[z], regrow_steps + 2)
        if box is None:
            continue
        slab = hu[z][box]
        grown = body[z][box]
        dense = slab > DENSE_HU
        for _ in range(regrow_steps):
            grown = _dilate(grown, 0, 0, 1) & dense | grown
        rim = (slab > SKIN_OUTLINE_HU) & ~grown
        rim &= _dilate(grown, 0, 0, 1)
        rim &= _dilate(slab <= CLEAR_AIR_HU, 0, 0, 1)
        body[z][box] = _fill_holes(grown | rim)
    return body[0] if flat else body


def _octagon(ry: float, rx: float) -> tuple:
    """(a_y, a_x, b): a (2a_y+1) x (2a_x+1) rectangle dilated by a diamond of radius b, the octagon
    closest to the ellipse of radii (ry, rx) pixels (a disk when the pixels are square). Erosion
    and dilation by it are a few shifted ANDs/ORs, 10x faster than with a disk footprint."""
    r = min(ry, rx)
    best = None
    for b in range(int(np.ceil(r)) + 1):
        a = max(int(round(r - b)), 0)
        error = (a + b - r) ** 2 + ((a + b / 2) * np.sqrt(2) - r) ** 2  # along the axes and diagonals
        if best is None or error < best[0]:
            best = (error, a, b)
    _, a, b = best
    return a + int(round(ry - r)), a + int(round(rx - r)), b


def _erode(mask: np.ndarray, ay: int, ax: int, b: int) -> np.ndarray:
    """Erosion by the octagon (ay, ax, b); pixels outside the array count as background."""
    out = mask.copy()
    for axis, steps in ((0, ay), (1, ax)):
        for _ in range(steps):
            out = _step(out, (axis,), np.logical_and)
    for _ in range(b):
        out = _step(out, (0, 1), np.logical_and)
    return out


def _dilate(mask: np.ndarray, ay: int, ax: int, b: int) -> np.ndarray:
    """Dilation by the octagon (ay, ax, b)."""
    out = mask
    for _ in range(b):
        out = _step(out, (0, 1), np.logical_or)
    for axis, steps in ((0, ay), (1, ax)):
        for _ in range(steps):
            out = _step(out, (axis,), np.logical_or)
    return out if out is not mask else mask.copy()


def _step(mask: np.ndarray, axes: tuple, op) -> np.ndarray:
    """One pixel of erosion (op=logical_and) or dilation (logical_or) along the given axes."""
    out = mask.copy()
    for axis in axes:
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        op(out[hi], mask[lo], out=out[hi])
        op(out[lo], mask[hi], out=out[lo])
        if op is np.logical_and:  # the neighbour beyond the edge is background
            edge = [slice(None)] * 2
            for end in (0, -1):
                edge[axis] = end
                out[tuple(edge)] = False
    return out


def _open(mask: np.ndarray, ay: int, ax: int, b: int) -> np.ndarray:
    """Binary opening (erosion, then dilation) by the octagon (ay, ax, b)."""
    eroded = _erode(mask, ay, ax, b)
    if not eroded.any():
        return eroded
    return _dilate(eroded, ay, ax, b)


def _bbox(mask: np.ndarray, margin: int = 0):
    """Index slices of the bounding box of a 2D mask grown by margin pixels, or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1),
            slice(max(cols[0] - margin, 0), cols[-1] + margin + 1))


def _fill_holes(mask: np.ndarray, max_hole_px: int | None = None) -> np.ndarray:
    """Fill the holes of a 2D mask (background components not touching the edge), all of them or
    only those of at most max_hole_px pixels. One labelling, faster than binary_fill_holes."""
    background, n = ndimage.label(~mask, _CROSS)
    if n == 0:
        return mask.copy()
    fill = np.ones(n + 1, bool)
    fill[0] = False
    fill[background[0]] = fill[background[-1]] = False
    fill[background[:, 0]] = fill[background[:, -1]] = False
    if max_hole_px is not None:
        fill &= np.bincount(background.ravel(), minlength=n + 1) <= max_hole_px
    return mask | fill[background]


def _keep_largest_component(mask: np.ndarray) -> bool:
    """Keep only the largest face-connected 3D component of mask, in place; False if mask is empty.

    Labels are uint16 when the count allows (half the memory of int32) and are counted slice by
    slice, so no 8-byte-per-voxel copy is ever made."""
    try:
        labels = np.empty(mask.shape, np.uint16)
        n = ndimage.label(mask, output=labels)
    except RuntimeError:  # more components than uint16 holds
        labels, n = ndimage.label(mask)
    if n == 0:
        return False
    sizes = np.zeros(n + 1, np.int64)
    for plane in labels:
        sizes += np.bincount(plane.ravel(), minlength=n + 1)
    sizes[0] = 0
    np.equal(labels, np.argmax(sizes), out=mask)
    return True
