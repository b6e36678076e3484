"""Choose one DICOM series in a folder and check that it is whole, before ITK reads it.

Why: GDCM groups a folder's files by series, and ITK reads whatever file list it is given. Left to
themselves they quietly take one of several series, drop a slice whose pixel data is missing, and
spread the slice spacing over the gap, so the labels no longer lie on the scan. Here a folder with
several series is refused unless one is chosen, and a series with a slice missing, unreadable or
twice is refused with the place named.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from .itkquiet import last_line, quiet

# Neighbouring slices may differ from the usual step by this much (mm, or share of the step) before
# the series counts as uneven: scanners round positions to 0.01 mm or so; a missing slice doubles a step.
STEP_TOLERANCE_MM = 0.05
STEP_TOLERANCE_SHARE = 0.2


class UnscannableFolder(InputError):
    """GDCM could not scan the folder (a malformed DICOM file among others stops it)."""


def series_in(folder: Path) -> dict:
    """{series UID: its files in GDCM's slice order} for the DICOM files directly in `folder`."""
    try:
        with quiet():  # GDCM warns on stderr about every file that is not DICOM
            uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
            return {uid: tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in uids}
    except RuntimeError as error:
        raise UnscannableFolder(f"cannot scan the DICOM files in '{folder}' ({last_line(error)}): a malformed file "
                                "stops the scan; give a folder that holds only the series") from None


def choose_series(folder: Path, uid=None, containing=None, series=None) -> tuple:
    """(UID, files) of the one series to read: the one named by `uid`, the one holding the file
    `containing`, or the only one in the folder. Several series and no choice are refused, listed.
    `series` is series_in(folder) when the caller has it already (a folder scan takes a while)."""
    series = series_in(folder) if series is None else series
    if containing is not None:
        holding = [u for u, files in series.items() if any(Path(f).resolve() == containing.resolve() for f in files)]
        if not holding:
            raise InputError(f"cannot read DICOM: '{containing.name}' is not a readable DICOM image; "
                             "give a folder of CT DICOM slices")
        if uid is not None and uid != holding[0]:
            raise InputError(f"'{containing.name}' belongs to series {holding[0]}, not to --series {uid}: "
                             "give a file of that series or drop --series")
        uid = holding[0]
    if not series:
        raise InputError(f"cannot read DICOM: no DICOM series in '{folder}'; give a folder of CT DICOM slices")
    if uid is not None:
        if uid not in series:
            raise InputError(f"no DICOM series {uid} in '{folder}'; it holds {_listing(series)}: "
                             "give one of these UIDs to --series")
        return uid, series[uid]
    if len(series) > 1:
        raise InputError(f"'{folder}' holds {len(series)} DICOM series: {_listing(series)}; choose one with "
                         "--series UID, or give one file of that series as the input")
    return next(iter(series.items()))


def check_series_complete(folder: Path, uid: str, files) -> None:
    """Refuse a series that GDCM would read with holes: files of it GDCM skipped (no pixel data,
    unreadable), two slices at one position, or a step between slices unlike the others."""
    import pydicom

    listed = {str(Path(f).resolve()) for f in files}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and str(p.resolve()) not in listed):
        header = _header(path, pydicom)
        if header is not None and str(getattr(header, "SeriesInstanceUID", "")) == uid:
            why = "has no pixel data" if "PixelData" not in header else "cannot be read as an image"
            raise InputError(f"slice '{path.name}' of the DICOM series in '{folder}' {why}, so the series would be "
                             "read with a gap: re-export the complete series from the scanner or PACS")
    headers = [_header(Path(f), pydicom) for f in files]
    positions = _positions_along_normal(headers)
    if positions is None or len(positions) < 2:
        return
    names = [Path(f).name for f in files]
    order = np.argsort(positions, kind="stable")
    z = positions[order]
    steps = np.diff(z)
    same = np.flatnonzero(steps < STEP_TOLERANCE_MM)
    if same.size:
        i = same[0]
        raise InputError(f"DICOM slices '{names[order[i]]}' and '{names[order[i + 1]]}' lie at the same position "
                         f"({z[i]:.2f} mm): the folder holds a slice twice or two acquisitions; keep one copy of "
                         "the series in the folder")
    usual = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - usual) > max(STEP_TOLERANCE_MM, STEP_TOLERANCE_SHARE * usual))
    if uneven.size:
        i = uneven[0]
        missing = max(int(round(steps[i] / usual)) - 1, 0)
        gap = f"about {missing} slice{'s' if missing != 1 else ''} missing" if missing else "uneven slices"
        raise InputError(f"the DICOM series in '{folder}' has a gap: {steps[i]:.3g} mm between '{names[order[i]]}' "
                         f"({z[i]:.2f} mm) and '{names[order[i + 1]]}' ({z[i + 1]:.2f} mm) where the other slices "
                         f"are {usual:.3g} mm apart ({gap}); re-export the complete series")


def _header(path: Path, pydicom):
    """The file's DICOM header (pixel data deferred, not read), or None for a file that is not DICOM."""
    try:
        return pydicom.dcmread(str(path), defer_size=1024)
    except Exception:  # pydicom raises many kinds for non-DICOM files; they are simply not slices
        return None


def _positions_along_normal(headers) -> np.ndarray | None:
    """Each slice's ImagePositionPatient along the slice normal, in mm; None when a tag is missing."""
    try:
        orientation = np.asarray(headers[0].ImageOrientationPatient, float)
        positions = np.array([np.asarray(h.ImagePositionPatient, float) for h in headers])
    except (AttributeError, TypeError, ValueError):
        return None
    if orientation.shape != (6,) or positions.shape[1:] != (3,):
        return None
    return positions @ np.cross(orientation[:3], orientation[3:])


def _listing(series: dict) -> str:
    """'series 2 "abdomen" (UID 1.2.3): 120 slices of 512 x 512; ...' for a one-line message."""
    import pydicom

    parts = []
    for uid, files in series.items():
        header = _header(Path(files[0]), pydicom) if files else None
        number = getattr(header, "SeriesNumber", None)
        description = getattr(header, "SeriesDescription", None) or "no description"
        size = f"{getattr(header, 'Rows', '?')} x {getattr(header, 'Columns', '?')}"
        parts.append(f"series {f'{number} ' if number not in (None, '') else ''}\"{description}\" (UID {uid}): "
                     f"{len(files)} slice{'s' if len(files) != 1 else ''} of {size}")
    return "; ".join(parts)
