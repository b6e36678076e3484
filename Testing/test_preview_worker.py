"""The child process kept for previews, with real processes: `ctseg serve`, childrun.Worker, and the
logic that keeps one.

A preview on the kept process must give exactly what a fresh child gives (same seed, same threads),
survive a refused command, and a cancel must end it and leave no files; the logic must reuse an
idle one and replace one that has ended.
"""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import psutil
import pytest
from helpers import blocks_volume, fast_settings
from test_childrun import first_progress

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.readers import read_volume
from UnsupervisedCTSegLib.io.writers import write_volume
from UnsupervisedCTSegLib.slicer.childrun import PACKAGE_PARENT, ChildRun, Worker

ENVIRONMENT = {"PYTHONPATH": str(PACKAGE_PARENT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
               "PYTHONIOENCODING": "utf-8"}


def events(lines):
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_serve_runs_commands_one_after_another_as_segment_does_and_survives_refusals(tmp_path):
    source = write_volume(tmp_path / "ct.nrrd", blocks_volume(), compress=False)
    flags = ["-T", "2", "--seed", "3", "--threads", "1", "--outputs", "labelmap", "--quiet"]
    commands = [["segment", str(source), "-o", str(tmp_path / "a" / "l.nrrd"), *flags],
                "not json",
                ["evaluate-ct", "x"],
                ["segment", str(tmp_path / "missing.nrrd"), "-o", str(tmp_path / "m" / "l.nrrd"), *flags],
                ["segment", str(source), "-o", str(tmp_path / "b" / "l.nrrd"), "--no-such-flag"],
                ["segment", str(source), "-o", str(tmp_path / "b" / "l.nrrd"), *flags]]
    text = "\n".join(c if isinstance(c, str) else json.dumps(c) for c in commands) + "\n"
    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "serve"], input=text, capture_output=True,
                          encoding="utf-8", timeout=300, env={**os.environ, **ENVIRONMENT})
    assert done.returncode == 0, done.stderr
    finals = [e for e in events(done.stdout.splitlines()) if e["event"] in ("done", "error")]
    assert [e["event"] for e in finals] == ["done", "error", "error", "error", "error", "done"], finals
    assert [e.get("status") for e in finals[1:5]] == [2, 2, 2, 2]
    assert "JSON list" in finals[1]["message"] and "missing.nrrd" in finals[3]["message"]
    assert not (tmp_path / "m").exists()
    one_shot = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", str(source), "-o",
                               str(tmp_path / "c" / "l.nrrd"), *flags], capture_output=True, encoding="utf-8",
                              timeout=300, env={**os.environ, **ENVIRONMENT})
    assert one_shot.returncode == 0, one_shot.stderr
    labels = [read_volume(tmp_path / name / "l.nrrd").hu for name in "abc"]
    assert np.array_equal(labels[0], labels[2]) and np.array_equal(labels[1], labels[2])


def test_runs_on_a_worker_match_fresh_children_and_keep_its_process():
    worker = Worker(threads=1, passive=False)
    try:
        kept = []
        for seed in (0, 1):
            settings = fast_settings(iterations=2, seed=seed)
            run = ChildRun(blocks_volume(depth=1), settings, estimate=False, worker=worker)
            fresh = ChildRun(blocks_volume(depth=1), settings, threads=1, estimate=False)
            assert run.join(120) and fresh.join(120), (run.error, run.details, fresh.error)
            assert run.error is None and fresh.error is None, (run.error, run.details)
            assert np.array_equal(run.result.labels, fresh.result.labels)
            assert not run.folder.exists() and worker.alive and not worker.busy
            kept.append(run.process.pid)
        assert kept == [worker.process.pid] * 2
        air = Volume(np.full((1, 16, 16), -1000.0, np.float32), source="air")
        bad = ChildRun(air, fast_settings(body_mask=True), estimate=False, worker=worker)
        assert bad.join(120) and isinstance(bad.error, InputError) and "no body found" in str(bad.error)
        assert worker.alive and not worker.busy  # refused, and still there for the next
    finally:
        worker.close()
    assert not worker.alive


