"""Clean up a label volume: absorb small islands into their surroundings and fill small holes.

An unsupervised segmentation is speckled: single voxels and small clusters of one label scattered
inside another, and small pockets of one label inside a structure of another (a vessel in the
liver, noise in fat). `clean_labels` removes both, in physical units so that the result does not
depend on the voxel size. Label 0 means "not labelled" (outside the body mask): it is never given
to a labelled voxel and never taken over by a label.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure

_CROSS = ndimage.generate_binary_structure(2, 1)


def clean_labels(labels: np.ndarray, spacing: tuple, min_island_mm3: float, fill_holes: bool,
                 max_hole_mm2: float = 100.0) -> np.ndarray:
    """A cleaned copy (same dtype) of an integer label volume (z, y, x); spacing is (x, y, z) mm.

    Labels are 1..K; 0 is "not labelled" (outside the body): 0 voxels stay 0, and no labelled
    voxel ever becomes 0.

    Islands (min_island_mm3 > 0): every 3D face-connected component of one label whose volume is
    below min_island_mm3 takes the label that most of its face neighbours have, among labels other
    than its own and 0 (ties: the smaller label). Only neighbours in components that stay vote; an
    island that touches nothing but other islands (a speckle cluster) waits until its neighbours
    have settled and then takes their majority, so every island ends up in a component that
    stays. An island whose only neighbours are 0 or the edge of the image is left as it is.

    Holes (fill_holes): in each axial slice and for each label in increasing order, the holes of
    the label (the 2D face-connected regions of other labels that it encloses, as
    scipy.ndimage.binary_fill_holes finds them) become that label, swallowing whatever they hold.
    Two exceptions keep anatomy: a hole holding a 0 voxel is left alone (labels never grow into the
    outside), and a hole larger than max_hole_mm2 (default 100 mm2, a circle of about 11 mm) is
    kept, because a kidney in its fat or a vessel in the liver is also a "hole" of the tissue around
    it. Holes nested in holes end up with the label of the outermost hole small enough to fill.

    Islands are absorbed before holes are filled. The input is never modified; with
    min_island_mm3 <= 0 and fill_holes False the result is an unchanged copy.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"clean_labels needs an integer label array, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("clean_labels needs labels >= 0 (0 = not labelled)")
    flat = labels.ndim == 2
    out = labels[None].copy() if flat else labels.copy()
    if out.ndim != 3:
        raise ValueError(f"clean_labels needs a 2D or 3D (z, y, x) array, got shape {labels.shape}")
    sx, sy, sz = (float(s) for s in spacing)
    if min_island_mm3 > 0 and out.size:
        _absorb_islands(out, min_island_mm3 / (sx * sy * sz))
    if fill_holes and max_hole_mm2 > 0 and out.size:
        max_hole_px = max_hole_mm2 / (sx * sy)
        for z in range(out.shape[0]):
            _fill_slice_holes(out[z], max_hole_px)
    return out[0] if flat else out


def _absorb_islands(out: np.ndarray, min_voxels: float) -> None:
    """Reassign, in place, the components of fewer than min_voxels voxels (see clean_labels).

    One labelling of all labels at once gives the components; the islands' face neighbours give a
    graph of islands and the components around them. Islands next to a component that stays take
    the label most of those neighbours have; islands that touch only other islands (speckle
    clusters) then take the majority of their neighbours already settled, and so on inwards, so
    every island joins a component that stays and the volume is labelled only once.
    Memory: the component labelling is int64 (8 bytes a voxel); the rest scales with the islands.
    """
    flat = out.reshape(-1)
    comp = measure.label(out, background=0, connectivity=1).reshape(-1)
    sizes = np.bincount(comp)
    small = sizes < min_voxels
    small[0] = False
    if not small.any():
        return
    idx = np.flatnonzero(small[comp])  # the voxels of islands: usually few
    island = comp[idx]
    coords = np.unravel_index(idx, out.shape)
    cid, ncomp, nlab = [], [], []
    stride = 1
    for axis in (2, 1, 0):
        for step, ok in ((stride, coords[axis] < out.shape[axis] - 1), (-stride, coords[axis] > 0)):
            dst = idx[ok] + step
            keep = (flat[dst] != 0) & (comp[dst] != island[ok])
            cid.append(island[ok][keep])
            ncomp.append(comp[dst[keep]])
            nlab.append(flat[dst[keep]])
        stride *= out.shape[axis]
    cid, ncomp, nlab = np.concatenate(cid), np.concatenate(ncomp), np.concatenate(nlab)
    label = np.zeros(sizes.size, np.int64)  # the label of each component (where needed)
    label[island] = flat[idx]
    label[ncomp] = nlab
    del nlab
    settled = ~small
    changed = False
    while cid.size:
        vote = settled[ncomp]
        if not vote.any():
            break
        winners, label_won = _most_common(cid[vote], label[ncomp[vote]])
        label[winners] = label_won
        settled[winners] = True
        changed = True
        waiting = ~settled[cid]  # drop the votes of the islands just settled
        cid, ncomp = cid[waiting], ncomp[waiting]
    if changed:
        flat[idx] = label[island]


def _most_common(keys: np.ndarray, values: np.ndarray):
    """For each distinct key, the value it occurs with most often (ties: the smallest value)."""
    span = int(values.max()) + 1
    pair, counts = np.unique(keys.astype(np.int64) * span + values, return_counts=True)
    k, v = pair // span, pair % span
    order = np.lexsort((v, -counts, k))
    k, v = k[order], v[order]
    first = np.ones(k.size, bool)
    first[1:] = k[1:] != k[:-1]
    return k[first], v[first]


def _fill_slice_holes(plane: np.ndarray, max_hole_px: float) -> None:
    """Fill, in place, the holes of at most max_hole_px pixels of each label of one 2D slice.

    Labels are taken in increasing order, each on its bounding box in the slice: a hole is a
    face-connected region of other pixels that does not reach the edge of the box (so the label
    encloses it: what binary_fill_holes fills); one holding a 0 pixel or larger than max_hole_px
    is left alone. A filled hole is that label's from then on, for the labels after it.
    """
    for k, box in enumerate(ndimage.find_objects(plane), start=1):
        if box is None:
            continue
        sub = plane[box]
        if min(sub.shape) < 3:
            continue  # no room for a hole
        other, n = ndimage.label(sub != k, _CROSS)
        if n == 0:
            continue
        fill = np.bincount(other.ravel(), minlength=n + 1) <= max_hole_px
        fill[0] = False
        fill[other[0]] = fill[other[-1]] = False
        fill[other[:, 0]] = fill[other[:, -1]] = False
        if not fill.any():
            continue
        fill[other[sub == 0]] = False
        if fill.any():
            sub[fill[other]] = k
