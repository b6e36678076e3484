"""Read a CT volume from disk into a `Volume`, whatever form it comes in.

Supported: NRRD (.nrrd/.nhdr), NIfTI (.nii/.nii.gz), MetaImage (.mha/.mhd), a DICOM series folder (or
one .dcm file of it), and DeepLesion 16-bit PNG slices (a folder of them or a single slice). Every
failure is an `InputError` whose message names the problem and the fix, because the CLI prints it
as is and the Slicer panel shows it in a dialog. This module never imports `slicer` or `qt`.
"""
from __future__ import annotations

import csv
import gzip
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError, shown
from ..engine.volume import Volume
from .dicomseries import (UnscannableFolder, check_series_complete, choose_series, plan_series, read_dicom_image,
                          read_header, series_in)
from .imagesize import check_claimed_size
from .itkquiet import last_line, quiet
from .modality import check_values
from .multiframe import is_multiframe, multiframe_file, read_multiframe

ITK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".dicom")
DEEPLESION_OFFSET = 32768  # DeepLesion stores HU + 32768 in 16-bit PNGs
DL_INFO_NAME = "DL_info.csv"
SUPPORTED = ("give a .nrrd, .nii/.nii.gz, .mha file, a DICOM series folder "
             "or a folder of DeepLesion 16-bit PNG slices")


def read_volume(path, spacing=None, dl_info=None, series=None, labels: bool = False) -> Volume:
    """Read any supported CT file or folder; the single entry point the CLI and the module use.

    `spacing` (x, y, z mm) overrides the spacing stored in the file, for headers that lack or
    garble it. `dl_info` = (path to DeepLesion DL_info.csv, row key) gives the spacing of PNG slices.
    `series` is the SeriesInstanceUID to read from a DICOM folder that holds several. The Volume's
    `files` lists every file read, and its spacing is checked against what CT can have. `labels`:
    the file is a label map (strokes, a reference), which may compress far more than a CT
    (io.imagesize). Anything but a regular file or a folder (a FIFO, a device) is refused before
    it is opened, since opening it could wait forever.
    """
    path = check_input(path, labels)
    spacing = None if spacing is None else _check_spacing(spacing)
    if series is not None and not (path.is_dir() or _has_suffix(path, DICOM_SUFFIXES)):
        raise InputError(f"--series chooses a DICOM series, but '{path.name}' is not a DICOM folder or file: drop --series")
    if dl_info is not None and not (path.is_dir() or _has_suffix(path, (".png",))):
        raise InputError(f"--dl-info gives the spacing of DeepLesion PNG slices, but '{path.name}' is no PNG slice or "
                         "folder of them: drop --dl-info (--spacing X Y Z overrides any file's spacing)")
    if path.is_dir():
        volume = _read_folder(path, spacing, dl_info, series)
    elif _has_suffix(path, ITK_SUFFIXES):
        volume = _read_itk_file(path, spacing)
    elif _has_suffix(path, DICOM_SUFFIXES):
        check_only_files(path.parent)  # the series' other files are scanned too
        volume = _read_dicom_series(path.parent, spacing, containing=path, series=series)
    elif _has_suffix(path, (".png",)):
        volume = read_deeplesion(path, spacing, dl_info)
    else:
        raise InputError(f"cannot read '{path.name}': unsupported format; {SUPPORTED}")
    volume = volume.check_ct_spacing()
    return volume if labels else check_values(volume)  # values that cannot be HU: a note


def show_notes(volume: Volume) -> None:
    """What the reader assumed or found (Volume.notes: a spacing assumed, a tilt corrected, values
    that are not HU) as one warning each. Readers only note; a command says them once its checks
    have passed, so that a refusal stays the only line the user sees."""
    for note in volume.notes:
        warnings.warn(note, stacklevel=2)


