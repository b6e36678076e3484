"""The training loops: one network per slice (the papers) or one network for the whole series.

Kept short and explicit in the nanoGPT spirit: build the net, loop SGD steps on the loss of the
response map against its own argmax, stop at T iterations or at minLabels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .errors import Cancelled
from .kmeans import FIT_SAMPLE, assign, kmeans
from .losses import edge_weights, edge_weights_z, similarity_loss, total_loss, z_continuity_loss
from .model import FeatureClusteringNet
from .position import CHANNELS, BodyFrame
from .settings import Settings
from .superpixels import majority_vote, slic_slices
from .windows import AIR_HU, window_channels


@dataclass
class Trace:
    """Per-iteration loss and label count, kept for the run record and the progress bar."""

    loss: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    slice_index: list = field(default_factory=list)
    stop_reason: str = ""


Report = Callable[[float, int, int, float, str], None]


IGNORE = -1  # target value of pixels outside the body: no loss, no label count
RECALIBRATION_SLICES = 64  # slices whose BatchNorm statistics fix the normalisation for labelling


def in_channels(settings: Settings) -> int:
    """Input channels: every HU window of the slice and of its z_context neighbours on each side,
    and with settings.position the slice's two body-relative in-plane coordinates (position.py)."""
    return len(settings.windows) * (2 * settings.z_context + 1) + (CHANNELS if settings.position else 0)


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on a GPU (cuDNN's fast layout); plain NCHW on a CPU, where profiling a
    p=100 step showed oneDNN's channels-last weight gradient 5x and the whole step 2x slower."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def build_model(settings: Settings, device: torch.device, inputs: int = 0, classes: int = 0) -> FeatureClusteringNet:
    """The network for `settings`; `inputs` overrides the input channel count (3 for a photograph),
    `classes` the response channels (the n structures of a strict scribble run)."""
    model = FeatureClusteringNet(inputs or in_channels(settings), settings.layers, settings.channels,
                                 classes or settings.q, response_bn=settings.variant != "nobn")
    return model.to(device=device, memory_format=memory_format(device))


def cluster_labels(response: torch.Tensor) -> torch.Tensor:
    """(N, q, H, W) response -> (N, H, W) argmax over the channels.

    Taken along a contiguous channel axis: on an NCHW CPU tensor the reorder plus argmax costs
    about half of a strided argmax over dim 1; on a channels-last tensor the permute is free.
    """
    return response.detach().permute(0, 2, 3, 1).contiguous().argmax(dim=-1)


def slab_planes(hu: np.ndarray, zs, box, z_context: int, body=None) -> np.ndarray:
    """HU of slices `zs` cropped to box (y, x, h, w) with z_context neighbours each side:
    (B, 2c+1, h, w), the volume's edge slices repeated; air (AIR_HU) outside the body."""
    y, x, h, w = box
    idx = np.clip(np.asarray(zs)[:, None] + np.arange(-z_context, z_context + 1)[None], 0, hu.shape[0] - 1)
    planes = hu[idx, y:y + h, x:x + w]
    if body is not None:
        planes = np.where(body[idx, y:y + h, x:x + w], planes, np.float32(AIR_HU))
    return planes


def network_input(planes: np.ndarray, settings: Settings, device: torch.device, position=None) -> torch.Tensor:
    """(B, 2c+1, H, W) HU planes -> (B, C, H, W) windowed input on the device, window-major channels,
    then the (B, 2, H, W) `position` coordinates when given."""
    channels = window_channels(planes, settings.windows)  # (W, B, 2c+1, H, W)
    batch, height, width = planes.shape[0], planes.shape[-2], planes.shape[-1]
    x = channels.transpose(0, 1).reshape(batch, -1, height, width)
    if position is not None:
        x = torch.cat([x, torch.from_numpy(position)], dim=1)
    return x.to(device).contiguous(memory_format=memory_format(device))


def continuity_weights(hu: np.ndarray, settings: Settings, device):
    return edge_weights(torch.as_tensor(hu, dtype=torch.float32, device=device), settings.edge_hu)


def body_targets(body: np.ndarray | None, zs, box, device):
    """(B, H, W) bool of body pixels in the batch, or None when there is no body mask."""
    if body is None:
        return None
    y, x, h, w = box
    return torch.from_numpy(np.ascontiguousarray(body[np.asarray(zs), y:y + h, x:x + w])).to(device)


def count_labels(target: torch.Tensor, classes: int) -> torch.Tensor:
    """Number of distinct labels (ignored pixels excluded), computed on the device."""
    target = target.reshape(-1)
    return torch.count_nonzero(torch.bincount(target[target >= 0], minlength=classes))


def train_step(model, optimizer, x, settings: Settings, segments=None, weights=None, inside=None,
               z_weight=None, warm_target=None, stroke_target=None):
    """One SGD step; returns (loss, label count, target) as device tensors.

    The target is the response's own argmax (the papers), or `warm_target` during the warm start;
    pixels outside the body (`inside` False) are ignored by the loss and the label count. With
    `stroke_target` (structure index - 1 at stroked pixels, IGNORE elsewhere) the TIP 2020 scribble
    term ψ·CE(response at the strokes, their structure) is added (scribbles.py).
    """
    response = model(x)
    target = cluster_labels(response) if warm_target is None else warm_target
    if segments is not None:
        target = majority_vote(target, segments, settings.q)
    if inside is not None:
        target = torch.where(inside, target, torch.full_like(target, IGNORE))
    n_labels = count_labels(target, settings.q)
    loss = total_loss(response, target, settings.theta, settings.mu, weights, IGNORE, settings.balance)
    if z_weight is not None and response.shape[0] > 1:
        loss = loss + settings.mu_z * z_continuity_loss(response, z_weight)
    if stroke_target is not None:
        loss = loss + settings.psi * similarity_loss(response, stroke_target, IGNORE, balance=1.0)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), n_labels, target


