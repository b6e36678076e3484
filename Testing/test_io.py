"""Readers and writers: geometry survives every format, DeepLesion HU are exact, Slicer reads our .seg.nrrd,
and bad inputs fail with a message that names the problem."""
import csv
import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import read_seg_nrrd, write_dicom_series
from PIL import Image

from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.tissues import Tissue
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.readers import read_deeplesion, read_volume
from UnsupervisedCTSegLib.io.writers import (atomic_output, write_deeplesion_pngs, write_labelmap, write_segmentation,
                                             write_volume)

TOL = 1e-4
FLIPPED = np.diag([-1.0, -1.0, 1.0])  # like the real data: LPS axes pointing right and anterior


def oblique_direction():
    """diag(-1,-1,1) turned 30 degrees about z and 10 about x: no axis is aligned, so a swapped or
    transposed matrix cannot pass."""
    a, b = np.radians(30), np.radians(10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx @ FLIPPED


def make_volume(direction=FLIPPED, shape=(3, 4, 5)):
    """Whole-number HU, every voxel different, on a grid with unequal spacing and an off-zero origin."""
    hu = (np.arange(np.prod(shape)).reshape(shape) * 37 - 1000).astype(np.float32)
    return Volume(hu, spacing=(0.7, 0.8, 2.5), origin=(-10.5, 20.25, -30.0), direction=direction)


def assert_same_geometry(read, expected, check_array=True):
    if check_array:
        np.testing.assert_array_equal(read.hu, expected.hu)
    np.testing.assert_allclose(read.spacing, expected.spacing, atol=TOL)
    np.testing.assert_allclose(read.origin, expected.origin, atol=TOL)
    np.testing.assert_allclose(read.direction, expected.direction, atol=TOL)


# --------------------------------------------------------------------------- geometry round trips

@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nii", ".mha"])
@pytest.mark.parametrize("direction", [FLIPPED, oblique_direction()], ids=["flipped", "oblique"])
def test_volume_round_trip_keeps_array_and_geometry(tmp_path, suffix, direction):
    volume = make_volume(direction)
    path = write_volume(tmp_path / f"ct{suffix}", volume)
    read = read_volume(path)
    assert_same_geometry(read, volume)
    assert read.source == str(path)
    assert sitk.ReadImage(str(path)).GetPixelID() == sitk.sitkInt16  # whole HU are stored compactly


def test_spacing_argument_overrides_the_file_header(tmp_path):
    volume = make_volume()
    read = read_volume(write_volume(tmp_path / "ct.nrrd", volume), spacing=(1, 2, 3))
    assert read.spacing == (1.0, 2.0, 3.0)
    np.testing.assert_allclose(read.origin, volume.origin, atol=TOL)


def test_write_volume_keeps_fractional_hu_as_float(tmp_path):
    volume = make_volume()
    volume.hu[0, 0, 0] = -999.5
    read = read_volume(write_volume(tmp_path / "ct.nrrd", volume))
    assert read.hu[0, 0, 0] == -999.5


def test_dicom_series_round_trip_ignores_other_files_and_refuses_to_guess_between_series(tmp_path):
    volume = make_volume(np.eye(3))
    folder = tmp_path / "dicom"
    write_dicom_series(folder, volume, "1.2.826.0.1.3680043.2.1125.9.2")
    (folder / "notes.txt").write_text("not DICOM")
    write_volume(folder / "other.nrrd", make_volume())
    read = read_volume(folder)
    assert_same_geometry(read, volume)
    assert sorted(p.name for p in read.files) == ["2_000.dcm", "2_001.dcm", "2_002.dcm"]
    # A second series: refused, listed, until one is chosen by UID or by one of its files.
    write_dicom_series(folder, make_volume(np.eye(3), shape=(1, 4, 5)), "1.2.826.0.1.3680043.2.1125.9.3")
    with pytest.raises(InputError, match=r"holds 2 DICOM series: .*9\.2\): 3 slices of 4 x 5; .*9\.3\): 1 slice of"):
        read_volume(folder)
    assert_same_geometry(read_volume(folder, series="1.2.826.0.1.3680043.2.1125.9.2"), volume)
    assert read_volume(next(folder.glob("2_*.dcm"))).shape == volume.shape
    assert read_volume(folder, series="1.2.826.0.1.3680043.2.1125.9.3").shape == (1, 4, 5)


def test_deeplesion_round_trip_keeps_array_and_spacing(tmp_path):
    volume = make_volume(np.eye(3))
    folder = write_deeplesion_pngs(tmp_path / "000042_01_02", volume)
    csv_path = folder / "DL_info.csv"
    with open(csv_path, newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["File_name"] == "000042_01_02_001.png" and row["Patient_index"] == "42"
    read = read_deeplesion(folder, dl_info=(csv_path, row["File_name"]))
    # DeepLesion stores no position or orientation: only voxels and spacing survive.
    assert_same_geometry(read, Volume(volume.hu, volume.spacing))
    assert Image.open(folder / "000.png").mode.startswith("I;16")
    assert_same_geometry(read_volume(folder), read)  # DL_info.csv beside the slices is found


def test_deeplesion_writer_warns_that_orientation_is_lost(tmp_path):
    with pytest.warns(UserWarning, match="orientation"):
        write_deeplesion_pngs(tmp_path / "s", make_volume(FLIPPED))


def test_deeplesion_writer_refuses_folder_with_other_slices(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "117.png").write_bytes(b"")
    with pytest.raises(InputError, match="already holds other PNG"):
        write_deeplesion_pngs(tmp_path / "s", make_volume(np.eye(3)))


# --------------------------------------------------------------------------- labelmaps

@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_labelmap_has_exactly_the_input_geometry(tmp_path, suffix):
    volume = make_volume(oblique_direction())
    labels = (np.arange(volume.hu.size).reshape(volume.shape) % 5).astype(np.uint16)
    labels[0, 0, 0] = 300  # above uint8
    image = sitk.ReadImage(str(write_labelmap(tmp_path / f"labels{suffix}", labels, volume)))
    assert image.GetPixelID() == sitk.sitkUInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), labels)
    np.testing.assert_allclose(image.GetSpacing(), volume.spacing, atol=TOL)
    np.testing.assert_allclose(image.GetOrigin(), volume.origin, atol=TOL)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), volume.direction, atol=TOL)


