"""One segmentation in a child process, polled by the GUI thread: how the Slicer panel runs the engine.

Why a child process and not a thread: Slicer's Qt main thread holds Python's interpreter lock and
releases it only while it runs Python, so a worker thread would train only during the panel's
200 ms polls. The child runs `python -m UnsupervisedCTSegLib segment ... --progress json` (inside
Slicer `sys.executable` is PythonSlicer, started in Slicer's startup environment), on a
temporary copy of the volume, and keeps its allocator, its GPU memory and any crash out of Slicer.
A thread only reads the child's output lines (io/progresslines.py); poll() hands the newest
progress to the GUI thread, which reads the result files once the child is done. Cancel ends the
child. The temporary folder is removed in every case.

A Worker is such a child kept between runs (`ctseg serve`): Python's start and PyTorch's import,
more than a second of a one-slice preview on a 2-core CPU, are paid once, not at each preview. A
ChildRun given a worker sends it the same command line instead of starting a process, and reads
until that command's last event; cancelling ends the worker (the next run starts one).

The panel uses a run through poll, cancel, cancelled, done, elapsed, estimate, error, details,
result, join and context.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import Cancelled, InputError
from ..engine.settings import Settings, command_line
from ..engine.tissues import Tissue
from ..engine.volume import Grid, grid_of
from ..io import progresslines
from ..io.outputs import checkpoint_path, read_outputs
from ..io.writers import write_segmentation, write_volume, write_voxels
from . import checkpoints
from .panelrun import runThreads

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder that holds UnsupervisedCTSegLib
OUTPUT_LINES_KEPT = 30  # the child's last lines, shown when it fails
# After SIGTERM, how long the child's processes may take to clean up (remove their temporary files,
# exit 143) before they are killed. It ends far sooner on an idle machine (a tenth of a second), but
# with every core busy a 1 s grace killed a worker mid-way: the stop runs in the background, so a long
# grace costs the panel nothing.
STOP_GRACE_SECONDS = 10.0
CANCEL_WAIT_SECONDS = 2.0  # how long cancel() waits for the tree to end before it returns
# A run in its own child (a whole volume, minutes on a clinical CT) asks for OpenMP's passive
# waiting whatever the load as it starts: the user goes on working meanwhile, and a process that
# starts computing during the run made it 4 to 6x slower with OpenMP's default spinning (shared CT,
# 2 cores, a PyTorch process starting 1 s in: 20.7 to 32.2 s against 5.2 to 5.7 s idle), 1.4 to
# 1.5x with passive waiting (7.7 to 8.4 s against 5.4 to 6.3 s idle). Previews go to a Worker.
WHOLE_RUN_PASSIVE = True


class ChildRun:
    """`ctseg segment` on `volume` with `settings` in a child process, started at once.

    ``context`` is whatever the caller needs when the run ends; the run itself never reads it.
    ``threads``: PyTorch's CPU threads in the child (default panelrun.runThreads(): all cores but one).
    ``estimate``: a CPU run first times a few of its steps and reports its estimated duration (a
    second or two: worth it for a volume, not for a one-slice preview).
    ``worker``: a Worker with the same thread count to run on instead of a new process.
    """

    def __init__(self, volume, settings: Settings, context=None, threads: Optional[int] = None,
                 estimate: bool = True, python: Optional[str] = None, strokes=None, weights=None,
                 worker: Optional["Worker"] = None):
        self.context = context
        # Only the geometry is kept while the child runs: the voxels are on disk, for the child.
        self.volume = volume.grid if isinstance(volume, NodeVoxels) else grid_of(volume)
        self.error = None  # InputError (the child's message), Cancelled, or RuntimeError for a crash
        self.details = ""  # the child's last output lines, for an error dialog
        self.estimate = None  # seconds, when the child estimated its run time (CPU runs)
        self.started = time.monotonic()
        self._result = None
        self._lines = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self._progress = None
        self._final = None  # the child's "done" or "error" event
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._finished = False
        self._status = None  # the command's exit status, once its output is read
        self._stopper = None  # the thread that ends the process tree after a cancel
        self.worker = worker
        threads = worker.threads if worker is not None else threads or runThreads()
        self.folder = checkpoints.runFolder()
        self.weights = Path(weights) if weights else None  # a scribble run's checkpoint, kept for reruns
        try:
            source = self.folder / "input.nrrd"  # uncompressed: read back at once
            if isinstance(volume, NodeVoxels):
                write_voxels(source, volume.array, volume.grid, compress=False)
            else:
                write_volume(source, volume, compress=False)
            volume = None  # the caller's copy, if any, is not kept alive by the run
            self.output = self.folder / "labels.nrrd"
            scribbles = []
            if strokes is not None:
                scribbles = ["--scribbles", str(_write_strokes(self.folder / "strokes.seg.nrrd", strokes, self.volume))]
                if self.weights is not None and self.weights.is_file():
                    shutil.copyfile(self.weights, checkpoint_path(self.output))
            arguments = ["segment", str(source), "-o", str(self.output), "--progress", "json",
                         "--outputs", "labelmap", *scribbles, "--threads", str(threads), *command_line(settings),
                         *([] if estimate else ["--quiet"])]
            if worker is not None:
                self.process = worker.send(arguments)
            else:
                self.process = _start([python or sys.executable, "-m", "UnsupervisedCTSegLib", *arguments], threads,
                                      passive=WHOLE_RUN_PASSIVE)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.reader = threading.Thread(target=self._read, name="UnsupervisedCTSeg child output", daemon=True)
        self.reader.start()
        _RUNS.add(self)

    def _read(self) -> None:
        """Reader thread: every line of the child's output until it closes it, or with a worker until the
        command's last event."""
        for line in self.process.stdout:
            event = progresslines.read_line(line)
            with self._lock:
                if event is None:
                    if line.strip():
                        self._lines.append(line.rstrip())
                elif event["event"] == "progress":
                    self._progress = progresslines.progress_of(event)
                elif event["event"] == "estimate":
                    self.estimate = event["seconds"]
                else:
                    self._final = event
            if self.worker is not None and self._final is not None:
                self._status = 0 if self._final["event"] == "done" else self._final.get("status", 1)
                self.worker.busy = False
                return
        self._status = self.process.wait()

    def poll(self):
        """The newest progress the child reported since the last call, or None."""
        with self._lock:
            progress, self._progress = self._progress, None
        return progress

    def cancel(self, wait: float = CANCEL_WAIT_SECONDS) -> None:
        """End the child and what it started (see _stop) in a background thread; wait up to `wait`
        seconds for it. `done` turns True once the whole tree has ended and the folder is gone."""
        if self._cancel.is_set():
            self.join(wait)
            return
        self._cancel.set()
        if self.process.poll() is None:
            self._stopper = threading.Thread(target=_stop, args=(self.process,), name="UnsupervisedCTSeg stop",
                                             daemon=True)
            self._stopper.start()
        self.join(wait)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        """The child (after a cancel: its whole process tree) has ended and its output is read: error or
        result is final."""
        if self.reader.is_alive() or (self._stopper is not None and self._stopper.is_alive()):
            return False
        self._finish()
        return True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def result(self):
        """The engine's Segmentation, once done without error."""
        return self._result if self.done else None

    def join(self, timeout=None) -> bool:
        """Wait up to `timeout` seconds for the child to end; True when it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.reader.join(timeout)
        if self._stopper is not None:
            self._stopper.join(None if deadline is None else max(deadline - time.monotonic(), 0))
        return self.done

    def _finish(self) -> None:
        """Once: the result or the error from the child's last event and exit status; the folder removed."""
        if self._finished:
            return
        self._finished = True
        try:
            status = self._status
            self.details = "\n".join(self._lines)
            final = self._final or {}
            if self.cancelled:
                self.error = Cancelled("segmentation cancelled")
            elif final.get("event") == "done" and status == 0:
                result = read_outputs(self.output, self.volume)
                result.record["input"]["source"] = self.volume.source  # not the temporary copy's path
                # Kept for a rerun only while its folder lives: a scene close or exit meanwhile deleted it.
                if self.weights is not None and self.weights.parent.is_dir() and checkpoint_path(self.output).is_file():
                    shutil.copyfile(checkpoint_path(self.output), self.weights)
                self._result = result
            elif final.get("event") == "error" and final.get("status") == 2:
                self.error = InputError(final["message"])
            elif final.get("event") == "error":
                self.error = RuntimeError(final["message"])
            else:
                self.error = RuntimeError(f"the segmentation process ended without a result ({_ending(status)}); "
                                          "see the details for its last output")
        except Exception as error:  # a result that cannot be read back
            self.error = error
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class NodeVoxels:
    """A volume node's voxels as Slicer stores them (a view: int16 stays int16, nothing is copied) and
    its grid: what ChildRun writes for a whole-volume run, on the GUI thread, before the node can change."""

    array: np.ndarray  # (z, y, x)
    grid: Grid

    @property
    def shape(self) -> tuple:
        return self.grid.shape


