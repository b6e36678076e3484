"""Write results onto the input's grid: labelmaps, HU volumes, Slicer .seg.nrrd and DeepLesion PNGs.

Every writer keeps exactly the input's spacing, origin and direction, so outputs overlay the CT in
any viewer, and writes through `atomic_output`, so a crash or a full disk never leaves a truncated
file that looks like a result. This module never imports `slicer` or `qt`.
"""
from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.errors import InputError
from ..engine.volume import Volume
from . import stops, terminology
from .itkquiet import last_line
from .readers import DEEPLESION_OFFSET, DL_INFO_NAME

LABELMAP_SUFFIXES = (".nrrd", ".nii.gz", ".nii")
VOLUME_SUFFIXES = (".nrrd", ".nii.gz", ".nii", ".mha")
SEGMENTATION_SUFFIX = ".seg.nrrd"
DOUBLE_SUFFIXES = (".seg.nrrd", ".nii.gz", ".tar.gz")
BINARY_LABELMAP = "Binary labelmap"  # Slicer's name of the voxel representation of segments
DL_INFO_COLUMNS = (
    "File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
    "Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_",
    "Normalized_lesion_location", "Coarse_lesion_type", "Possibly_noisy", "Slice_range",
    "Spacing_mm_px_", "Image_size", "DICOM_windows", "Patient_gender", "Patient_age", "Train_Val_Test",
)


def full_suffix(name: str) -> str:
    """'.nii.gz' for 'ct.nii.gz', '.seg.nrrd' for 'x.seg.nrrd', else the last suffix ('' if none)."""
    lower = name.lower()
    for suffix in DOUBLE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[-len(suffix):]
    return Path(name).suffix


# Our temporary and set-aside files: .STEM.PID-HOST-RANDOM.partialSUFFIX and .STEM.PID-HOST-RANDOM.previousSUFFIX
# (HOST is absent in names written by versions before 0.9).
OURS = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)-(?:(?P<host>[0-9a-f]{8})-)?[0-9a-f]{8}\.(?P<kind>partial|previous)")
MIN_FREE_BYTES = 1 << 20  # below this the disk is full for any output we write
# A temporary file lives from the start of writing a set of outputs to their rename: seconds, minutes
# for a 512 x 512 x 1000 labelmap. One untouched for a day belongs to no run still writing.
STALE_AFTER_SECONDS = 24 * 3600
NAME_MAX_BYTES = 255  # the longest file name Linux, macOS (APFS) and Windows (NTFS, in UTF-16 units) allow
MAX_TEMPORARY_STEM = 60  # of the user's stem, in characters, kept in a temporary name (it is only a hint)


def _this_host() -> str:
    """8 hex digits naming this machine, this boot and this process-id namespace.

    Why: a process id means something only where it was given. Another run in a container (its
    own PID namespace), on another host writing to a shared folder, or before a reboot, has
    process ids this process cannot check; its files must be judged by their age alone.
    """
    import hashlib
    import socket

    try:
        import psutil

        boot = f"{psutil.boot_time():.0f}"
    except Exception:  # noqa: BLE001 - without psutil the name still separates hosts
        boot = ""
    namespace = ""
    with contextlib.suppress(OSError):  # Linux only: the PID namespace this process lives in
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    text = f"{socket.gethostname()}|{boot}|{namespace}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


HOST = _this_host()


def _side_name(path: Path, kind: str) -> Path:
    """A hidden name beside `path`, kept within NAME_MAX_BYTES whatever the user's name."""
    suffix = full_suffix(path.name)
    stem = path.name[: len(path.name) - len(suffix)][:MAX_TEMPORARY_STEM]
    return path.with_name(f".{stem}.{os.getpid()}-{HOST}-{uuid.uuid4().hex[:8]}.{kind}{suffix.lower()}")


def temporary_path(path: Path) -> Path:
    """A hidden name beside `path` that keeps its suffix(es) and names this process:
    .STEM.PID-HOST-RANDOM.partialSUFFIX.

    Writers such as SimpleITK pick the format from the (lower-cased) suffix; the process id and
    host let a later run tell the leftovers of a killed run from the files of a run still writing.
    """
    return _side_name(path, "partial")