def test_labelmap_writer_refuses_bad_extension_and_shape(tmp_path):
    volume = make_volume()
    with pytest.raises(InputError, match=r"unsupported extension.*\.nrrd"):
        write_labelmap(tmp_path / "labels.png", np.zeros(volume.shape, np.uint16), volume)
    with pytest.raises(InputError, match="shape"):
        write_labelmap(tmp_path / "labels.nrrd", np.zeros((1, 2, 3), np.uint16), volume)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- atomic output

@pytest.mark.parametrize("name, suffix", [("a.seg.nrrd", ".seg.nrrd"), ("a.nii.gz", ".nii.gz"), ("a.png", ".png")])
def test_atomic_output_keeps_suffix_and_renames_on_success(tmp_path, name, suffix):
    with atomic_output(tmp_path / name) as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(suffix) and temporary.name != name
        temporary.write_text("done")
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_atomic_output_leaves_old_file_and_no_partial_on_failure(tmp_path):
    target = tmp_path / "labels.nrrd"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["labels.nrrd"] and target.read_text() == "old"


# --------------------------------------------------------------------------- DeepLesion reading

def write_png16(path, pixels):
    Image.fromarray(np.asarray(pixels, np.uint16)).save(path)  # mode I;16, as DeepLesion's files


def test_deeplesion_hu_conversion_order_and_spacing_from_dl_info(tmp_path):
    folder = tmp_path / "000001_01_01"
    folder.mkdir()
    write_png16(folder / "10.png", [[32768, 31768], [0, 65535]])
    write_png16(folder / "9.png", [[32769, 32767], [33768, 32768]])
    csv_path = tmp_path / "DL_info.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["File_name", "Patient_index", "Key_slice_index", "Slice_range", "Spacing_mm_px_"])
        writer.writerow(["000002_01_01_005.png", 2, 5, "1, 9", "0.5, 0.5, 1"])
        writer.writerow(["000001_01_01_010.png", 1, 10, "9, 10", "0.703125, 0.703125, 5"])
    read = read_deeplesion(folder, dl_info=(csv_path, "000001_01_01_010.png"))
    np.testing.assert_array_equal(read.hu, [[[1, -1], [1000, 0]], [[0, -1000], [-32768, 32767]]])
    assert read.spacing == (0.703125, 0.703125, 5.0)
    assert read.origin == (0.0, 0.0, 0.0) and np.array_equal(read.direction, np.eye(3))
    # Without a key the folder name (patient_study_series) finds the row; so does the dataset layout.
    assert read_volume(folder, dl_info=(csv_path, None)).spacing == (0.703125, 0.703125, 5.0)
    assert read_volume(folder).spacing == (0.703125, 0.703125, 5.0)
    # An explicit spacing wins.
    assert read_volume(folder, spacing=(1, 2, 3)).spacing == (1.0, 2.0, 3.0)
    # A single slice is a one-slice volume.
    single = read_volume(folder / "9.png")
    assert single.shape == (1, 2, 2) and single.spacing == (0.703125, 0.703125, 5.0)


