"""DICOM geometry that cannot be taken at its word, and images whose values are not Hounsfield units.

Why: ITK reads a DICOM series from its first header. It stacks sheared slices (a gantry tilt) as if
they stood straight, takes a slice oriented otherwise for one of the stack, puts slices without
positions 1 mm apart at 0 mm and pixels without a size at 1 mm, all without a word; it reads an
enhanced multi-frame CT as a 4D image; and nothing tells the user that an MR, a PET or a label map
is segmented as if its values were HU. Each case here failed before: the reader now corrects what
it can (saying so in one warning line and in the run record), refuses what it cannot place (one
line naming the tag and the fix), and warns when the values cannot be CT.

Refusals are checked as in test_hostile_inputs: exit status 2, exactly one line on stderr, nothing
written. Images are 48 x 48 x 8 and runs have 3 iterations, so the file takes seconds.
"""
import json
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from conftest import SHARED_DATA
from helpers import body_volume, write_dicom_series
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.readers import read_volume
from UnsupervisedCTSegLib.io.writers import write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet"]
SERIES = "1.2.826.0.1.3680043.2.1125.8.1"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def series(tmp, volume=None, edit=None, name="dicom"):
    """CT slices as a scanner writes them (helpers.write_dicom_series), then each header edited with
    pydicom: edit(k, header) for slice k. Files are named 1_000.dcm, 1_001.dcm ..."""
    folder = tmp / "in" / name
    folder.parent.mkdir(exist_ok=True)
    write_dicom_series(folder, body_volume() if volume is None else volume, SERIES)
    if edit is not None:
        for k, path in enumerate(sorted(folder.glob("*.dcm"))):
            header = pydicom.dcmread(path)
            edit(k, header)
            header.save_as(path)
    return folder


def sheared(step_px=1):
    """(slices, the wide plane they were cut from): slice k is the window of the plane starting
    step_px * k columns in, so a body standing straight in space moves sideways from slice to
    slice, as in a series taken with the gantry tilted. Positions (shear_positions) say so."""
    plane = body_volume().hu[0]
    wide = np.pad(plane, ((0, 0), (0, 8 * step_px)), constant_values=-1000.0)
    hu = np.stack([wide[:, step_px * k:step_px * k + 48] for k in range(8)])
    return Volume(hu, (0.8, 0.8, 2.5), (0.0, 0.0, 0.0), np.eye(3)), wide


def shear_positions(mm_per_slice):
    def edit(k, header):
        header.ImagePositionPatient = [mm_per_slice * k, 0.0, 2.5 * k]
    return edit


def delete(tag, only=None):
    def edit(k, header):
        if only is None or k == only:
            delattr(header, tag)
    return edit


def enhanced_ct(path, hu, positions, orientation=(1, 0, 0, 0, 1, 0), modality="CT", sop_class=ENHANCED_CT,
                per_frame_rescale=False):
    """One enhanced multi-frame CT file (uncompressed, explicit VR little endian): frame k holds
    hu[k] + 1024 and lies at positions[k]; pixel size, orientation and rescale are shared."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, generate_uid(), generate_uid()
    ds.Rows, ds.Columns = hu.shape[1:]
    ds.NumberOfFrames = hu.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    measures, plane, rescale = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.8, 0.8], 2.5
    plane.ImageOrientationPatient = list(orientation)
    rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = 1, -1024, "HU"
    shared = Dataset()
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([measures]), Sequence([plane])
    if not per_frame_rescale:
        shared.PixelValueTransformationSequence = Sequence([rescale])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for k, position in enumerate(positions):
        frame, where = Dataset(), Dataset()
        where.ImagePositionPatient = [float(p) for p in position]
        frame.PlanePositionSequence = Sequence([where])
        if per_frame_rescale:  # frame k stored as (HU + 1024 - 10 k) / 2 with its own rescale
            own = Dataset()
            own.RescaleSlope, own.RescaleIntercept, own.RescaleType = 2, -1024 + 10 * k, "HU"
            frame.PixelValueTransformationSequence = Sequence([own])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    stored = np.stack([(hu[k] + 1024 - 10 * k) / 2 if per_frame_rescale else hu[k] + 1024 for k in range(len(hu))])
    ds.PixelData = np.round(stored).astype(np.int16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def even_body():
    """The body with every value even, so (HU + 1024 - 10 k) / 2 is exact."""
    body = body_volume()
    return 2 * np.round(body.hu / 2)


def read_quietly(path, **kwargs):
    """read_volume, and what it noted (a command says each note as one warning line); it warns of nothing itself."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volume = read_volume(path, **kwargs)
    assert not caught, [str(w.message) for w in caught]
    return volume, list(volume.notes)