class MomentumSGD:
    """SGD with momentum, the papers' optimizer, as torch.optim.SGD computes it (no dampening, no
    Nesterov, no weight decay; the same foreach arithmetic, so the same weights bit for bit).

    Written out because constructing any torch.optim optimizer imports TorchDynamo, 1.1 to 1.6 s
    of every run's start on a CPU: a third of a one-slice preview.
    """

    def __init__(self, parameters, lr: float, momentum: float):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.lr, self.momentum = lr, momentum
        self.buffers = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        params = [p for p in self.parameters if p.grad is not None]
        grads = [p.grad for p in params]
        if self.momentum:
            if self.buffers is None:  # the first step's buffer is the gradient itself
                self.buffers = [torch.clone(g).detach() for g in grads]
            else:
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads)
            grads = self.buffers
        torch._foreach_add_(params, grads, alpha=-self.lr)


def make_optimizer(model, settings: Settings) -> MomentumSGD:
    return MomentumSGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)


def check(cancel) -> None:
    if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
        raise Cancelled("segmentation cancelled")


class SliceTraining:
    """One slice's network and everything its iterations reuse: the input, the continuity weights, the
    body targets and the superpixels. The papers' protocol trains one of these per slice; the run-time
    estimate times the same `step`, and reads in `seconds` how long the one-off parts took."""

    def __init__(self, hu: np.ndarray, z: int, settings: Settings, device, body=None, colour=None, frame=None):
        started = time.perf_counter()
        height, width = hu.shape[1:]
        whole = (0, 0, height, width)
        self.settings, self.device = settings, device
        self.model = build_model(settings, device, 0 if colour is None else 3)
        self.model.train()
        self.optimizer = make_optimizer(self.model, settings)
        planes = slab_planes(hu, [z], whole, settings.z_context, body)
        if colour is None:
            self.x = network_input(planes, settings, device, frame.planes(1, whole) if frame else None)
        else:
            x = torch.from_numpy(np.ascontiguousarray(colour[z].transpose(2, 0, 1)[None])).to(device)
            self.x = x.contiguous(memory_format=memory_format(device))
        self.weights = continuity_weights(planes[:, settings.z_context], settings, device)
        self.inside = body_targets(body, [z], whole, device)
        self.seconds = {"model": time.perf_counter() - started, "superpixels": 0.0}
        self.segments = None
        if settings.variant == "superpixel":
            started = time.perf_counter()
            self.segments = torch.from_numpy(slic_slices(self.x[0, :, None].cpu().numpy(), settings.superpixels,
                                                         settings.compactness, lab=colour is not None)).to(device)
            self.seconds["superpixels"] = time.perf_counter() - started

    def step(self):
        """One SGD step; (loss, label count) as device tensors."""
        loss, n_labels, _ = train_step(self.model, self.optimizer, self.x, self.settings, self.segments,
                                       self.weights, self.inside)
        return loss, n_labels

    def labels(self) -> np.ndarray:
        with torch.no_grad():
            return cluster_labels(self.model(self.x))[0].cpu().numpy()


