"""Enhanced (multi-frame) DICOM: one file that holds a whole 3D image, each frame placed on its own.

Why: ITK's series reader takes such a file for a 4D image of one time point and refuses it, and
ITK's file reader stacks the frames in the order they are stored, with the first frame's rescale for
all. Here the frames are read with pydicom and placed by their functional groups: each frame's
position (PlanePositionSequence), its orientation and pixel size (PlaneOrientationSequence,
PixelMeasuresSequence) and its rescale to HU (PixelValueTransformationSequence), each from the
frame's own groups (PerFrameFunctionalGroupsSequence) or else the shared ones. The frames are
checked and stacked along the slice normal as the slices of a series are (dicomseries.plan_stack):
a gap, a frame in another plane and a gantry tilt are found the same way. A file holding several
stacks (each position twice: time points, phases) is refused, since it is not one 3D image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from ..engine.volume import Volume
from .dicomseries import SliceInfo, numbers, plan_stack, read_dicom_image
from .itkquiet import last_line, quiet
from .modality import check_modality


def is_multiframe(header) -> bool:
    """Whether a DICOM header holds more than one frame."""
    try:
        return header is not None and int(header.get("NumberOfFrames") or 1) > 1
    except (TypeError, ValueError):
        return False


def multiframe_file(folder: Path, files, headers, containing: Path | None = None) -> Path | None:
    """The multi-frame file of a series to read (the one given, or the series' only file), None when
    the series is of single-frame slices. A series of several multi-frame files is refused unless
    one of them is given: each holds a stack of its own."""
    framed = [Path(f) for f, h in zip(files, headers) if is_multiframe(h)]
    if not framed:
        return None
    if containing is not None and any(f.resolve() == containing.resolve() for f in framed):
        return containing
    if len(files) == 1:
        return framed[0]
    raise InputError(f"the DICOM series in '{folder}' holds {len(framed)} multi-frame files among {len(files)}: give "
                     "one of the multi-frame files as the input")


def has_frame_positions(header) -> bool:
    """Whether each frame has its own position (an enhanced image), rather than one geometry for all
    (older multi-frame objects, which ITK's file reader places itself)."""
    groups = header.get("PerFrameFunctionalGroupsSequence")
    return bool(groups) and all(_group(header, k, "PlanePositionSequence") is not None for k in range(len(groups)))


def read_multiframe(path: Path, spacing=None) -> Volume:
    """One multi-frame DICOM file as a 3D Volume in HU, frames sorted along the slice normal."""
    import pydicom

    where = f"'{path.name}'"
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as error:  # pydicom raises many kinds for a damaged file
        why = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"cannot read DICOM file {where} ({why}): check that it is a complete image") from None
    note = check_modality(ds, where)
    if not has_frame_positions(ds):
        return _read_with_itk(path, spacing, note)
    count = int(ds.NumberOfFrames)
    if len(ds.PerFrameFunctionalGroupsSequence) != count:
        raise InputError(f"{where} has {count} frames but {len(ds.PerFrameFunctionalGroupsSequence)} per-frame "
                         "functional groups: the header is damaged; re-export the image")
    size = (int(ds.Rows), int(ds.Columns))
    frames = [SliceInfo(f"frame {k + 1}", f"frame {k + 1} of {where}", size,
                        _value(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient", 6),
                        _value(ds, k, "PixelMeasuresSequence", "PixelSpacing", 2),
                        _value(ds, k, "PlanePositionSequence", "ImagePositionPatient", 3), k)
              for k in range(count)]
    layout = plan_stack(frames, where, spacing, kind="frames", order_by="file")
    layout.notes = tuple(n for n in (note, *layout.notes) if n)
    rescale = np.array([_rescale(ds, k) for k in range(count)])
    hu = _frames(ds, path, rescale)[layout.order].astype(np.float32)
    hu *= rescale[layout.order, 0, None, None]  # in place: a 1000-frame CT holds a gigabyte
    hu += rescale[layout.order, 1, None, None]
    layout.replace = True  # no reader has placed these frames: the layout is the geometry
    return layout.place(Volume(hu, layout.spacing, source=str(path), files=(path,)))


def _group(ds, k: int, sequence: str):
    """The first item of `sequence` in frame k's functional groups, else in the shared ones, else None."""
    for groups, index in ((ds.get("PerFrameFunctionalGroupsSequence"), k),
                          (ds.get("SharedFunctionalGroupsSequence"), 0)):
        if groups and index < len(groups):
            items = groups[index].get(sequence)
            if items:
                return items[0]
    return None


def _value(ds, k: int, sequence: str, keyword: str, count: int):
    """A tag of frame k from its functional groups, else from the top of the file (as older writers put it)."""
    value = numbers(_group(ds, k, sequence), keyword, count)
    return numbers(ds, keyword, count) if value is None else value


def _rescale(ds, k: int) -> tuple:
    """(slope, intercept) that take frame k's stored values to HU; (1, 0) when none is given."""
    for source in (_group(ds, k, "PixelValueTransformationSequence"), ds):
        slope, intercept = numbers(source, "RescaleSlope", 1), numbers(source, "RescaleIntercept", 1)
        if slope is not None or intercept is not None:
            return (1.0 if slope is None else float(slope[0]), 0.0 if intercept is None else float(intercept[0]))
    return 1.0, 0.0


def _frames(ds, path: Path, rescale: np.ndarray) -> np.ndarray:
    """The stored values of every frame, (frames, rows, columns), in file order.

    pydicom decodes uncompressed data and some compressions; for others, ITK's file reader decodes
    them, which applies one rescale to every frame: its values are turned back into stored ones,
    and a file whose frames have rescales of their own is refused."""
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise InputError(f"'{path.name}' is a colour (multi-component) image: give a single-component CT volume "
                         "in Hounsfield units")
    try:
        return np.asarray(ds.pixel_array).reshape(len(rescale), int(ds.Rows), int(ds.Columns))
    except Exception as error:  # a compression pydicom cannot decode here; its kinds vary
        why = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if not np.all(rescale == rescale[0]):
        raise InputError(f"cannot decode the pixel data of '{path.name}' ({why}), and its frames have rescales of "
                         "their own: save it uncompressed (explicit VR little endian) and give that")
    try:
        with quiet():
            array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    except RuntimeError as error:
        raise InputError(f"cannot decode the pixel data of '{path.name}' ({last_line(error)}): save it "
                         "uncompressed (explicit VR little endian) and give that") from None
    slope, intercept = rescale[0]
    return (array.reshape(len(rescale), int(ds.Rows), int(ds.Columns)) - intercept) / slope


def _read_with_itk(path: Path, spacing, note: str) -> Volume:
    """A multi-frame file without a position per frame: ITK's file reader places it."""
    image = read_dicom_image(path)
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1 or image.GetDimension() != 3:
        raise InputError(f"'{path.name}' is not one single-component 3D image (size {image.GetSize()}): give a 3D "
                         "CT volume in Hounsfield units")
    return Volume(array, spacing or image.GetSpacing(), image.GetOrigin(), np.reshape(image.GetDirection(), (3, 3)),
                  source=str(path), files=(path,), notes=(note,) if note else ())