def check_input(path, labels: bool = False) -> Path:
    """The checks read_volume makes before reading voxels, cheap enough to run before anything else
    (PyTorch's import takes a second): the path exists, is a regular file or a folder, and a file's
    header claims no more voxels than the file holds and memory can keep (io.imagesize). Returns it
    as a Path."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"'{path}' does not exist: check the path (and that the drive is mounted)")
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"'{path}' is not a regular file or a folder (a FIFO, socket or device), which could "
                         "block reading forever: save the CT to a file and give that")
    if path.is_file() and _has_suffix(path, ITK_SUFFIXES):
        data_files = _detached_data_files(path)
        for data in data_files:
            if not data.exists():
                raise InputError(f"the voxel data file '{data.name}' that '{path.name}' refers to is missing: keep it "
                                 "in the same folder as the header, or re-export the volume as one .nrrd or .mha file")
            if not data.is_file():
                raise InputError(f"the voxel data file '{data.name}' that '{path.name}' refers to is not a regular "
                                 "file (a FIFO, socket or device): re-export the volume as one .nrrd or .mha file")
        check_claimed_size(path, data_files, is_ct=not labels)
    return path


def read_deeplesion(folder, spacing=None, dl_info=None) -> Volume:
    """Read DeepLesion PNG slices (a folder of them, or one .png) as HU = pixel - 32768.

    Slices are ordered by the number in their names (9.png before 10.png). Spacing comes from
    `spacing` (x, y, z), else from `dl_info` = (DL_info.csv, key), else from a DL_info.csv found in
    the folder or the DeepLesion layout above it, else 1 mm with a note. DeepLesion PNGs carry no
    position or orientation, so the origin is 0 and the direction the identity.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(f"'{folder}' does not exist: check the path to the DeepLesion PNG slices")
    files = [folder] if folder.is_file() else _sorted_png_slices(folder)
    hu = np.stack([_read_deeplesion_png(f) for f in _same_size(files)])
    found, info, note = _deeplesion_spacing(folder, spacing, dl_info)
    return Volume(hu, found, source=str(folder), files=tuple(files) + ((info,) if info else ()),
                  notes=(note,) if note else ())


def _has_suffix(path: Path, suffixes) -> bool:
    """Case-insensitive suffix test that also matches double suffixes such as .nii.gz."""
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def _check_spacing(spacing) -> tuple:
    """Validate a user-given spacing early, so the message names the argument rather than a file."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"spacing {spacing!r} is not three positive numbers (x, y, z mm): "
                         "pass e.g. --spacing 0.7 0.7 5")
    return values


def _read_folder(folder: Path, spacing, dl_info, series=None) -> Volume:
    """A folder is a DICOM series if GDCM finds one in it, else DeepLesion if it holds PNGs."""
    check_only_files(folder)
    found = series_in(folder)
    if series is not None or found:
        return _read_dicom_series(folder, spacing, series=series, found=found)
    if any(_has_suffix(f, (".png",)) for f in folder.iterdir()):
        return read_deeplesion(folder, spacing, dl_info)
    raise InputError(f"cannot read folder '{folder}': it holds no DICOM series and no PNG slices; {SUPPORTED}")


def check_only_files(folder: Path) -> None:
    """Refuse a folder holding a FIFO, socket or device: scanning it for DICOM would open that and
    could wait forever; or a file whose name is no UTF-8 text, on which ITK aborts the process."""
    for entry in folder.iterdir():
        if not entry.name.isascii() and not _is_utf8(entry.name):
            raise InputError(f"'{shown(folder)}' holds '{shown(entry.name)}', whose name is no UTF-8 text (a name in "
                             "another encoding): rename it to a UTF-8 name, or move it out of the folder")
        if not (entry.is_file() or entry.is_dir()) and entry.exists():
            raise InputError(f"'{folder}' holds '{entry.name}', which is not a regular file (a FIFO, socket or "
                             "device) and would block reading: move it out of the folder")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are no UTF-8 arrive as surrogate escapes
        return False
    return True


def _read_itk_file(path: Path, spacing=None) -> Volume:
    """Read NRRD/NIfTI/MetaImage with SimpleITK, turning its RuntimeError into an InputError.

    NIfTI data shorter than its header says (ITK would fill the rest with zeros) is refused first;
    check_input has refused missing detached data files and weighed the header's claim. ITK's own
    console output is kept out of sight.
    """
    if _has_suffix(path, (".nii", ".nii.gz")) and not path.name.endswith((".nii", ".nii.gz")):
        suffix = ".nii.gz" if _has_suffix(path, (".nii.gz",)) else ".nii"
        raise InputError(f"cannot read '{path.name}': NIfTI readers accept only the lower-case suffix; rename it "
                         f"to end in {suffix}")
    data_files = _detached_data_files(path)  # check_input has refused missing and special ones
    _check_nifti_length(path)
    try:
        with quiet() as printed:
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        why = _short_data(printed.text) or last_line(error)
        raise InputError(f"cannot read '{path.name}': the file is corrupt or not a valid "
                         f"{_format_name(path)} file ({why}); re-export it from the source") from None
    return _volume_from_image(image, path, spacing, files=(path, *data_files))


def _short_data(printed: str) -> str:
    """MetaIO's 'data not read completely ideal = N : actual = M' as a sentence, else ''."""
    match = re.search(r"ideal\s*=\s*(\d+)\s*:\s*actual\s*=\s*(\d+)", printed)
    if not match:
        return ""
    return f"the voxel data is cut short: {int(match[2]):,} of {int(match[1]):,} bytes"


