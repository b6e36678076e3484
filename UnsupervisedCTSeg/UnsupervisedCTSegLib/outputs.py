"""Write one segmentation's files together: labelmap, .seg.nrrd, run record and PNG overview.

All four go through `atomic_output` inside one ExitStack, so they appear together or not at all:
a failure in the last writer removes the temporary files of the first three.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .errors import InputError
from .overview import write_overview
from .runrecord import write_record
from .writers import LABELMAP_SUFFIXES, atomic_output, full_suffix, write_labelmap, write_segmentation


def output_paths(labelmap_path) -> dict:
    """The labelmap path and its siblings with the same stem; refuses an unsupported suffix."""
    path = Path(labelmap_path)
    suffix = full_suffix(path.name)
    if suffix.lower() not in LABELMAP_SUFFIXES or path.name.lower().endswith(".seg.nrrd"):
        raise InputError(f"output '{path}' must end in .nrrd, .nii.gz or .nii (the labelmap); "
                         "the .seg.nrrd, .json and .png are written beside it")
    stem = path.name[: len(path.name) - len(suffix)]
    return {"labelmap": path, "segmentation": path.with_name(stem + ".seg.nrrd"),
            "record": path.with_name(stem + ".json"), "overview": path.with_name(stem + ".png")}


def write_outputs(labelmap_path, result, title: str = "") -> dict:
    """Write every output of `result` (an engine Segmentation) beside `labelmap_path`; returns the paths."""
    paths = output_paths(labelmap_path)
    with contextlib.ExitStack() as stack:
        temp = {k: stack.enter_context(atomic_output(p)) for k, p in paths.items()}
        write_labelmap(temp["labelmap"], result.labels, result.volume)
        write_segmentation(temp["segmentation"], result.labels, result.volume, result.tissues)
        record = dict(result.record, outputs={k: str(p) for k, p in paths.items()})
        write_record(temp["record"], record)
        write_overview(temp["overview"], result.volume, result.labels, result.tissues, title=title)
    return paths
