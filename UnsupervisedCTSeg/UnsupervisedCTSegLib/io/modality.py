"""Whether an image's values can be Hounsfield units, said before anything is segmented.

Why: the body mask, the windows and every name given to a region (air, fat, soft tissue, bone) read
the voxels on the HU scale. An MR, a PET, a dose grid or a label map runs through the same steps
without complaint, and the names that come out mean nothing. A DICOM file says what it is (the
Modality tag), so that is checked from the header, before the pixels are read; any other file is
judged by its values (value_note): no voxel near air, or a handful of whole numbers from 0 up.
Each finding is one of the Volume's notes: the command line shows each as one warning line once
the run's checks pass, and the run record keeps it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.errors import InputError
from ..engine.volume import Volume

# DICOM objects that hold no image of the patient: segmenting them makes no sense.
NOT_IMAGES = {"SEG": "a segmentation", "RTSTRUCT": "a structure set", "SR": "a structured report",
              "PR": "a presentation state", "KO": "a key object selection", "REG": "a registration"}
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
MODALITY_NAMES = {"MR": "magnetic resonance", "PT": "PET", "NM": "nuclear medicine", "US": "ultrasound",
                  "RTDOSE": "a radiotherapy dose grid", "CR": "a radiograph", "DX": "a radiograph",
                  "MG": "mammography", "XA": "angiography", "OT": "other"}
# Both notes say this, so that a file is told once, by the more specific of them.
NOT_HU = "not Hounsfield units"

# Air is -1000 HU and lung -900 to -500; every CT of a body holds some of one or the other, around
# the body or inside it. Half way from air to soft tissue (-500 HU, where the body mask puts the
# skin) is the line: an image with no voxel below it holds neither, so its values are in other units
# (MR and PET intensities, counts and doses are >= 0; a CT's stored values without their rescale
# are >= 0 too) or it is a crop inside the body.
AIR_LINE_HU = -500.0
# A label map holds a few whole numbers from 0 up (background, then one per structure; large
# atlases have about a hundred). A CT holds thousands of distinct values, noise alone gives more
# than this in any slice.
LABEL_MAX_VALUES = 256
# The label test looks at this many voxels at most (a strided view), so it stays cheap on a
# 512 x 512 x 1000 scan; the lowest value is taken over every voxel (one pass, no copy).
SAMPLE_VOXELS = 1_000_000


def check_modality(header, where: str) -> str:
    """Refuse a DICOM object that is not an image (a DICOM SEG); for an image of another modality
    than CT, the note that says its values are not HU ('' for CT, or when the tag is missing)."""
    modality = str(getattr(header, "Modality", "") or "").strip().upper()
    if str(getattr(header, "SOPClassUID", "")) == SEGMENTATION_STORAGE:
        modality = "SEG"
    if modality in NOT_IMAGES:
        raise InputError(f"{where} is a DICOM {modality} ({NOT_IMAGES[modality]}), not an image of the patient: "
                         "give the CT it was made on")
    if modality in ("", "CT"):
        return ""
    kind = f" ({MODALITY_NAMES[modality]})" if modality in MODALITY_NAMES else ""
    return (f"{where} has DICOM Modality {modality}{kind}, not CT: its values are {NOT_HU}, so the tissue "
            "names given to the regions (air, fat, soft tissue, bone) will not mean anything; the regions are "
            "still found")


def check_values(volume: Volume) -> Volume:
    """Add a note to the Volume's notes when its values cannot be CT in HU; the volume."""
    if any(NOT_HU in note for note in volume.notes):
        return volume  # the reader has said so already (a DICOM Modality)
    note = value_note(volume)
    if note:
        volume.notes = (*volume.notes, note)
    return volume


def value_note(volume: Volume) -> str:
    """Why the values cannot be HU of a CT, in one line; '' when they can."""
    hu = volume.hu
    lowest = float(hu.min())
    if lowest < AIR_LINE_HU:
        return ""
    name = f"'{Path(volume.source).name}'" if volume.source else "the image"
    values = np.unique(sample(hu)) if lowest >= 0 else np.empty(0)
    if 0 < values.size <= LABEL_MAX_VALUES and np.all(values == np.round(values)):
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (" ..." if values.size > 8 else "")
        return (f"{name} looks like a label map, not a CT: {values.size} distinct whole values, none below 0 "
                f"({shown}), which are {NOT_HU}; the regions found in it and their tissue names will not mean "
                "anything: give the CT itself")
    return (f"{name} has no voxel below {AIR_LINE_HU:g} HU (its lowest is {lowest:.4g}), where a CT of a body has air "
            f"or lung: its values are likely {NOT_HU} (an MR, a PET, or stored values without their rescale), so the "
            "tissue names given to the regions will not mean anything")


def sample(hu: np.ndarray) -> np.ndarray:
    """A strided view of at most about SAMPLE_VOXELS voxels, spread over the whole volume."""
    stride = max(1, int(np.ceil((hu.size / SAMPLE_VOXELS) ** (1 / 3))))
    while np.prod([-(-n // stride) for n in hu.shape]) > SAMPLE_VOXELS:
        stride += 1
    return hu[::stride, ::stride, ::stride]
