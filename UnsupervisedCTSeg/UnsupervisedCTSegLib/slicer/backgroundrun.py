"""One long task (a segmentation) in a worker thread, polled by the GUI thread.

Why a thread and not a child process: torch releases the GIL inside its kernels, so the GUI stays
responsive while the network trains; the volume (hundreds of MB) need not be serialised to another
process; and the task is the pure engine (e.g. ``functools.partial(logic.segment, volume,
settings)``), which never touches the scene: the scene is changed in the GUI thread alone, once the
run is done. The worker only puts progress into a queue and keeps the result or the error; the GUI
thread reads them with poll(), done, result and error (the Slicer panel from a QTimer).
Cancelling sets an Event that the engine checks every iteration.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback


class BackgroundRun:
    """Runs ``task(progress=callback, cancel=event)`` in a daemon thread once start() is called.

    ``context`` is whatever the caller needs when the run ends (the nodes to write the result to,
    the settings, ...); the run itself never reads it.
    """

    def __init__(self, task, context=None, name: str = "UnsupervisedCTSeg worker"):
        self.task = task
        self.context = context
        self.result = None
        self.error = None  # the exception the task raised, its frames dropped
        self.details = ""  # that exception's traceback, as text for an error dialog
        self.started = None  # time.monotonic() at start()
        self._progress = queue.Queue()
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "BackgroundRun":
        self.started = time.monotonic()
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.task(progress=self._progress.put, cancel=self._cancel)
        except Exception as error:
            self.details = traceback.format_exc()
            # Drop the frames (and the GPU tensors they hold) so a rerun gets the memory back.
            chained, seen = error, set()
            while chained is not None and id(chained) not in seen:
                seen.add(id(chained))
                chained.__traceback__ = None
                chained = chained.__cause__ or chained.__context__
            self.error = error

    def poll(self):
        """The newest progress the task reported since the last call, or None."""
        latest = None
        while True:
            try:
                latest = self._progress.get_nowait()
            except queue.Empty:
                return latest

    def cancel(self) -> None:
        """Ask the task to stop; it ends at its next cancel check (the engine: within an iteration)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called (the task may still be finishing its iteration)."""
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        """Started and ended: result or error is final."""
        return self.started is not None and not self.thread.is_alive()

    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def join(self, timeout=None) -> bool:
        """Wait up to `timeout` seconds for the task to end; True when it has."""
        if self.started is not None:
            self.thread.join(timeout)
        return self.done