def _detached_data_files(path: Path) -> list:
    """The separate voxel file(s) a .mhd or .nhdr header names (ElementDataFile / data file), if any.

    Lists of files are followed; numbered file patterns (rare) are left to ITK.
    """
    if not _has_suffix(path, (".mhd", ".mha", ".nhdr", ".nrrd")):
        return []
    with open(path, "rb") as handle:
        head = handle.read(65536).decode("latin-1")
    lines = head.splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            break  # an attached NRRD's header ends at its first empty line
        key, sep, value = line.partition("=" if _has_suffix(path, (".mhd", ".mha")) else ":")
        key = key.strip().lower().replace(" ", "")
        if sep and key in ("elementdatafile", "datafile"):
            value = value.strip()
            if value.upper() == "LOCAL" or "%" in value or not value:
                return []
            if value.upper().startswith("LIST"):
                names = [n.strip() for n in lines[i + 1:] if n.strip()]
            else:
                names = [value]
            return [Path(n) if Path(n).is_absolute() else path.parent / n for n in names]
    return []


def _check_nifti_length(path: Path) -> None:
    """Refuse a .nii/.nii.gz whose voxel data is shorter than its header says (a cut-off copy)."""
    if not _has_suffix(path, (".nii", ".nii.gz")):
        return
    compressed = _has_suffix(path, (".gz",))
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as handle:
            header = handle.read(540)
    except (OSError, EOFError):
        header = b""
    needed = _nifti_bytes(header)
    if needed is None:
        return  # not a NIfTI header we can size: ITK says what is wrong with it
    have = _gzip_length(path, needed) if compressed else path.stat().st_size
    if have < needed:
        raise InputError(f"'{path.name}' is cut short: its header describes {needed:,} bytes but the file holds "
                         f"{have:,} ({100 * have / needed:.0f}%), and the missing voxels would be read as zeros; "
                         "copy or download the file again")


def _nifti_bytes(header: bytes):
    """Header size + voxel bytes that a single-file NIfTI-1 or NIfTI-2 header promises, or None."""
    for endian in "<>":
        if len(header) >= 348 and struct.unpack(endian + "i", header[:4])[0] == 348 and header[344:347] == b"n+1":
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = struct.unpack(endian + "f", header[108:112])[0]
            if not np.isfinite(offset):
                return None
            offset = max(int(offset), 352)
            break
        if len(header) >= 540 and struct.unpack(endian + "i", header[:4])[0] == 540 and header[4:7] == b"n+2":
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = max(struct.unpack(endian + "q", header[168:176])[0], 544)
            break
    else:
        return None
    rank = dims[0]
    if not 1 <= rank <= 7 or bitpix <= 0 or any(d < 1 for d in dims[1:rank + 1]):
        return None
    return offset + int(np.prod(dims[1:rank + 1], dtype=np.int64)) * bitpix // 8


def _gzip_length(path: Path, enough: int) -> int:
    """How many bytes a .gz file decompresses to, counting no further than `enough` (a cut-off
    stream counts what it holds). Decompresses in bounded chunks, so memory stays small."""
    total = 0
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as handle:
        while total < enough:
            data = handle.read(1 << 20)
            if not data:
                break
            while data and total < enough:
                try:
                    total += len(decoder.decompress(data, 1 << 24))
                except zlib.error:
                    return total
                data = decoder.unconsumed_tail
                if decoder.eof:  # a concatenated member follows
                    data, decoder = decoder.unused_data + data, zlib.decompressobj(16 + zlib.MAX_WBITS)
    return total


def _format_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "NIfTI"
    if name.endswith((".mha", ".mhd")):
        return "MetaImage"
    return "NRRD"


