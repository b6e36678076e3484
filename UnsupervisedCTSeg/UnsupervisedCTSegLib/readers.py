"""Read a CT volume from disk into a `Volume`, whatever form it comes in.

Supported: NRRD (.nrrd/.nhdr), NIfTI (.nii/.nii.gz), MetaImage (.mha/.mhd), a DICOM series folder (or
one .dcm file of it), and DeepLesion 16-bit PNG slices (a folder of them or a single slice). Every
failure is an `InputError` whose message names the problem and the fix, because the CLI prints it
as is and the Slicer panel shows it in a dialog. This module never imports `slicer` or `qt`.
"""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .volume import Volume

ITK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".dicom")
DEEPLESION_OFFSET = 32768  # DeepLesion stores HU + 32768 in 16-bit PNGs
DL_INFO_NAME = "DL_info.csv"
SUPPORTED = ("give a .nrrd, .nii/.nii.gz, .mha file, a DICOM series folder "
             "or a folder of DeepLesion 16-bit PNG slices")


def read_volume(path, spacing=None, dl_info=None) -> Volume:
    """Read any supported CT file or folder; the single entry point the CLI and the module use.

    `spacing` (x, y, z mm) overrides the spacing stored in the file, for headers that lack or
    garble it. `dl_info` = (path to DeepLesion DL_info.csv, row key) gives the spacing of PNG slices.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"'{path}' does not exist: check the path (and that the drive is mounted)")
    spacing = None if spacing is None else _check_spacing(spacing)
    if path.is_dir():
        return _read_folder(path, spacing, dl_info)
    if _has_suffix(path, ITK_SUFFIXES):
        return _read_itk_file(path, spacing)
    if _has_suffix(path, DICOM_SUFFIXES):
        return _read_dicom_series(path.parent, spacing, containing=path)
    if _has_suffix(path, (".png",)):
        return read_deeplesion(path, spacing, dl_info)
    raise InputError(f"cannot read '{path.name}': unsupported format; {SUPPORTED}")


def read_deeplesion(folder, spacing=None, dl_info=None) -> Volume:
    """Read DeepLesion PNG slices (a folder of them, or one .png) as HU = pixel - 32768.

    Slices are ordered by the number in their names (9.png before 10.png). Spacing comes from
    `spacing` (x, y, z), else from `dl_info` = (DL_info.csv, key), else from a DL_info.csv found in
    the folder or the DeepLesion layout above it, else 1 mm with a warning. DeepLesion PNGs carry no
    position or orientation, so the origin is 0 and the direction the identity.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise InputError(f"'{folder}' does not exist: check the path to the DeepLesion PNG slices")
    files = [folder] if folder.is_file() else _sorted_png_slices(folder)
    hu = np.stack([_read_deeplesion_png(f) for f in _same_size(files)])
    return Volume(hu, _deeplesion_spacing(folder, spacing, dl_info), source=str(folder))


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


def _read_folder(folder: Path, spacing, dl_info) -> Volume:
    """A folder is a DICOM series if GDCM finds one in it, else DeepLesion if it holds PNGs."""
    if _dicom_series_ids(folder):
        return _read_dicom_series(folder, spacing)
    if any(_has_suffix(f, (".png",)) for f in folder.iterdir()):
        return read_deeplesion(folder, spacing, dl_info)
    raise InputError(f"cannot read folder '{folder}': it holds no DICOM series and no PNG slices; {SUPPORTED}")


def _dicom_series_ids(folder: Path) -> tuple:
    """DICOM series UIDs in `folder`, without ITK's 'No Series were found' warning on stderr:
    a folder of PNG slices is a normal input, not a problem to report."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        return tuple(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def _read_itk_file(path: Path, spacing=None) -> Volume:
    """Read NRRD/NIfTI/MetaImage with SimpleITK, turning its RuntimeError into an InputError."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"cannot read '{path.name}': the file is corrupt or not a valid "
                         f"{_format_name(path)} file ({_last_line(error)}); re-export it from the source") from None
    return _volume_from_image(image, path, spacing)


def _last_line(error: Exception) -> str:
    """SimpleITK errors span several lines (source file, line); the last one says what went wrong."""
    lines = str(error).strip().splitlines()
    return lines[-1].strip() if lines else type(error).__name__


def _format_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "NIfTI"
    if name.endswith((".mha", ".mhd")):
        return "MetaImage"
    return "NRRD"


def _read_dicom_series(folder: Path, spacing=None, containing: Path | None = None) -> Volume:
    """Read the series with the most files (or the one holding `containing`); HU via rescale tags.

    GDCM skips non-DICOM files in the folder, and SimpleITK applies RescaleSlope/Intercept, so the
    voxels come out in Hounsfield units.
    """
    series = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid)
              for sid in _dicom_series_ids(folder)}
    if containing is not None:
        series = {sid: files for sid, files in series.items()
                  if any(Path(f).resolve() == containing.resolve() for f in files)}
    if not series:
        what = f"'{containing.name}' is not a readable DICOM image" if containing else f"no DICOM series in '{folder}'"
        raise InputError(f"cannot read DICOM: {what}; give a folder of CT DICOM slices")
    files = max(series.values(), key=len)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"cannot read the DICOM series in '{folder}' ({_last_line(error)}): "
                         "check that the files are complete CT images") from None
    return _volume_from_image(image, containing or folder, spacing)


def _volume_from_image(image: sitk.Image, path: Path, spacing_override=None) -> Volume:
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
    return Volume(array, spacing_override or spacing, origin, direction, source=str(path))


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
            reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"cannot read '{f.name}': the PNG is corrupt; re-extract the DeepLesion slices") from None
        sizes.setdefault(reader.GetSize(), f)
    if len(sizes) > 1:
        (a, fa), (b, fb) = list(sizes.items())[:2]
        raise InputError(f"PNG slices differ in size ({fa.name}: {a}, {fb.name}: {b}): keep one series per folder")
    return files


def _deeplesion_spacing(path: Path, spacing, dl_info) -> tuple:
    """Spacing of DeepLesion slices: argument, then DL_info.csv (given or found), then 1 mm with a warning."""
    if spacing is not None:
        return _check_spacing(spacing)
    if dl_info is not None:
        csv_path, key = (dl_info, None) if isinstance(dl_info, (str, Path)) else dl_info
        found = _spacing_from_dl_info(Path(csv_path), key, path)
        if found is None:
            raise InputError(f"no row of '{csv_path}' matches '{key or _series_name(path)}': pass the slice's "
                             "File_name (e.g. 000001_01_01_109.png) as the key, or give the spacing")
        return found
    for candidate in _dl_info_candidates(path):
        found = _spacing_from_dl_info(candidate, None, path)
        if found is not None:
            return found
    warnings.warn(f"no spacing known for DeepLesion slices '{path}': assuming 1 x 1 x 1 mm; pass the spacing "
                  "or DL_info.csv so volumes and distances are right", stacklevel=3)
    return (1.0, 1.0, 1.0)


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
