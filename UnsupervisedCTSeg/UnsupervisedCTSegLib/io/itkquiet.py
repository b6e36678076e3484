"""SimpleITK calls that print nothing of their own.

Why: ITK, GDCM and MetaIO write their warnings and errors straight to the process's stdout and
stderr (MetaIO's "data not read completely", ITK's "Non uniform sampling" warning), so a refused
file printed stray lines before our one-line message. `quiet()` sends file descriptors 1 and 2 to a
temporary file while a call runs and hands that text back, for the reader's own message.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading

_LOCK = threading.Lock()  # the descriptors are process-wide: one capture at a time


class Captured:
    """What the native code printed during a `quiet()` block (filled in when the block ends)."""

    text = ""


@contextlib.contextmanager
def quiet():
    """Run the block with the process's stdout and stderr captured; yields a Captured."""
    captured = Captured()
    with _LOCK, tempfile.TemporaryFile() as sink:
        _flush()
        try:
            saved = os.dup(1), os.dup(2)
        except OSError:  # no standard streams (a detached process): nothing can be printed anyway
            yield captured
            return
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            _flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def last_line(error: Exception) -> str:
    """SimpleITK errors span several lines (source file, line); the last one says what went wrong."""
    lines = str(error).strip().splitlines()
    return lines[-1].strip() if lines else type(error).__name__


def _flush() -> None:
    """Push out what Python and C stdio (which C++ streams share by default) hold in their buffers."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)
