"""Choose one DICOM series in a folder and check that it is whole, before ITK reads it.

Why: GDCM groups a folder's files by series, and ITK reads whatever file list it is given. Left to
themselves they quietly take one of several series, drop a slice whose pixel data is missing, and
spread the slice spacing over the gap, so the labels no longer lie on the scan. Here a folder with
several series is refused unless one is chosen, and a series with a slice missing, unreadable or
twice is refused with the place named.

ITK also takes the geometry of the whole series from its first header. It stacks sheared slices (a
gantry tilt) as if they stood straight, takes a slice of another plane or pixel size for one of the
stack, and puts slices without positions 1 mm apart and pixels without a size at 1 mm. So every
slice's header is checked against the others first (plan_stack): what cannot be placed is refused
with the tag and the fix named (--spacing stands in for missing sizes, with a note), and sheared
slices are shifted in-plane onto an orthogonal grid, with a note (in the Volume's notes, which
the command line shows as one warning line and the run record keeps). The frames of an enhanced multi-frame file are
checked and stacked the same way (io.multiframe).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from ..engine.volume import Volume
from .itkquiet import last_line, quiet

# Neighbouring slices may differ from the usual step by this much (mm, or share of the step) before
# the series counts as uneven: scanners round positions to 0.01 mm or so; a missing slice doubles a step.
STEP_TOLERANCE_MM = 0.05
STEP_TOLERANCE_SHARE = 0.2
# Slices count as one plane while their direction cosines differ by at most this: it turns a slice by
# under 0.05 mm at the edge of a 500 mm field of view. Writers round cosines to 5 or 6 decimals; a
# slice of another plane (a localizer, a reformat) differs in the first or second.
ORIENTATION_TOLERANCE = 1e-4
# Sheared slices (a gantry tilt) are corrected once one lies this far (in pixels) sideways from the
# first: below a tenth of a pixel the shift is lost in the interpolation it would need.
SHEAR_TOLERANCE_PX = 0.1
# Gantries tilt up to 30 degrees; slices sheared by more than 45 (further sideways than along their
# normal) do not come from a scanner, and shifting them would invent most of the grid.
MAX_SHEAR_DEGREES = 45.0


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


def check_series_complete(folder: Path, uid: str, files) -> list:
    """Refuse a series that GDCM would read with holes: files of it GDCM skipped (no pixel data,
    unreadable). Returns the headers of `files` (pixel data not read), for plan_series."""
    import pydicom

    listed = {str(Path(f).resolve()) for f in files}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and str(p.resolve()) not in listed):
        header = _header(path, pydicom)
        if header is not None and str(getattr(header, "SeriesInstanceUID", "")) == uid:
            why = "has no pixel data" if "PixelData" not in header else "cannot be read as an image"
            raise InputError(f"slice '{path.name}' of the DICOM series in '{folder}' {why}, so the series would be "
                             "read with a gap: re-export the complete series from the scanner or PACS")
    return [_header(Path(f), pydicom) for f in files]


def read_header(path: Path):
    """One file's DICOM header (pixel data not read), or None for a file that is not DICOM."""
    import pydicom

    return _header(path, pydicom)


def plan_series(files, headers, spacing=None, folder: Path | None = None) -> "Layout":
    """Check the headers of a series' slices (in `files` order) and say how to stack them (Layout).

    The Modality is checked first (modality.check_modality: a DICOM SEG is refused), then every slice
    against the others (plan_stack). `folder` None: the one file `files[0]` is read on its own.
    `spacing` is the user's --spacing (x, y, z mm), which stands in for missing size tags.
    """
    from .modality import check_modality

    names = [Path(f).name for f in files]
    if folder is None:
        whole = f"'{names[0]}'"
        labels = [whole]
    else:
        whole = f"the DICOM series in '{folder}'"
        labels = [f"slice '{n}' of {whole}" for n in names]
    for label, header in zip(labels, headers):
        if header is None:
            raise InputError(f"{label} cannot be read as DICOM: remove it from the folder or re-export the series")
    first = check_modality(headers[0], whole)
    slices = [SliceInfo(name, label, (_integer(h, "Rows"), _integer(h, "Columns")),
                        numbers(h, "ImageOrientationPatient", 6), numbers(h, "PixelSpacing", 2),
                        numbers(h, "ImagePositionPatient", 3), _integer(h, "InstanceNumber"))
              for name, label, h in zip(names, labels, headers)]
    layout = plan_stack(slices, whole, spacing)
    layout.notes = tuple(n for n in (first, *layout.notes) if n)
    return layout