# --------------------------------------------------------------------------- the refusals

def one_slice_oriented_otherwise(tmp):
    def edit(k, header):
        if k == 3:
            header.ImageOrientationPatient = [1, 0, 0, 0, 0.965926, 0.258819]
    return series(tmp, edit=edit), ["1_003.dcm", "ImageOrientationPatient", "remove"]


def one_slice_with_other_pixel_size(tmp):
    def edit(k, header):
        if k == 2:
            header.PixelSpacing = [0.7, 0.7]
    return series(tmp, edit=edit), ["1_002.dcm", "PixelSpacing", "0.7"]


def one_slice_of_another_size(tmp):
    def edit(k, header):
        if k == 2:
            header.PixelData = header.pixel_array[:40].tobytes()
            header.Rows = 40
    return series(tmp, edit=edit), ["1_002.dcm", "40"]


def series_without_positions(tmp):
    return series(tmp, edit=delete("ImagePositionPatient")), ["ImagePositionPatient", "--spacing"]


def one_slice_without_position(tmp):
    return series(tmp, edit=delete("ImagePositionPatient", only=5)), ["1_005.dcm", "ImagePositionPatient"]


def series_without_orientation(tmp):
    return series(tmp, edit=delete("ImageOrientationPatient")), ["ImageOrientationPatient", "--spacing"]


def series_without_pixel_spacing(tmp):
    return series(tmp, edit=delete("PixelSpacing")), ["PixelSpacing", "--spacing"]


def slices_sheared_beyond_any_gantry_tilt(tmp):
    return series(tmp, sheared()[0], shear_positions(3.0)), ["sheared", "ImagePositionPatient"]