@contextlib.contextmanager
def atomic_outputs(paths: dict, final: bool = False):
    """Yield {key: temporary path} beside each of `paths`; on success put them all in place together.

    On an exception every temporary file and every folder made here is deleted and no final path is
    touched, so readers never see a half-written result or a partial set. Putting them in place is
    all-or-nothing too (`_swap_in`): when one rename fails, the files already replaced are put back.
    It runs as one `stops.commit()`, which a Ctrl-C or SIGTERM does not split; `final` says these
    are the command's last outputs. An OSError while writing (disk full, read-only folder) becomes
    an InputError naming the file and the fix. The temporary files lie in the final folder, so
    os.replace is an atomic rename.
    """
    paths = {key: Path(p) for key, p in paths.items()}
    temporary = {key: temporary_path(p) for key, p in paths.items()}
    created = []  # folders made here, removed again on failure
    try:
        for folder in {p.parent for p in paths.values()}:
            created += [f for f in (folder, *folder.parents) if not f.exists()][::-1]
            folder.mkdir(parents=True, exist_ok=True)
        yield temporary
        with stops.commit(final):
            _swap_in(paths, temporary)
    except BaseException as error:
        for path in temporary.values():
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in reversed(created):  # deepest first; a folder something else wrote into stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(error, OSError):
            raise _write_error(error, paths, temporary) from None
        raise


def _swap_in(paths: dict, temporary: dict) -> None:
    """Rename every temporary file onto its path, or none: the files they replace are first set aside
    under hidden names and put back when any step fails, and deleted only when all are in place."""
    for path in paths.values():
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(21, "it is a folder", str(path))
    previous, placed = {}, []
    try:
        for key, path in paths.items():
            if os.path.lexists(path):
                previous[key] = _side_name(path, "previous")
                os.replace(path, previous[key])
        for key, path in paths.items():
            os.replace(temporary[key], path)
            placed.append(key)
    except BaseException:
        for key in placed:
            with contextlib.suppress(OSError):
                os.replace(paths[key], temporary[key])  # the new file back to its temporary name (deleted later)
        for key, aside in previous.items():
            with contextlib.suppress(OSError):
                os.replace(aside, paths[key])
        raise
    for aside in previous.values():
        with contextlib.suppress(OSError):
            aside.unlink()


@contextlib.contextmanager
def atomic_output(path, final: bool = False):
    """atomic_outputs for one file: yield its temporary path."""
    with atomic_outputs({"file": path}, final) as temporary:
        yield temporary["file"]


def _write_error(error: OSError, paths: dict, temporary: dict) -> InputError:
    """One line for a write that failed: which output, why (the system's words), and what to do."""
    named = {str(p): f"'{p}'" for p in paths.values()} | {str(t): f"'{paths[k]}'" for k, t in temporary.items()}
    failed = named.get(str(error.filename), f"into '{next(iter(paths.values())).parent}'")
    why = error.strerror or str(error)
    return InputError(f"cannot write {failed} ({why}); none of the outputs was changed: free some disk space, "
                      "choose a writable folder or remove what stands in the way")


def remove_stale_partials(folder) -> list:
    """Delete the temporary files that runs killed while writing (SIGKILL, power loss) left in `folder`.

    Only names made by temporary_path are judged, and only the provably stale are removed: those of
    a process of this host, boot and PID namespace that is gone, and those untouched for
    STALE_AFTER_SECONDS (a run elsewhere: in a container, on another host, before a reboot). A
    file a killed run set aside while renaming (.previous) goes back to its name when that name is
    free, and is never deleted. Returns the removed paths.
    """
    removed = []
    with contextlib.suppress(OSError):
        for path in Path(folder).iterdir():
            match = OURS.match(path.name)
            if not match or not path.is_file() or not _stale(path, match):
                continue
            with contextlib.suppress(OSError):
                if match["kind"] == "partial":
                    path.unlink()
                    removed.append(path)
                else:
                    _restore_set_aside(path, match)
    return removed


def _stale(path: Path, match) -> bool:
    return is_stale(path, match["pid"], match["host"])


def is_stale(path: Path, pid, host) -> bool:
    """Whether `path`, made by process `pid` on `host` (HOST's mark, None when unknown), belongs to no
    live run: its process of this host, boot and PID namespace is gone, or nobody touched it for
    STALE_AFTER_SECONDS."""
    import time

    if host == HOST and not _process_alive(int(pid)):
        return True
    try:
        return time.time() - path.stat().st_mtime > STALE_AFTER_SECONDS
    except OSError:
        return False


def _restore_set_aside(path: Path, match) -> None:
    """A user's file a killed run moved aside: back to its name when nothing took that name."""
    suffix = path.name[match.end():]
    original = path.with_name(match["stem"] + suffix)
    if len(match["stem"]) < MAX_TEMPORARY_STEM and not os.path.lexists(original):
        os.replace(path, original)