@dataclass
class SliceInfo:
    """What one slice's (or frame's) header says about where it lies; None for a missing tag."""

    name: str  # '1_003.dcm', 'frame 4'
    label: str  # the name in a sentence: "slice '1_003.dcm' of the DICOM series in '...'"
    size: tuple  # (rows, columns)
    orientation: np.ndarray | None  # ImageOrientationPatient: row direction, then column direction
    pixel_spacing: np.ndarray | None  # PixelSpacing as DICOM orders it: between rows (y), between columns (x)
    position: np.ndarray | None  # ImagePositionPatient: LPS mm of the first pixel
    number: int | None  # InstanceNumber (a frame's index), to order slices that have no position


@dataclass
class Layout:
    """How to stack slices into one regular grid. `order`: the slices' indices in stacking order.
    `spacing`, `origin`, `direction`: the grid as the headers describe it. `replace`: the image
    reader's own geometry is wrong (slices without positions, sheared slices) and these take its
    place. `shifts`: each stacked slice's in-plane move (rows, columns) in pixels onto the grid,
    whose size (rows, columns) is `size`; None when the slices stand straight. `notes`: what was
    assumed or corrected, one line each, for the user and the run record."""

    order: np.ndarray
    spacing: tuple
    origin: tuple
    direction: np.ndarray
    replace: bool = False
    shifts: np.ndarray | None = None
    size: tuple | None = None
    notes: tuple = ()

    def place(self, volume: Volume) -> Volume:
        """The Volume read from the slices in `order`, on this grid, with this layout's notes."""
        notes = (*volume.notes, *self.notes)
        if not self.replace:
            volume.notes = notes
            return volume
        hu = volume.hu if self.shifts is None else shift_slices(volume.hu, self.shifts, self.size)
        return Volume(hu, self.spacing, self.origin, self.direction, volume.source, files=volume.files, notes=notes)


