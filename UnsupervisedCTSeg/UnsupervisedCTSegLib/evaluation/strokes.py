"""A simulated user's strokes: one straight stroke per structure on k axial slices, from a reference.

Scribble methods are compared on exactly the same strokes, and the strokes must not favour any of
them, so they are drawn the way a user paints: a straight line through the structure's interior
(eroded, so a stroke never touches the boundary the methods are judged on), two voxels thick, on k
slices spread evenly over the structure's extent. The seed picks each line's point and angle; the
same seed gives the same strokes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..engine.scribbles import Strokes, make_strokes

ERODE_PIXELS = 2  # a stroke keeps this far from the structure's boundary, in pixels
MIN_INTERIOR = 6  # pixels of eroded interior a slice needs to take a stroke
OTHER = "other body"


def structure_masks(groups: dict, body: np.ndarray) -> dict:
    """The structures a user would stroke: the reference groups (name -> mask) inside the body, plus
    'other body' (the body's voxels in no group)."""
    masks = {name: mask & body for name, mask in groups.items()}
    masks[OTHER] = body & ~np.logical_or.reduce(list(masks.values()))
    return {name: mask for name, mask in masks.items() if mask.any()}


def simulate_strokes(masks: dict, slices: int, seed: int = 0, thickness: int = 2, every_piece: bool = False) -> Strokes:
    """Strokes: structure i (masks' order) painted as i on `slices` axial slices each; a structure
    without enough interior on any slice is left out. With `every_piece`, a careful user: on each of
    those slices one stroke through every separate piece of the structure's interior (both
    kidneys, each muscle) that has MIN_INTERIOR pixels, instead of one through the whole."""
    rng = np.random.default_rng(seed)
    shape = next(iter(masks.values())).shape
    labels = np.zeros(shape, np.uint16)
    names = []
    union = np.zeros(shape, np.int32)
    for mask in masks.values():
        union += mask
    for name, mask in masks.items():
        own = mask & (union == 1)  # voxels of this structure and no other
        interior = np.stack([ndimage.binary_erosion(plane, iterations=ERODE_PIXELS) for plane in own])
        usable = np.flatnonzero(interior.sum(axis=(1, 2)) >= MIN_INTERIOR)
        if usable.size == 0:
            continue
        names.append(name)
        chosen = usable[np.unique(np.floor((np.arange(slices) + 0.5) / slices * usable.size).astype(int))]
        for z in chosen:
            for piece in _pieces(interior[z]) if every_piece else [interior[z]]:
                stroke = _line(piece, rng, thickness)
                labels[z][stroke & (labels[z] == 0)] = len(names)
    return make_strokes(labels, names, shape=shape)


def _pieces(interior: np.ndarray) -> list:
    """The separate (8-connected) pieces of a slice's interior with at least MIN_INTERIOR pixels."""
    pieces, count = ndimage.label(interior, structure=np.ones((3, 3)))
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    return [pieces == i for i in range(1, count + 1) if sizes[i] >= MIN_INTERIOR]


def _line(interior: np.ndarray, rng: np.random.Generator, thickness: int) -> np.ndarray:
    """A straight line through a random interior point at a random angle, as far as the interior
    reaches each way, `thickness` pixels wide."""
    points = np.argwhere(interior)
    y0, x0 = points[int(rng.integers(0, len(points)))].astype(float)
    angle = rng.uniform(0.0, np.pi)
    dy, dx = np.sin(angle), np.cos(angle)
    stroke = np.zeros(interior.shape, bool)
    height, width = interior.shape
    for sign in (1.0, -1.0):
        t = 0.0
        while True:
            y, x = int(round(y0 + sign * t * dy)), int(round(x0 + sign * t * dx))
            if not (0 <= y < height and 0 <= x < width) or not interior[y, x]:
                break
            for offset in range(thickness):  # widen across the line
                yy, xx = int(round(y + offset * dx)), int(round(x - offset * dy))
                if 0 <= yy < height and 0 <= xx < width and interior[yy, xx]:
                    stroke[yy, xx] = True
            t += 0.5
    return stroke
