"""The engine with the CT additions on the phantom: the body mask decides what is labelled, the
outside can be one segment, the clean-up removes islands, and seeds agree on the tissue split."""
import numpy as np
import pytest
from helpers import fast_settings
from scipy import ndimage

from UnsupervisedCTSegLib.cli.demo import NOT_ANATOMY, score
from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.tissues import OUTSIDE_NAME
from UnsupervisedCTSegLib.evaluation.consistency import adjusted_rand_index, matched_agreement
from UnsupervisedCTSegLib.io.phantom import CLOTHING, CUSHION, TABLE, make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(slices=4, size=128)


def test_only_the_body_is_labelled(phantom):
    volume, truth, _ = phantom
    result = segment(volume, fast_settings(body_mask=True))
    body = body_mask(volume.hu, volume.spacing)
    np.testing.assert_array_equal(result.labels > 0, body)
    assert not result.labels[np.isin(truth, (TABLE, CLOTHING))].any()
    assert sum(t.voxels for t in result.tissues) == int(body.sum())


def test_outside_segment_is_one_last_label_for_everything_else(phantom):
    volume, truth, _ = phantom
    result = segment(volume, fast_settings(body_mask=True, outside_segment=True))
    outside = result.tissues[-1]
    assert outside.name == OUTSIDE_NAME and outside.label == len(result.tissues)
    np.testing.assert_array_equal(result.labels == outside.label, ~body_mask(volume.hu, volume.spacing))
    assert result.labels.all()
    assert np.all(result.labels[truth == TABLE] == outside.label)


def test_without_the_body_mask_the_table_gets_labels(phantom):
    volume, truth, _ = phantom
    result = segment(volume, fast_settings(body_mask=False))
    assert result.labels.all() and result.labels[truth == TABLE].any()


def test_island_clean_up_leaves_no_small_piece(phantom):
    volume, _, _ = phantom
    voxel_mm3 = float(np.prod(volume.spacing))
    limit = 40 * voxel_mm3
    raw = segment(volume, fast_settings(body_mask=True))
    clean = segment(volume, fast_settings(body_mask=True, min_island_mm3=limit))

    def smallest_piece(labels):
        sizes = []
        for label in np.unique(labels[labels > 0]):
            pieces, count = ndimage.label(labels == label)
            sizes.extend(np.bincount(pieces.reshape(-1))[1:].tolist())
        return min(sizes)

    assert smallest_piece(raw.labels) < 40  # the test means something: the raw labels have islands
    assert smallest_piece(clean.labels) >= 40
    np.testing.assert_array_equal(clean.labels > 0, raw.labels > 0)  # the outside is untouched


def test_seeds_give_the_same_tissue_split(phantom):
    volume, _, _ = phantom
    runs = [segment(volume, Settings(seed=seed, device="cpu")).labels for seed in (0, 1, 2)]
    for other in runs[1:]:
        assert adjusted_rand_index(runs[0], other) >= 0.93
        assert matched_agreement(runs[0], other) >= 0.85


def test_demo_scores_anatomy_only():
    truth = np.array([[[TABLE, CUSHION, CLOTHING, 4, 4, 5]]])
    labels = np.array([[[0, 0, 0, 1, 1, 2]]])
    rows = score(labels, truth, {TABLE: "table", CUSHION: "cushion", CLOTHING: "clothing", 4: "fat", 5: "muscle"})
    assert [(name, iou) for name, iou, _, _ in rows] == [("fat", 1.0), ("muscle", 1.0)]
    assert set(NOT_ANATOMY) >= {TABLE, CUSHION, CLOTHING}
