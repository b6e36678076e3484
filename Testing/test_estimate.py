"""The run-time estimate: positive, grows with the work, follows the run's structure.

Its accuracy against real runs and its own cost are timings: benchmarks/estimate_accuracy.py.
"""
import time

import numpy as np
import pytest
import torch
from helpers import blocks_volume

from UnsupervisedCTSegLib.engine.estimate import Calibration, calibrate, estimate_seconds, extrapolate
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume


def tiny_settings(**overrides):
    values = dict(channels=8, iterations=20, min_labels=1, device="cpu")  # min_labels=1: all T iterations run
    values.update(overrides)
    return Settings(**values)


def fastest(seconds, tries):
    """The smallest of `tries` results of seconds(): load on the machine only ever adds time."""
    return min(seconds() for _ in range(tries))


@pytest.fixture
def one_thread():
    """Time with one torch thread: on a busy machine the threads of a parallel operation wait on each
    other for whole scheduler slices; the k-means calibration times a few milliseconds and would
    extrapolate such stalls into seconds, and a real run varies several-fold. That is load, not the estimate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_kmeans_estimate_follows_a_real_run_and_the_volume_size(one_thread):
    """k-means is not calibrated before a run, but its estimate must still be right in kind.

    Within a factor of 5 of the real run's wall time (k-means converging early makes the real run
    faster than the estimate, which assumes every fit iteration), and clearly longer for a volume
    with 8 times the voxels (the fit sample is capped, so the growth is less than 8-fold).
    """
    settings = tiny_settings(variant="kmeans")
    small, large = blocks_volume(depth=16, size=64), blocks_volume(depth=32, size=128)
    small_estimate = fastest(lambda: estimate_seconds(small, settings), 5)
    large_estimate = fastest(lambda: estimate_seconds(large, settings), 5)
    assert large_estimate > 1.5 * small_estimate

    def real_run():
        started = time.perf_counter()
        segment(large, settings)
        return time.perf_counter() - started

    real = fastest(real_run, 2)
    assert real / 5 < large_estimate < 5 * real


def test_estimate_grows_with_iterations_and_depth():
    volume = blocks_volume(depth=4, size=32)
    for mode in ("volume", "slice"):
        settings = tiny_settings(mode=mode)
        calibration = calibrate(volume, settings)
        base = extrapolate(calibration, (16, 64, 64), settings)
        assert base > 0
        assert extrapolate(calibration, (16, 64, 64), tiny_settings(mode=mode, iterations=200)) > base
        assert extrapolate(calibration, (64, 64, 64), settings) > base
    # The measured route too (with margins far beyond timing noise).
    short = estimate_seconds(volume, tiny_settings(iterations=5))
    assert estimate_seconds(volume, tiny_settings(iterations=500)) > 2 * short
    deep = blocks_volume(depth=64, size=32)
    assert estimate_seconds(deep, tiny_settings(mode="slice")) > 2 * estimate_seconds(volume, tiny_settings(mode="slice"))


def test_extrapolation_follows_the_run_structure():
    c = Calibration(setup=1.0, train_step=0.1, inference_per_slice=0.01)
    volume_mode = tiny_settings(iterations=30)
    assert extrapolate(c, (10, 8, 8), volume_mode) == pytest.approx(1.0 + 30 * 0.1 + 2 * 10 * 0.01)
    slice_mode = tiny_settings(iterations=30, mode="slice")
    assert extrapolate(c, (10, 8, 8), slice_mode) == pytest.approx(10 * (1.0 + 30 * 0.1 + 0.01))


def test_calibration_leaves_the_random_state_alone():
    volume = Volume(np.full((6, 96, 96), 40, np.int16))
    state = torch.get_rng_state()
    calibrate(volume, Settings(device="cpu"))
    assert torch.equal(state, torch.get_rng_state())


def test_only_cpu_network_runs_are_timed_before_they_start():
    from UnsupervisedCTSegLib.engine.estimate import needs_estimate

    assert needs_estimate(Settings(device="cpu"))
    assert needs_estimate(Settings(device="cpu", mode="slice", variant="superpixel"))
    assert not needs_estimate(Settings(device="cpu", variant="kmeans"))  # seconds, whatever the volume
