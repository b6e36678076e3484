"""The reference a CT is scored against: a label map on the CT's grid, its names, and tissue masks.

Reference structures (TotalSegmentator's names) are pooled into groups an unsupervised method can
hope to find (lung, bone, liver, ...): our labels are tissues, not individual ribs or vertebrae.
`load_reference` is the one way `evaluate-ct` and `sweep` read a reference, with a clear error for
every way it can fail.
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import InputError
from ..engine.volume import Volume, check_same_grid
from ..io.readers import ITK_SUFFIXES, read_volume

MIN_GROUP_VOXELS = 200  # smaller groups are a few partial-volume voxels at the slab's edge: IoU is noise


@dataclass(frozen=True)
class Group:
    """One scored structure: reference labels whose names match `patterns`, or tissue mask files."""

    name: str
    patterns: tuple = ()  # fnmatch patterns on the reference's label names
    masks: tuple = ()  # tissue mask file stems in the tissue-mask folder, united; all must exist


GROUPS = (
    Group("lung", patterns=("lung_*",)),
    Group("bone", patterns=("vertebrae_*", "rib_*", "costal_cartilages", "sternum", "hip_*", "sacrum",
                            "femur_*", "scapula_*", "clavicula_*", "humerus_*")),
    Group("liver", patterns=("liver",)),
    Group("spleen", patterns=("spleen",)),
    Group("kidney", patterns=("kidney_left", "kidney_right")),
    Group("muscle", masks=("skeletal_muscle",)),
    Group("vessels", patterns=("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein")),
    Group("bowel", patterns=("small_bowel", "colon", "duodenum", "stomach")),
    Group("fat", masks=("subcutaneous_fat", "torso_fat")),
)
TISSUE_MASKS = tuple(stem for group in GROUPS for stem in group.masks)

@dataclass
class ReferenceGroups:
    """The group masks that are scored, where each came from, and why the others are not scored."""

    masks: dict  # group -> boolean (z, y, x) mask, in GROUPS order
    sources: dict  # group -> the reference label names or mask files it unites
    skipped: dict  # group -> why it is not scored

    def voxels(self) -> dict:
        return {name: int(mask.sum()) for name, mask in self.masks.items()}


def reference_groups(reference: np.ndarray, names: dict, tissue_masks: dict,
                     min_voxels: int = MIN_GROUP_VOXELS) -> ReferenceGroups:
    """Pool the reference's labels (value -> name in `names`) and the tissue masks into GROUPS.

    `tissue_masks` maps a mask stem (e.g. "skeletal_muscle") to a boolean array, or to None when
    the file is missing; a group needing a missing mask is skipped, as is a group matching no name
    or with fewer than `min_voxels` voxels, each with the reason.
    """
    masks, sources, skipped = {}, {}, {}
    present = set(np.unique(reference).tolist())
    for group in GROUPS:
        if group.masks:
            missing = [stem for stem in group.masks if tissue_masks.get(stem) is None]
            if missing:
                skipped[group.name] = f"tissue mask {', '.join(missing)} not found"
                continue
            mask = np.logical_or.reduce([np.asarray(tissue_masks[stem], bool) for stem in group.masks])
            members = [f"{stem} mask" for stem in group.masks]
        else:
            ids = {value: name for value, name in names.items()
                   if any(fnmatch.fnmatchcase(name, pattern) for pattern in group.patterns)}
            if not ids:
                skipped[group.name] = f"no reference label named {' or '.join(group.patterns)}"
                continue
            mask = np.isin(reference, list(ids))
            members = [ids[value] for value in sorted(ids) if value in present]
        voxels = int(mask.sum())
        if voxels < min_voxels:
            skipped[group.name] = f"only {voxels} voxels in the volume (< {min_voxels})"
            continue
        masks[group.name], sources[group.name] = mask, members
    return ReferenceGroups(masks, sources, skipped)


def load_names(path) -> dict:
    """Read the label value -> name JSON ({"1": "spleen", ...}) with a clear error for every way it fails."""
    path = Path(path).expanduser()
    fix = 'give a JSON object mapping each label value to its name, e.g. {"1": "spleen", "5": "liver"}'
    if not path.is_file():
        raise InputError(f"names file '{path}' does not exist: {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read names file '{path.name}' ({error}): {fix}") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"names file '{path.name}' holds no label names: {fix}")
    names = {}
    for key, name in data.items():
        try:
            value = int(key)
        except ValueError:
            raise InputError(f"names file '{path.name}' has the key '{key}', not a label value: {fix}") from None
        if not isinstance(name, str):
            raise InputError(f"names file '{path.name}' gives label {key} the name {name!r}, not a string: {fix}")
        names[value] = name
    return names


def load_label_map(path, volume: Volume, what: str = "reference") -> np.ndarray:
    """Read an integer label map and check it lies on the CT's grid; returns int32 (z, y, x)."""
    labels = read_volume(path, labels=True)
    check_same_grid(labels, volume, f"{what} '{Path(path).name}'")
    values = labels.hu
    if not np.array_equal(values, np.round(values)) or values.min() < 0:
        raise InputError(f"the {what} '{Path(path).name}' has negative or fractional values, so it is not a label "
                         "map: give the label map (integer values, 0 = background)")
    return values.astype(np.int32)


