"""Ctrl-C, SIGTERM and SIGHUP stop a command the same clean way, and never half-way through a commit.

Why: a user presses Ctrl-C, closes the terminal (SIGHUP), or a job scheduler or a parent program
that cancels its child ends the process (SIGTERM). Python turns only SIGINT into an exception; the other two killed
the process on the spot and left half-written temporary files. Once `install` has run, all three
raise `Stopped` (a KeyboardInterrupt, so every `except KeyboardInterrupt` cleans up as for Ctrl-C),
and the writers remove their temporary files on the way out.

Two moments are special:
- During `commit()` (the renames that put finished outputs in place) a stop waits until the renames
  are done, so a set of outputs appears whole or not at all.
- After the final commit (`commit(final=True)`) the work is done: later stops are ignored, so the
  process exits 0 with complete outputs instead of dying during interpreter shutdown.

Without `install` (library use, Slicer's own process, in-process tests) nothing changes: Python's
default Ctrl-C handling stays, and `commit()` is a plain block.
"""
from __future__ import annotations

import contextlib
import signal

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """The process was asked to stop by a signal; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP


class _State:
    installed = False
    committing = False
    done = False  # the outputs are complete (or a stop is under way): further stops are ignored
    pending = None  # a stop that arrived during a commit


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP through `Stopped` for the rest of this process (main thread only).

    A signal the process was started ignoring stays ignored: `nohup` (SIGHUP) and background jobs
    of a script (SIGINT) must keep running as their user asked.
    """
    _State.installed, _State.committing, _State.done, _State.pending = True, False, False, None
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)


def _on_signal(signum, frame) -> None:
    if _State.done:
        return
    if _State.committing:
        _State.pending = signum
        return
    _State.done = True  # a second signal must not interrupt the clean-up this one starts
    raise Stopped(signum)


def finish() -> None:
    """The command is over (its outputs are complete or it wrote none): ignore stops from now on,
    also while the interpreter shuts down (it would put the default handlers back, and a Ctrl-C
    then would end a finished run with a failure status)."""
    _State.done = True
    if _State.installed:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
                signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def commit(final: bool = False):
    """A block (renaming finished files into place) that a stop does not interrupt.

    A stop that arrived meanwhile is raised after the block; after a `final` commit (the command's
    last outputs are in place) it is dropped, and so are all later stops.
    """
    if not _State.installed or _State.committing:
        yield
        return
    _State.committing = True
    try:
        yield
        if final:
            _State.done = True
    finally:
        _State.committing = False
    pending, _State.pending = _State.pending, None
    if pending is not None and not _State.done:
        _State.done = True
        raise Stopped(pending)