def enhanced_ct_with_two_frames_at_each_position(tmp):
    hu = body_volume().hu
    positions = [(0, 0, 2.5 * (k // 2)) for k in range(8)]
    return enhanced_ct(tmp / "in" / "ct.dcm", hu, positions), ["8 frames", "4 positions", "one"]


def dicom_seg(tmp):
    hu = (body_volume().hu > 0).astype(np.float32) - 1024
    path = enhanced_ct(tmp / "in" / "seg.dcm", hu, [(0, 0, 2.5 * k) for k in range(8)], modality="SEG",
                       sop_class="1.2.840.10008.5.1.4.1.1.66.4")
    return path, ["segmentation", "the CT"]


REFUSALS = [one_slice_oriented_otherwise, one_slice_with_other_pixel_size, one_slice_of_another_size,
            series_without_positions, one_slice_without_position, series_without_orientation,
            series_without_pixel_spacing, slices_sheared_beyond_any_gantry_tilt,
            enhanced_ct_with_two_frames_at_each_position, dicom_seg]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.__name__ for c in REFUSALS])
def test_refused_with_one_line_naming_the_tag_and_nothing_written(tmp_path, capsys, case):
    source, words = case(tmp_path)
    code = main(["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("ctseg: error:"), err
    for word in words:
        assert word in err[0], (word, err[0])
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- sheared slices (gantry tilt)

def test_sheared_slices_are_shifted_onto_an_orthogonal_grid(tmp_path):
    """0.8 mm (one pixel) sideways per slice: every slice is moved back by its own offset onto a
    grid widened to hold them all, so the body stands straight in the volume as it did in space."""
    volume, wide = sheared()
    read, said = read_quietly(series(tmp_path, volume, shear_positions(0.8)))
    assert read.shape == (8, 48, 55)
    for k in range(8):  # the columns every slice covers hold the plane the slices were cut from
        np.testing.assert_allclose(read.hu[k, :, 7:48], wide[:, 7:48], atol=1e-3)
    np.testing.assert_allclose(read.spacing, (0.8, 0.8, 2.5), atol=1e-6)
    np.testing.assert_allclose(read.origin, (0, 0, 0), atol=1e-6)
    np.testing.assert_allclose(read.direction, np.eye(3), atol=1e-6)
    assert len(said) == 1 and said[0] in read.notes and "5.6 mm" in said[0] and "corrected" in said[0], said


def test_a_gantry_tilt_gives_the_spacing_along_the_slice_normal(tmp_path):
    """A real tilt: slices turned 15 degrees about x, positions stepping 2.5 mm along the table. The
    slices are 2.5 cos 15 = 2.415 mm apart along their normal and 0.647 mm apart in-plane."""
    tilt = np.radians(15)
    column = (0.0, np.cos(tilt), np.sin(tilt))

    def edit(k, header):
        header.ImageOrientationPatient = [1.0, 0.0, 0.0, *column]
        header.ImagePositionPatient = [0.0, 0.0, 2.5 * k]
    read, said = read_quietly(series(tmp_path, edit=edit))
    normal = np.cross((1.0, 0.0, 0.0), column)
    np.testing.assert_allclose(read.spacing, (0.8, 0.8, 2.5 * np.cos(tilt)), atol=1e-4)
    np.testing.assert_allclose(read.direction, np.column_stack([(1, 0, 0), column, normal]), atol=1e-5)
    assert read.shape == (8, 54, 48)  # 7 x 0.647 mm = 4.5 mm = 5.7 rows more
    assert len(said) == 1 and "15.0" in said[0], said


def test_a_shear_under_a_tenth_of_a_pixel_is_left_alone(tmp_path):
    """0.001 mm per slice, 0.007 mm in all: scanners round positions so; nothing to correct or say."""
    volume = body_volume()
    read, said = read_quietly(series(tmp_path, Volume(volume.hu, volume.spacing), shear_positions(0.001)))
    assert said == [] and read.notes == () and read.shape == (8, 48, 48)
    np.testing.assert_array_equal(read.hu, volume.hu)


def test_the_tilt_correction_is_one_warning_line_and_in_the_run_record(tmp_path, capsys):
    source = series(tmp_path, sheared()[0], shear_positions(0.8))
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(source), "-o", str(out), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ctseg: warning:") and "tilt" in err[0], err
    record = json.loads(out.with_suffix(".json").read_text())
    assert any("tilt" in note for note in record["input"]["notes"]), record["input"]
    assert sitk.ReadImage(str(out)).GetSize() == (55, 48, 8)  # the labels lie on the corrected grid


# --------------------------------------------------------------------------- tags a flag can stand in for

def test_slices_without_positions_are_read_with_the_spacing_flag_in_instance_number_order(tmp_path):
    """Files named against their InstanceNumber: the order comes from the numbers, the step from --spacing."""
    volume = body_volume()
    hu = volume.hu.copy()
    hu[:, 0, 0] = np.arange(8) * 10 - 1000  # each slice marked with its place

    def edit(k, header):
        del header.ImagePositionPatient
        header.InstanceNumber = 8 - k
    read, said = read_quietly(series(tmp_path, Volume(hu, volume.spacing), edit), spacing=(0.8, 0.8, 2.5))
    np.testing.assert_array_equal(read.hu[:, 0, 0], (7 - np.arange(8)) * 10 - 1000)
    assert read.spacing == (0.8, 0.8, 2.5)
    assert len(said) == 1 and "InstanceNumber" in said[0] and said[0] in read.notes, said


def test_slices_without_pixel_spacing_are_read_with_the_spacing_flag_and_say_so(tmp_path, capsys):
    source = series(tmp_path, edit=delete("PixelSpacing"))
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(source), "-o", str(out), "--spacing", "0.8", "0.8", "2.5", *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PixelSpacing" in err[0] and "--spacing" in err[0], err
    assert sitk.ReadImage(str(out)).GetSpacing() == pytest.approx((0.8, 0.8, 2.5))


def test_one_slice_without_position_is_read_and_says_where_it_was_put(tmp_path):
    volume = body_volume(depth=1)
    read, said = read_quietly(series(tmp_path, volume, delete("ImagePositionPatient")) / "1_000.dcm")
    assert read.shape == (1, 48, 48) and read.origin == (0.0, 0.0, 0.0)
    assert len(said) == 1 and "ImagePositionPatient" in said[0], said


# --------------------------------------------------------------------------- enhanced multi-frame CT

def test_an_enhanced_multi_frame_ct_is_one_3d_ct(tmp_path, capsys):
    """Frames stored out of order are sorted along the slice normal; HU through the shared rescale."""
    hu = body_volume().hu
    order = [3, 0, 7, 1, 5, 2, 6, 4]
    path = enhanced_ct(tmp_path / "in" / "ct.dcm", hu[order], [(10.0, -5.0, 3.0 + 2.5 * k) for k in order])
    read, said = read_quietly(path)
    np.testing.assert_array_equal(read.hu, hu)
    assert read.spacing == pytest.approx((0.8, 0.8, 2.5)) and read.origin == pytest.approx((10.0, -5.0, 3.0))
    assert said == [] and read.files == (path,)
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(path.parent), "-o", str(out), *FAST]) == 0  # the folder holding it, too
    assert capsys.readouterr().err.strip() == ""
    assert sitk.ReadImage(str(out)).GetSize() == (48, 48, 8)


def test_an_enhanced_ct_with_a_rescale_per_frame_and_a_tilt(tmp_path):
    hu = even_body()
    path = enhanced_ct(tmp_path / "in" / "ct.dcm", hu, [(0.0, 0.8 * k, 2.5 * k) for k in range(8)],
                       per_frame_rescale=True)
    read, said = read_quietly(path)
    assert read.shape == (8, 55, 48)
    np.testing.assert_allclose(read.hu[:, :48][0], hu[0], atol=1e-3)  # the first frame is not moved
    np.testing.assert_allclose(read.hu[7, 7:], hu[7], atol=1e-3)  # the last one 7 rows on
    assert len(said) == 1 and "tilt" in said[0], said


@pytest.mark.parametrize("per_frame_rescale", [False, True], ids=["shared-rescale", "rescale-per-frame"])
def test_an_enhanced_ct_pydicom_cannot_decode_is_decoded_by_itk_when_one_rescale_serves_all(tmp_path, monkeypatch,
                                                                                            per_frame_rescale):
    """A compression pydicom has no decoder for: ITK decodes it, but applies the first frame's rescale
    to every frame, so only a file with one rescale for all is read that way; the other is refused."""
    hu = even_body()
    path = enhanced_ct(tmp_path / "ct.dcm", hu, [(0, 0, 2.5 * k) for k in range(8)],
                       per_frame_rescale=per_frame_rescale)

    def no_decoder(self):
        raise RuntimeError("no decoder for this transfer syntax")
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decoder))
    if per_frame_rescale:
        with pytest.raises(InputError, match="no decoder.*rescales of their own.*uncompressed"):
            read_volume(path)
    else:
        np.testing.assert_array_equal(read_quietly(path)[0].hu, hu)