def plan_stack(slices: list, whole: str, spacing=None, kind: str = "slices",
               order_by: str = "InstanceNumber") -> Layout:
    """Refuse slices that cannot be stacked into one grid, each refusal one line naming the slice,
    the tag and the fix; else the Layout that stacks them.

    Refused: a slice of another size, plane (ImageOrientationPatient) or pixel size (PixelSpacing)
    than the others; a missing PixelSpacing, or (for more than one slice) a missing position or
    orientation, unless `spacing` (--spacing) stands in; two slices at one position or an uneven
    step (a slice missing); slices sheared further than a gantry tilts. Slices sheared less (a
    gantry tilt) are planned onto an orthogonal grid, with a note. `whole` names the series or file
    in messages, `kind` its parts ("slices", "frames"), `order_by` what SliceInfo.number is.
    """
    count = len(slices)
    notes = []
    fix = "remove that file from the folder or re-export the series"
    odd = _odd_one([s.size for s in slices], lambda a, b: a == b)
    if odd:
        (rows, columns), (usual_rows, usual_columns) = slices[odd[0]].size, slices[odd[1]].size
        raise InputError(f"{slices[odd[0]].label} is {columns} x {rows} pixels where the other {kind} are "
                         f"{usual_columns} x {usual_rows}: the series mixes images of two sizes; {fix}")
    # Pixel size: needed for sizes in mm; --spacing can give it.
    lacking = [s for s in slices if s.pixel_spacing is None or not np.all(s.pixel_spacing > 0)]
    who = _who(lacking, slices, whole) if lacking else ""
    if lacking and spacing is None:
        raise InputError(f"{who} has no PixelSpacing (0028,0030), so the size of its pixels is unknown: give the "
                         "voxel size in mm with --spacing X Y Z")
    if lacking:
        notes.append(f"{who} has no PixelSpacing (0028,0030): its voxels are taken as {_mm(spacing)} mm, "
                     "as --spacing says")
    else:
        odd = _odd_one([s.pixel_spacing for s in slices], _close_spacing)
        if odd:  # DICOM gives (y, x): said as x by y
            (y, x), (usual_y, usual_x) = slices[odd[0]].pixel_spacing, slices[odd[1]].pixel_spacing
            raise InputError(f"{slices[odd[0]].label} has pixels of {x:.4g} x {y:.4g} mm (PixelSpacing) where the "
                             f"other {kind} have {usual_x:.4g} x {usual_y:.4g} mm: the series mixes two "
                             f"reconstructions; {fix}")
    if all(s.orientation is not None for s in slices):
        odd = _odd_one([s.orientation for s in slices], _close_orientation)
        if odd:
            raise InputError(f"{slices[odd[0]].label} lies in another plane (ImageOrientationPatient "
                             f"{_cosines(slices[odd[0]].orientation)}) than the other {kind} "
                             f"({_cosines(slices[odd[1]].orientation)}): the series mixes planes, e.g. a localizer "
                             f"or a reformat among the slices; {fix}")
        row, column = _axes(slices[0].orientation, whole)
    pixel = (float(spacing[0]), float(spacing[1])) if spacing is not None else \
        (float(slices[0].pixel_spacing[1]), float(slices[0].pixel_spacing[0]))  # (x, y) mm
    # Position and orientation: without them slices can neither be placed nor spaced.
    unplaced = [s for s in slices if s.position is None or s.orientation is None]
    if unplaced:
        tags = " and ".join(tag for tag, missing in (
            ("ImagePositionPatient (0020,0032)", any(s.position is None for s in unplaced)),
            ("ImageOrientationPatient (0020,0037)", any(s.orientation is None for s in unplaced))) if missing)
        who = _who(unplaced, slices, whole)
        if count == 1:
            axes = ", its axes those of the pixel grid" if slices[0].orientation is None else ""
            notes.append(f"{who} has no {tags}: it is placed at 0 mm{axes}, so the labels lie on its pixels but not "
                         "where the scanner put them")
            return Layout(np.arange(1), (*pixel, _z(spacing, 1.0)), (0.0, 0.0, 0.0), np.eye(3), notes=tuple(notes))
        return _stack_by_number(slices, who, tags, whole, spacing, notes, kind, order_by)
    normal = np.cross(row, column)
    positions = np.array([s.position for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    z = along[order]
    if count > 1:
        _refuse_gaps([slices[i].name for i in order], z, whole, kind)
    step = float(np.median(np.diff(z))) if count > 1 else 1.0
    grid = (*pixel, _z(spacing, step))
    direction = np.column_stack([row, column, normal])
    first = positions[order[0]]
    # In-plane offset of every slice from the first, along the rows and down the columns, in mm.
    offset = positions[order] - first
    across, down = offset @ row, offset @ column
    if count == 1 or np.max(np.hypot(across / pixel[0], down / pixel[1])) < SHEAR_TOLERANCE_PX:
        return Layout(order, grid, tuple(first), direction, notes=tuple(notes))
    sideways = float(np.hypot(across[-1], down[-1]))
    angle = float(np.degrees(np.arctan2(sideways, z[-1] - z[0])))
    if angle > MAX_SHEAR_DEGREES:
        raise InputError(f"the {kind} of {whole} are sheared by {angle:.0f} degrees ({sideways / (count - 1):.3g} mm "
                         f"sideways for every {step:.3g} mm along their normal), further than any gantry tilts (up to "
                         "30 degrees): their ImagePositionPatient values are garbled; re-export the series")
    columns = (across - across.min()) / grid[0]
    rows = (down - down.min()) / grid[1]
    size = (slices[0].size[0] + _whole_pixels(rows.max()), slices[0].size[1] + _whole_pixels(columns.max()))
    origin = first + across.min() * row + down.min() * column
    notes.append(f"gantry tilt corrected: the {kind} of {whole} are sheared by {angle:.1f} degrees ({sideways:.1f} mm "
                 f"sideways over the stack), so each was shifted in-plane by its own offset onto an orthogonal grid of "
                 f"{size[1]} x {size[0]} pixels (linear interpolation); the labels lie on that grid, not on the "
                 f"original {kind}")
    return Layout(order, grid, tuple(origin), direction, replace=True, shifts=np.column_stack([rows, columns]),
                  size=size, notes=tuple(notes))


def shift_slices(hu: np.ndarray, shifts: np.ndarray, size: tuple) -> np.ndarray:
    """Each slice of `hu` moved by its (rows, columns) shift in pixels onto a (rows, columns) = `size`
    grid, by linear interpolation. What no slice covers gets the image's lowest value, which is
    what scanners write outside the field of view (air or padding)."""
    from scipy import ndimage

    fill = float(hu.min())
    out = np.empty((hu.shape[0], *size), np.float32)
    for k, plane in enumerate(hu):
        ndimage.affine_transform(plane, np.ones(2), offset=-shifts[k], output_shape=size, output=out[k], order=1,
                                 mode="constant", cval=fill)
    return out


def numbers(header, keyword: str, count: int):
    """The `count` numbers of a tag as a float array, or None when it is absent, empty or not numbers."""
    value = None if header is None else header.get(keyword)
    if value is None or value == "":
        return None
    try:
        several = hasattr(value, "__iter__") and not isinstance(value, (str, bytes))  # a MultiValue, a list
        items = list(value) if several else [value]
        values = np.array([float(v) for v in items])
    except (TypeError, ValueError):
        return None
    return values if values.shape == (count,) and np.all(np.isfinite(values)) else None


def _integer(header, keyword: str):
    try:
        value = header.get(keyword)
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _stack_by_number(slices, who, tags, whole, spacing, notes, kind, order_by) -> Layout:
    """Slices without positions: refused, unless --spacing gives the step; then stacked by number."""
    if spacing is None:
        raise InputError(f"{who} has no {tags}, so the {kind} can be neither placed nor spaced: re-export the series "
                         f"with its geometry tags, or give the voxel size with --spacing X Y Z to stack the {kind} "
                         f"in {order_by} order")
    numbers_ = [s.number for s in slices]
    if any(n is None for n in numbers_) or len(set(numbers_)) < len(numbers_):
        raise InputError(f"{who} has no {tags}, and the {kind} have no distinct {order_by} to stack them by: "
                         "re-export the series with its geometry tags")
    direction = np.eye(3)
    if all(s.orientation is not None for s in slices):
        row, column = _axes(slices[0].orientation, whole)
        direction = np.column_stack([row, column, np.cross(row, column)])
    notes.append(f"{who} has no {tags}: the {kind} are stacked in {order_by} order, {_z(spacing, 0):g} mm apart as "
                 "--spacing says, the first at 0 mm, so the labels lie on the slices but not where the scanner put "
                 "them")
    order = np.argsort(numbers_, kind="stable")
    return Layout(order, tuple(float(s) for s in spacing), (0.0, 0.0, 0.0), direction, replace=True, notes=tuple(notes))


def _refuse_gaps(names, z, whole, kind) -> None:
    """Refuse two slices at one position, or a step between slices unlike the others (a slice missing)."""
    steps = np.diff(z)
    same = np.flatnonzero(steps < STEP_TOLERANCE_MM)
    if same.size:
        if kind == "frames":  # a multi-frame file holding each position more than once is several stacks
            places = 1 + int(np.count_nonzero(steps >= STEP_TOLERANCE_MM))
            raise InputError(f"{whole} holds {len(z)} frames at only {places} positions: it holds several stacks (time "
                             "points, phases or echoes), not one 3D image; save one stack as a file of its own")
        i = same[0]
        raise InputError(f"DICOM slices '{names[i]}' and '{names[i + 1]}' lie at the same position ({z[i]:.2f} mm): "
                         "the folder holds a slice twice or two acquisitions; keep one copy of the series in the "
                         "folder")
    usual = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - usual) > max(STEP_TOLERANCE_MM, STEP_TOLERANCE_SHARE * usual))
    if uneven.size:
        i = uneven[0]
        missing = max(int(round(steps[i] / usual)) - 1, 0)
        gap = f"about {missing} slice{'s' if missing != 1 else ''} missing" if missing else "uneven slices"
        raise InputError(f"{whole} has a gap: {steps[i]:.3g} mm between '{names[i]}' ({z[i]:.2f} mm) and "
                         f"'{names[i + 1]}' ({z[i + 1]:.2f} mm) where the other {kind} are {usual:.3g} mm apart "
                         f"({gap}); re-export the complete series")