def _read_dicom_series(folder: Path, spacing=None, containing: Path | None = None, series=None,
                       found=None) -> Volume:
    """Read one whole DICOM series (see dicomseries); HU via the rescale tags.

    GDCM skips non-DICOM files in the folder, and SimpleITK applies RescaleSlope/Intercept, so the
    voxels come out in Hounsfield units. Every header is checked first (dicomseries.plan_series):
    slices that cannot be placed are refused, sheared ones (a gantry tilt) are put on an orthogonal
    grid, another Modality than CT is said; an enhanced multi-frame file is read as the 3D image it
    holds (io.multiframe). `found` is series_in(folder), when already known.
    """
    try:
        uid, files = choose_series(folder, series, containing, found)
    except UnscannableFolder:
        if containing is None or series is not None:
            raise
        return _read_dicom_file(containing, spacing)  # a file among others the scan cannot pass: that file
    headers = check_series_complete(folder, uid, files)
    framed = multiframe_file(folder, files, headers, containing)
    if framed is not None:
        return read_multiframe(framed, spacing)
    layout = plan_series(files, headers, spacing, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([files[i] for i in layout.order])
    try:
        with quiet():
            image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"cannot read the DICOM series in '{folder}' ({last_line(error)}): "
                         "check that the files are complete CT images") from None
    return layout.place(_volume_from_image(image, containing or folder, spacing, files=tuple(Path(f) for f in files)))


def _read_dicom_file(path: Path, spacing=None) -> Volume:
    """One DICOM file on its own, as a one-slice volume (or the 3D image of a multi-frame file); HU
    via the rescale tags. Its header is checked as a series' are (dicomseries.plan_series)."""
    header = read_header(path)
    if is_multiframe(header):
        return read_multiframe(path, spacing)
    layout = plan_series([path], [header], spacing) if header is not None else None
    volume = _volume_from_image(read_dicom_image(path), path, spacing, files=(path,))
    return volume if layout is None else layout.place(volume)


def _volume_from_image(image: sitk.Image, path: Path, spacing_override=None, files=()) -> Volume:
    """Check an ITK image is a single-component 2D/3D scalar image and wrap it with its geometry.

    A given `spacing_override` replaces the file's before Volume validates it, so a header with
    zero or missing spacing can still be read.
    """
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InputError(f"'{path.name}' is an RGB/multi-component image "
                         f"({image.GetNumberOfComponentsPerPixel()} components per voxel): "
                         "give a single-component CT volume in Hounsfield units")
    dim = image.GetDimension()
    if dim not in (2, 3):
        raise InputError(f"'{path.name}' is a {dim}D image of size {image.GetSize()}: give a 3D CT volume "
                         "(extract one time point or channel of 4D data first)")
    array = sitk.GetArrayFromImage(image)
    spacing, origin, direction = image.GetSpacing(), image.GetOrigin(), np.reshape(image.GetDirection(), (dim, dim))
    if dim == 2:
        spacing, origin = (*spacing, 1.0), (*origin, 0.0)
        direction = np.block([[direction, np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]])
    return Volume(array, spacing_override or spacing, origin, direction, source=str(path), files=tuple(files))


def _sorted_png_slices(folder: Path) -> list:
    """PNG files ordered by the last number in the name, as DeepLesion numbers slices (012.png)."""
    files = [f for f in folder.iterdir() if f.is_file() and _has_suffix(f, (".png",))]
    if not files:
        raise InputError(f"'{folder}' holds no .png files: give a folder of DeepLesion 16-bit PNG slices")
    numbered = {}
    for f in files:
        digits = re.findall(r"\d+", f.stem)
        if not digits:
            raise InputError(f"cannot order PNG slice '{f.name}': its name has no slice number; "
                             "name slices by their index, e.g. 012.png")
        number = int(digits[-1])
        if number in numbered:
            raise InputError(f"PNG slices '{numbered[number].name}' and '{f.name}' have the same slice "
                             f"number {number}: keep one series per folder")
        numbered[number] = f
    return [numbered[n] for n in sorted(numbered)]


