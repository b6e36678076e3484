"""The `--progress json` wire format: one JSON object per line on the command's standard output.

`ctseg segment --progress json` writes it and the Slicer module's child-process runner reads it,
both through these functions, so the format is written down once. Each line is an object with an
"event": "estimate" (the run time estimated on a CPU), "progress" (the engine's Progress fields),
"done" (the output paths, the label count, the device and the wall time) or "error" (the message
and the exit status). A line that is not such an object (a library printing something) is no event.
"""
from __future__ import annotations

import json
from typing import Optional

from ..engine.errors import one_line
from ..engine.results import Progress

EVENTS = ("estimate", "progress", "done", "error")


def estimate_line(seconds: float, device: str) -> str:
    return _line("estimate", seconds=round(float(seconds), 3), device=device)


def progress_line(progress: Progress) -> str:
    return _line("progress", **progress._asdict())


def done_line(paths: dict, labels: int, device: str, seconds: float) -> str:
    return _line("done", outputs={kind: str(path) for kind, path in paths.items()}, labels=labels, device=device,
                 seconds=round(float(seconds), 3))


def error_line(message: str, status: int) -> str:
    """The error event: its message on one line and of bounded length (engine.errors.one_line)."""
    return _line("error", message=one_line(message), status=status)


def read_line(text: str) -> Optional[dict]:
    """The event a line carries, or None for any other line."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("event") in EVENTS else None


def progress_of(event: dict) -> Progress:
    """The engine's Progress carried by a "progress" event."""
    return Progress(*(event[name] for name in Progress._fields))


def _line(event: str, **fields) -> str:
    return json.dumps({"event": event, **fields}, ensure_ascii=False, allow_nan=False)
