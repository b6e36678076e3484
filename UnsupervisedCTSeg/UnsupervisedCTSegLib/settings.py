"""All knobs of a run in one dataclass, checked once, so the CLI, Slicer and sweeps share them."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .device import check_device_name
from .errors import InputError
from .preprocessing import WINDOWS

VARIANTS = ("proposed", "superpixel", "nobn", "kmeans")
MODES = ("volume", "slice")
SEED_MAX = 2 ** 31 - 1  # what torch, numpy and the panel's integer spin box all accept

# The study's best CT configuration (M=9, θ=1.5, μ=1) with the papers' p=100 and one input
# channel, run slice by slice as in the papers: kept as a preset to reproduce and compare against.
STUDY_PRESET = dict(mode="slice", layers=9, classes=0, theta=1.5, mu=1.0, channels=100, windows=("wide",),
                    iterations=1000, train_size=0, lr=0.1, edge_hu=0.0, z_context=0, mu_z=0.0, balance=0.0, warm_start=0.0, body_mask=False, outside_segment=False,
                    min_island_mm3=0.0, fill_holes=False)


@dataclass
class Settings:
    """Parameters of one segmentation run; names follow the papers (M, p, q, θ, μ, T)."""

    variant: str = "proposed"  # proposed | superpixel | nobn | kmeans
    mode: str = "volume"  # volume: one network for the whole series; slice: a fresh one per slice
    layers: int = 3  # M: 3x3 conv -> ReLU -> BatchNorm blocks
    channels: int = 48  # p: filters per block
    classes: int = 10  # q: response channels = maximum number of labels; 0 means q = p
    theta: float = 1.0  # θ: weight of the feature-similarity (cross-entropy) loss
    mu: float = 1.0  # μ: weight of the spatial-continuity (L1 of differences) loss
    edge_hu: float = 50.0  # >0: continuity weighted by exp(-|ΔHU|/edge_hu), so it stops at density edges
    iterations: int = 30  # T: maximum training iterations (per slice in slice mode)
    min_labels: int = 3  # stop once the label count falls to this
    lr: float = 0.03  # the papers use 0.1; 0.03 keeps small tissues (bone) from collapsing into big ones
    momentum: float = 0.9
    windows: tuple = ("wide", "soft")  # HU windows stacked as input channels (see preprocessing)
    z_context: int = 1  # neighbouring slices on each side given to the network as extra input channels
    mu_z: float = 3.0  # weight of the continuity term between consecutive slices (scaled by in-plane/slice spacing)
    balance: float = 0.5  # similarity loss weights clusters by (batch share)^-balance; 0 = the papers' plain CE
    warm_start: float = 0.67  # volume mode: share of T trained towards k-means clusters of the windowed HU
    batch_slices: int = 4  # volume mode: axial slices per training mini-batch
    train_size: int = 128  # volume mode: side of the square training crop in pixels; 0 = whole slices
    superpixels: int = 10000  # K for the superpixel variant (SLIC segments per slice)
    compactness: float = 0.1  # SLIC compactness on the [0, 1]-scaled input
    k: int = 15  # clusters for the k-means baseline
    body_mask: bool = True  # remove the table, clothing and outside air before training and from the output
    outside_segment: bool = False  # with body_mask: label everything outside the body as one segment (else 0)
    min_island_mm3: float = 0.0  # clean-up: islands of a label smaller than this (mm³) join their neighbours; 0 = off
    fill_holes: bool = False  # clean-up: fill holes inside each label, slice by slice
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def __post_init__(self):
        self.windows = tuple(self.windows)
        self.validate()

    @property
    def q(self) -> int:
        return self.classes or self.channels

    def validate(self) -> "Settings":
        """Refuse settings that cannot train or cannot mean anything, naming the fix."""
        def need(ok, message):
            if not ok:
                raise InputError(message)

        for f in fields(self):  # inf or NaN would turn the loss into NaN and the run record into "Infinity"
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value):
                raise InputError(f"{f.name} = {value}: give a finite number")
        need(self.variant in VARIANTS, f"unknown variant '{self.variant}': choose one of {', '.join(VARIANTS)}")
        need(self.mode in MODES, f"unknown mode '{self.mode}': choose volume or slice")
        need(isinstance(self.layers, int) and self.layers >= 1, f"M (layers) = {self.layers}: use at least 1 conv block")
        need(self.layers <= 50, f"M (layers) = {self.layers} is absurdly deep: use 1 to 50 (the study's best is 9)")
        need(isinstance(self.channels, int) and self.channels >= 2, f"p (channels) = {self.channels}: use at least 2 filters")
        need(self.channels <= 1024, f"p (channels) = {self.channels} is too many: use 2 to 1024 (the papers use 100)")
        need(self.classes == 0 or 2 <= self.classes <= 1024, f"q (classes) = {self.classes}: use 0 (= p) or 2 to 1024")
        need(self.theta >= 0, f"θ (theta) = {self.theta}: the similarity weight must be >= 0")
        need(self.mu >= 0, f"μ (mu) = {self.mu}: the continuity weight must be >= 0")
        need(self.edge_hu >= 0, f"edge_hu = {self.edge_hu}: use 0 (plain continuity) or a positive HU scale")
        need(self.theta > 0 or self.mu > 0, "θ and μ are both 0: nothing to train; set θ > 0")
        need(isinstance(self.iterations, int) and self.iterations >= 1, f"iterations = {self.iterations}: use at least 1")
        need(self.min_labels >= 1, f"minLabels = {self.min_labels}: use at least 1")
        if self.variant != "kmeans":
            need(self.min_labels <= self.q, f"minLabels = {self.min_labels} exceeds q = {self.q} response channels: "
                 f"lower minLabels or raise the channel count")
        need(self.lr > 0, f"learning rate {self.lr}: must be > 0")
        need(0 <= self.momentum < 1, f"momentum {self.momentum}: must be in [0, 1)")
        need(len(self.windows) >= 1, "no HU windows: give at least one input window, e.g. wide")
        for w in self.windows:
            need(w in WINDOWS, f"unknown HU window '{w}': choose from {', '.join(WINDOWS)}")
        need(isinstance(self.z_context, int) and 0 <= self.z_context <= 5,
             f"z_context = {self.z_context}: use 0 (no neighbours) to 5 slices each side")
        need(self.mu_z >= 0, f"mu_z = {self.mu_z}: the through-plane continuity weight must be >= 0")
        need(0 <= self.balance <= 1, f"balance = {self.balance}: use 0 (plain cross-entropy) to 1 (inverse frequency)")
        need(0 <= self.warm_start <= 1, f"warm_start = {self.warm_start}: use a share of T from 0 (off) to 1")
        need(self.batch_slices >= 1, f"batch_slices = {self.batch_slices}: use at least 1")
        need(self.train_size == 0 or self.train_size >= 8, f"train_size = {self.train_size}: use 0 (whole slices) or >= 8 pixels")
        need(self.superpixels >= 2, f"superpixels K = {self.superpixels}: use at least 2")
        need(self.compactness > 0, f"compactness = {self.compactness}: must be > 0")
        need(2 <= self.k <= 255, f"k-means k = {self.k}: use 2 to 255 clusters")
        need(self.min_island_mm3 >= 0, f"min_island_mm3 = {self.min_island_mm3}: use 0 (off) or a size in mm³")
        need(self.min_island_mm3 <= 1e6, f"min_island_mm3 = {self.min_island_mm3} would erase whole organs: "
             "use at most 1e6 mm³ (1 litre)")
        need(isinstance(self.seed, int) and 0 <= self.seed <= SEED_MAX,
             f"seed = {self.seed}: use a whole number from 0 to {SEED_MAX}")
        check_device_name(self.device)
        return self

    def as_dict(self) -> dict:
        d = asdict(self)
        d["windows"] = list(self.windows)
        d["q"] = self.q
        return d

    @classmethod
    def field_names(cls) -> list:
        return [f.name for f in fields(cls)]