def _process_alive(pid: int) -> bool:
    """Whether process `pid` of this PID namespace runs; psutil, so the answer is the same on every desktop."""
    import psutil

    if pid == os.getpid():
        return True
    try:
        return psutil.pid_exists(pid)
    except (OverflowError, ValueError, OSError):
        return True  # a pid this system cannot check: leave its files alone


def check_output_folder(path, contents: str) -> Path:
    """Refuse, before any work, an output folder that cannot be written; returns it as a Path.

    Refused: a path that is a file or lies under a file, a folder (or the nearest existing folder
    above a new one) this process cannot create files in, and a full disk. Stale temporary files
    of killed runs are removed from an existing folder. Nothing is created.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"output '{path}' is a file: give a folder for {contents}")
    _check_can_create_in(path, path, contents)
    return path


def check_output_file(path, contents: str) -> Path:
    """check_output_folder for the folder of one output file, refusing a path that is a folder and
    anything in its place that could not be replaced (check_replaceable)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"output '{path}' is a folder: give a file name for {contents}")
    _check_can_create_in(path.parent, path, contents)
    check_replaceable({"output": path}, f"remove it or choose another name for {contents}")
    return path


def check_replaceable(outputs: dict, fix: str) -> None:
    """Refuse, before any work, an output that could not be put in place at the end.

    `outputs` maps a description to a path. Refused: a name longer than the file system allows,
    and an existing folder, special file (FIFO, device) or file this process may not replace
    (read-only or immutable), each named with `fix` ending the message.
    """
    for what, path in outputs.items():
        path = Path(path)
        if len(os.fsencode(path.name)) > NAME_MAX_BYTES:
            raise InputError(f"the {what} '{path.name[:40]}...' has a name of {len(os.fsencode(path.name))} bytes, "
                             f"more than the {NAME_MAX_BYTES} a file system allows: {fix}")
        if not os.path.lexists(path):
            continue
        if path.is_dir():
            raise InputError(f"the {what} '{path}' exists as a folder, which a file cannot replace: {fix}")
        if not path.is_file():
            raise InputError(f"the {what} '{path}' exists and is not a regular file (a FIFO, socket or device): {fix}")
        if not os.access(path, os.W_OK):
            raise InputError(f"the {what} '{path}' exists and is read-only or locked, so it cannot be replaced: {fix}")


