"""body_mask: the patient without table, cushion, clothing or outside air, on the phantom and on real CT."""
import numpy as np
import pytest
from conftest import SHARED_DATA
from scipy import ndimage

from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.io.phantom import AIR, CLOTHING, CUSHION, TABLE, make_phantom

CT3 = SHARED_DATA / "dcmqi_ct3slice"
NOT_BODY = [AIR, TABLE, CLOTHING, CUSHION]


def touching(mask):
    """Voxels face-adjacent in-plane to mask (mask included)."""
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(mask, in_plane)


@pytest.mark.parametrize("size, seed", [(128, 0), (192, 3)])
def test_phantom_body_kept_table_cushion_clothing_removed(size, seed):
    volume, truth, _ = make_phantom(slices=4, size=size, seed=seed)
    hu_before = volume.hu.copy()
    mask = body_mask(volume.hu, volume.spacing)
    assert np.array_equal(volume.hu, hu_before)
    assert mask.dtype == bool and mask.shape == truth.shape
    body = ~np.isin(truth, NOT_BODY)
    assert mask[body].mean() >= 0.99
    assert not mask[truth == TABLE].any()
    assert not mask[truth == CLOTHING].any()
    # The cushion lies against the back with no air between; only voxels in the row touching the
    # skin (partial volume with it) may be taken, and at most 1% of the cushion.
    cushion = truth == CUSHION
    assert mask[cushion].mean() <= 0.01
    assert not (mask & cushion & ~touching(body)).any()


def test_phantom_lungs_and_bowel_gas_inside():
    volume, truth, _ = make_phantom(slices=4, size=128)
    mask = body_mask(volume.hu, volume.spacing)
    air_inside = (volume.hu < -500) & ~np.isin(truth, NOT_BODY)  # lung and bowel gas
    assert air_inside.sum() > 100
    assert mask[air_inside].all()


@pytest.fixture(scope="module")
def ct3():
    if not (CT3 / "liver_spine_seg.nrrd").exists():
        pytest.skip(f"shared CT test data not found at {CT3}")
    import SimpleITK as sitk

    from UnsupervisedCTSegLib.io.readers import read_volume
    volume = read_volume(CT3)
    image = sitk.ReadImage(str(CT3 / "liver_spine_seg.nrrd"))
    reference = sitk.GetArrayFromImage(image)
    # The reference must lie on the CT's grid, voxel for voxel.
    assert reference.shape == volume.hu.shape
    assert np.allclose(image.GetOrigin(), volume.origin, atol=0.01)
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), volume.direction)
    assert np.allclose(image.GetSpacing(), volume.spacing, atol=1e-3)
    return volume, reference, body_mask(volume.hu, volume.spacing)


def test_ct3_reference_is_in_register(ct3):
    volume, reference, _ = ct3
    liver, spine = reference == 1, reference == 2
    assert 0 < volume.hu[liver].mean() < 100  # soft tissue
    assert volume.hu[spine].mean() > 200  # bone
    # Rows grow towards the back: the spine is posterior to (below) the liver's centre.
    assert np.argwhere(spine)[:, 1].mean() > np.argwhere(liver)[:, 1].mean()


def test_ct3_liver_and_spine_kept_whole(ct3):
    _, reference, mask = ct3
    assert mask[reference == 1].all()
    assert mask[reference == 2].all()


def table_and_sheet(hu):
    """What lies under the patient in this scan, found without any body mask (rows grow to the back).

    table: every 2D component of HU > -500 reaching rows 474 and below, where only the table is
    (the back's skin is at rows 459-468; the carbon-fibre plate at 476-483, 150-400 HU).
    sheet: a sheet (two thin layers, -100 to +100 HU) lies 3-4 rows below the skin under the
    spine, in rows 467-470, columns 236-272; the body mask must stop at the skin above it.
    """
    above = hu > -500
    table = np.zeros_like(above)
    for z in range(hu.shape[0]):
        components, _ = ndimage.label(above[z])
        ids = np.unique(components[474:])
        table[z] = np.isin(components, ids[ids > 0])
    sheet = np.zeros_like(above)
    sheet[:, 467:471, 236:272] = above[:, 467:471, 236:272]
    return table, sheet


def test_ct3_table_and_sheet_removed(ct3):
    volume, reference, mask = ct3
    table, sheet = table_and_sheet(volume.hu)
    assert table.sum() > 3000 and sheet.sum() > 100  # they are there
    assert not (table & (reference > 0)).any() and not (sheet & (reference > 0)).any()
    assert not (mask & table).any()
    assert not (mask & sheet).any()
    # ... and the mask still reaches the skin of the back (rows 459-468), not stopping short.
    assert 459 <= np.flatnonzero(mask.any(axis=(0, 2))).max() <= 468


