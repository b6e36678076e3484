"""Position channels (engine/position.py): the body-relative place of a voxel as a feature."""
import numpy as np
import pytest
import torch
from helpers import blocks_volume, body_volume, fast_settings

from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.estimate import estimate_seconds
from UnsupervisedCTSegLib.engine.position import BodyFrame
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.training import build_model, in_channels, warm_start_centres, warm_targets
from UnsupervisedCTSegLib.engine.volume import Volume


def test_no_weight_no_frame_and_no_extra_channels():
    assert BodyFrame.of(np.ones((2, 4, 4), bool), (2, 4, 4), 0.0) is None
    plain, placed = fast_settings(), fast_settings(position=0.5)
    assert in_channels(placed) == in_channels(plain) + 2
    first = next(m for m in build_model(placed, torch.device("cpu")).modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == in_channels(placed)


def test_coordinates_run_from_minus_to_plus_half_the_weight_across_the_body():
    body = np.zeros((3, 20, 30), bool)
    body[:, 4:15, 10:21] = True  # rows 4..14, columns 10..20
    frame = BodyFrame.of(body, body.shape, 0.4)
    planes = frame.planes(2, (0, 0, 20, 30))
    assert planes.shape == (2, 2, 20, 30) and planes.dtype == np.float32
    x, y = planes[0, 0], planes[0, 1]
    assert x[0, 10] == pytest.approx(-0.2) and x[0, 20] == pytest.approx(0.2) and x[0, 15] == pytest.approx(0.0)
    assert y[4, 0] == pytest.approx(-0.2) and y[14, 0] == pytest.approx(0.2)
    assert np.all(np.diff(x, axis=1) > 0) and np.all(np.diff(y, axis=0) > 0)  # left to right, front to back
    assert np.array_equal(planes[0], planes[1])  # the same place on every slice
    crop = frame.planes(1, (4, 10, 5, 6))
    assert np.allclose(crop[0], planes[0][:, 4:9, 10:16])
    np.testing.assert_allclose(frame.points(np.array([4, 14]), np.array([10, 20])), [[-0.2, -0.2], [0.2, 0.2]])


def twin_blobs():
    """Two blobs of the same soft tissue, one on the left and one on the right, in fat."""
    hu = np.full((2, 32, 48), -100.0, np.float32)
    hu[:, 8:24, 4:18] = 50.0
    hu[:, 8:24, 30:44] = 50.0
    return hu, np.ones(hu.shape, bool)


def test_the_warm_start_parts_tissues_of_one_density_by_place_only_with_position():
    hu, body = twin_blobs()
    for weight, apart in ((0.0, False), (0.5, True)):
        settings = fast_settings(position=weight, classes=5, min_labels=2)
        frame = BodyFrame.of(body, hu.shape, weight)
        centres = warm_start_centres(hu, body, settings, torch.device("cpu"), frame)
        position = frame.planes(2, (0, 0, 32, 48)) if frame else None
        targets = warm_targets(hu, centres, settings, torch.device("cpu"), position).numpy()
        left, right = np.bincount(targets[:, 8:24, 4:18].ravel()), np.bincount(targets[:, 8:24, 30:44].ravel())
        assert (left.argmax() != right.argmax()) == apart, weight  # each blob's majority label


def test_a_run_with_position_segments_and_estimates_in_both_modes():
    volume = body_volume(depth=4, size=40)
    for mode in ("volume", "slice"):
        settings = fast_settings(position=0.5, body_mask=True, mode=mode, iterations=3)
        result = segment(volume, settings)
        assert result.labels.shape == volume.shape and len(result.tissues) >= 2
        assert result.record["settings"]["position"] == 0.5
        assert estimate_seconds(volume, settings) > 0


def test_a_photograph_refuses_position():
    photo = Volume.from_photo(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="position to 0"):
        segment(photo, fast_settings(mode="slice", z_context=0, position=0.5))


def test_position_zero_leaves_the_run_as_it_was():
    """The weight 0 adds nothing: the same labels as a run of the same settings without the field set."""
    volume = blocks_volume()
    a = segment(volume, fast_settings())
    b = segment(volume, fast_settings(position=0.0))
    assert np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize("direction,high_x_side", [(np.eye(3), "left"), (np.diag([-1.0, -1.0, 1.0]), "right")])
def test_labels_a_band_splits_by_place_are_named_by_the_patients_side(direction, high_x_side):
    """Two blobs of one density, one at each side: each label says on which side of the patient its
    centre lies (LPS: x grows towards the left), read through the volume's direction."""
    from UnsupervisedCTSegLib.engine.position import place_names
    from UnsupervisedCTSegLib.engine.tissues import Tissue

    labels = np.zeros((2, 32, 48), np.uint16)
    labels[:, 8:24, 4:18], labels[:, 8:24, 30:44] = 1, 2
    volume = Volume(np.zeros(labels.shape, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction)
    tissues = [Tissue(1, "soft tissue 1", (1, 0, 0), 40.0, 5.0, 448), Tissue(2, "soft tissue 2", (1, 0, 0), 45.0, 5.0, 448),
               Tissue(3, "bone", (1, 1, 1), 700.0, 9.0, 10)]
    named = place_names(tissues, labels, volume, np.ones(labels.shape, bool))
    low_x_side = {"left": "right", "right": "left"}[high_x_side]
    assert [t.name for t in named] == [f"soft tissue, {low_x_side}", f"soft tissue, {high_x_side}", "bone"]
    assert [t.label for t in named] == [1, 2, 3] and named[0].mean_hu == 40.0


def test_a_placed_name_keeps_its_bands_terminology():
    from UnsupervisedCTSegLib.io.terminology import terminology_entry

    assert terminology_entry("soft tissue, right front") == terminology_entry("soft tissue")
    assert terminology_entry("fat, left back 2") == terminology_entry("fat")
    assert terminology_entry("fat, left back 2") != terminology_entry("soft tissue")