def test_deeplesion_without_spacing_notes_it_and_uses_1mm(tmp_path):
    write_png16(tmp_path / "001.png", [[32768]])
    read = read_deeplesion(tmp_path)
    assert read.spacing == (1.0, 1.0, 1.0)
    assert any("assuming 1 x 1 x 1 mm" in note for note in read.notes)


def test_deeplesion_unknown_key_in_dl_info_is_an_error(tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    write_png16(folder / "001.png", [[32768]])
    (tmp_path / "DL_info.csv").write_text("File_name,Spacing_mm_px_\n000002_01_01_005.png,\"0.5, 0.5, 1\"\n")
    with pytest.raises(InputError, match="no row"):
        read_deeplesion(folder, dl_info=(tmp_path / "DL_info.csv", "000999_01_01_001.png"))
    with pytest.raises(InputError, match="does not exist"):
        read_deeplesion(folder, dl_info=(tmp_path / "missing.csv", "scan_001.png"))


# --------------------------------------------------------------------------- Slicer segmentation

def segment_mask(image, shape):
    """A segment's labelmap (vtkOrientedImageData) as a full (z, y, x) array, honouring its extent."""
    from vtk.util import numpy_support

    full = np.zeros(shape, np.int64)
    i0, i1, j0, j1, k0, k1 = image.GetExtent()
    if i0 <= i1 and j0 <= j1 and k0 <= k1:
        voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
        full[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = voxels.reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
    return full


def test_seg_nrrd_reads_back_in_slicer_segmentation_node(tmp_path):
    pytest.importorskip("slicer")
    import vtk

    volume = make_volume(oblique_direction(), shape=(3, 4, 6))
    labels = (np.arange(volume.hu.size).reshape(volume.shape) * 7 % 4).astype(np.uint16)  # labels 0..3
    tissues = [Tissue(1, "air", (0.1, 0.1, 0.1), -1000.0, 5.0, 1),
               Tissue(2, "lung/fat partial volume", (0.85, 0.8, 0.55), -300.0, 5.0, 1),
               Tissue(3, "bone 1", (0.98, 0.98, 0.9), 700.0, 5.0, 1),
               Tissue(4, "bone 2", (1.0, 0.5, 0.25), 900.0, 5.0, 0)]  # no voxels
    path = write_segmentation(tmp_path / "tissues.seg.nrrd", labels, volume, tissues)

    segmentation = read_seg_nrrd(path)
    assert segmentation.GetNumberOfSegments() == len(tissues)

    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    for i, tissue in enumerate(tissues):
        segment = segmentation.GetSegment(segmentation.GetNthSegmentID(i))
        assert segment.GetName() == tissue.name
        np.testing.assert_allclose(segment.GetColor(), tissue.color, atol=1e-6)
        image = segment.GetRepresentation("Binary labelmap")
        mask = segment_mask(image, volume.shape) == segment.GetLabelValue()
        np.testing.assert_array_equal(mask, labels == tissue.label)
        ijk_to_ras = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(ijk_to_ras)
        m = np.array([[ijk_to_ras.GetElement(r, c) for c in range(4)] for r in range(4)])
        np.testing.assert_allclose(m[:3, 3], lps_to_ras @ volume.origin, atol=TOL)
        np.testing.assert_allclose(np.linalg.norm(m[:3, :3], axis=0), volume.spacing, atol=TOL)
        np.testing.assert_allclose(m[:3, :3] / volume.spacing, lps_to_ras @ volume.direction, atol=TOL)


def test_segmentation_writer_requires_seg_nrrd(tmp_path):
    volume = make_volume()
    with pytest.raises(InputError, match=r"\.seg\.nrrd"):
        write_segmentation(tmp_path / "x.nrrd", np.zeros(volume.shape, np.uint16), volume, [])


# --------------------------------------------------------------------------- bad inputs

def corrupt_nrrd(folder):
    path = folder / "corrupt.nrrd"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return path


def rgb_png(folder):
    Image.new("RGB", (4, 3), (200, 10, 10)).save(folder / "photo.png")
    return folder / "photo.png"


def vector_mha(folder):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.float32), isVector=True), str(folder / "v.mha"))
    return folder / "v.mha"