def segment_slices(hu: np.ndarray, settings: Settings, device, report: Report, cancel, body=None,
                   colour=None) -> tuple:
    """The papers' protocol: a fresh network trained on each axial slice; labels = final argmax.

    Cluster ids of different slices are unrelated (as in the papers); they are returned as the
    raw channel index, stacked. `colour` (z, y, x, 3) in [0, 1] replaces the HU windows as the
    network's input for photographs; their superpixels are then computed in Lab, as the papers did.
    """
    depth = hu.shape[0]
    clusters = np.empty(hu.shape, np.int16)  # q <= 1024 fits; a quarter of int64
    trace = Trace()
    frame = BodyFrame.of(body, hu.shape, settings.position)  # one frame for every slice
    for z in range(depth):
        training = SliceTraining(hu, z, settings, device, body, colour, frame)
        for it in range(settings.iterations):
            check(cancel)
            loss, n_labels = training.step()
            loss, n_labels = float(loss), int(n_labels)
            trace.loss.append(loss)
            trace.labels.append(n_labels)
            trace.slice_index.append(z)
            report((z + (it + 1) / settings.iterations) / depth, it + 1, n_labels, loss, f"slice {z + 1}/{depth}")
            if n_labels <= settings.min_labels:
                break
        clusters[z] = training.labels()
    trace.stop_reason = "per slice: T iterations or minLabels"
    return clusters, trace


def body_box(body, height: int, width: int) -> tuple:
    """(y0, y1, x0, x1): the body's in-plane bounding box, where training crops are drawn."""
    if body is None or not body.any():
        return 0, height, 0, width
    rows = np.flatnonzero(body.any(axis=(0, 2)))
    cols = np.flatnonzero(body.any(axis=(0, 1)))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def warm_start_iterations(settings: Settings) -> int:
    """How many of the T iterations train towards the k-means targets."""
    return int(round(settings.warm_start * settings.iterations))


def warm_start_centres(hu, body, settings: Settings, device, frame=None):
    """k-means centres (q, features) of the body voxels' windowed HU, and with a BodyFrame their
    weighted coordinates: the warm start's targets."""
    if frame is None:
        values = hu[body] if body is not None else hu.reshape(-1)
        if values.size > FIT_SAMPLE:  # an even, seed-free subsample
            values = values[np.linspace(0, values.size - 1, FIT_SAMPLE).astype(np.int64)]
        points = window_channels(values, settings.windows).T
    else:
        where = np.flatnonzero(body) if body is not None else np.arange(hu.size)
        if where.size > FIT_SAMPLE:
            where = where[np.linspace(0, where.size - 1, FIT_SAMPLE).astype(np.int64)]
        values = hu.reshape(-1)[where]
        places = frame.points(*np.unravel_index(where, hu.shape)[1:])
        points = torch.cat([window_channels(values, settings.windows).T, torch.from_numpy(places)], dim=1)
    generator = torch.Generator().manual_seed(0)  # targets from the data alone, whatever the run's seed
    return kmeans(points.contiguous().to(device), settings.q, generator)


