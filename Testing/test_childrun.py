"""The child-process runner with real child processes: errors, crashes, cancel and the launcher case.

The panel path end to end (volume node -> child -> nodes) and a cancel in the middle of a run are
self-tests (slicer/selftests.py: test_child_process_run, test_child_process_cancel), run here by
test_selftests.py and inside Slicer by the module's test case.
"""
import os
import signal
import stat
import sys
import time

import numpy as np
import pytest
from helpers import blocks_volume, fast_settings

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.slicer.childrun import ChildRun


def wait_until(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def first_progress(run, iteration=1):
    seen = []

    def arrived():
        progress = run.poll()
        if progress is not None:
            seen.append(progress)
        assert not run.done, f"the run ended early: {run.error}\n{run.details}"
        return seen and seen[-1].iteration >= iteration

    wait_until(arrived)
    return seen


def test_bad_input_in_the_child_is_an_input_error_with_its_message(tmp_path):
    air = Volume(np.full((2, 16, 16), -1000.0, np.float32), source="air")
    run = ChildRun(air, fast_settings(body_mask=True))
    assert run.join(60)
    assert isinstance(run.error, InputError) and "no body found" in str(run.error), (run.error, run.details)
    assert run.result is None and not run.folder.exists()


def test_a_child_killed_outright_is_an_error_with_its_last_output():
    run = ChildRun(blocks_volume(), fast_settings(iterations=100000, min_labels=1))
    first_progress(run)
    os.kill(run.process.pid, signal.SIGKILL)
    assert run.join(10)
    assert isinstance(run.error, RuntimeError) and "killed by SIGKILL" in str(run.error), run.error
    assert run.result is None and not run.folder.exists()


def test_two_runs_in_a_row_give_results(tmp_path):
    for seed in (0, 1):
        run = ChildRun(blocks_volume(), fast_settings(iterations=2, seed=seed), threads=1)
        assert run.join(60) and run.error is None, (run.error, run.details)
        assert run.result.labels.shape == blocks_volume().shape and run.result.record["seed"] == seed
        assert run.estimate is not None and run.estimate > 0  # a CPU run says how long it expects to take
        assert not run.folder.exists()


LAUNCHER = """import signal, subprocess, sys
# Like Slicer's PythonSlicer launcher (CTK's AppLauncher): starts Python as its own child, passes no
# signal on, and exits when that child exits. It does not even die of SIGTERM itself.
signal.signal(signal.SIGTERM, lambda *args: None)
sys.exit(subprocess.call([{python!r}, *sys.argv[1:]]))
"""


def launcher(tmp_path):
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER.format(python=sys.executable))
    if os.name == "posix":
        wrapper = tmp_path / "launcher.sh"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
        return wrapper
    pytest.skip("the launcher stand-in is started through a shell script")


def test_cancel_ends_a_launcher_that_forwards_nothing_and_the_python_it_started(tmp_path):
    """Inside Slicer the child is the PythonSlicer launcher, which runs Python as its own child and
    passes no signal on: cancel must find the whole tree (psutil, on every desktop) and end it
    within 2 s, leaving no folder."""
    import psutil

    run = ChildRun(blocks_volume(), fast_settings(iterations=100000, min_labels=1), python=str(launcher(tmp_path)))
    first_progress(run, iteration=2)
    python = psutil.Process(run.process.pid).children(recursive=True)
    assert python, "the launcher started no Python"
    started = time.monotonic()
    run.cancel()
    assert run.join(2.5) and time.monotonic() - started < 2.5
    assert run.process.poll() is not None and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                      for p in python)
    assert isinstance(run.error, Cancelled) and not run.folder.exists()


def test_the_runner_handles_processes_only_through_psutil():
    """No /proc (Linux only) and no os.kill (on Windows it is no liveness probe: it sends Ctrl+C to
    the whole console group)."""
    import inspect

    from UnsupervisedCTSegLib.slicer import childrun

    source = inspect.getsource(childrun)
    assert "/proc" not in source.replace("no /proc", "") and "os.kill" not in source.replace("no os.kill", "")


def test_cancel_all_ends_every_run_of_the_process_without_waiting(tmp_path):
    from UnsupervisedCTSegLib.slicer.childrun import cancelAll

    runs = [ChildRun(blocks_volume(), fast_settings(iterations=100000, min_labels=1), threads=1) for _ in range(2)]
    for run in runs:
        first_progress(run)
    started = time.monotonic()
    cancelAll()
    assert time.monotonic() - started < 0.5
    for run in runs:
        assert run.join(30) and isinstance(run.error, Cancelled) and not run.folder.exists()


def test_a_run_asked_for_no_estimate_sends_none_and_still_gives_its_result():
    """The panel's one-slice previews skip the child's timing of its own steps."""
    run = ChildRun(blocks_volume(depth=1), fast_settings(iterations=2), threads=1, estimate=False)
    assert run.join(60) and run.error is None, (run.error, run.details)
    assert run.estimate is None and run.result.labels.shape == (1, 24, 24)


@pytest.mark.skipif(os.name != "posix", reason="the launcher stand-in is a shell script")
def test_a_whole_volume_child_asks_for_passive_waiting_unless_the_user_chose(tmp_path, monkeypatch):
    """Whatever starts computing during a run of minutes must not meet spinning threads."""
    launcher = tmp_path / "launcher.sh"
    launcher.write_text(f'#!/bin/sh\necho "wait policy [$OMP_WAIT_POLICY]"\nexec "{sys.executable}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    run = ChildRun(blocks_volume(depth=1), fast_settings(iterations=2), threads=1, estimate=False,
                   python=str(launcher))
    assert run.join(60) and run.error is None, (run.error, run.details)
    assert "wait policy [PASSIVE]" in run.details
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    chosen = ChildRun(blocks_volume(depth=1), fast_settings(iterations=2), threads=1, estimate=False,
                      python=str(launcher))
    assert chosen.join(60) and "wait policy [ACTIVE]" in chosen.details
