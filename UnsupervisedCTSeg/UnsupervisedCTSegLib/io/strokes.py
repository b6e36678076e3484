"""Read a user's strokes: a labelmap, or a Slicer .seg.nrrd whose segments hold the strokes.

A labelmap's value i is structure i ("structure i"). A .seg.nrrd's segments are the structures in
the file's order, with their names, colours and terminology, whatever label values Slicer gave
them in the file. Either must lie voxel for voxel on the CT's grid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from ..engine.scribbles import Strokes, make_strokes
from ..engine.volume import Volume, check_same_grid
from . import terminology
from .readers import read_volume
from .writers import SEGMENTATION_SUFFIX


def read_strokes(path, volume: Volume) -> Strokes:
    """The checked Strokes in `path` for `volume`, or an InputError naming the problem and the fix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"strokes file '{path}' does not exist: paint strokes in Slicer's Segment Editor and save "
                         "the segmentation (.seg.nrrd), or give a labelmap")
    if path.name.lower().endswith(SEGMENTATION_SUFFIX):
        return _read_segmentation(path, volume)
    image = read_volume(path, labels=True)
    check_same_grid(image, volume, f"strokes '{path.name}'")
    return make_strokes(_integers(image.hu, path), shape=volume.shape)


def _read_segmentation(path: Path, volume: Volume) -> Strokes:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    meta = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise InputError(f"the segmentation '{path.name}' keeps its segments in several layers (they overlap): "
                         "erase the overlap in Segment Editor, or export the strokes as a labelmap")
    image = read_volume(path, labels=True)
    check_same_grid(image, volume, f"strokes '{path.name}'")
    values = _integers(image.hu, path)
    segments = []
    index = 0
    while f"Segment{index}_ID" in meta:
        prefix = f"Segment{index}_"
        segments.append((meta.get(prefix + "Name", f"structure {index + 1}"),
                         tuple(float(c) for c in meta.get(prefix + "Color", "0.5 0.5 0.5").split()[:3]),
                         int(meta.get(prefix + "LabelValue", index + 1)),
                         _tag(meta.get(prefix + "Tags", ""), terminology.TAG)))
        index += 1
    if not segments:
        raise InputError(f"the segmentation '{path.name}' has no segments: paint strokes into at least two segments")
    labels = np.zeros(values.shape, np.uint16)
    for number, (_, _, value, _) in enumerate(segments, start=1):
        labels[values == value] = number
    names, colors, _, terms = zip(*segments)
    return make_strokes(labels, names, colors, terms, shape=volume.shape)


def _integers(values: np.ndarray, path: Path) -> np.ndarray:
    if not np.array_equal(values, np.round(values)) or values.min(initial=0) < 0:
        raise InputError(f"the strokes '{path.name}' have negative or fractional values, so they are not a label "
                         "map: give a labelmap (0 = unpainted, 1..n = structures) or a .seg.nrrd")
    return values.astype(np.int64)


def _tag(tags: str, key: str) -> str:
    """One value of a segment's "key:value|key:value|" tags."""
    for item in tags.split("|"):
        name, _, value = item.partition(":")
        if name == key:
            return value
    return ""
