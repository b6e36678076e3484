"""How long a run will take, measured rather than guessed.

Before starting a run that may take hours on a CPU the user wants a number. Speed depends on the
machine, the device, the thread count and every setting, so no formula fits: instead a few real
training steps (same network, same batch and crop or slice size, same loss) and one real inference
pass are timed on the actual volume, and the run's cost is extrapolated from them.

The measurement takes at most a few seconds however large the volume: it runs a handful of steps,
and where one step on the real shape would itself take seconds (whole 512 x 512 slices on a CPU)
it times two smaller centre crops and extrapolates with the measured growth of cost with size,
because per-pixel cost rises with image size on a CPU (caches) and linear scaling would
underestimate it.

The estimate assumes all T iterations run; a run that reaches minLabels earlier is faster. Pure
torch, no Slicer.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .bodymask import body_mask
from .device import pick_device, runs_on_gpu
from .kmeans import FIT_ITERATIONS, FIT_SAMPLE
from .memory import reuse_freed_memory
from .position import BodyFrame
from .settings import Settings
from .tissues import renumber_by_hu
from .training import (RECALIBRATION_SLICES, SeriesTraining, SliceTraining, build_model, inference_batch, label_slices,
                       labelling_box, make_optimizer)
from .volume import Volume
from .windows import window_channels

CALIBRATION_STEPS = 2  # timed training steps, after one untimed warm-up step
TRAIN_PIXELS = 2 ** 16  # pixels per timed step (all slices of the batch) before crops are used
INFERENCE_PIXELS = 2 ** 18  # pixels of the timed inference pass (one 512 x 512 slice)
FAST_STEP_SECONDS = 0.5  # a real-shape step predicted below this is timed directly


@dataclass
class Calibration:
    """Measured seconds of the pieces a run is made of, on this machine and device."""

    setup: float  # building the network and optimizer (once per run; once per slice in slice mode), and
    # in volume mode fitting the warm start's k-means (its cost hardly grows past the calibration batch)
    train_step: float  # one training iteration at the run's batch and crop (or slice) size
    inference_per_slice: float  # one forward pass of one whole slice without gradients, with argmax
    finish_per_voxel: float = 0.0  # renumbering and naming the labels at the end of the run
    superpixels_per_slice: float = 0.0  # SLIC on one slice (superpixel variant only)
    body_mask_per_voxel: float = 0.0  # finding the body, when the run has a body mask
    labelled_share: float = 1.0  # share of each slice the network labels (training.labelling_box)
    kmeans_per_point: float = 0.0  # k-means variant: seconds per point per assignment pass


def needs_estimate(settings: Settings) -> bool:
    """Whether a run is worth timing first: a CPU run of the network (a GPU run or k-means takes
    seconds). The CLI and the Slicer panel both ask this before calibrating."""
    return not runs_on_gpu(settings) and settings.variant != "kmeans"


def estimate_seconds(volume: Volume, settings: Settings | None = None) -> float:
    """Expected wall time in seconds of engine.segment(volume, settings) on this machine."""
    settings = (settings or Settings()).validate()
    return extrapolate(calibrate(volume, settings), volume.shape, settings)


def calibrate(volume: Volume, settings: Settings) -> Calibration:
    """Time a few real steps on `volume` with `settings` (a few seconds at most, whatever its size).

    Torch's random state is restored afterwards, so calibrating before a run does not change the
    run's labels.
    """
    settings = settings.validate()
    device = pick_device(settings.device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), reuse_freed_memory():
        if settings.variant == "kmeans":
            return _calibrate_kmeans(volume, settings, device)
        return _calibrate_network(volume, settings, device)


def extrapolate(calibration: Calibration, shape: tuple, settings: Settings) -> float:
    """Seconds for a run on a volume of `shape` (z, y, x) from measured piece costs.

    Slice mode: per slice a fresh network, T steps on the whole slice and one labelling pass.
    Volume mode: the set-up (with the warm start's k-means fit), T steps on mini-batches, a pass over
    at most RECALIBRATION_SLICES whole slices (BatchNorm statistics), then labelling every slice's
    body box. k-means: a fit on at most FIT_SAMPLE points plus
    one assignment of every voxel. Every network run starts with the body mask, when it has one, and
    ends with renumbering the labels over the whole volume.
    """
    depth, height, width = shape
    voxels = depth * height * width
    c = calibration
    finish = c.finish_per_voxel * voxels + c.body_mask_per_voxel * voxels
    if settings.variant == "kmeans":
        fit_points = min(voxels, FIT_SAMPLE)
        return finish + c.kmeans_per_point * (fit_points * (FIT_ITERATIONS + settings.k) + voxels)
    superpixels = depth * c.superpixels_per_slice if settings.variant == "superpixel" else 0.0
    if settings.mode == "slice":
        per_slice = c.setup + settings.iterations * c.train_step + c.inference_per_slice
        return finish + superpixels + depth * per_slice
    passes = min(depth, RECALIBRATION_SLICES) + depth * c.labelled_share
    return finish + superpixels + c.setup + settings.iterations * c.train_step + passes * c.inference_per_slice


def _calibrate_network(volume: Volume, settings: Settings, device) -> Calibration:
    """Time the run's own training step (training.SliceTraining or SeriesTraining) and labelling pass."""
    hu = volume.hu
    depth, height, width = hu.shape
    make_optimizer(build_model(settings, device), settings)  # one-off library start-up, paid here for the run too

    if settings.mode == "slice":  # a whole slice per step
        count, ch, cw = 1, height, width
    else:  # the run's mini-batch: batch_slices slices cropped to train_size
        count = min(settings.batch_slices, depth)
        ch = min(settings.train_size or height, height)
        cw = min(settings.train_size or width, width)
    real_pixels = count * ch * cw

    def timed(scale: float) -> tuple:
        """(seconds per step, one-off seconds) on a centre crop holding `scale` of the pixels."""
        side = math.sqrt(scale)
        return _time_training(_centre_batch(hu, count, max(4, round(ch * side)), max(4, round(cw * side))),
                              settings, device, volume.spacing)

    if real_pixels <= TRAIN_PIXELS:
        train_seconds, once = timed(1.0)
    else:  # two crops, a quarter and all of the budget: cost grows as pixels ** exponent
        small, _ = timed(TRAIN_PIXELS / 4 / real_pixels)
        big, once = timed(TRAIN_PIXELS / real_pixels)
        ratio = real_pixels / TRAIN_PIXELS
        if big * ratio < FAST_STEP_SECONDS:  # fast device: the real shape costs little to time
            train_seconds, once = timed(1.0)
        else:  # at least linear (every pixel is convolved); capped so one noisy timing cannot explode it
            exponent = float(np.clip(math.log(max(big, 1e-9) / max(small, 1e-9)) / math.log(4), 1.0, 1.5))
            train_seconds = big * ratio ** exponent
    inference, finish = _time_inference(hu, settings, device)
    return Calibration(once["model"] + once["warm_start"], train_seconds, inference, finish_per_voxel=finish,
                       superpixels_per_slice=once["superpixels"] / once["pixels"] * height * width,
                       body_mask_per_voxel=once["body_mask"] / once["pixels"],
                       labelled_share=_labelled_share(volume, settings))


def _labelled_share(volume: Volume, settings: Settings, samples: int = 8) -> float:
    """The share of a slice the run will label: its labelling box, from the body of a few slices
    spread over the volume (whole slices without a body mask)."""
    hu = volume.hu
    if not settings.body_mask:
        return 1.0
    zs = np.unique(np.linspace(0, hu.shape[0] - 1, min(samples, hu.shape[0])).round().astype(int))
    body = body_mask(np.ascontiguousarray(hu[zs]), volume.spacing)
    _, _, h, w = labelling_box(body if body.any() else None, hu.shape[1], hu.shape[2], settings.layers)
    return h * w / (hu.shape[1] * hu.shape[2])


def _centre_batch(hu: np.ndarray, count: int, ch: int, cw: int) -> np.ndarray:
    """`count` slices from the middle of the volume, cropped to ch x cw around their centre."""
    depth, height, width = hu.shape
    ch, cw = min(ch, height), min(cw, width)
    first = max(0, depth // 2 - count // 2)
    y0, x0 = (height - ch) // 2, (width - cw) // 2
    return np.ascontiguousarray(hu[first:first + count, y0:y0 + ch, x0:x0 + cw])


def _time_training(batch: np.ndarray, settings: Settings, device, spacing) -> tuple:
    """(seconds per training iteration, one-off seconds) for a fresh network on `batch`.

    The batch goes through what the run does: its body mask when the run has one, then the
    training loop's own object and step. In volume mode the warm start's steps (towards k-means
    targets) and the self-training steps are timed apart and weighted by their share of T.
    """
    started = time.perf_counter()
    body = body_mask(batch, spacing) if settings.body_mask else None
    once = {"body_mask": time.perf_counter() - started, "pixels": batch.size}
    if body is not None and not body.any():
        body = None  # a crop of pure air: time the step as if it held tissue
    if settings.mode == "slice":
        frame = BodyFrame.of(body, batch.shape, settings.position)
        training = SliceTraining(batch, 0, settings, device, body, frame=frame)
        once.update(training.seconds, warm_start=0.0)
        step_kinds = {False: 1.0}
        run = lambda warm: training.step()  # noqa: E731
    else:
        training = SeriesTraining(batch, settings, device, body, spacing)
        once.update(training.seconds)
        zs, box = np.arange(len(batch)), (0, 0) + batch.shape[1:]
        warm_share = training.warm_iterations / settings.iterations
        step_kinds = {True: warm_share, False: 1.0 - warm_share}
        run = lambda warm: training.step(zs, box, warm)  # noqa: E731

    seconds = 0.0
    for warm, share in step_kinds.items():
        if not share:
            continue
        loss, n_labels = run(warm)  # warm-up: first-call allocations and kernel selection are not part of a run
        float(loss), int(n_labels)
        started = time.perf_counter()
        for _ in range(CALIBRATION_STEPS):
            loss, n_labels = run(warm)
            float(loss), int(n_labels)  # the loops read both every iteration (a device sync on a GPU)
        seconds += share * (time.perf_counter() - started) / CALIBRATION_STEPS
    return seconds, once


def _time_inference(hu: np.ndarray, settings: Settings, device) -> tuple:
    """(seconds per whole slice of labelling, seconds per voxel of final renumbering).

    Times one inference batch of real slices through training.label_slices (at most
    INFERENCE_PIXELS pixels; a centre crop of larger slices, scaled by pixel count, since a forward
    pass without gradients is memory-light and close to linear in pixels).
    """
    depth, height, width = hu.shape
    slices = max(1, min(inference_batch(settings, height, width), depth, INFERENCE_PIXELS // (height * width)))
    scale = min(1.0, INFERENCE_PIXELS / (height * width))
    side = math.sqrt(scale)
    batch = _centre_batch(hu, slices, max(4, round(height * side)), max(4, round(width * side)))
    model = build_model(settings, device)
    model.eval()
    frame = BodyFrame.of(None, batch.shape, settings.position)
    label_slices(model, batch[:1, :16, :16], [0], settings, device, frame=frame)  # warm-up of the eval path
    t0 = time.perf_counter()
    clusters = label_slices(model, batch, np.arange(len(batch)), settings, device, frame=frame)
    per_slice = (time.perf_counter() - t0) / len(batch) * (height * width) / batch[0].size
    t0 = time.perf_counter()
    renumber_by_hu(clusters, batch)
    finish = (time.perf_counter() - t0) / batch.size
    return per_slice, finish


def _calibrate_kmeans(volume: Volume, settings: Settings, device) -> Calibration:
    """Time one nearest-centre pass over a sample of voxels; k-means is a few dozen such passes."""
    flat = volume.hu.reshape(-1)
    sample = flat[:: max(1, math.ceil(flat.size / 100_000))]
    warm = window_channels(sample[:1000], settings.windows).T.contiguous().to(device)
    torch.cdist(warm, warm[:settings.k]).argmin(dim=1).cpu()  # first-call overhead is not per point
    t0 = time.perf_counter()
    points = window_channels(sample, settings.windows).T.contiguous().to(device)
    centres = points[torch.linspace(0, len(points) - 1, settings.k).long()]
    assigned = torch.cdist(points, centres).argmin(dim=1).to(torch.int16).cpu().numpy()
    per_point = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    renumber_by_hu(assigned, sample)
    finish = (time.perf_counter() - t0) / len(sample)
    return Calibration(setup=0.0, train_step=0.0, inference_per_slice=0.0, finish_per_voxel=finish,
                       kmeans_per_point=per_point)


__all__ = ["Calibration", "calibrate", "estimate_seconds", "extrapolate", "needs_estimate"]
