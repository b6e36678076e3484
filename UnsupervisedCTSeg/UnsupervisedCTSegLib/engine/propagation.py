"""Strokes spread over the network's own partition: the default scribble method.

Grow from seeds spreads each stroke along the cheapest path, where a step costs the HU difference
between neighbours, so it leaks wherever two organs meet at the same HU (liver into spleen, muscle
into kidney). The unsupervised run already parts such organs (the organ split, regions.py), so here
a step also costs PARTITION_STEP_HU where it crosses from one of its labels into another, and
entering a voxel costs how unlike the structure's stroked voxels it looks: -log of the structure's
share under Gaussian models, one per structure fitted to its strokes, of three local features (the HU
lightly smoothed, the HU over a wider neighbourhood, and the local HU spread, which tells fat from
bowel and marrow from muscle where the mean alone does not). Each structure gets its own
shortest-path distance from its strokes over the 26-connected body; a voxel takes the nearest.
A body piece that no stroke reaches takes the structure it resembles most.

Large volumes are propagated on a grid coarsened in-plane (and then in z) to at most
MAX_GRAPH_VOXELS and carried back by nearest neighbour; stroked voxels are never coarsened away.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

PARTITION_STEP_HU = 100.0  # cost of stepping across a boundary of the unsupervised partition, in HU
APPEARANCE_WEIGHT = 5.0  # HU-equivalent cost per nat of "does not look like this structure"
FEATURE_SIGMAS = (0.7, 2.0)  # Gaussian smoothing (voxels) of the two HU features
SPREAD_SIZE = 3  # the local HU spread is the standard deviation over this cube (voxels)
FEATURE_FLOOR_HU = (20.0, 20.0, 10.0)  # added to each feature's spread: a few stroked voxels understate it
MAX_GRAPH_VOXELS = 1_000_000  # body voxels in the graph; above this the grid is coarsened
_OFFSETS = [o for o in itertools.product((-1, 0, 1), repeat=3) if o > (0, 0, 0)]  # each neighbour pair once


def propagate(hu: np.ndarray, strokes: np.ndarray, count: int, partition: np.ndarray, body: np.ndarray,
              cancel=None) -> np.ndarray:
    """Structure index (0..count-1) per voxel of `body`, -1 outside it; `strokes` holds 1..count
    where painted (0 elsewhere), `partition` the unsupervised labels (any integers; only where they
    change matters). `cancel` (callable) is checked between structures."""
    hu = np.asarray(hu, np.float32)
    box = _box(body | (strokes > 0))
    step = _coarsening(body[box])
    coarse = tuple(slice(None, None, s) for s in step)
    widened = ndimage.maximum_filter(strokes[box], size=step) if max(step) > 1 else strokes[box]  # keep every stroke
    inside = body[box][coarse] | (widened[coarse] > 0)
    nearest = _nearest_structure(hu[box][coarse], widened[coarse], partition[box][coarse], inside, count, cancel)
    for axis, s in enumerate(step):
        nearest = np.repeat(nearest, s, axis=axis)
    full = nearest[tuple(slice(0, n) for n in body[box].shape)]
    missing = body[box] & (full < 0)
    if missing.any():  # voxels the coarse grid left out: the nearest labelled one
        index = ndimage.distance_transform_edt(full < 0, return_distances=False, return_indices=True)
        full[missing] = full[tuple(i[missing] for i in index)]
    result = np.full(hu.shape, -1, np.int32)
    result[box] = np.where(body[box], full, -1)
    stroked = strokes > 0
    result[stroked & body] = strokes[stroked & body].astype(np.int32) - 1
    return result


def _features(hu: np.ndarray) -> np.ndarray:
    """(voxels, 3) float64: the HU smoothed at each FEATURE_SIGMAS, and the local HU spread."""
    mean = ndimage.uniform_filter(hu, SPREAD_SIZE)
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(hu * hu, SPREAD_SIZE) - mean * mean, 0.0))
    smoothed = [ndimage.gaussian_filter(hu, sigma) for sigma in FEATURE_SIGMAS]
    return np.stack([f.ravel() for f in (*smoothed, spread)], axis=1).astype(np.float64)


def _unlikeness(features: np.ndarray, strokes: np.ndarray, count: int) -> np.ndarray:
    """(count, voxels): -log of each structure's posterior share under Gaussian models of `features`
    (voxels, F), each fitted to the voxels stroked as that structure (`strokes`, flat: 1..count)."""
    floor = np.diag(np.square(FEATURE_FLOOR_HU))
    log_density = np.zeros((count, len(features)))
    for i in range(count):
        own = features[strokes == i + 1]
        if len(own) == 0:
            log_density[i] = -np.inf
            continue
        covariance = (np.cov(own.T) if len(own) > 1 else 0.0) + floor
        offset = features - own.mean(axis=0)
        log_density[i] = -0.5 * (np.einsum("nj,jk,nk->n", offset, np.linalg.inv(covariance), offset)
                                 + np.linalg.slogdet(covariance)[1])
    return -(log_density - np.logaddexp.reduce(log_density, axis=0, keepdims=True))


def _box(mask: np.ndarray) -> tuple:
    """The bounding box of `mask` as slices, as regions.py takes it (no list of every voxel's indices)."""
    return ndimage.find_objects(mask.astype(np.uint8))[0]


def _coarsening(body: np.ndarray) -> tuple:
    """Strides (z, y, x) that bring the body's voxels under MAX_GRAPH_VOXELS: in-plane first, as
    slices are finer than their spacing apart in a clinical CT."""
    voxels = np.count_nonzero(body)
    sz = sy = 1
    while voxels / (sz * sy * sy) > MAX_GRAPH_VOXELS:
        if sy < 4:
            sy += 1
        else:
            sz += 1
    return sz, sy, sy


def _nearest_structure(hu, strokes, partition, inside, count, cancel) -> np.ndarray:
    """The propagation proper on one grid: structure index per voxel of `inside`, -1 elsewhere."""
    shape = hu.shape
    index = np.full(shape, -1, np.int64)
    index[inside] = np.arange(np.count_nonzero(inside))
    rows, cols, costs = [], [], []
    for offset in _OFFSETS:
        a = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(offset, shape))
        b = tuple(slice(max(0, d), n + min(0, d)) for d, n in zip(offset, shape))
        both = inside[a] & inside[b]
        rows.append(index[a][both])
        cols.append(index[b][both])
        costs.append(np.abs(hu[a][both] - hu[b][both]) + PARTITION_STEP_HU * (partition[a][both] != partition[b][both]))
    rows, cols, costs = np.concatenate(rows), np.concatenate(cols), np.concatenate(costs).astype(np.float64)
    order = np.argsort(rows, kind="stable")
    rows, cols, costs = rows[order], cols[order].astype(np.int32), costs[order]
    nodes = int(index.max()) + 1
    pointers = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=nodes)))).astype(np.int64)
    seeds = strokes[inside]
    unlike = _unlikeness(_features(hu)[inside.ravel()], seeds, count)
    distance = np.full((count, nodes), np.inf)
    for i in range(count):
        if cancel is not None and cancel():
            break
        sources = np.flatnonzero(seeds == i + 1)
        if sources.size == 0:
            continue
        weights = costs + APPEARANCE_WEIGHT * 0.5 * (unlike[i][rows] + unlike[i][cols]) + 1e-3  # 0 means no edge
        graph = sparse.csr_matrix((weights, cols, pointers), shape=(nodes, nodes))
        distance[i] = csgraph.dijkstra(graph, directed=False, indices=sources, min_only=True)
    nearest = distance.argmin(axis=0)
    unreached = ~np.isfinite(distance.min(axis=0))
    nearest[unreached] = unlike[:, unreached].argmin(axis=0)  # a piece no stroke reaches: the look-alike
    out = np.full(shape, -1, np.int32)
    out[inside] = nearest
    return out
