"""The panel's words: progress and status lines, the device line and the parameters' help.

Pure functions of their arguments (no clock, no Qt), so they are tested on hand-made values. Every
function takes `tr`, which translates its message templates: the Slicer panel passes Slicer's
translator, everything else gets the English text. torch is never imported, not even for the
device line: the panel shows it as it opens, before PyTorch may be installed.
"""
from __future__ import annotations

import html
from typing import Optional

from ..engine.device import torch_installed
from ..engine.settings import number_text
from .parameters import OUR_VALUES, PARAMETERS, STUDY_VALUES

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


def writing_text(volume_name: str, tr=_untranslated) -> str:
    """The status line while a run's input is written for its process, the application blocked meanwhile."""
    return tr("Writing {name} for the run...").format(name=volume_name)


# --- the device line ---------------------------------------------------------------------------


def _threads_text(threads: int, tr) -> str:
    return tr("1 thread") if threads == 1 else tr("{threads} threads").format(threads=threads)


def device_name(force_cpu: bool, threads: int, tr=_untranslated, last_device: Optional[str] = None) -> str:
    """Where a run goes, for the status line, known without importing torch: "CPU (n threads)" with
    Force CPU; otherwise the device the last run without Force CPU used (its run record's "device",
    e.g. "cuda:0 (NVIDIA ...)"), else "CUDA GPU or CPU (n threads)". `threads` is what a run is given."""
    if force_cpu:
        return tr("CPU ({threads})").format(threads=_threads_text(threads, tr))
    if last_device:
        return last_device
    return tr("CUDA GPU or CPU ({threads})").format(threads=_threads_text(threads, tr))


def device_description(force_cpu: bool, threads: int, tr=_untranslated, last_device: Optional[str] = None) -> str:
    """The panel's device line, made without importing torch, which takes seconds and can be broken:
    the panel shows it as it opens. Whether PyTorch is installed is found without importing it."""
    if force_cpu or last_device:
        return tr("Will run on: {device}").format(device=device_name(force_cpu, threads, tr, last_device))
    text = tr("Will run on: a CUDA GPU if PyTorch finds one, else the CPU ({threads})").format(
        threads=_threads_text(threads, tr))
    if not torch_installed():
        text += tr("; PyTorch is installed on the first run")
    return text


# --- the parameters' help, made from the table -------------------------------------------------


def parameter_help(tr=_untranslated) -> str:
    """One HTML list item per panel parameter, made from the table so the help cannot drift."""
    items = []
    for p in PARAMETERS:
        if p.choices:
            values = tr("one of {choices}; default {default}").format(choices=", ".join(p.choices), default=p.default)
        elif p.kind is bool:
            values = tr("default {default}").format(default=tr("on") if p.default else tr("off"))
        else:
            values = tr("{minimum} to {maximum}; default {default}").format(
                minimum=number_text(p.minimum), maximum=number_text(p.maximum), default=number_text(p.default))
        items.append(f"<li><b>{html.escape(p.label)}</b> ({html.escape(values)}): {html.escape(p.tooltip)}.</li>")
    return "<ul>" + "".join(items) + "</ul>"


def study_preset_text(tr=_untranslated) -> str:
    """The study preset button's text, naming the values it sets."""
    return tr("Study CT preset (M={layers}, θ={theta:g}, μ={mu:g})").format(**STUDY_VALUES)


def our_defaults_tooltip(tr=_untranslated) -> str:
    """The "Our defaults" button's tooltip, naming the values it sets and why."""
    return tr("Set M, θ and μ back to this module's defaults (M={layers}, θ={theta:g}, μ={mu:g}), which keep small "
              "tissues such as bone apart; the other parameters are left as they are.").format(**OUR_VALUES)
