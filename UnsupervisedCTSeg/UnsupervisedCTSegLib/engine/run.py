"""The one entry point: `segment(volume, settings, progress, cancel)`.

The CLI, the Slicer logic, the evaluation and the benchmarks all call this function, so every
path gets the same checks, the same label numbering and the same run record.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Optional

import numpy as np
import torch

from . import runrecord
from .bodymask import TISSUE_HU, body_mask
from .cleanup import clean_labels
from .device import describe, is_out_of_host_memory, out_of_memory_error, pick_device
from .errors import Cancelled, InputError
from .kmeans import assign, kmeans
from .memory import reuse_freed_memory
from .position import place_names
from .propagation import propagate
from .regions import split_regions
from .results import Progress, Segmentation
from .scribbles import RERUN_SHARE, Checkpoint, Strokes, make_strokes, run_fingerprint, structure_labels
from .settings import Settings
from .tissues import add_outside_segment, renumber_by_hu
from .training import Trace, check, segment_series, segment_slices
from .volume import Volume
from .windows import window_channels

MIN_SIDE = 4  # the continuity loss needs neighbours; smaller slices carry no usable texture


def segment(volume: Volume, settings: Optional[Settings] = None,
            progress: Optional[Callable[[Progress], None]] = None, cancel=None,
            scribbles=None, resume: Optional[Checkpoint] = None) -> Segmentation:
    """Segment `volume` without labels and return named, HU-ordered labels.

    `progress` is called with a Progress at least once per iteration; `cancel` is a
    threading.Event or a callable returning True to stop, checked at least once per iteration:
    cancelling raises Cancelled and returns nothing.

    `scribbles` (Strokes, or an integer array on the CT's grid: 0 unpainted, 1..n structures) makes
    labels 1..n the user's structures: by default the strokes spread over this run's own partition
    (propagation.py); with scribble_method "network", the TIP 2020 scribble loss (scribbles.py).
    `resume`, a previous scribble run's Segmentation.checkpoint, is used when it matches
    (scribbles.run_fingerprint): propagate reuses its partition and only propagates, network starts
    from its weights and trains a third of T; otherwise it is ignored.
    """
    settings, strokes = check_run(volume, settings, scribbles)
    device = pick_device(settings.device)
    try:
        with reuse_freed_memory():  # page faults cost as much as the arithmetic otherwise
            if strokes is not None:
                scribble_run = _propagated_run if settings.scribble_method == "propagate" else _network_scribble_run
                return scribble_run(volume, settings, strokes, resume, device, progress, cancel)
            return _run(volume, settings, device, progress, cancel)
    except (MemoryError, RuntimeError) as error:  # torch.cuda.OutOfMemoryError is a RuntimeError too
        if isinstance(error, torch.cuda.OutOfMemoryError) or is_out_of_host_memory(error):
            raise out_of_memory_error(device, volume.shape, error) from error
        raise


def check_run(volume: Volume, settings: Optional[Settings] = None, scribbles=None) -> tuple:
    """The checks segment() makes before any work, for a caller that wants them first: the
    validated (settings, strokes or None), or an InputError naming the problem and the fix."""
    settings = (settings or Settings()).validate()
    if not isinstance(volume, Volume):
        raise InputError("no input volume: give a Volume (read one with readers.read_volume)")
    depth, height, width = volume.shape
    if height < MIN_SIDE or width < MIN_SIDE:
        raise InputError(f"slices of {height}x{width} pixels are smaller than the network can take: "
                         f"give at least {MIN_SIDE}x{MIN_SIDE} pixels per axial slice")
    if volume.colour is not None:
        check_photo_settings(settings)
    else:
        volume.check_ct_spacing()
    strokes = None if scribbles is None else check_scribble_settings(scribbles, volume, settings)
    return settings, strokes


def check_scribble_settings(scribbles, volume: Volume, settings: Settings) -> Strokes:
    """Checked Strokes on the volume's grid, or a message naming what to change."""
    if isinstance(scribbles, Strokes):
        strokes = make_strokes(scribbles.labels, scribbles.names, scribbles.colors, scribbles.terminologies,
                               volume.shape)
    else:
        strokes = make_strokes(scribbles, shape=volume.shape)
    fixes = []
    if volume.colour is not None:
        fixes.append("give a CT (photographs are not supported with scribbles)")
    if settings.scribble_method == "network":  # the partition of method propagate can come from any run
        if settings.variant == "kmeans":
            fixes.append("choose a network variant (k-means has nothing to learn from strokes)")
        if settings.mode != "volume":
            fixes.append("use mode volume (one network for the series learns from strokes on any slice)")
        if settings.scribble_output == "open" and settings.q <= strokes.count:
            fixes.append(f"raise q (classes) above the {strokes.count} structures, or use the strict output")
    if fixes:
        raise InputError("scribbles cannot be used with these settings: " + "; ".join(fixes))
    return strokes


def _network_scribble_run(volume: Volume, settings: Settings, strokes: Strokes, resume, device, progress,
                          cancel):
    """segment() with strokes, method network: body mask, training with the scribble term, the
    structures' labels."""
    started, report, rng, body = _begin(volume, settings, progress, cancel)
    fingerprint = run_fingerprint(volume, settings, strokes)
    resumed = resume is not None and resume.fingerprint == fingerprint and "partition" not in resume.state
    iterations = max(1, int(np.ceil(settings.iterations * RERUN_SHARE))) if resumed else settings.iterations
    clusters, trace, model = segment_series(
        volume.hu, settings, device, report, cancel, rng, body, volume.spacing, strokes.labels, strokes.count,
        resume.state if resumed else None, iterations)
    check(cancel)
    labels, tissues = structure_labels(clusters, strokes, settings, volume.hu, body)
    if body is not None and settings.outside_segment:
        labels, tissues = add_outside_segment(labels, tissues, volume.hu, body & (strokes.labels == 0))
    wall = time.perf_counter() - started
    record = runrecord.make_record(volume, settings, describe(device), trace, tissues, wall)
    record["scribbles"] = _scribble_record(settings, strokes, resume, resumed)
    report(1.0, len(trace.loss), len(tissues), trace.loss[-1] if trace.loss else 0.0, "done")
    state = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    return Segmentation(labels, tissues, record, volume, Checkpoint(state, fingerprint))


def _propagated_run(volume: Volume, settings: Settings, strokes: Strokes, resume, device, progress, cancel):
    """segment() with strokes, method propagate: the unsupervised run's partition (kept for a rerun,
    which needs nothing else from it), then the strokes spread over it (propagation.py)."""
    started = time.perf_counter()
    fingerprint = run_fingerprint(volume, settings, strokes)
    resumed = resume is not None and resume.fingerprint == fingerprint and "partition" in resume.state

    def report(fraction, stage, labels=0):
        if progress is not None:
            progress(Progress(fraction, 0, labels, 0.0, stage, time.perf_counter() - started))

    if resumed:
        partition = resume.state["partition"].numpy()
        record = runrecord.make_record(volume, settings, describe(device),
                                       Trace(stop_reason="the previous run's partition, reused"), [], 0.0)
    else:
        def partitioning(p: Progress):  # the unsupervised run is the first 90% of the bar
            if progress is not None:
                progress(p._replace(fraction=0.9 * p.fraction, stage=f"partition: {p.stage}",
                                    elapsed=time.perf_counter() - started))

        unsupervised = _run(volume, replace(settings, outside_segment=False), device, partitioning, cancel)
        partition, record = unsupervised.labels, unsupervised.record
    body = partition > 0  # the unsupervised run labels the body (everything without a body mask) from 1
    report(0.9, "propagating the strokes")
    nearest = propagate(volume.hu, strokes.labels, strokes.count, partition, body, cancel)
    check(cancel)
    if settings.scribble_output == "open":  # partition labels no stroke reaches keep labels of their own
        unstroked = body & ~np.isin(partition, partition[strokes.labels > 0])
        nearest = np.where(unstroked, strokes.count + partition.astype(np.int32), nearest)
    labels, tissues = structure_labels(nearest, strokes, settings, volume.hu, body)
    if settings.body_mask and settings.outside_segment:
        labels, tissues = add_outside_segment(labels, tissues, volume.hu, body & (strokes.labels == 0))
    record.update(settings=settings.as_dict(), labels=[t.as_dict() for t in tissues],
                  wall_seconds=round(time.perf_counter() - started, 3),
                  scribbles=_scribble_record(settings, strokes, resume, resumed))
    report(1.0, "done", len(tissues))
    # The partition in the smallest type that holds its labels (uint8 for the usual few dozen): a
    # quarter of int32's size on disk and in memory (34 MB instead of 135 MB at 512 x 512 x 130).
    compact = np.uint8 if partition.max(initial=0) <= np.iinfo(np.uint8).max else np.int32
    state = {"partition": torch.from_numpy(np.ascontiguousarray(partition, compact))}
    return Segmentation(labels, tissues, record, volume, Checkpoint(state, fingerprint))


def _scribble_record(settings: Settings, strokes: Strokes, resume, resumed: bool) -> dict:
    record = {"structures": list(strokes.names), "stroked_voxels": int(np.count_nonzero(strokes.labels)),
              "method": settings.scribble_method, "output": settings.scribble_output,
              "resumed_from_previous_run": resumed}
    if resume is not None and not resumed:
        record["not_resumed"] = "the previous run was on another CT, or with other structures or settings"
    return record


def check_photo_settings(settings: Settings) -> None:
    """A photograph has no Hounsfield units and no neighbouring slices: refuse the CT-only settings."""
    fixes = []
    if settings.body_mask:
        fixes.append("turn the body mask off (it needs CT in HU)")
    if settings.variant != "kmeans" and settings.mode != "slice":
        fixes.append("use mode slice (one network per image, as in the papers)")
    if settings.z_context:
        fixes.append("set z_context to 0 (a photograph has no neighbouring slices)")
    if settings.position:
        fixes.append("set position to 0 (a photograph has no body to place a pixel in)")
    if settings.split_mm:
        fixes.append("set split_mm to 0 (organ splitting reads millimetres and HU)")
    if fixes:
        raise InputError("a colour photograph cannot be segmented with these settings: " + "; ".join(fixes))


def _begin(volume: Volume, settings: Settings, progress, cancel) -> tuple:
    """What every run starts with: the clock, the progress reporter, the seeds and the body mask."""
    started = time.perf_counter()

    def report(fraction, iteration, labels, loss, stage):
        if progress is not None:
            progress(Progress(min(1.0, fraction), iteration, labels, loss, stage, time.perf_counter() - started))

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    body = None
    if settings.body_mask:
        report(0.0, 0, 0, 0.0, "body mask")
        body = body_mask(volume.hu, volume.spacing)
        if not body.any():
            raise InputError(f"no body found (no voxel above {TISSUE_HU:g} HU): check that the input is CT in "
                             "Hounsfield units, or turn the body mask off (--no-body-mask, or untick it in the panel)")
        check(cancel)
    return started, report, rng, body


def _run(volume: Volume, settings: Settings, device, progress, cancel) -> Segmentation:
    """segment() after its checks: body mask, clustering, clean-up, naming and the run record."""
    started, report, rng, body = _begin(volume, settings, progress, cancel)
    if settings.variant == "kmeans":
        clusters, trace = _kmeans_clusters(volume, settings, device, report, cancel, body)
    elif settings.mode == "slice":
        clusters, trace = segment_slices(volume.hu, settings, device, report, cancel, body, volume.colour)
    else:
        clusters, trace, _ = segment_series(volume.hu, settings, device, report, cancel, rng, body, volume.spacing)
    check(cancel)

    def finishing(stage):
        report(1.0, len(trace.loss), trace.labels[-1] if trace.labels else 0, trace.loss[-1] if trace.loss else 0.0,
               stage)

    cleaning, splitting, split = bool(settings.min_island_mm3 or settings.fill_holes), bool(settings.split_mm), 0
    if cleaning or splitting:  # both take labels 1..K with 0 outside the body
        clusters = np.where(body, clusters + 1, 0) if body is not None else clusters + 1
    if cleaning:
        finishing("clean-up")
        clusters = clean_labels(clusters, volume.spacing, settings.min_island_mm3, settings.fill_holes)
    if splitting:
        finishing("organ split")
        clusters, split = split_regions(clusters, volume.hu, volume.spacing, settings.split_mm, settings.split_ml)
    labels, tissues = renumber_by_hu(clusters, volume.hu, body)
    if volume.colour is not None:
        tissues = [replace(t, name=f"region {t.label}") for t in tissues]  # HU band names mean nothing here
    elif settings.position or split:
        tissues = place_names(tissues, labels, volume, body)  # a band split by place: say where
    if body is not None and settings.outside_segment:
        labels, tissues = add_outside_segment(labels, tissues, volume.hu, body)
    wall = time.perf_counter() - started
    record = runrecord.make_record(volume, settings, describe(device), trace, tissues, wall)
    report(1.0, len(trace.loss), len(tissues), trace.loss[-1] if trace.loss else 0.0, "done")
    return Segmentation(labels, tissues, record, volume)


def _kmeans_clusters(volume: Volume, settings: Settings, device, report, cancel, body=None):
    """The papers' k-means baseline on the same input channels the network sees: windowed HU, or
    a photograph's RGB (fitted on the body's voxels when there is a body mask)."""
    check(cancel)
    hu = volume.hu
    if volume.colour is not None:
        points = torch.from_numpy(volume.colour.reshape(-1, 3)).to(device)
    else:
        points = window_channels(hu, settings.windows).reshape(len(settings.windows), -1).T.contiguous().to(device)
    generator = torch.Generator().manual_seed(settings.seed)
    fit = points if body is None else points[torch.from_numpy(body.reshape(-1)).to(device)]
    centres = kmeans(fit, settings.k, generator)
    check(cancel)
    clusters = assign(points, centres).to(torch.int16).cpu().numpy().reshape(hu.shape)
    trace = Trace(stop_reason=f"k-means with k={settings.k}")
    report(1.0, 1, int(np.unique(clusters).size), 0.0, "k-means")
    return clusters, trace


__all__ = ["segment", "Segmentation", "Progress", "Settings", "Volume", "InputError", "Cancelled"]
