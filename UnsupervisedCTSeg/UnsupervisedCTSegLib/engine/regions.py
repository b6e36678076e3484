"""Split each density label into its organ-sized parts, joined only by narrow necks.

Why: the network's labels are density classes, so liver, spleen, kidneys and muscle share one "soft
tissue" label, and lungs share theirs with the gas in the bowel. Organs of one density are separate
bodies that touch each other along narrow contacts; within an organ the tissue is thick. Eroding
a label by a few millimetres cuts those contacts and leaves one core per organ; each voxel of the
label then goes to its nearest core within reach (below). This needs no labels and no atlas: only
the shape of the network's own result and the physics of HU.

The split is hierarchical: a label is eroded by growing radii (a quarter of `neck_mm` up to
`neck_mm`); the first radius at which it falls into two or more cores of at least `min_ml` splits
it, and each part is examined again from that radius on. Small necks (liver to spleen) are cut
before wide ones (kidney to muscle), and a thick organ is never cut through.

Dense labels (a quarter of the voxels or more above 150 HU, which no unenhanced soft tissue
reaches) are left whole: the skeleton is one tissue joined at joints thinner than any neck, and
eroding it leaves one core per vertebra; contrast-filled vessels, where they share that label, stay
with it.

After the split each part is named by the HU percentiles of its own voxels (tissues.describe_band),
and a label's parts of one name are joined again where the name is air, lung or fat, or says the
part is mixed: the two lungs are one organ to a reader, the bowel's gas pockets one substance, fat
one layer wrapped around everything (eroding it cuts it at arbitrary places, not between organs),
and a mixed part (gas with its partial-volume rim) no organ that place could tell apart. Splitting
such a label still pays: a lung that shares the fat's label (lung bases at 3 mm are mostly partial
volume) comes out as a part named lung.

A voxel further than `REACH` erosion radii from every core belongs to no organ's core: thin
structures far from every organ (partial-volume rims around bowel gas, thin muscle sheets) become
one remainder part of their label instead of a far-off organ's tail.

The work is done on a grid of about `GRID_MM` voxels (the necks that matter are wider than that),
then carried back to the full grid slice by slice, so a 512 x 512 x 300 CT needs no full-size
temporaries.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .tissues import MIXED, describe_band, label_quartiles

GRID_MM = 3.0  # voxel size of the grid the cores are found on
RADIUS_STEPS = 4  # erosion radii: neck_mm / 4, 2 / 4, 3 / 4 and 4 / 4
DENSE_HU = 150.0  # above any unenhanced soft tissue: bone, calcification or contrast
JOINED_BANDS = ("air", "lung", "fat")  # a label's parts named for one of these bands become one part again
REACH = 2.0  # a voxel further than this many erosion radii from every core belongs to no core
_FACES = ndimage.generate_binary_structure(3, 1)


def split_regions(labels: np.ndarray, hu: np.ndarray, spacing: tuple, neck_mm: float, min_ml: float) -> tuple:
    """(a copy (uint16) of `labels` (z, y, x; 0 = not labelled, kept 0) in which each label made of
    parts joined by necks narrower than 2 x `neck_mm` has one label per part of at least `min_ml`
    millilitres, and how many labels were split). `spacing` is (x, y, z) mm. Label values come out
    1..K' in no particular order: renumber them by HU afterwards."""
    step = tuple(max(1, int(round(GRID_MM / s))) for s in spacing[::-1])  # (z, y, x)
    sample = tuple(slice(s // 2, None, s) for s in step)
    coarse, coarse_hu = labels[sample], hu[sample]
    coarse_spacing = tuple(float(sp) * s for sp, s in zip(spacing[::-1], step))
    voxel_ml = float(np.prod(coarse_spacing)) / 1000.0
    radii = [neck_mm * (i + 1) / RADIUS_STEPS for i in range(RADIUS_STEPS)]
    whole = _kept_whole(labels, hu)
    out = np.zeros(labels.shape, np.uint16)  # a quarter of int64 on a 512 x 512 x 300 CT
    following, split = 1, 0
    for label in np.unique(labels):
        if label == 0:
            continue
        parts = [] if label in whole else _parts(coarse == label, radii, min_ml, coarse_spacing, voxel_ml)
        parts = _join_in_bands(parts, coarse_hu)
        if len(parts) < 2:
            out[labels == label] = following
            following += 1
            continue
        nearest = _nearest_part(parts, coarse_spacing)
        _paint_fine(out, labels == label, nearest, step, following)
        following += len(parts)
        split += 1
    return out, split


def _parts(mask: np.ndarray, radii: list, min_ml: float, spacing: tuple, voxel_ml: float) -> list:
    """The organ parts of `mask` (_split) and, when it is big enough to count, one part more: the
    remainder, every voxel out of reach of all the cores, wherever the split met it."""
    remainder = np.zeros_like(mask)
    parts = [part for part in _split(mask, radii, min_ml, spacing, voxel_ml, remainder) if part.any()]
    if np.count_nonzero(remainder) * voxel_ml < min_ml:
        return parts if parts else [mask]  # the few voxels out of reach go to their nearest part
    return parts + [remainder]


def _join_in_bands(parts: list, hu: np.ndarray) -> list:
    """`parts` with those of one name united into one part, where that name is one of JOINED_BANDS or
    says the part is mixed (no organ: a split by place tells nothing about it)."""
    joined, kept = {}, []
    quartiles = label_quartiles(_numbered(parts, hu.shape), hu, len(parts))[1:]
    for part, quartile in zip(parts, quartiles):
        name = describe_band(quartile)[0] if part.any() else ""
        if name in JOINED_BANDS or name.startswith(MIXED):
            joined[name] = joined[name] | part if name in joined else part
        else:
            kept.append(part)
    return kept + list(joined.values())


def _split(mask: np.ndarray, radii: list, min_ml: float, spacing: tuple, voxel_ml: float,
           remainder: np.ndarray) -> list:
    """The parts (boolean masks on the coarse grid) of `mask`: itself, or split at the first radius
    that leaves two or more cores of at least min_ml, each part split again from that radius.
    Works inside the mask's bounding box, with one distance transform per mask for all radii."""
    if not mask.any():
        return [mask]  # a label too thin to appear on the coarse grid stays whole
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    inner = mask[box]
    # The box's faces are background, except where the box meets the edge of the image: a label cut
    # by the scan's first or last slice is not thinner for it.
    pads = [(int(cut.start > 0), int(cut.stop < size)) for cut, size in zip(box, mask.shape)]
    depth = ndimage.distance_transform_edt(np.pad(inner, pads), sampling=spacing)
    depth = depth[tuple(slice(low, low + n) for (low, _), n in zip(pads, inner.shape))]
    for index, radius in enumerate(radii):
        cores, count = ndimage.label(depth > radius, _FACES)
        sizes = np.bincount(cores.ravel(), minlength=count + 1)[1:] * voxel_ml
        kept = np.flatnonzero(sizes >= min_ml) + 1
        if kept.size == 0:
            break  # no core is left at this radius, so none is at a larger one
        seeds = np.zeros(inner.shape, np.int32)
        for number, core in enumerate(kept, start=1):
            seeds[cores == core] = number
        nearest, distance = _nearest_seed(seeds, spacing)
        far = inner & (distance > REACH * radius)  # beyond every core's reach
        if kept.size < 2 and np.count_nonzero(far) * voxel_ml < min_ml:
            continue
        remainder[box] |= far
        parts = []
        for number in range(1, kept.size + 1):
            part = np.zeros_like(mask)
            part[box] = inner & (nearest == number) & ~far
            parts += _split(part, radii[index:], min_ml, spacing, voxel_ml, remainder)
        return parts
    return [mask]


def _nearest_seed(seeds: np.ndarray, spacing: tuple) -> tuple:
    """Every voxel's nearest non-zero seed value, and its distance (mm) to that seed."""
    distance, where = ndimage.distance_transform_edt(seeds == 0, sampling=spacing, return_indices=True)
    return seeds[tuple(where)], distance


def _numbered(parts: list, shape: tuple) -> np.ndarray:
    """The disjoint `parts` as one array: 1 + the part's index where a part is, 0 elsewhere."""
    numbered = np.zeros(shape, np.int32)
    for number, part in enumerate(parts, start=1):
        numbered[part] = number
    return numbered


def _nearest_part(parts: list, spacing: tuple) -> np.ndarray:
    """0-based index of the nearest part, for every voxel of the coarse grid."""
    return _nearest_seed(_numbered(parts, parts[0].shape), spacing)[0] - 1


def _paint_fine(out: np.ndarray, mask: np.ndarray, nearest: np.ndarray, step: tuple, first: int) -> None:
    """out[mask] = first + the nearest part of the coarse voxel holding each fine voxel, slice by slice."""
    depth, height, width = mask.shape
    rows = np.minimum(np.arange(height) // step[1], nearest.shape[1] - 1)
    cols = np.minimum(np.arange(width) // step[2], nearest.shape[2] - 1)
    for z in range(depth):
        inside = mask[z]
        if inside.any():
            plane = nearest[min(z // step[0], nearest.shape[0] - 1)][np.ix_(rows, cols)]
            out[z][inside] = first + plane[inside]


def _kept_whole(labels: np.ndarray, hu: np.ndarray) -> set:
    """The labels never split: the dense ones (see the module docstring)."""
    quartiles = label_quartiles(labels, hu, int(labels.max()))
    return {label for label, (_, _, upper) in enumerate(quartiles) if label and upper >= DENSE_HU}