# --------------------------------------------------------------------------- values that are not HU

def test_a_dicom_mr_series_warns_first_and_in_the_record(tmp_path, capsys):
    def edit(k, header):
        header.Modality = "MR"
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(series(tmp_path, edit=edit)), "-o", str(out), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ctseg: warning:") and "MR" in err[0], err
    assert "Hounsfield" in err[0]
    record = json.loads(out.with_suffix(".json").read_text())
    assert any("MR" in note for note in record["input"]["notes"])


def label_map(tmp):
    hu = body_volume().hu
    return Volume(np.digitize(hu, [-500, 0, 200]).astype(np.float32), (0.8, 0.8, 2.5))


def mr_like(tmp):
    hu = body_volume().hu
    return Volume(np.clip(hu + 1000, 0, None) * 0.7, (0.8, 0.8, 2.5))


@pytest.mark.parametrize("make, words", [(label_map, ["label map", "4 distinct"]), (mr_like, ["-500 HU"])],
                         ids=["label-map", "mr-like"])
def test_a_file_whose_values_cannot_be_ct_warns_in_one_line(tmp_path, capsys, make, words):
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "x.nrrd", make(tmp_path))
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(source), "-o", str(out), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ctseg: warning:"), err
    for word in words:
        assert word in err[0], (word, err[0])
    assert json.loads(out.with_suffix(".json").read_text())["input"]["notes"]


@pytest.mark.parametrize("relative", ["totalsegmentator_example/example_ct_sm.nii.gz",
                                      "totalsegmentator_example/example_ct.nii.gz", "dcmqi_ct3slice"])
def test_real_ct_gives_no_warning(relative):
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present")
    read, said = read_quietly(path)
    assert said == [] and read.notes == (), said


def test_the_label_test_looks_at_a_sample_of_a_big_volume():
    """The lowest value is one pass over the voxels; the label test sorts a strided view of at most a
    million of them, spread over the whole volume, so a 512 x 512 x 1000 scan costs no copy of itself."""
    from UnsupervisedCTSegLib.io import modality

    big = np.zeros((64, 256, 256), np.float32)
    big[:, 100:150, 100:150] = 1
    view = modality.sample(big)
    assert view.size <= modality.SAMPLE_VOXELS and np.shares_memory(view, big)
    assert view.shape[0] > 8 and view.shape[1] > 64  # spread over every axis
    assert "label map" in modality.value_note(Volume(big, (0.8, 0.8, 2.5)))
