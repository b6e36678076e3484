"""Write one segmentation's files together: labelmap, .seg.nrrd, run record and PNG overview.

All four go through one `atomic_outputs`, so they appear together or not at all: a failure in the
last writer removes the temporary files of the first three, and a stop signal cannot fall between
the renames. Before any work, `check_outputs` refuses a labelmap name whose files could not be
written, and `check_not_inputs` one whose files would overwrite a file the run reads. A program
that started the run in a child process reads the result back with `read_outputs`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from ..engine.results import Segmentation
from ..engine.tissues import Tissue
from ..engine.volume import Volume
from .itkquiet import last_line
from .writers import (LABELMAP_SUFFIXES, SEGMENTATION_SUFFIX, atomic_outputs, check_no_clash, check_output_file,
                      check_replaceable,
                      full_suffix, png_slice_folders, write_labelmap, write_segmentation)

DESCRIPTIONS = {"labelmap": "labelmap", "segmentation": "Slicer segmentation written beside it",
                "record": "run record written beside it", "overview": "overview picture written beside it",
                "checkpoint": "scribble checkpoint written beside it"}
ALL = ("labelmap", "segmentation", "record", "overview")
CHECKPOINT_SUFFIX = ".weights.pt"
# What a program that reads the result back needs (the Slicer module's child process): the labels
# and the record that names them, without the picture, so matplotlib is never imported.
LABELMAP_AND_RECORD = ("labelmap", "record")


def output_paths(labelmap_path, kinds=ALL) -> dict:
    """The labelmap path and its siblings with the same stem, those of `kinds` ("checkpoint" is a
    scribble run's); refuses an unsupported suffix."""
    path = Path(labelmap_path)
    suffix = full_suffix(path.name)
    if path.name.lower().endswith(SEGMENTATION_SUFFIX):
        stem = path.name[: -len(SEGMENTATION_SUFFIX)]
        raise InputError(f"output '{path}' names the Slicer segmentation, which is written beside the labelmap: "
                         f"give the labelmap's name, e.g. '{path.with_name(stem + '.nrrd')}'")
    if suffix.lower() not in LABELMAP_SUFFIXES:
        raise InputError(f"output '{path}' must end in .nrrd, .nii.gz or .nii (the labelmap); "
                         "the .seg.nrrd, .json and .png are written beside it")
    stem = path.name[: len(path.name) - len(suffix)]
    if suffix.lower().startswith(".nii") and suffix != suffix.lower():
        raise InputError(f"output '{path}': NIfTI readers (ITK's, and so Slicer's) accept only the lower-case "
                         f"suffix: give '{path.with_name(stem + suffix.lower())}'")
    paths = {"labelmap": path, "segmentation": path.with_name(stem + SEGMENTATION_SUFFIX),
             "record": path.with_name(stem + ".json"), "overview": path.with_name(stem + ".png"),
             "checkpoint": path.with_name(stem + CHECKPOINT_SUFFIX)}
    return {kind: paths[kind] for kind in kinds}


def check_outputs(labelmap_path, kinds=ALL) -> dict:
    """Refuse, before the input is even read, a labelmap name whose files (those of `kinds`) could
    not all be written and put in place: an unwritable or full folder, a name too long, an existing
    folder, special or read-only file in the way. Returns the output paths."""
    paths = output_paths(labelmap_path, kinds)
    check_output_file(paths["labelmap"], "the labelmap and the files written beside it")
    check_replaceable({DESCRIPTIONS[k]: p for k, p in paths.items()},
                      "remove it or choose another output name with -o")
    return paths


def check_not_inputs(labelmap_path, inputs, kinds=ALL) -> None:
    """Refuse, before the run, outputs that would overwrite a file the run reads (Volume.files) or
    join its PNG slices, suggesting a free name."""
    paths = output_paths(labelmap_path, kinds)
    check_no_clash({DESCRIPTIONS[k]: p for k, p in paths.items()}, inputs,
                   f"choose another output name, e.g. -o {_free_name(paths, inputs)}")


def _free_name(paths: dict, inputs) -> Path:
    """A labelmap path like the given one whose files clash with no input: the same name beside a
    folder of PNG slices it lay in, else STEM_labels, STEM_labels2, ..."""
    labelmap = paths["labelmap"]
    suffix = full_suffix(labelmap.name)
    stem = labelmap.name[: len(labelmap.name) - len(suffix)]
    moved = os.path.realpath(labelmap.parent) in png_slice_folders(inputs)
    folder = labelmap.parent.parent if moved else labelmap.parent
    candidates = [folder / labelmap.name] if moved else []
    candidates += [folder / f"{stem}_labels{n if n > 1 else ''}{suffix}" for n in range(1, 100)]
    for candidate in candidates:
        try:
            check_no_clash(output_paths(candidate), inputs, "")
            return candidate
        except InputError:
            continue
    return candidates[-1]


def write_outputs(labelmap_path, result, title: str = "", final: bool = False, kinds=ALL) -> dict:
    """Write the outputs of `result` (an engine Segmentation) named in `kinds` beside `labelmap_path`,
    and a scribble run's checkpoint, all or none; returns their paths.

    `final`: these are the command's last outputs (see stops.commit).
    """
    kinds = tuple(kinds) + (("checkpoint",) if result.checkpoint is not None else ())
    paths = output_paths(labelmap_path, kinds)
    with atomic_outputs(paths, final) as temp:
        write_labelmap(temp["labelmap"], result.labels, result.volume)
        if "segmentation" in paths:
            write_segmentation(temp["segmentation"], result.labels, result.volume, result.tissues)
        if "record" in paths:
            write_record(temp["record"], dict(result.record, outputs={k: str(p) for k, p in paths.items()}))
        if "overview" in paths:
            from .overview import write_overview  # matplotlib: only when a picture is asked for

            write_overview(temp["overview"], result.volume, result.labels, result.tissues, title=title)
        if "checkpoint" in paths:
            _save_checkpoint(temp["checkpoint"], result.checkpoint)
    return paths


def checkpoint_path(labelmap_path) -> Path:
    """Where a scribble run keeps its checkpoint (partition or weights): beside the labelmap, `<stem>.weights.pt`."""
    return output_paths(labelmap_path, ("checkpoint",))["checkpoint"]


def _save_checkpoint(path, checkpoint) -> None:
    """A scribble run's Checkpoint (partition or weights, and fingerprint), for the next rerun."""
    import torch

    torch.save({"state": checkpoint.state, "fingerprint": checkpoint.fingerprint}, path)


def read_checkpoint(labelmap_path):
    """The Checkpoint a previous scribble run left beside `labelmap_path`, or None (none there, or unreadable:
    the run then starts from random weights, as a first run does)."""
    import torch

    from ..engine.scribbles import Checkpoint

    path = checkpoint_path(labelmap_path)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return Checkpoint(saved["state"], str(saved["fingerprint"]))
    except Exception:  # a damaged or foreign file is no reason to fail a run that does not need it
        return None


def write_record(path, record: dict) -> None:
    """The engine's run record as indented JSON."""
    with open(path, "w") as f:
        json.dump(record, f, indent=1)


def read_outputs(labelmap_path, volume: Volume) -> Segmentation:
    """The Segmentation that write_outputs wrote beside `labelmap_path` for `volume`: the labels, and
    the tissues and record from the run record. Refuses files that do not belong to `volume`."""
    paths = output_paths(labelmap_path, LABELMAP_AND_RECORD)
    try:
        record = json.loads(paths["record"].read_text(encoding="utf-8"))
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(paths["labelmap"]))).astype(np.uint16)
    except (OSError, ValueError, RuntimeError) as error:
        raise InputError(f"cannot read the result '{paths['labelmap']}' ({last_line(error)}): run again") from None
    if labels.shape != volume.shape:
        raise InputError(f"the result '{paths['labelmap']}' has {labels.shape} voxels, the volume {volume.shape}: "
                         "run again")
    tissues = [Tissue(**dict(t, color=tuple(t["color"]))) for t in record["labels"]]
    return Segmentation(labels, tissues, record, volume)
