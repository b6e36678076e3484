"""clean_labels: small islands join their neighbours, small holes are filled, 0 (outside) is never touched."""
import numpy as np
import pytest
from scipy import ndimage

from UnsupervisedCTSegLib.engine.cleanup import clean_labels

SPACING = (0.5, 0.5, 2.0)  # x, y, z mm: a voxel is 0.5 mm3, a pixel 0.25 mm2


def block_with_island(dtype=np.int16):
    """Label 1 everywhere, with a 3-voxel island of label 2 (1.5 mm3) in the middle."""
    labels = np.ones((5, 12, 12), dtype)
    labels[2, 6, 5:8] = 2
    return labels


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_island_below_the_size_is_absorbed_and_input_untouched(dtype):
    labels = block_with_island(dtype)
    before = labels.copy()
    out = clean_labels(labels, SPACING, min_island_mm3=2.0, fill_holes=False)
    assert np.array_equal(labels, before)
    assert out.dtype == labels.dtype and out.shape == labels.shape
    assert np.all(out == 1)


def test_island_at_or_above_the_size_is_kept():
    labels = block_with_island()
    for limit in (1.0, 1.5):  # the island is exactly 1.5 mm3: "smaller than" keeps it at 1.5
        assert np.array_equal(clean_labels(labels, SPACING, limit, False), labels)


def test_spacing_is_x_y_z_for_hole_areas():
    labels, hole = ring()  # a 9-pixel hole: 2.25 mm2 with 0.5 x 0.5 mm pixels, 18 mm2 if z were read as x
    assert np.all(clean_labels(labels, (0.5, 0.5, 4.0), 0, True, max_hole_mm2=3.0)[hole] == 1)
    assert np.array_equal(clean_labels(labels, (4.0, 0.5, 0.5), 0, True, max_hole_mm2=3.0), labels)


def test_island_takes_the_majority_label_of_its_neighbours_never_zero():
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[:, :, :4] = 1
    labels[:, :4, 4:] = 3
    labels[1, 4:6, 4] = 2  # a 2-voxel island; its face neighbours: 1, 1, 3 and seven 0
    out = clean_labels(labels, (1, 1, 1), min_island_mm3=3, fill_holes=False)
    assert out[1, 4, 4] == 1 and out[1, 5, 4] == 1
    assert np.array_equal(out == 0, labels == 0)


def test_island_touching_only_zero_is_left():
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[:, :, :3] = 1
    labels[1, 4, 6] = 2  # alone in the outside
    out = clean_labels(labels, (1, 1, 1), min_island_mm3=5, fill_holes=False)
    assert out[1, 4, 6] == 2
    assert np.array_equal(out, labels)


def test_tie_goes_to_the_smaller_label():
    labels = np.full((1, 3, 3), 4, np.uint8)
    labels[0, :, 0] = 0
    labels[0, 0, 1:] = 2
    labels[0, 2, 1:] = 3
    labels[0, 1, 1] = 5  # neighbours: 0 (left), 2 (up), 3 (down), 4 (right)
    out = clean_labels(labels, (1, 1, 1), min_island_mm3=1.5, fill_holes=False)
    assert out[0, 1, 1] == 2


def test_speckle_cluster_of_islands_joins_the_surrounding_label():
    labels = np.full((5, 10, 10), 7, np.uint8)
    labels[2, 4, 4], labels[2, 4, 5], labels[2, 5, 4], labels[2, 5, 5] = 2, 3, 4, 5  # a 2x2 checker
    out = clean_labels(labels, (1, 1, 1), min_island_mm3=2, fill_holes=False)
    assert np.all(out == 7)


def test_noop_returns_an_equal_copy():
    labels = block_with_island()
    out = clean_labels(labels, SPACING, 0, False)
    assert out is not labels and not np.shares_memory(out, labels)
    assert np.array_equal(out, labels) and out.dtype == labels.dtype


def ring(hole_value=2, size=9, hole=3):
    """One slice: a label 1 square ring around a hole x hole square of hole_value, 0 (outside) around.

    (Were the outside another label, the whole ring would be a small hole of that label.)"""
    labels = np.zeros((1, size, size), np.uint8)
    labels[0, 1:-1, 1:-1] = 1
    lo = (size - hole) // 2
    labels[0, lo:lo + hole, lo:lo + hole] = hole_value
    return labels, (slice(None), slice(lo, lo + hole), slice(lo, lo + hole))


def test_hole_in_a_ring_is_filled():
    labels, hole = ring()  # 9 pixels = 2.25 mm2
    out = clean_labels(labels, SPACING, 0, fill_holes=True)
    assert np.all(out[hole] == 1)
    assert np.array_equal(out[labels != 2], labels[labels != 2])


def test_hole_larger_than_the_area_limit_is_kept():
    labels, _ = ring()
    assert np.array_equal(clean_labels(labels, SPACING, 0, True, max_hole_mm2=2.0), labels)
    assert not np.array_equal(clean_labels(labels, SPACING, 0, True, max_hole_mm2=2.25), labels)


def test_small_structure_enclosed_by_another_label_is_swallowed_big_one_kept():
    labels, _ = ring()
    labels[labels == 0] = 3  # now label 1's square (49 pixels, hole included) is a hole of label 3
    assert np.all(clean_labels(labels, SPACING, 0, True, max_hole_mm2=49 * 0.25) == 3)
    assert np.all(clean_labels(labels, SPACING, 0, True, max_hole_mm2=48 * 0.25)[0, 1:-1, 1:-1] == 1)


def test_hole_holding_zero_is_not_filled_and_zero_never_grows():
    labels, hole = ring(hole_value=2)
    labels[0, 4, 4] = 0  # the outside reaches into the hole
    out = clean_labels(labels, SPACING, 0, True)
    assert np.array_equal(out, labels)
    labels, _ = ring(hole_value=0)
    assert np.array_equal(clean_labels(labels, SPACING, 0, True), labels)


def test_hole_filling_matches_binary_fill_holes_for_two_labels():
    rng = np.random.default_rng(0)
    blobs = ndimage.gaussian_filter(rng.random((4, 40, 40)), (0, 2, 2)) > 0.52
    labels = np.where(blobs, 2, 1).astype(np.uint8)
    labels[:, 0, :] = labels[:, -1, :] = labels[:, :, 0] = labels[:, :, -1] = 1
    out = clean_labels(labels, (1, 1, 1), 0, True, max_hole_mm2=1e9)
    expected = labels.copy()
    for z in range(labels.shape[0]):  # label 1 goes first, then label 2 in what is left
        expected[z][ndimage.binary_fill_holes(expected[z] == 1)] = 1
        expected[z][ndimage.binary_fill_holes(expected[z] == 2)] = 2
    assert np.array_equal(out, expected)
    assert (out != labels).any()


def test_islands_then_holes_together_keep_zero():
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 6, (6, 30, 30)).astype(np.int16)
    labels[:, :, :5] = 0
    out = clean_labels(labels, SPACING, min_island_mm3=2.0, fill_holes=True)
    assert np.array_equal(out == 0, labels == 0)
    assert set(np.unique(out)) <= set(np.unique(labels))


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        clean_labels(np.zeros((2, 3, 3), np.float32), SPACING, 1, False)
    with pytest.raises(ValueError):
        clean_labels(-np.ones((2, 3, 3), np.int16), SPACING, 1, False)