def warm_targets(centre_planes: np.ndarray, centres, settings: Settings, device, position=None) -> torch.Tensor:
    """(B, H, W) nearest-centre index of each pixel of the batch's centre slices (with their
    (B, 2, H, W) `position` coordinates when the centres were fitted on them)."""
    points = window_channels(centre_planes, settings.windows)  # (W, B, H, W)
    if position is not None:
        points = torch.cat([points, torch.from_numpy(position).transpose(0, 1)], dim=0)
    flat = points.to(device).reshape(points.shape[0], -1).T
    return assign(flat, centres).reshape(centre_planes.shape)


class SeriesTraining:
    """One network for the whole series and everything its iterations reuse: the optimizer, the
    superpixels, the warm start's k-means centres, the crop size and the through-plane scale.

    `step` is one training iteration, the one the run makes and the one the run-time estimate
    times. `seconds` keeps how long the one-off parts took (the estimate reads it).
    """

    def __init__(self, hu: np.ndarray, settings: Settings, device, body=None, spacing=(1.0, 1.0, 1.0),
                 strokes=None, structures: int = 0, initial_state=None):
        started = time.perf_counter()
        depth, height, width = hu.shape
        self.hu, self.body, self.settings, self.device = hu, body, settings, device
        self.strokes = strokes  # scribbles: structure i painted as i, 0 elsewhere (scribbles.py)
        self.stroked = np.argwhere(strokes > 0) if strokes is not None else None
        self.frame = BodyFrame.of(body, hu.shape, settings.position)
        strict = strokes is not None and settings.scribble_output == "strict"
        self.model = build_model(settings, device, classes=structures if strict else 0)
        if initial_state is not None:
            self.model.load_state_dict(initial_state)
        self.model.train()
        self.optimizer = make_optimizer(self.model, settings)
        self.seconds = {"model": time.perf_counter() - started, "superpixels": 0.0, "warm_start": 0.0}
        self.segments = None
        if settings.variant == "superpixel":
            started = time.perf_counter()
            self.segments = slic_slices(window_channels(hu, settings.windows).numpy(), settings.superpixels,
                                        settings.compactness)
            self.segments += (np.arange(depth) * (self.segments.max() + 1))[:, None, None]
            self.seconds["superpixels"] = time.perf_counter() - started
        self.warm_iterations = warm_start_iterations(settings) if strokes is None and initial_state is None else 0
        self.centres = None
        if self.warm_iterations:
            started = time.perf_counter()
            self.centres = warm_start_centres(hu, body, settings, device, self.frame)
            self.seconds["warm_start"] = time.perf_counter() - started
        self.batch = min(settings.batch_slices, depth)
        self.crop = (min(settings.train_size or height, height), min(settings.train_size or width, width))
        self.bounds = body_box(body, height, width)
        self.z_scale = min(float(np.mean(spacing[:2])) / float(spacing[2]), 1.0)  # thick slices: weaker z pull

    def draw(self, rng: np.random.Generator, iteration: int = 0) -> tuple:
        """A random mini-batch: `batch` consecutive slices and one crop box overlapping the body. With
        scribbles every other batch is centred on a random stroked voxel, so the strokes, often on a
        few slices only, take part in half the steps."""
        depth, height, width = self.hu.shape
        (ch, cw), (y0, y1, x0, x1) = self.crop, self.bounds
        if self.stroked is not None and iteration % 2 == 0:
            z, y, x = self.stroked[int(rng.integers(0, len(self.stroked)))]
            start = int(np.clip(z - rng.integers(0, self.batch), 0, depth - self.batch))
            top = int(np.clip(y - rng.integers(0, ch), 0, height - ch))
            left = int(np.clip(x - rng.integers(0, cw), 0, width - cw))
            return np.arange(start, start + self.batch), (top, left, ch, cw)
        start = int(rng.integers(0, depth - self.batch + 1))
        zs = np.arange(start, start + self.batch)
        return zs, (_crop_start(rng, y0, y1, ch, height), _crop_start(rng, x0, x1, cw, width), ch, cw)

    def step(self, zs, box, warm: bool):
        """One SGD step on slices `zs` cropped to `box`, towards the k-means targets when `warm`;
        (loss, label count) as device tensors."""
        settings, device, c = self.settings, self.device, self.settings.z_context
        planes = slab_planes(self.hu, zs, box, c, self.body)
        segments = None
        if self.segments is not None:
            y, x, h, w = box
            segments = torch.from_numpy(self.segments[zs, y:y + h, x:x + w]).to(device)
        position = self.frame.planes(len(zs), box) if self.frame else None
        target = warm_targets(planes[:, c], self.centres, settings, device, position) if warm else None
        strokes = None
        if self.strokes is not None:
            y, x, h, w = box
            strokes = torch.from_numpy(self.strokes[zs, y:y + h, x:x + w].astype(np.int64)).to(device) - 1
        z_weight = None
        if settings.mu_z and len(zs) > 1:
            z_weight = self.z_scale * edge_weights_z(torch.as_tensor(planes[:, c], device=device), settings.edge_hu)
        loss, n_labels, _ = train_step(self.model, self.optimizer, network_input(planes, settings, device, position),
                                       settings,
                                       segments, continuity_weights(planes[:, c], settings, device),
                                       body_targets(self.body, zs, box, device), z_weight, target, strokes)
        return loss, n_labels