def _check_can_create_in(folder: Path, output: Path, contents: str) -> None:
    """The checks of check_output_folder on `folder`, with messages naming the user's `output`."""
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise InputError(f"output '{output}' lies under '{existing}', which is a file: choose a folder for {contents}")
    probe = temporary_path(existing / "ctseg-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
        free = shutil.disk_usage(existing).free
    except OSError as error:
        raise InputError(f"cannot write in '{existing}' ({error.strerror or error}): choose a writable folder "
                         f"for {contents}") from None
    if free < MIN_FREE_BYTES:
        raise InputError(f"the disk of '{existing}' is full (only {free // 1024} kB free): free some space or "
                         f"choose another folder for {contents}")
    if folder.is_dir():
        remove_stale_partials(folder)


def check_no_clash(outputs: dict, inputs, fix: str) -> None:
    """Refuse, before any work, outputs that would overwrite a file the run reads or join a PNG series.

    `outputs` maps a description ("labelmap", "overview picture") to a path; `inputs` are the files
    the run reads (Volume.files and the like). A .png written into a folder of input PNG slices is
    refused too: the folder would no longer read as one series. `fix` ends the message.
    """
    inputs = [Path(p) for p in inputs]
    slice_folders = png_slice_folders(inputs)
    for what, output in outputs.items():
        output = Path(output)
        for source in inputs:
            if _same_file(output, source):
                raise InputError(f"the {what} '{output}' would overwrite the input '{source}': {fix}")
        if output.name.lower().endswith(".png") and _real(output.parent) in slice_folders:
            raise InputError(f"the {what} '{output}' would land among the input's PNG slices in "
                             f"'{output.parent}', which would then no longer read as one series: {fix}")


def png_slice_folders(inputs) -> set:
    """The real paths of the folders that hold input PNG slices, where no output PNG may go."""
    return {_real(Path(p).parent) for p in inputs if Path(p).name.lower().endswith(".png")}


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _same_file(a: Path, b: Path) -> bool:
    """The same file by name (after links and '..') or by inode (a hard link)."""
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_labelmap(path, labels, volume: Volume) -> Path:
    """Write integer labels (z, y, x) as a compressed .nrrd/.nii.gz/.nii on exactly the input's grid."""
    path = _check_suffix(path, LABELMAP_SUFFIXES, "label map")
    image = image_on_grid(_as_label_array(labels, volume), volume)
    _write_image(image, path)
    return path


def write_volume(path, volume: Volume, compress: bool = True) -> Path:
    """Write the HU volume with its geometry; int16 when every voxel is a whole number in int16 range.
    `compress` False for a file read back at once (a 512 x 512 x 300 CT takes seconds to compress)."""
    hu = volume.hu
    fits = hu.size and hu.min() >= -32768 and hu.max() <= 32767 and np.array_equal(hu, np.round(hu))
    return write_voxels(path, hu.astype(np.int16) if fits else hu.astype(np.float32), volume, compress)


def write_voxels(path, array: np.ndarray, grid, compress: bool = True) -> Path:
    """Write `array` (z, y, x) in its own type on `grid` (a Volume or engine.volume.Grid): the Slicer
    panel writes a volume node's voxels this way, with no float32 copy."""
    path = _check_suffix(path, VOLUME_SUFFIXES, "volume")
    _write_image(image_on_grid(array, grid), path, compress)
    return path


def write_segmentation(path, labels, volume: Volume, tissues) -> Path:
    """Write a Slicer .seg.nrrd: one labelmap layer plus Slicer's segment metadata, no Slicer needed.

    Slicer opens it as a segmentation node with one named, coloured segment per tissue. Every
    segment's extent is the whole image, as Slicer itself writes segments that share a layer (the
    layer's extent, not each segment's bounding box), so no reader version can crop a segment.
    """
    path = Path(path)
    if not path.name.lower().endswith(SEGMENTATION_SUFFIX):
        raise InputError(f"cannot write segmentation '{path.name}': the name must end in {SEGMENTATION_SUFFIX} "
                         "so Slicer opens it as a segmentation")
    array = _as_label_array(labels, volume)
    if array.max(initial=0) <= 255:
        array = array.astype(np.uint8)
    image = image_on_grid(array, volume)
    for key, value in segmentation_metadata(volume, tissues).items():
        image.SetMetaData(key, value)
    _write_image(image, path)
    return path


def segmentation_metadata(volume: Volume, tissues) -> dict:
    """Slicer's .seg.nrrd header fields (vtkMRMLSegmentationStorageNode) for a single-layer labelmap."""
    nz, ny, nx = volume.shape
    full_extent = f"0 {nx - 1} 0 {ny - 1} 0 {nz - 1}"
    meta = {
        # Slicer reads "MasterRepresentation"; newer releases call the same thing "source".
        "Segmentation_MasterRepresentation": BINARY_LABELMAP,
        "Segmentation_SourceRepresentation": BINARY_LABELMAP,
        "Segmentation_ContainedRepresentationNames": BINARY_LABELMAP + "|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
        "Segmentation_ConversionParameters": (
            "Reference image geometry|" + reference_image_geometry(volume)
            + "|Image geometry description string determining the geometry of the labelmap that is "
              "created in course of conversion.&"),
    }
    for i, tissue in enumerate(tissues):
        prefix = f"Segment{i}_"
        meta.update({
            prefix + "ID": f"Segment_{int(tissue.label)}",
            prefix + "Name": _header_text(tissue.name),
            prefix + "Color": " ".join(f"{float(c):.6g}" for c in tissue.color[:3]),
            prefix + "ColorAutoGenerated": "0",
            prefix + "NameAutoGenerated": "0",
            prefix + "LabelValue": str(int(tissue.label)),
            prefix + "Layer": "0",
            prefix + "Extent": full_extent,
            # Slicer writes a segment's tags as "key:value|" sorted by key; the terminology entry
            # says what the segment is in codes (io.terminology).
            prefix + "Tags": ("Segmentation.Status:inprogress|"
                              f"{terminology.TAG}:{tissue.terminology or terminology.terminology_entry(tissue.name)}|"),
        })
    return meta


def reference_image_geometry(volume: Volume) -> str:
    """Slicer's serialised image geometry: the IJK->RAS 4x4 matrix row by row, then the extent.

    Stored as the segmentation's reference geometry so Slicer's Segment Editor keeps editing on the
    CT's own grid.
    """
    matrix = volume.ijk_to_ras()
    nz, ny, nx = volume.shape
    numbers = [f"{v:.17g}" for v in matrix.ravel()] + [str(v) for v in (0, nx - 1, 0, ny - 1, 0, nz - 1)]
    return ";".join(numbers) + ";"


def write_deeplesion_pngs(folder, volume: Volume) -> Path:
    """Write slices as DeepLesion-style 16-bit PNGs (000.png, ...; pixel = HU + 32768) plus DL_info.csv.

    The CSV row carries the spacing so read_deeplesion(folder, dl_info=(csv, key)) restores it.
    DeepLesion keeps no origin or orientation, so a non-identity direction is warned about.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:03d}.png" for i in range(volume.shape[0])]
    stale = sorted(f.name for f in folder.glob("*.png") if f.name not in names)
    if stale:
        raise InputError(f"'{folder}' already holds other PNG slices ({', '.join(stale[:3])}...): "
                         "choose an empty folder so the series is not mixed with old slices")
    if not np.allclose(volume.direction, np.eye(3)):
        warnings.warn("DeepLesion PNGs store no orientation: slices are written in array order and "
                      "will read back with an identity direction", stacklevel=2)
    pixels = np.clip(np.round(volume.hu) + DEEPLESION_OFFSET, 0, 65535).astype(np.uint16)
    for name, plane in zip(names, pixels):
        _write_image(sitk.GetImageFromArray(plane), folder / name)
    with atomic_output(folder / DL_INFO_NAME) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=DL_INFO_COLUMNS)
            writer.writeheader()
            writer.writerow(_dl_info_row(folder.name, volume))
    return folder


def _dl_info_row(series: str, volume: Volume) -> dict:
    """One DL_info.csv row in DeepLesion's conventions; lesion fields stay empty (there are none)."""
    nz, ny, nx = volume.shape
    key = nz // 2
    match = re.fullmatch(r"(\d+)_(\d+)_(\d+)", series)
    patient, study, series_id = (int(g) for g in match.groups()) if match else (1, 1, 1)
    return {
        "File_name": f"{series}_{key:03d}.png",
        "Patient_index": patient, "Study_index": study, "Series_ID": series_id,
        "Key_slice_index": key,
        "Measurement_coordinates": "", "Bounding_boxes": "", "Lesion_diameters_Pixel_": "",
        "Normalized_lesion_location": "",
        "Coarse_lesion_type": -1, "Possibly_noisy": 0,
        "Slice_range": f"0, {nz - 1}",
        "Spacing_mm_px_": ", ".join(f"{s:.10g}" for s in volume.spacing),
        "Image_size": f"{nx}, {ny}",
        "DICOM_windows": "-1024, 3071",
        "Patient_gender": "", "Patient_age": "", "Train_Val_Test": 3,
    }


def image_on_grid(array: np.ndarray, volume) -> sitk.Image:
    """A SimpleITK image of `array` (z, y, x) carrying the spacing, origin and direction of `volume`
    (a Volume or a Grid)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(volume.direction.ravel()))
    return image


def _check_suffix(path, allowed, what: str) -> Path:
    """Pick the format from the extension; refuse others before any work is done."""
    path = Path(path)
    if not path.name.lower().endswith(allowed):
        raise InputError(f"cannot write {what} '{path.name}': unsupported extension; use one of "
                         + ", ".join(allowed))
    return path


def _as_label_array(labels, volume: Volume) -> np.ndarray:
    """Labels as uint16 on the volume's grid; refuse shape mismatches and values uint16 cannot hold."""
    labels = np.asarray(labels)
    if labels.shape != volume.shape:
        raise InputError(f"labels have shape {labels.shape} but the volume has {volume.shape}: "
                         "write labels computed on this volume")
    if labels.dtype.kind not in "biu" and not np.array_equal(labels, np.round(labels)):
        raise InputError("labels are not whole numbers: pass an integer label array")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise InputError(f"label values {labels.min()}..{labels.max()} are outside 0..65535: renumber the labels")
    return labels.astype(np.uint16)


def _header_text(text: str) -> str:
    """NRRD header values are single lines; newlines would corrupt the header."""
    return " ".join(str(text).split())


def _write_image(image: sitk.Image, path: Path, compress: bool = True) -> None:
    """SimpleITK write (compressed by default) through atomic_output; SimpleITK errors become InputError."""
    try:
        with atomic_output(path) as temporary:
            sitk.WriteImage(image, str(temporary), useCompression=compress)
    except RuntimeError as error:
        raise InputError(f"cannot write '{path}' ({last_line(error)}): "
                         "check the folder exists, is writable and has free space") from None
