"""The training loops: one network per slice (the papers) or one network for the whole series.

Kept short and explicit in the nanoGPT spirit: build the net, loop SGD steps on the loss of the
response map against its own argmax, stop at T iterations or at minLabels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .errors import Cancelled
from .losses import edge_weights, total_loss
from .model import FeatureClusteringNet
from .preprocessing import window_channels
from .settings import Settings
from .superpixels import majority_vote, slic_slices


@dataclass
class Trace:
    """Per-iteration loss and label count, kept for the run record and the progress bar."""

    loss: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    slice_index: list = field(default_factory=list)
    stop_reason: str = ""


Report = Callable[[float, int, int, float, str], None]


def build_model(settings: Settings, device: torch.device) -> FeatureClusteringNet:
    model = FeatureClusteringNet(len(settings.windows), settings.layers, settings.channels, settings.q,
                                 response_bn=settings.variant != "nobn")
    return model.to(device=device, memory_format=torch.channels_last)


def continuity_weights(hu: np.ndarray, settings: Settings, device):
    return edge_weights(torch.as_tensor(hu, dtype=torch.float32, device=device), settings.edge_hu)


def network_input(hu: np.ndarray, settings: Settings, device: torch.device) -> torch.Tensor:
    """(B, H, W) HU slices -> (B, C, H, W) windowed input on the device."""
    return window_channels(hu, settings.windows).transpose(0, 1).contiguous(
        memory_format=torch.channels_last).to(device)


def count_labels(target: torch.Tensor, classes: int) -> torch.Tensor:
    """Number of distinct labels, computed on the device (no unique() round trip)."""
    return torch.count_nonzero(torch.bincount(target.reshape(-1), minlength=classes))


def train_step(model, optimizer, x, settings: Settings, segments=None, weights=None):
    """One SGD step; returns (loss, label count, argmax target) as device tensors."""
    response = model(x)
    target = response.argmax(dim=1)
    n_labels = count_labels(target, settings.q)
    if segments is not None:
        target = majority_vote(target, segments, settings.q)
    loss = total_loss(response, target, settings.theta, settings.mu, weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), n_labels, target


def make_optimizer(model, settings: Settings):
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)


def check(cancel) -> None:
    if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
        raise Cancelled("segmentation cancelled")


def segment_slices(hu: np.ndarray, settings: Settings, device, report: Report, cancel) -> tuple:
    """The papers' protocol: a fresh network trained on each axial slice; labels = final argmax.

    Cluster ids of different slices are unrelated (as in the papers); they are returned as the
    raw channel index, stacked.
    """
    depth = hu.shape[0]
    clusters = np.empty(hu.shape, np.int16)  # q <= 1024 fits; a quarter of int64
    trace = Trace()
    for z in range(depth):
        model = build_model(settings, device)
        model.train()
        optimizer = make_optimizer(model, settings)
        x = network_input(hu[z:z + 1], settings, device)
        weights = continuity_weights(hu[z:z + 1], settings, device)
        segments = None
        if settings.variant == "superpixel":
            segments = torch.from_numpy(slic_slices(x[0, :, None].cpu().numpy(), settings.superpixels,
                                                    settings.compactness)).to(device)
        for it in range(settings.iterations):
            check(cancel)
            loss, n_labels, _ = train_step(model, optimizer, x, settings, segments, weights)
            loss, n_labels = float(loss), int(n_labels)
            trace.loss.append(loss)
            trace.labels.append(n_labels)
            trace.slice_index.append(z)
            report((z + (it + 1) / settings.iterations) / depth, it + 1, n_labels, loss, f"slice {z + 1}/{depth}")
            if n_labels <= settings.min_labels:
                break
        with torch.no_grad():
            clusters[z] = model(x).argmax(dim=1)[0].cpu().numpy()
    trace.stop_reason = "per slice: T iterations or minLabels"
    return clusters, trace


def segment_series(hu: np.ndarray, settings: Settings, device, report: Report, cancel,
                   rng: np.random.Generator) -> tuple:
    """One network for the whole series: train on random mini-batches of axial slices (cropped to
    train_size), then label every slice with the same weights, so a label means one tissue on
    every slice."""
    depth, height, width = hu.shape
    model = build_model(settings, device)
    model.train()
    optimizer = make_optimizer(model, settings)
    segments = None
    if settings.variant == "superpixel":
        segments = slic_slices(window_channels(hu, settings.windows).numpy(), settings.superpixels,
                               settings.compactness)
        segments += (np.arange(depth) * (segments.max() + 1))[:, None, None]
    trace = Trace(stop_reason="T iterations")
    batch = min(settings.batch_slices, depth)
    ch = min(settings.train_size or height, height)
    cw = min(settings.train_size or width, width)
    train_share = 0.9
    for it in range(settings.iterations):
        check(cancel)
        picks = np.sort(rng.choice(depth, size=batch, replace=False))
        ys = rng.integers(0, height - ch + 1, size=batch)
        xs = rng.integers(0, width - cw + 1, size=batch)
        crop = np.stack([hu[z, y:y + ch, x:x + cw] for z, y, x in zip(picks, ys, xs)])
        seg = None
        if segments is not None:
            seg = torch.from_numpy(np.stack([segments[z, y:y + ch, x:x + cw] for z, y, x in zip(picks, ys, xs)])).to(device)
        loss, n_labels, _ = train_step(model, optimizer, network_input(crop, settings, device), settings, seg,
                                        continuity_weights(crop, settings, device))
        loss, n_labels = float(loss), int(n_labels)
        trace.loss.append(loss)
        trace.labels.append(n_labels)
        report(train_share * (it + 1) / settings.iterations, it + 1, n_labels, loss, "training")
        if n_labels <= settings.min_labels:
            trace.stop_reason = f"minLabels reached at iteration {it + 1}"
            break
    step = inference_batch(settings, height, width)
    recalibrate_batchnorm(model, hu, settings, device, step, cancel)
    clusters = np.empty(hu.shape, np.int16)  # q <= 1024 fits; a quarter of int64
    with torch.no_grad():
        for start in range(0, depth, step):
            check(cancel)
            response = model(network_input(hu[start:start + step], settings, device))
            clusters[start:start + step] = response.argmax(dim=1).cpu().numpy()
            report(train_share + (1 - train_share) * min(depth, start + step) / depth, len(trace.loss),
                   trace.labels[-1], trace.loss[-1], "labelling slices")
    return clusters, trace


def inference_batch(settings: Settings, height: int, width: int, budget_floats: int = 2 ** 26) -> int:
    """Slices per inference batch so one activation tensor stays under ~256 MB whatever the depth."""
    return max(1, budget_floats // (max(settings.channels, settings.q) * height * width))


def recalibrate_batchnorm(model, hu, settings, device, step, cancel) -> None:
    """Replace the BatchNorm running statistics by exact averages over every slice.

    Training normalises each layer with its mini-batch statistics; inference must use one fixed
    normalisation for all slices, or the same tissue flips label between slices. Averaging the
    statistics over the whole series (the 'precise BN' recipe) gives that fixed normalisation.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for start in range(0, hu.shape[0], step):
            check(cancel)
            model(network_input(hu[start:start + step], settings, device))
    model.eval()