def _read_deeplesion_png(path: Path) -> np.ndarray:
    """One DeepLesion slice in HU; refuses 8-bit and colour PNGs, which are not DeepLesion data."""
    try:
        with quiet():
            image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(f"cannot read '{path.name}': the PNG is corrupt; re-extract the DeepLesion slices") from None
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InputError(f"'{path.name}' is an RGB/multi-component PNG: DeepLesion slices are "
                         "16-bit grayscale (HU + 32768); give the original Images_png slices")
    if image.GetPixelID() != sitk.sitkUInt16:
        raise InputError(f"'{path.name}' holds {image.GetPixelIDTypeAsString()} pixels, not 16-bit: DeepLesion "
                         "slices are 16-bit grayscale (HU + 32768); screenshots or 8-bit exports lose the HU values")
    return sitk.GetArrayFromImage(image).astype(np.int32) - DEEPLESION_OFFSET


def _same_size(files: list) -> list:
    """Refuse mixed slice sizes up front: np.stack's message would not name the file."""
    sizes = {}
    for f in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(f))
        try:
            with quiet():
                reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"cannot read '{f.name}': the PNG is corrupt; re-extract the DeepLesion slices") from None
        sizes.setdefault(reader.GetSize(), f)
    if len(sizes) > 1:
        (a, fa), (b, fb) = list(sizes.items())[:2]
        raise InputError(f"PNG slices differ in size ({fa.name}: {a}, {fb.name}: {b}): keep one series per folder")
    return files


def _deeplesion_spacing(path: Path, spacing, dl_info) -> tuple:
    """(spacing, DL_info.csv it came from or None, note or ''): the argument, then DL_info.csv
    (given or found), then 1 mm with a note saying so."""
    if spacing is not None:
        return _check_spacing(spacing), None, ""
    if dl_info is not None:
        csv_path, key = (dl_info, None) if isinstance(dl_info, (str, Path)) else dl_info
        found = _spacing_from_dl_info(Path(csv_path), key, path)
        if found is None:
            raise InputError(f"no row of '{csv_path}' matches '{key or _series_name(path)}': pass the slice's "
                             "File_name (e.g. 000001_01_01_109.png) as the key, or give the spacing")
        return found, Path(csv_path), ""
    for candidate in _dl_info_candidates(path):
        found = _spacing_from_dl_info(candidate, None, path)
        if found is not None:
            return found, candidate, ""
    return (1.0, 1.0, 1.0), None, (f"no spacing known for the PNG slices in '{path}': assuming 1 x 1 x 1 mm; "
                                   "give --spacing X Y Z or --dl-info so sizes in mm are right")


def _series_name(path: Path) -> str:
    """DeepLesion series folders are named patient_study_series, e.g. 000001_01_01."""
    return path.parent.name if path.is_file() else path.name


def _dl_info_candidates(path: Path) -> list:
    """DL_info.csv beside the slices (as write_deeplesion_pngs puts it) or at the dataset root
    (DeepLesion's own layout: DL_info.csv next to Images_png/<series>/)."""
    folder = path.parent if path.is_file() else path
    return [p / DL_INFO_NAME for p in (folder, folder.parent, folder.parent.parent) if (p / DL_INFO_NAME).is_file()]


def _spacing_from_dl_info(csv_path: Path, key, path: Path):
    """Spacing of the row whose File_name is `key`, or whose series prefix is `key` or the folder name."""
    if not csv_path.is_file():
        raise InputError(f"DeepLesion info file '{csv_path}' does not exist: give the path to DL_info.csv")
    series = _series_name(path)
    wanted_files = {key} if key else set()
    if path.is_file():
        wanted_files.add(f"{series}_{path.name}")
    wanted_series = {k for k in (key, series) if k}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and ("File_name" not in rows[0] or "Spacing_mm_px_" not in rows[0]):
        raise InputError(f"'{csv_path}' lacks the File_name / Spacing_mm_px_ columns: give DeepLesion's DL_info.csv")
    for match in (lambda name: name in wanted_files, lambda name: name.rsplit("_", 1)[0] in wanted_series):
        for row in rows:
            if match(row["File_name"].strip()):
                return _parse_spacing(row["Spacing_mm_px_"], csv_path)
    return None


def _parse_spacing(text: str, csv_path: Path) -> tuple:
    """'0.703125, 0.703125, 5' -> (0.703125, 0.703125, 5.0)."""
    try:
        return _check_spacing(text.split(","))
    except (ValueError, InputError):
        raise InputError(f"Spacing_mm_px_ '{text}' in '{csv_path}' is not three positive numbers: "
                         "fix the row or pass the spacing") from None
