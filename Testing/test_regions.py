"""The organ split (engine/regions.py): a label's parts joined by narrow necks get labels of their own."""
import numpy as np
import pytest
from helpers import fast_settings

from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.regions import split_regions
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.phantom import make_phantom

SPACING = (1.5, 1.5, 3.0)  # (x, y, z) mm: the coarse grid is 2 x 2 x 1 of these voxels


def grid(shape=(24, 60, 100)):
    z, y, x = np.indices(shape).astype(float)
    return z * SPACING[2], y * SPACING[1], x * SPACING[0]  # millimetres


def ball(centre, radius, shape=(24, 60, 100)):
    z, y, x = grid(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


def dumbbell(neck_mm):
    """Label 1: two balls of 21 mm radius, 80 mm apart, joined by a bar `neck_mm` wide and deep;
    label 2 fills the rest of the image."""
    left, right = ball((36, 45, 35), 21), ball((36, 45, 115), 21)
    z, y, x = grid()
    bar = (abs(z - 36) <= neck_mm / 2) & (abs(y - 45) <= neck_mm / 2) & (x > 35) & (x < 115)
    labels = np.where(left | right | bar, 1, 2).astype(np.int32)
    return labels, left, right


def soft_tissue_hu(labels, values=(40.0, 60.0)):
    return np.where(labels == 1, values[0], values[1]).astype(np.float32)


def test_two_organs_joined_by_a_thin_neck_get_a_label_each():
    labels, left, right = dumbbell(neck_mm=6.0)
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert split >= 1
    (a,), (b,) = np.unique(out[left]), np.unique(out[right])  # each ball is wholly one label ...
    assert a != b  # ... and the two differ
    assert set(np.unique(out[labels == 1])) <= {a, b}  # the neck goes to one ball or the other
    assert not set(np.unique(out[labels == 2])) & {a, b}  # parts never mix with another label


def test_a_neck_as_thick_as_the_organs_is_not_cut():
    labels, left, right = dumbbell(neck_mm=36.0)  # wider than 2 x 12 mm: one body
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert len(np.unique(out[labels == 1])) == 1


def test_a_part_below_the_smallest_volume_stays_with_its_label():
    labels, left, right = dumbbell(neck_mm=6.0)  # each ball is about 39 ml
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=50.0)
    assert split == 0 and len(np.unique(out[labels == 1])) == 1


def test_fat_is_never_split_into_parts():
    labels, left, right = dumbbell(neck_mm=6.0)
    out, split = split_regions(labels, soft_tissue_hu(labels, (-100.0, 40.0)), SPACING, neck_mm=12.0, min_ml=5.0)
    assert split == 0 and len(np.unique(out[labels == 1])) == 1


def test_unlabelled_voxels_stay_unlabelled_and_no_labelled_voxel_is_lost():
    labels, left, right = dumbbell(neck_mm=6.0)
    labels[:, :5] = 0  # outside the body
    out, _ = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert np.array_equal(out == 0, labels == 0)
    assert out.dtype == np.uint16 and set(np.unique(out)) == set(range(out.max() + 1))  # 0..K', no gaps


def test_a_label_too_thin_for_the_coarse_grid_is_kept():
    labels = np.full((4, 40, 40), 2, np.int32)
    labels[1, 7, 7] = 1  # one voxel, which the coarse grid (every other row and column) does not sample
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert split == 0 and out[1, 7, 7] != out[0, 0, 0] and np.count_nonzero(out == out[1, 7, 7]) == 1


def test_the_split_refines_the_density_labels_and_names_the_parts_by_place():
    volume, _, _ = make_phantom(slices=12, size=128)
    plain = segment(volume, fast_settings(split_mm=0.0))
    split = segment(volume, fast_settings(split_mm=12.0, split_ml=5.0))
    assert len(split.tissues) > len(plain.tissues)
    assert np.array_equal(split.labels == 0, plain.labels == 0)
    for label in np.unique(split.labels[split.labels > 0]):  # every part lies inside one density label
        assert len(np.unique(plain.labels[split.labels == label])) == 1
    placed = [t.name for t in split.tissues if "," in t.name]
    assert placed and all(word in " ".join(placed) for word in ("right", "left"))


def test_the_split_is_refused_for_photographs_and_out_of_range():
    with pytest.raises(InputError, match="split_mm"):
        Settings(split_mm=-1.0)
    photo = Volume(np.zeros((1, 8, 8), np.float32), colour=np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(InputError, match="split_mm to 0"):
        segment(photo, fast_settings(body_mask=False, split_mm=12.0))


def test_a_dense_label_is_kept_whole_however_thin_its_necks():
    """Bone: a quarter of its voxels above 150 HU; eroding the skeleton would give one part per vertebra."""
    labels, left, right = dumbbell(neck_mm=6.0)
    hu = np.where(labels == 1, np.where(np.indices(labels.shape)[2] % 2, 60.0, 400.0), 40.0).astype(np.float32)
    out, split = split_regions(labels, hu, SPACING, neck_mm=12.0, min_ml=5.0)
    assert split == 0 and len(np.unique(out[labels == 1])) == 1
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert split >= 1  # the same shape in soft tissue is split


def test_thin_tissue_far_from_every_core_becomes_a_remainder_of_its_own():
    """A ball (an organ) and, far from it, a thin sheet of the same label: the sheet is no tail of the
    ball but a part of its own."""
    shape = (24, 60, 100)
    organ = ball((36, 45, 35), 21, shape)
    z, y, x = grid(shape)
    sheet = (abs(y - 45) <= 2) & (x > 100) & (x < 148) & (z > 9)
    labels = np.where(organ | sheet, 1, 2).astype(np.int32)
    out, split = split_regions(labels, soft_tissue_hu(labels), SPACING, neck_mm=12.0, min_ml=5.0)
    assert split == 1 and len(np.unique(out[organ])) == 1 and len(np.unique(out[sheet])) == 1
    assert out[organ][0] != out[sheet][0]


@pytest.mark.parametrize("other_hu,other_centres", [
    (-990.0, [(15, 45, 75)]),  # a gas pocket far below the lungs: gas stays apart
    (-100.0, [(15, 45, 35), (15, 45, 115)]),  # two fat pads: a lung sharing the fat's label comes out
])
def test_both_lungs_become_one_part_apart_from_the_rest_of_their_label(other_hu, other_centres):
    """Two lungs (-800 HU) and other pieces of one substance in the same label: the lungs come out as
    one part, the other pieces as another."""
    shape = (24, 60, 100)
    lungs = ball((50, 45, 35), 18, shape) | ball((50, 45, 115), 18, shape)
    other = np.logical_or.reduce([ball(centre, 12, shape) for centre in other_centres])
    labels = np.where(lungs | other, 1, 2).astype(np.int32)
    hu = np.select([lungs, other], [-800.0, other_hu], 40.0).astype(np.float32)
    out, split = split_regions(labels, hu, SPACING, neck_mm=12.0, min_ml=5.0)
    assert split == 1
    assert len(np.unique(out[lungs])) == 1 and len(np.unique(out[other])) == 1
    assert out[lungs][0] != out[other][0]