def _odd_one(values, same):
    """(index of a value unlike most of the others, index of one of the most) or None when all are alike."""
    groups = []  # [index of the first slice with this value, how many share it]
    for i, v in enumerate(values):
        for group in groups:
            if same(values[group[0]], v):
                group[1] += 1
                break
        else:
            groups.append([i, 1])
    if len(groups) < 2:
        return None
    usual = max(groups, key=lambda g: g[1])[0]
    return next(i for i, v in enumerate(values) if not same(values[usual], v)), usual


def _who(lacking, slices, whole) -> str:
    """The slice that lacks a tag, or the whole series when every slice does."""
    if len(lacking) == len(slices):
        return slices[0].label if len(slices) == 1 else whole
    more = len(lacking) - 1
    return lacking[0].label + (f" (and {more} other{'s' if more > 1 else ''})" if more else "")


def _axes(orientation, whole) -> tuple:
    """(row, column) unit vectors of an ImageOrientationPatient; refuses ones that are not perpendicular units."""
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    if abs(np.linalg.norm(row) - 1) > 0.01 or abs(np.linalg.norm(column) - 1) > 0.01 or abs(row @ column) > 0.01:
        raise InputError(f"the ImageOrientationPatient of {whole} is not two perpendicular unit vectors "
                         f"({' '.join(f'{v:.4g}' for v in orientation)}): the header is garbled; re-export the series")
    return row / np.linalg.norm(row), column / np.linalg.norm(column)