def segment_series(hu: np.ndarray, settings: Settings, device, report: Report, cancel,
                   rng: np.random.Generator, body=None, spacing=(1.0, 1.0, 1.0), strokes=None, structures: int = 0,
                   initial_state=None, iterations: int = 0) -> tuple:
    """One network for the whole series, so a label means one tissue on every slice.

    Each iteration trains on a slab of `batch_slices` consecutive slices, all cropped to one
    random train_size box inside the body: consecutive slices let the z-continuity term
    (mu_z) compare a pixel with the one above it. The first warm_start x T iterations take their
    targets from k-means on the windowed HU instead of the network's own argmax, so the clusters
    start on density boundaries rather than on the random features of an untrained network.
    Then every slice is labelled with the same weights.

    With `strokes` (scribbles.py) the loss adds the scribble term, there is no warm start and no
    minLabels stop (the user chose the structures); `initial_state` starts from a previous run's
    weights, and `iterations` (when not 0) replaces T. Returns (clusters, trace, model).
    """
    depth, height, width = hu.shape
    training = SeriesTraining(hu, settings, device, body, spacing, strokes, structures, initial_state)
    trace = Trace(stop_reason="T iterations")
    train_share = 0.9
    total = iterations or settings.iterations
    for it in range(total):
        check(cancel)
        zs, box = training.draw(rng, it)
        loss, n_labels = training.step(zs, box, warm=it < training.warm_iterations)
        loss, n_labels = float(loss), int(n_labels)
        trace.loss.append(loss)
        trace.labels.append(n_labels)
        report(train_share * (it + 1) / total, it + 1, n_labels, loss, "training")
        if strokes is None and n_labels <= settings.min_labels and it >= training.warm_iterations:
            trace.stop_reason = f"minLabels reached at iteration {it + 1}"
            break
    model = training.model
    step = inference_batch(settings, height, width)
    recalibrate_batchnorm(model, hu, settings, device, step, cancel, body, training.frame)
    box = labelling_box(body, height, width, settings.layers)
    # As many cropped slices per batch as fit in the whole slices' pixels: the labelling batches then
    # reuse the blocks the recalibration freed instead of growing the heap (memory.py keeps them).
    step = max(1, step * height * width // (box[2] * box[3]))
    clusters = np.zeros(hu.shape, np.int16)  # q <= 1024 fits; a quarter of int64. 0 outside the box
    y, x, h, w = box
    for start in range(0, depth, step):
        check(cancel)
        zs = np.arange(start, min(depth, start + step))
        clusters[zs, y:y + h, x:x + w] = label_slices(model, hu, zs, settings, device, body, training.frame, box)
        report(train_share + (1 - train_share) * (zs[-1] + 1) / depth, len(trace.loss),
               trace.labels[-1], trace.loss[-1], "labelling slices")
    return clusters, trace, model


def labelling_box(body, height: int, width: int, layers: int) -> tuple:
    """(y, x, h, w): the part of every slice the network must see to label the body, the body's
    bounding box widened by the receptive field (one pixel per 3x3 block), so that each body pixel
    sees exactly what it would see in the whole slice. Outside it everything is outside the body
    (left unlabelled): on a clinical CT, where the body fills less than half of the field, labelling
    costs half as much. The BatchNorm recalibration stays on whole slices (RECALIBRATION_SLICES)."""
    y0, y1, x0, x1 = body_box(body, height, width)
    y0, x0 = max(0, y0 - layers), max(0, x0 - layers)
    y1, x1 = min(height, y1 + layers), min(width, x1 + layers)
    return y0, x0, y1 - y0, x1 - x0


def label_slices(model, hu: np.ndarray, zs, settings: Settings, device, body=None, frame=None,
                 box=None) -> np.ndarray:
    """Labels (len(zs), h, w) of slices `zs` cropped to `box` (y, x, h, w; default the whole slice) by a
    trained network in eval mode."""
    box = box or (0, 0) + hu.shape[1:]
    with torch.no_grad():
        response = model(network_input(slab_planes(hu, zs, box, settings.z_context, body), settings, device,
                                       frame.planes(len(zs), box) if frame else None))
        return cluster_labels(response).to(torch.int16).cpu().numpy()


def _crop_start(rng, low: int, high: int, size: int, extent: int) -> int:
    """Random start of a `size` crop overlapping [low, high) as much as possible, inside [0, extent)."""
    first = max(0, min(low, extent - size))
    last = max(first, min(high - size, extent - size))
    return int(rng.integers(first, last + 1))


def inference_batch(settings: Settings, height: int, width: int, budget_floats: int = 2 ** 26) -> int:
    """Slices per inference batch so one activation tensor stays under ~256 MB whatever the depth."""
    return max(1, budget_floats // (max(settings.channels, settings.q, in_channels(settings)) * height * width))


def recalibrate_batchnorm(model, hu, settings, device, step, cancel, body=None, frame=None) -> None:
    """Replace the BatchNorm running statistics by exact averages over whole slices of the series.

    Training normalises each layer with its mini-batch statistics; inference must use one fixed
    normalisation for all slices, or the same tissue flips label between slices. Averaging the
    statistics over the series (the 'precise BN' recipe) gives that fixed normalisation. They are
    taken on at most RECALIBRATION_SLICES slices spread evenly over the series: statistics of a few
    dozen whole slices do not move with hundreds more, while the pass over every slice cost as much
    as labelling them (a third of a 300-slice run). Series of up to that many slices use every slice.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    depth, height, width = hu.shape
    box = (0, 0, height, width)
    chosen = np.unique(np.linspace(0, depth - 1, min(depth, RECALIBRATION_SLICES)).round().astype(int))
    with torch.no_grad():
        for start in range(0, len(chosen), step):
            check(cancel)
            zs = chosen[start:start + step]
            model(network_input(slab_planes(hu, zs, box, settings.z_context, body), settings, device,
                                frame.planes(len(zs), box) if frame else None))
    model.eval()