@pytest.fixture(params=["idle", "every core busy"])
def load(request):
    """Nothing, or one process spinning on every core for the length of the test."""
    spinners = []
    if request.param != "idle":
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    yield request.param
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def test_cancelling_a_run_on_a_worker_ends_the_worker_cleanly_and_leaves_nothing(load):
    """Also after an earlier run on it, and with every core busy: the stop must end the process by
    SIGTERM, cleaning up, not need SIGKILL (an earlier command's final commit made it ignore stops,
    and a short grace killed a worker still cleaning up under load)."""
    worker = Worker(threads=1, passive=True)
    earlier = ChildRun(blocks_volume(depth=1), fast_settings(iterations=2), estimate=False, worker=worker)
    assert earlier.join(120) and earlier.error is None, (earlier.error, earlier.details)
    run = ChildRun(blocks_volume(), fast_settings(iterations=100000, min_labels=1), estimate=False, worker=worker)
    first_progress(run)
    run.cancel()
    assert run.join(60) and isinstance(run.error, Cancelled) and not worker.alive and not run.folder.exists()
    assert worker.process.returncode == 143, worker.process.returncode  # 128 + SIGTERM: it stopped itself
    worker.close()


def test_the_logic_keeps_one_idle_worker_and_replaces_it_when_needed():
    import slicer

    from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic

    logic = UnsupervisedCTSegLogic(slicer.vtkMRMLScene())
    asked = []

    def load(busy):
        return lambda ours: asked.append(ours) or busy

    try:
        first = logic.previewWorker(1, load(False))
        assert asked == [[]] and not first.passive
        assert logic.previewWorker(1, load(False)) is first and asked[-1] == [first.process.pid]
        run = logic.startRun(blocks_volume(depth=1), fast_settings(iterations=2), threads=1, estimate=False, warm=True)
        assert run.worker is logic._worker and run.worker.busy
        assert run.join(120) and run.error is None, (run.error, run.details)
        kept = run.worker
        busier = logic.previewWorker(1, load(not kept.passive))  # the load changed: the other wait policy
        assert busier is not kept and busier.passive != kept.passive and not kept.alive
        other = logic.previewWorker(2, load(busier.passive))
        assert other is not busier and other.threads == 2 and not busier.alive
        other.close()
        assert logic.previewWorker(2, load(other.passive)) is not other  # an ended one is replaced
        whole = logic.startRun(blocks_volume(depth=1), fast_settings(iterations=2), threads=1, estimate=False)
        assert whole.worker is None and whole.join(120) and whole.error is None
    finally:
        logic.closeWorker()
    assert logic._worker is None


def test_serve_ends_when_its_input_closes():
    worker = Worker(threads=1, passive=False)
    worker.process.stdin.close()
    assert worker.process.wait(120) == 0


@pytest.mark.skipif(os.name != "posix", reason="the launcher stand-in is a shell script")
def test_a_worker_behind_a_launcher_gets_its_commands_and_cancel_ends_both(tmp_path):
    """Inside Slicer the worker is the PythonSlicer launcher, which runs Python as its child and
    forwards its input to it (CTK's launcher does since Qt 5.2): a shell script that does not exec
    plays it here."""
    launcher = tmp_path / "launcher.sh"
    launcher.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    worker = Worker(threads=1, passive=False, python=str(launcher))
    run = ChildRun(blocks_volume(depth=1), fast_settings(iterations=2), estimate=False, worker=worker)
    assert run.join(120) and run.error is None, (run.error, run.details)
    long = ChildRun(blocks_volume(), fast_settings(iterations=100000, min_labels=1), estimate=False, worker=worker)
    first_progress(long)
    python = psutil.Process(worker.process.pid).children(recursive=True)
    assert python, "the launcher started no Python"
    long.cancel()
    assert long.join(30) and isinstance(long.error, Cancelled) and not worker.alive
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in python)
    worker.close()