def _cosines(orientation) -> str:
    return "\\".join(f"{v:.4g}" for v in orientation)


def _close_orientation(a, b) -> bool:
    return bool(np.max(np.abs(np.subtract(a, b))) <= ORIENTATION_TOLERANCE)


def _close_spacing(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-3, atol=1e-4))


def _whole_pixels(shift: float) -> int:
    """Pixels a grid must grow by to hold a shift (a rounding error of a thousandth of a pixel is none)."""
    return int(np.ceil(shift - 1e-3))


def _z(spacing, otherwise: float) -> float:
    return float(spacing[2]) if spacing is not None else otherwise


def _mm(spacing) -> str:
    return " x ".join(f"{float(s):g}" for s in spacing)


def _header(path: Path, pydicom):
    """The file's DICOM header (pixel data deferred, not read), or None for a file that is not DICOM."""
    try:
        return pydicom.dcmread(str(path), defer_size=1024)
    except Exception:  # pydicom raises many kinds for non-DICOM files; they are simply not slices
        return None


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


def read_dicom_image(path: Path) -> sitk.Image:
    """One DICOM file read by ITK (its console output kept out of sight), or an InputError naming it."""
    try:
        with quiet():
            return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"cannot read DICOM file '{path.name}' ({last_line(error)}): check that it is a complete "
                         "CT image") from None