_RUNS = weakref.WeakSet()  # every ChildRun of this process, for cancelAll


def cancelAll() -> None:
    """Cancel every run of this process that has not finished (the panel's and the Segment Editor
    effect's), without waiting: at scene close and application exit. Each run's process tree ends
    in the background, and its `done` turns True once it has."""
    for run in list(_RUNS):
        if not run.reader.is_alive():
            continue
        run.cancel(wait=0)


class Worker:
    """A child process that keeps PyTorch loaded (`ctseg serve`) for runs one after another.

    Started with `threads` PyTorch threads and, when `passive`, OpenMP's passive waiting (else it
    chooses as any run does, from the load as it starts); the logic starts a new one when the
    machine's load calls for the other policy. Ends at close(), when its parent ends (its input
    closes), or when a run on it is cancelled. Inside Slicer the process is the PythonSlicer
    launcher, which forwards its input to the Python it starts (CTK's launcher does since Qt 5.2).
    """

    def __init__(self, threads: int, passive: bool, python: Optional[str] = None):
        self.threads, self.passive = threads, passive
        self.busy = False  # a run's command is in it
        self.process = _start([python or sys.executable, "-m", "UnsupervisedCTSegLib", "serve"], threads,
                              keepInput=True, passive=passive)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, arguments: list):
        """Hand one `segment` command (its arguments) to the process, which must be idle; the process."""
        if self.busy or not self.alive:
            raise RuntimeError("the preview process is busy or has ended; start a new one")
        self.busy = True
        try:
            self.process.stdin.write(json.dumps(arguments) + "\n")
            self.process.stdin.flush()
        except OSError as error:  # it ended just now
            raise RuntimeError(f"the preview process ended ({error}); run again to start a new one") from error
        return self.process

    def close(self) -> None:
        """End the process: its input closed, it exits; stopped if it does not within a second."""
        if self.alive and not self.busy:
            try:
                self.process.stdin.close()
                self.process.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.alive:
            _stop(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _write_strokes(path: Path, strokes, grid: Grid) -> Path:
    """The strokes as a .seg.nrrd the child reads back with their names, colours and terminology."""
    structures = [Tissue(i, name, color, 0.0, 0.0, 0, term) for i, (name, color, term)
                  in enumerate(zip(strokes.names, strokes.colors, strokes.terminologies), start=1)]
    return write_segmentation(path, strokes.labels, grid, structures)


def _start(command: list, threads: int, keepInput: bool = False, passive: bool = False):
    """The child, its stdout and stderr in one text pipe (and with `keepInput` a pipe to its stdin);
    in Slicer in Slicer's startup environment (PythonSlicer sets up its own paths) with no console
    window, as slicer.util.launchConsoleProcess starts processes (which gives no input pipe).
    `passive`: OpenMP's passive waiting asked for; else the child chooses (engine/device.py)."""
    environment = {"PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH"))
                                                 if p),
                   "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1",
                   "PYTHONIOENCODING": "utf-8"}  # messages hold θ and μ, whatever the system's encoding
    if passive and "OMP_WAIT_POLICY" not in os.environ:
        environment["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import slicer
    except ImportError:
        slicer = None
    base, options = os.environ, {"start_new_session": os.name == "posix"}
    if getattr(slicer, "app", None) is not None:  # the Slicer application (slicer-core has no app)
        import slicer.util

        base = slicer.util.startupEnvironment()
        options = {"startupinfo": subprocess.STARTUPINFO(dwFlags=1, wShowWindow=0)} if os.name == "nt" else {}
    return subprocess.Popen(command, stdin=subprocess.PIPE if keepInput else None, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace", bufsize=1,
                            env={**base, **environment}, **options)


def _stop(process, grace: float = STOP_GRACE_SECONDS) -> bool:
    """End the child and every process it started, on every desktop (psutil: no /proc, no os.kill):
    terminate (SIGTERM, on Windows TerminateProcess) each, wait up to `grace` seconds for them to
    clean up and end, then kill what is left. Inside Slicer the child is the PythonSlicer launcher,
    which passes no signal on, and Python runs as its child: the whole tree is found and signalled.
    The child itself is waited for through `process` (Popen), so that its exit status is kept.
    Returns whether every process of the tree has ended."""
    import psutil

    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:  # already gone
        descendants = []
    for member in (process, *descendants):
        with contextlib.suppress(psutil.Error, OSError):
            member.terminate()
    left = _wait_for(process, descendants, grace)
    for member in left:
        with contextlib.suppress(psutil.Error, OSError):
            member.kill()
    return not _wait_for(process, [m for m in left if m is not process], grace)


def _wait_for(process, descendants, seconds: float) -> list:
    """Wait up to `seconds` for the child and its descendants to end; those still running."""
    import psutil

    deadline = time.monotonic() + seconds
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        pass
    _, running = psutil.wait_procs(descendants, timeout=max(deadline - time.monotonic(), 0))
    return ([process] if process.poll() is None else []) + running


def _ending(status) -> str:
    if status is not None and status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
