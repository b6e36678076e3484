"""Refuse an image whose header promises more voxels than its file holds or this machine can keep.

Why: ITK allocates what a header says before it reads a byte of voxel data. A 4 KB NRRD header
claiming 2000 x 2000 x 1000 voxels made the reader take 8 GB and 21 s before it failed, and a 2 MB
.nii.gz that inflates to 2 GiB took 9.8 GB. Here the header alone is read (ITK's
ReadImageInformation, no voxels), and the claim is weighed, in well under a second:

- uncompressed voxel data must be as long as the header says (else the file is cut short or forged);
- compressed CT cannot shrink more than MAX_CT_COMPRESSION times: every voxel inside a scan's field
  of view carries noise (a few HU even in air), which gzip cannot squeeze; the shared scans
  compress 1.5 to 2.5 times, and a scan whose field of view holds only a tenth of its grid (the rest
  one constant padding value) about 25 times. A label map (mostly zeros) may shrink far more, so
  strokes and references are weighed against memory only, and so is any claim under SMALL_BYTES;
- the voxels as stored, their float32 HU copy and one working copy must fit in the memory the
  system has available now (engine.device.available_memory), or the run could never start.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.device import available_memory
from ..engine.errors import InputError
from .itkquiet import quiet

MAX_CT_COMPRESSION = 100
# What any machine reads in a blink: below it no claim is a bomb, and a small file (a few slices, a
# label map read as an image) is never refused for compressing well.
SMALL_BYTES = 64 << 20
WORKING_BYTES_PER_VOXEL = 8  # the float32 HU volume and one float32 working copy beside the stored voxels
GIB = 1 << 30


def check_claimed_size(path: Path, data_files=(), is_ct: bool = True) -> None:
    """Weigh the size `path`'s header claims against its voxel data and the available memory
    (see the module's docstring); `data_files` hold the voxels of a detached header."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet():
            reader.ReadImageInformation()
    except RuntimeError:
        return  # not readable as an image: the reader itself says what is wrong with the file
    size = reader.GetSize()
    bytes_per_voxel = _bytes_per_component(reader.GetPixelID()) * reader.GetNumberOfComponents()
    voxels = int(np.prod(size, dtype=np.int64))
    claimed = voxels * bytes_per_voxel
    shown = " x ".join(str(s) for s in size)
    stored = sum(f.stat().st_size for f in data_files) if data_files else path.stat().st_size
    encoding = _encoding(path)
    if encoding == "raw" and stored < claimed:
        raise InputError(f"'{path.name}' claims {shown} voxels ({_gib(claimed)}) but holds only {_size(stored)} of "
                         "voxel data: the file is cut short or its header is wrong; copy or export it again")
    if encoding == "compressed" and is_ct and claimed > max(stored * MAX_CT_COMPRESSION, SMALL_BYTES):
        raise InputError(f"'{path.name}' claims {shown} voxels ({_gib(claimed)}) from {_size(stored)} of compressed "
                         f"data, {claimed / max(stored, 1):,.0f} times smaller: no CT compresses more than "
                         f"{MAX_CT_COMPRESSION} times, so the header is wrong or the file is not a CT; export it again")
    needed = voxels * (bytes_per_voxel + WORKING_BYTES_PER_VOXEL)
    available = available_memory()
    if available is not None and needed > available:
        raise InputError(f"'{path.name}' holds {shown} voxels, which need at least {_gib(needed)} of memory just to "
                         f"hold, but only {_gib(available)} is available: close other programs, or crop or "
                         "downsample the volume (e.g. Slicer's Crop Volume module)")


def _bytes_per_component(pixel_id: int) -> int:
    sizes = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
             sitk.sitkInt32: 4, sitk.sitkFloat32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat64: 8}
    vectors = {sitk.sitkVectorUInt8: 1, sitk.sitkVectorInt8: 1, sitk.sitkVectorUInt16: 2, sitk.sitkVectorInt16: 2,
               sitk.sitkVectorUInt32: 4, sitk.sitkVectorInt32: 4, sitk.sitkVectorFloat32: 4,
               sitk.sitkVectorFloat64: 8, sitk.sitkVectorUInt64: 8, sitk.sitkVectorInt64: 8}
    return sizes.get(pixel_id) or vectors.get(pixel_id) or 8


def _encoding(path: Path) -> str:
    """'raw', 'compressed' or 'other' (text, or a header this check does not parse) for the voxel data."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return "compressed"
    if name.endswith(".nii"):
        return "raw"
    with open(path, "rb") as handle:
        head = handle.read(65536).decode("latin-1")
    if name.endswith((".nrrd", ".nhdr")):
        found = re.search(r"^encoding\s*:\s*(\S+)", head.split("\n\n", 1)[0], re.MULTILINE | re.IGNORECASE)
        value = found[1].lower() if found else ""
        return {"raw": "raw", "gzip": "compressed", "gz": "compressed", "bzip2": "compressed",
                "bz2": "compressed"}.get(value, "other")
    if name.endswith((".mha", ".mhd")):
        compressed = re.search(r"^CompressedData\s*=\s*True", head, re.MULTILINE | re.IGNORECASE)
        return "compressed" if compressed else "raw"
    return "other"


def _gib(n: int) -> str:
    return f"{n / GIB:,.1f} GiB"


def _size(n: int) -> str:
    return f"{n / GIB:,.1f} GiB" if n >= GIB else f"{n / (1 << 20):,.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"
