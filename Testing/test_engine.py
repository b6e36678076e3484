import re
import threading

import numpy as np
import pytest
import torch
from helpers import blocks_volume, fast_settings

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.run import Progress, segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.superpixels import majority_vote, majority_vote_loop
from UnsupervisedCTSegLib.engine.volume import Volume


def test_same_seed_same_labels_on_cpu():
    volume = blocks_volume()
    a = segment(volume, fast_settings(seed=7))
    b = segment(volume, fast_settings(seed=7))
    assert np.array_equal(a.labels, b.labels)
    assert a.record["history"]["loss"] == b.record["history"]["loss"]


def test_labels_numbered_by_mean_hu_with_stats():
    result = segment(blocks_volume(), fast_settings(iterations=20))
    means = [t.mean_hu for t in result.tissues]
    assert means == sorted(means)
    assert [t.label for t in result.tissues] == list(range(1, len(result.tissues) + 1))
    assert set(np.unique(result.labels)) == {t.label for t in result.tissues}
    for t in result.tissues:
        assert t.voxels == int((result.labels == t.label).sum())
        assert t.mean_hu == pytest.approx(float(result.volume.hu[result.labels == t.label].mean()), abs=1e-2)
    assert result.tissues[0].name.startswith("air")
    assert result.tissues[-1].name.startswith("bone")


def test_min_labels_stops_training():
    # q = 4 response channels and minLabels 4: the first iteration already has <= 4 labels.
    result = segment(blocks_volume(), fast_settings(channels=4, min_labels=4, iterations=50))
    assert result.record["iterations_run"] < 50
    assert result.record["history"]["labels"][-1] <= 4
    assert all(n > 4 for n in result.record["history"]["labels"][:-1])


def test_progress_reported_every_iteration():
    seen = []
    segment(blocks_volume(), fast_settings(iterations=6, min_labels=1), progress=seen.append)
    training = [p for p in seen if p.stage == "training"]
    assert [p.iteration for p in training] == list(range(1, 7))
    assert all(isinstance(p, Progress) and 0 <= p.fraction <= 1 for p in seen)
    assert seen[-1].fraction == 1.0 and seen[-1].stage == "done"


@pytest.mark.parametrize("mode", ["volume", "slice"])
def test_cancel_raises_and_returns_nothing(mode):
    stop = threading.Event()
    calls = []

    def progress(p):
        calls.append(p)
        if p.iteration == 2:
            stop.set()

    with pytest.raises(Cancelled):
        segment(blocks_volume(), fast_settings(mode=mode, iterations=50, min_labels=1), progress, stop)
    assert max(p.iteration for p in calls) == 2  # stopped at the next check, within one iteration
    with pytest.raises(Cancelled):
        segment(blocks_volume(), fast_settings(), cancel=lambda: True)


@pytest.mark.parametrize("variant", ["proposed", "superpixel", "nobn", "kmeans"])
@pytest.mark.parametrize("mode", ["volume", "slice"])
def test_every_variant_and_mode_returns_the_same_result_type(variant, mode):
    volume = blocks_volume(depth=2, size=16)
    result = segment(volume, fast_settings(variant=variant, mode=mode, superpixels=30, k=4))
    assert result.labels.shape == volume.shape and result.labels.dtype == np.uint16
    assert result.labels.min() >= 1 and len(result.tissues) == int(result.labels.max())
    assert result.record["settings"]["variant"] == variant


def test_kmeans_finds_the_four_blocks():
    volume = blocks_volume()
    result = segment(volume, fast_settings(variant="kmeans", k=4, windows=("wide",)))
    truth = np.digitize(volume.hu, [-500, -25, 300])
    assert len(result.tissues) == 4
    assert np.array_equal(result.labels - 1, truth)


def test_majority_vote_matches_naive_loop():
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels = rng.integers(0, 6, size=(3, 20, 20))
        segments = rng.integers(0, 40, size=(3, 20, 20)) + 1000
        fast = majority_vote(torch.from_numpy(labels), torch.from_numpy(segments), 6).numpy()
        assert np.array_equal(fast, majority_vote_loop(labels, segments))


def test_volume_mode_is_one_network_for_all_slices():
    # identical slices must get identical labels in volume mode (one network, fixed normalisation)
    one = blocks_volume(depth=1).hu
    volume = Volume(np.repeat(one, 4, axis=0))
    result = segment(volume, fast_settings())
    for z in range(1, 4):
        assert np.array_equal(result.labels[z], result.labels[0])


def test_two_d_image_is_a_one_slice_volume():
    image = blocks_volume(depth=1).hu[0]
    result = segment(Volume(image), fast_settings())
    assert result.labels.shape == (1,) + image.shape


def test_record_has_parameters_versions_history():
    result = segment(blocks_volume(), fast_settings(iterations=4, min_labels=1))
    record = result.record
    assert record["settings"]["iterations"] == 4 and record["seed"] == 0
    assert record["device"].startswith("cpu")
    assert {"torch", "numpy", "python", "UnsupervisedCTSeg"} <= set(record["versions"])
    assert len(record["history"]["loss"]) == len(record["history"]["labels"]) == 4
    assert record["wall_seconds"] > 0


@pytest.mark.parametrize("overrides,word", [
    (dict(layers=0), "M"), (dict(channels=1), "p"), (dict(theta=-1), "θ"), (dict(mu=-0.5), "μ"),
    (dict(iterations=0), "iterations"), (dict(classes=4, min_labels=5), "minLabels"),
    (dict(variant="magic"), "variant"), (dict(windows=("nope",)), "window"), (dict(device="tpu"), "device"),
])
def test_absurd_settings_are_refused(overrides, word):
    with pytest.raises(InputError, match=word):
        Settings(**overrides).validate() if "device" not in overrides else segment(blocks_volume(), fast_settings(**overrides))


@pytest.mark.parametrize("array,word", [
    (np.full((2, 8, 8), np.nan), "NaN"), (np.full((2, 8, 8), np.inf), "infinite"), (np.zeros((0, 8, 8)), "empty"),
    (np.zeros((2, 3, 8, 8)), "dimensions"), (np.zeros((2, 2, 2)), "smaller than the network"),
])
def test_bad_volumes_are_refused(array, word):
    with pytest.raises(InputError, match=word):
        segment(Volume(array), fast_settings())


def test_cuda_asked_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="--device cpu"):
        segment(blocks_volume(), fast_settings(device="cuda"))


def test_every_numeric_setting_is_refused_just_outside_its_declared_range():
    """The range each Settings field declares is the range that is checked, with the range in the message."""
    from UnsupervisedCTSegLib.engine.settings import knobs

    for name, what in knobs().items():
        if what.minimum is None:
            continue
        step = 1 if isinstance(getattr(Settings(), name), int) else 1e-6
        below = what.minimum if what.above else what.minimum - step
        above = what.maximum if what.below else what.maximum + step
        for value in (below, above):
            with pytest.raises(InputError, match=re.escape(what.range_text())):
                Settings(**{name: value})
