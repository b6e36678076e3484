"""Slice-to-slice label consistency: ARI and identical fraction against values worked out by hand."""
import math

import numpy as np
import pytest

from UnsupervisedCTSegLib.evaluation.consistency import adjusted_rand_index, slice_consistency, summary


def ari_by_hand_formula(a, b):
    """Hubert & Arabie's ARI written with binomials, independent of the pair-counting implementation."""
    pairs = {}
    for x, y in zip(a, b):
        pairs[(x, y)] = pairs.get((x, y), 0) + 1
    rows, columns = {}, {}
    for (x, y), n in pairs.items():
        rows[x] = rows.get(x, 0) + n
        columns[y] = columns.get(y, 0) + n
    index = sum(math.comb(n, 2) for n in pairs.values())
    sum_rows = sum(math.comb(n, 2) for n in rows.values())
    sum_columns = sum(math.comb(n, 2) for n in columns.values())
    expected = sum_rows * sum_columns / math.comb(len(a), 2)
    maximum = (sum_rows + sum_columns) / 2
    return (index - expected) / (maximum - expected)


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),  # same partition, renumbered
    ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),  # index 0, expected 2*2/6 = 2/3, max 2: (0 - 2/3) / (2 - 2/3)
    # Contingency (0,0)=2 (1,1)=1 (1,2)=1 (2,2)=2: index 2, rows 3, columns 1+0+3 = 4, C(6,2) = 15,
    # expected 3*4/15 = 0.8, max 3.5: (2 - 0.8) / (3.5 - 0.8) = 4/9.
    ([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2], 4 / 9),
    ([7, 7, 7], [3, 3, 3], 1.0),  # both one cluster: identical partitions (sklearn's convention)
    ([0, 1, 2], [5, 6, 7], 1.0),  # both all singletons: identical partitions
    ([0, 0, 0, 0], [0, 0, 1, 1], 0.0),  # one cluster against two: no agreement beyond chance
])
def test_ari_hand_computed(a, b, expected):
    assert adjusted_rand_index(a, b) == pytest.approx(expected, abs=1e-12)
    assert adjusted_rand_index(b, a) == pytest.approx(expected, abs=1e-12)


def test_ari_matches_the_binomial_formula_on_random_labelings():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        a = rng.integers(0, int(rng.integers(2, 6)), n)
        b = np.where(rng.random(n) < 0.6, a, rng.integers(0, 4, n))
        if len(set(a)) in (1, n) and len(set(b)) in (1, n):
            continue  # the formula divides by zero there; covered by the hand-computed cases
        assert adjusted_rand_index(a, b) == pytest.approx(ari_by_hand_formula(a, b), abs=1e-12)


def test_ari_label_values_and_types_do_not_matter():
    a = np.array([0, 0, 1, 1, 2, 2, 2])
    b = np.array([5, 5, 5, 9, 9, 1, 1])
    expected = adjusted_rand_index(a, b)
    assert adjusted_rand_index(a * 1000 + 65000, b) == pytest.approx(expected)  # large, uint16-like ids
    assert adjusted_rand_index(a.astype(float) - 0.5, b.astype(np.int8) - 3) == pytest.approx(expected)
    assert adjusted_rand_index(np.arange(500) * 1.5, np.arange(500)) == 1.0  # many labels: sparse path


def test_ari_refuses_different_sizes():
    with pytest.raises(ValueError, match="same items"):
        adjusted_rand_index([0, 1], [0, 1, 1])


def test_slice_consistency_hand_computed():
    labels = np.array([
        [[1, 1], [2, 2]],
        [[1, 1], [2, 2]],  # same as slice 0
        [[2, 2], [1, 1]],  # renumbered: nothing identical, same partition
        [[3, 3], [3, 0]],  # 3 of 4 pixels one region, one pixel unlabelled
    ], dtype=np.uint16)
    table = slice_consistency(labels)
    assert list(table["slice"]) == [0, 1, 2, 3]
    assert list(table["labels"]) == [2, 2, 2, 1]  # label 0 does not count
    np.testing.assert_allclose(table["identical_fraction"], [np.nan, 1.0, 0.0, 0.0])
    # Slice 3 against slice 2: pairs (3,2) x2, (3,1), (0,1): index 1, rows C(3,2)=3, columns 1+1=2,
    # expected 3*2/6 = 1, max 2.5 -> (1 - 1) / (2.5 - 1) = 0.
    np.testing.assert_allclose(table["ari_previous"], [np.nan, 1.0, 1.0, 0.0])
    s = summary(table)
    assert s["mean_identical_fraction"] == pytest.approx(1 / 3)
    assert s["mean_ari_previous"] == pytest.approx(2 / 3)
    assert s["worst_slice"] == 3 and s["min_ari_previous"] == pytest.approx(0.0)
    assert summary(labels) == s  # a label volume is accepted too


def test_single_slice_has_nothing_to_compare():
    table = slice_consistency(np.ones((1, 3, 3), np.uint16))
    assert np.isnan(table["identical_fraction"][0]) and np.isnan(table["ari_previous"][0])
    s = summary(table)
    assert math.isnan(s["mean_ari_previous"]) and s["worst_slice"] == -1


def test_slice_consistency_flags_the_slice_where_labels_jump():
    labels = np.zeros((6, 8, 8), np.uint16)
    labels[:, :, :4], labels[:, :, 4:] = 1, 2
    labels[4:] = 3 - labels[4:]  # slices 4 and 5 swap the two labels
    table = slice_consistency(labels)
    assert table["identical_fraction"][4] == 0.0 and table["ari_previous"][4] == 1.0
    assert np.all(table["identical_fraction"][[1, 2, 3, 5]] == 1.0)