def four_d_nifti(folder):
    four_d = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.int16), isVector=False)  # t, z, y, x
    sitk.WriteImage(four_d, str(folder / "t.nii.gz"))
    return folder / "t.nii.gz"


def eight_bit_png_folder(folder):
    for i in range(2):
        Image.fromarray(np.full((4, 4), 100, np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def nan_nrrd(folder):
    array = np.zeros((2, 3, 4), np.float32)
    array[1, 1, 1] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(array), str(folder / "nan.nrrd"))
    return folder / "nan.nrrd"


def unsupported(folder):
    (folder / "x.foo").write_text("hello")
    return folder / "x.foo"


@pytest.mark.parametrize("make, message", [
    (lambda folder: folder / "missing.nrrd", "does not exist"),
    (unsupported, "unsupported format"),
    (corrupt_nrrd, "corrupt"),
    (rgb_png, "RGB"),
    (vector_mha, "RGB/multi-component"),
    (four_d_nifti, "4D"),
    (eight_bit_png_folder, "not 16-bit"),
    (nan_nrrd, "NaN"),
    (lambda folder: folder, "no DICOM series and no PNG"),
], ids=["missing", "unsupported", "corrupt", "rgb-png", "vector-mha", "4d-nifti", "8bit-pngs", "nan", "empty-folder"])
def test_bad_inputs_raise_input_error_naming_the_problem(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        read_volume(make(tmp_path))


def test_bad_spacing_argument_is_refused(tmp_path):
    write_png16(tmp_path / "001.png", [[32768]])
    with pytest.raises(InputError, match="three positive numbers"):
        read_volume(tmp_path, spacing=(1, 0, 1))


# --------------------------------------------------------------------------- real data

def test_real_nifti_ct(shared_data):
    path = shared_data / "totalsegmentator_example" / "example_ct_sm.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    volume = read_volume(path)
    assert volume.shape == (30, 101, 122)
    np.testing.assert_allclose(volume.spacing, (3.0, 3.0, 3.0), atol=TOL)
    np.testing.assert_allclose(volume.direction, FLIPPED, atol=TOL)
    assert -1200 < volume.hu.min() < -900 and 500 < volume.hu.max() < 3100


def test_real_dicom_series_beside_nrrd_files(shared_data):
    folder = shared_data / "dcmqi_ct3slice"
    if not folder.exists():
        pytest.skip(f"{folder} not present")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # must not fall back to PNG or guess spacing
        volume = read_volume(folder)
    assert volume.shape == (3, 512, 512)
    np.testing.assert_allclose(volume.spacing, (0.8105, 0.8105, 1.0), atol=1e-3)
    assert -3100 <= volume.hu.min() <= -1000
    air = volume.hu[(volume.hu > -2000) & (volume.hu < -500)]
    assert -1050 < np.median(air) < -900


def test_a_dicom_file_among_files_gdcm_cannot_scan_is_read_on_its_own():
    """pydicom's test-file folder holds malformed files that stop GDCM's folder scan: the CT file
    given by name is read by itself, and the folder given whole is refused in one line."""
    from pathlib import Path

    pydicom_data = pytest.importorskip("pydicom.data")
    from UnsupervisedCTSegLib.engine.errors import InputError
    from UnsupervisedCTSegLib.io.readers import read_volume

    path = Path(pydicom_data.get_testdata_file("CT_small.dcm"))
    volume = read_volume(path)
    assert volume.shape == (1, 128, 128) and volume.files == (path,)
    assert -1100 < volume.hu.min() < volume.hu.max() < 3100  # Hounsfield units, through the rescale tags
    with pytest.raises(InputError):
        read_volume(path.parent)
