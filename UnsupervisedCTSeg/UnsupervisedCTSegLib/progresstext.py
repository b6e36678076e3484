"""The panel's progress lines, made from the engine's Progress tuples.

Pure functions of their arguments (no clock, no Qt), so they are tested on hand-made Progress
values. Every function takes `tr`, which translates its message templates: the Slicer panel passes
Slicer's translator, everything else gets the English text.
"""
from __future__ import annotations

from typing import Optional

MIN_FRACTION_FOR_ESTIMATE = 0.02  # before this the first iterations' start-up cost skews the guess


def _untranslated(text: str) -> str:
    return text


def format_seconds(seconds: float, tr=_untranslated) -> str:
    """A duration as people say it: "42 s", "7 min", "2.5 h"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return tr("{s} s").format(s=seconds)
    if seconds < 5400:
        return tr("{m} min").format(m=int(round(seconds / 60)))
    return tr("{h:.1f} h").format(h=seconds / 3600)


def seconds_left(progress) -> Optional[float]:
    """Time left if the rest goes as fast as what is done; None too early to tell, or when done."""
    if not MIN_FRACTION_FOR_ESTIMATE < progress.fraction < 1.0:
        return None
    return progress.elapsed * (1.0 - progress.fraction) / progress.fraction


def progress_text(progress, iterations: int, tr=_untranslated) -> str:
    """The progress bar's text: "iteration i/N, K labels, loss x[, ~t left]"."""
    text = tr("iteration {i}/{n}, {labels} labels, loss {loss:.3f}").format(
        i=progress.iteration, n=iterations, labels=progress.labels, loss=progress.loss)
    left = seconds_left(progress)
    if left is not None:
        text += tr(", ~{left} left").format(left=format_seconds(left, tr))
    return text


def run_title(volume_name: str, preview: bool, tr=_untranslated) -> str:
    """What is running, for the status line."""
    if preview:
        return tr("Previewing one slice of {name}").format(name=volume_name)
    return tr("Segmenting {name}").format(name=volume_name)


def status_text(title: str, device: str, progress, tr=_untranslated, estimate: Optional[float] = None) -> str:
    """The status line under the progress bar: what, where, which stage, how long so far, and the
    run time estimated before the start (CPU runs) when there is one."""
    text = tr("{what} on {device}: {stage}, {elapsed} elapsed").format(
        what=title, device=device, stage=progress.stage, elapsed=format_seconds(progress.elapsed, tr))
    if estimate is not None:
        text += tr(" of about {estimate} estimated").format(estimate=format_seconds(estimate, tr))
    return text


def start_text(title: str, device: str, tr=_untranslated, estimate: Optional[float] = None) -> str:
    """The status line as a run starts: what, where, and the estimated run time when known."""
    text = tr("{what} on {device}").format(what=title, device=device)
    if estimate is not None:
        text += tr(", estimated to take about {estimate}").format(estimate=format_seconds(estimate, tr))
    return text