def test_ct3_naive_masks_fail_the_table_or_sheet_test(ct3):
    """The table/sheet assertions above can fail: a plain threshold keeps the table, and the largest
    component of it (holes filled) keeps the sheet lying against the back."""
    volume, _, _ = ct3
    table, sheet = table_and_sheet(volume.hu)
    naive = volume.hu > -500
    assert (naive & table).any()
    components, _ = ndimage.label(naive)
    largest = components == np.argmax(np.bincount(components.ravel())[1:]) + 1
    largest = np.stack([ndimage.binary_fill_holes(s) for s in largest])
    assert (largest & sheet).any()


def test_all_air_gives_an_empty_mask():
    hu = np.full((3, 64, 64), -1000.0, np.float32)
    mask = body_mask(hu, (0.8, 0.8, 5.0))
    assert mask.shape == hu.shape and mask.dtype == bool and not mask.any()


def test_single_slice_works_as_2d_and_3d():
    volume, truth, _ = make_phantom(slices=1, size=128)
    body = ~np.isin(truth, NOT_BODY)
    as_3d = body_mask(volume.hu, volume.spacing)
    as_2d = body_mask(volume.hu[0], volume.spacing)
    assert as_3d.shape == (1, 128, 128) and as_2d.shape == (128, 128)
    assert np.array_equal(as_3d[0], as_2d)
    assert as_3d[body].mean() >= 0.99 and not as_3d[truth == TABLE].any()


def test_everything_tissue_gives_everything():
    hu = np.full((2, 40, 40), 40.0, np.float32)
    assert body_mask(hu, (1.0, 1.0, 1.0)).all()


def test_sizes_are_in_millimetres():
    """A 4 mm wide strip joined to a 60 mm body is cut off at 1 mm pixels; at 0.5 mm pixels the same
    strip (8 pixels wide) must be cut off too: the opening is 3 mm whatever the pixel size."""
    for pixel in (1.0, 0.5):
        n = int(100 / pixel)
        hu = np.full((2, n, n), -1000.0, np.float32)
        yy, xx = np.mgrid[:n, :n] * pixel
        hu[:, (yy - 40) ** 2 + (xx - 50) ** 2 < 30 ** 2] = 40.0  # body: 60 mm disk
        strip = (yy >= 69) & (yy < 73) & (xx > 10) & (xx < 90)  # 4 mm thick table touching the body
        hu[:, strip] = 200.0
        mask = body_mask(hu, (pixel, pixel, 2.0))
        assert not mask[:, strip & ((xx < 35) | (xx > 65))].any()
        assert mask[:, (yy - 40) ** 2 + (xx - 50) ** 2 < 29 ** 2].all()


def test_totalsegmentator_example_structures_kept_table_removed():
    """3 mm voxels, image rows growing towards the front (the table is at the top of the image)."""
    folder = SHARED_DATA / "totalsegmentator_example"
    if not (folder / "example_seg.nii.gz").exists():
        pytest.skip(f"shared CT test data not found at {folder}")
    import SimpleITK as sitk

    from UnsupervisedCTSegLib.io.readers import read_volume
    volume = read_volume(folder / "example_ct_sm.nii.gz")
    anatomy = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_seg.nii.gz"))) > 0
    for name in ("skeletal_muscle", "subcutaneous_fat", "torso_fat"):
        anatomy |= sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "tissue_types" / f"{name}.nii.gz"))) > 0
    assert anatomy.shape == volume.hu.shape
    mask = body_mask(volume.hu, volume.spacing)
    assert mask[anatomy].all()
    # The largest component of a plain -500 HU threshold holds the table too; the mask drops it.
    components, _ = ndimage.label(volume.hu > -500)
    largest = components == np.argmax(np.bincount(components.ravel())[1:]) + 1
    dropped = largest & ~mask
    assert dropped.sum() > 2000
    assert not (dropped & anatomy).any()


def test_a_sample_smaller_than_the_opening_keeps_its_body():
    """A 3 mm opening on 0.05 mm pixels or on a 4 x 4 crop once erased everything ("no body found"),
    and 1e-30 mm pixels made its loops endless. The table stays out where the slice is big enough."""
    from helpers import body_volume

    volume = body_volume()
    fine = body_mask(volume.hu, (0.05, 0.05, 0.05))
    assert fine[:, 24, 24].all() and not fine[:, 0, 0].any()
    assert not fine[:, 41, 4].any()  # the table, two pixels thick and apart from the body
    assert body_mask(volume.hu[:, 20:24, 20:24], volume.spacing).all()
    absurd = body_mask(volume.hu, (1e-30, 1e-30, 1e-30))
    assert absurd[:, 24, 24].all() and not absurd[:, 0, 0].any()
