"""The run-time estimate: positive, grows with the work, follows the run's structure.

Its accuracy against real runs and its own cost are timings: benchmarks/estimate_accuracy.py.
"""
import numpy as np
import pytest
import torch

from UnsupervisedCTSegLib.engine.estimate import Calibration, calibrate, estimate_seconds, extrapolate
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume

from helpers import blocks_volume


def tiny_settings(**overrides):
    values = dict(channels=8, iterations=20, min_labels=1, device="cpu")  # min_labels=1: all T iterations run
    values.update(overrides)
    return Settings(**values)


def test_kmeans_estimate_is_small_and_positive():
    volume = blocks_volume(depth=16, size=64)
    estimate = estimate_seconds(volume, tiny_settings(variant="kmeans"))
    assert estimate > 0


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