def tissue_mask_folder(reference_path, folder=None) -> Optional[Path]:
    """The folder given, else `<reference's folder>/tissue_types` when it exists (TotalSegmentator's layout)."""
    if folder is not None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise InputError(f"tissue mask folder '{folder}' does not exist: give the folder holding "
                             f"{', '.join(s + '.nii.gz' for s in TISSUE_MASKS)}")
        return folder
    default = Path(reference_path).expanduser().parent / "tissue_types"
    return default if default.is_dir() else None


def load_tissue_masks(folder: Optional[Path], volume: Volume) -> dict:
    """stem -> boolean mask for each of TISSUE_MASKS found in `folder` (any ITK suffix), else None."""
    masks = {}
    for stem in TISSUE_MASKS:
        found = [folder / (stem + suffix) for suffix in ITK_SUFFIXES] if folder is not None else []
        path = next((p for p in found if p.is_file()), None)
        masks[stem] = None if path is None else load_label_map(path, volume, "tissue mask") > 0
    return masks


@dataclass
class Reference:
    """A reference read for one CT: the groups to score and every file it was read from."""

    groups: ReferenceGroups
    files: list  # the label map, the names file and the tissue masks: inputs no output may overwrite
    mask_folder: Optional[Path]


def load_reference(reference_path, names_path, volume: Volume, mask_folder=None, slices: Optional[tuple] = None,
                   min_voxels: int = MIN_GROUP_VOXELS) -> Reference:
    """Read the reference label map, its names and the tissue masks for `volume`, pool them into GROUPS
    on axial slices `slices` (start, stop) (default all), and refuse a reference with no group to score."""
    names = load_names(names_path)
    labels = load_label_map(reference_path, volume)
    folder = tissue_mask_folder(reference_path, mask_folder)
    tissue_masks = load_tissue_masks(folder, volume)
    start, stop = slices or (0, volume.shape[0])
    groups = reference_groups(labels[start:stop], names,
                              {k: None if m is None else m[start:stop] for k, m in tissue_masks.items()}, min_voxels)
    if not groups.masks:
        reasons = "; ".join(f"{g}: {why}" for g, why in groups.skipped.items())
        raise InputError(f"no reference group can be scored ({reasons}): check that the names belong to the "
                         "reference and that the slices chosen cover the anatomy")
    files = [Path(reference_path), Path(names_path)]
    if folder is not None:
        files += sorted(p for p in folder.iterdir() if p.is_file())
    return Reference(groups, files, folder)
