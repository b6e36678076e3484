"""Axial slice ranges as the commands take them: `--slices START:STOP`, or a few around the middle."""
from __future__ import annotations

from typing import Optional

from ..engine.errors import InputError


def parse_slices(text: Optional[str], depth: int) -> tuple:
    """'START:STOP' (either side may be empty) -> (start, stop) within 0..depth; None -> the whole volume."""
    if not text:
        return 0, depth
    fix = f"give --slices START:STOP with 0 <= START < STOP <= {depth}, e.g. --slices 10:20"
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start = int(parts[0]) if parts[0].strip() else 0
        stop = int(parts[1]) if parts[1].strip() else depth
    except ValueError:
        raise InputError(f"--slices '{text}' is not START:STOP: {fix}") from None
    if not 0 <= start < stop <= depth:
        raise InputError(f"--slices {start}:{stop} is outside the CT's {depth} axial slices: {fix}")
    return start, stop


def default_series(depth: int, count: int = 6) -> tuple:
    """`count` consecutive slices around the middle (all of them when there are fewer)."""
    count = min(count, depth)
    start = max(0, depth // 2 - count // 2)
    return start, start + count
