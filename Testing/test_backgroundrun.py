"""BackgroundRun: the panel's worker thread, on real engine runs of a small volume and on stub tasks.

The GUI thread only polls it, so these tests do what the panel's QTimer does: poll(), done, result,
error, cancel(). The 2 s bound after cancel() is behavioural (the engine checks the cancel flag
every iteration), not a speed target.
"""
import functools
import threading
import time

import pytest
from helpers import blocks_volume

from UnsupervisedCTSegLib.engine import run as engine
from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.slicer.backgroundrun import BackgroundRun

LONG = Settings(channels=8, iterations=200, min_labels=1, body_mask=False, device="cpu")  # min_labels=1: no early stop
DEADLINE = 120.0  # seconds a test waits for something that takes well under a second


@pytest.fixture
def engine_run():
    """Starts engine runs; at teardown cancels and waits for any still running, even after a failure.

    A worker thread still inside torch when the interpreter exits can abort or hang it.
    """
    runs = []

    def start(volume, settings) -> BackgroundRun:
        runs.append(BackgroundRun(functools.partial(engine.segment, volume, settings)).start())
        return runs[-1]

    yield start
    for run in runs:
        run.cancel()
        run.join(timeout=DEADLINE)


def wait_for_progress(run: BackgroundRun, count: int = 1) -> list:
    """Poll like the panel's timer until `count` progress updates were seen or the run ended."""
    seen, deadline = [], time.monotonic() + DEADLINE
    while len(seen) < count and not run.done and time.monotonic() < deadline:
        progress = run.poll()
        if progress is not None:
            seen.append(progress)
        time.sleep(0.005)
    return seen


def test_progress_arrives_while_it_runs(engine_run):
    run = engine_run(blocks_volume(depth=8, size=64), LONG)
    seen = wait_for_progress(run, count=3)
    assert len(seen) == 3, f"only {len(seen)} progress updates before the run ended"
    assert not run.done, "200 iterations should still be running after 3 polls"
    iterations = [p.iteration for p in seen]
    assert iterations == sorted(set(iterations)), f"iterations not increasing: {iterations}"
    assert all(isinstance(p, engine.Progress) and 0 < p.fraction < 1 for p in seen)
    assert run.result is None and run.error is None


def test_cancel_ends_the_run_with_cancelled_within_two_seconds(engine_run):
    run = engine_run(blocks_volume(depth=8, size=64), LONG)
    assert wait_for_progress(run, count=1), "no progress before the run ended"
    assert not run.done
    run.cancel()
    assert run.cancelled
    assert run.join(timeout=2.0), "the worker was still running 2 s after cancel()"
    assert not run.thread.is_alive() and run.done
    assert isinstance(run.error, Cancelled)
    assert run.result is None
    assert run.error.__traceback__ is None  # frames (and their tensors) dropped
    assert "Cancelled" in run.details


def test_bad_input_surfaces_the_input_error(engine_run):
    run = engine_run(blocks_volume(depth=2, size=2), LONG)  # 2x2 slices: too small for the network
    assert run.join(timeout=DEADLINE)
    assert isinstance(run.error, InputError)
    assert "4x4" in str(run.error)
    assert run.result is None
    assert not run.cancelled


def test_normal_run_gives_the_segmentation(engine_run):
    volume = blocks_volume(depth=8, size=64)
    settings = Settings(channels=8, iterations=5, min_labels=1, device="cpu")
    run = engine_run(volume, settings)
    assert run.join(timeout=DEADLINE)
    assert run.error is None, run.details
    assert isinstance(run.result, engine.Segmentation)
    assert run.result.labels.shape == volume.shape
    assert len(run.result.tissues) >= 1
    last = run.poll()  # the updates queued after the last poll are still there once it is done
    assert last is not None and last.stage == "done" and last.fraction == 1.0
    assert run.poll() is None
    assert run.elapsed > 0


# --- the mechanics, with stub tasks -------------------------------------------------------------


def test_poll_returns_the_newest_update_and_done_follows_the_thread():
    reported, release = threading.Event(), threading.Event()

    def task(progress, cancel):
        for i in (1, 2, 3):
            progress(i)
        reported.set()
        release.wait(DEADLINE)
        return "result"

    context = object()
    run = BackgroundRun(task, context=context)
    assert not run.done and run.poll() is None and run.elapsed == 0.0
    assert not run.join(timeout=0.01)  # not started: nothing to wait for
    run.start()
    assert reported.wait(DEADLINE)
    assert run.poll() == 3  # the older updates are skipped: the panel shows only the newest
    assert run.poll() is None
    assert not run.done and run.result is None
    release.set()
    assert run.join(timeout=DEADLINE)
    assert run.done and run.result == "result" and run.error is None
    assert run.context is context


def test_cancel_sets_the_event_the_task_receives():
    def task(progress, cancel):
        assert cancel.wait(DEADLINE), "cancel() did not reach the task"
        raise Cancelled("stopped")

    run = BackgroundRun(task).start()
    assert not run.cancelled
    run.cancel()
    assert run.join(timeout=DEADLINE)
    assert isinstance(run.error, Cancelled) and run.cancelled


def test_error_chain_loses_its_frames_but_the_details_keep_them():
    def task(progress, cancel):
        try:
            {}["missing"]
        except KeyError as error:
            raise RuntimeError("outer failure") from error

    run = BackgroundRun(task).start()
    assert run.join(timeout=DEADLINE)
    assert isinstance(run.error, RuntimeError)
    assert run.error.__traceback__ is None and run.error.__cause__.__traceback__ is None
    assert "KeyError" in run.details and "outer failure" in run.details and "in task" in run.details


def test_worker_is_a_daemon_thread():
    """A run left behind must not keep the application from quitting."""
    run = BackgroundRun(lambda progress, cancel: None)
    assert run.thread.daemon
    with pytest.raises(RuntimeError):  # started once only, like any thread
        run.start()
        run.start()
