"""All knobs of a run in one dataclass, each written once with what the user sees of it.

Every field carries a `Knob` as dataclass metadata: its help text, its valid range or choices, its
command-line flag and, when the Slicer panel shows it, the panel's parameter name, label and
widget. The CLI's flags, the panel's parameter table, the parameter node and the checks below are
all made from these, so none of them can drift from the engine.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields

from .device import check_device_name
from .errors import InputError
from .windows import WINDOWS

VARIANTS = ("proposed", "superpixel", "nobn", "kmeans")
MODES = ("volume", "slice")
SCRIBBLE_OUTPUTS = ("strict", "open")
SCRIBBLE_METHODS = ("propagate", "network")  # how strokes become structures (run.py)
SEED_MAX = 2 ** 31 - 1  # what torch, numpy and the panel's integer spin box all accept


@dataclass(frozen=True)
class Knob:
    """What the user sees of one setting."""

    help: str  # the CLI's help and the panel's tooltip
    minimum: float | None = None  # valid range, checked by Settings.validate and offered by the panel
    maximum: float | None = None
    above: bool = False  # the minimum itself is not allowed (a learning rate of 0)
    below: bool = False  # the maximum itself is not allowed (a momentum of 1)
    choices: tuple = ()
    symbol: str = ""  # the papers' letter (M, p, q, θ, μ, T), used in messages
    flag: str = ""  # the long command-line flag; "" means --name-with-dashes
    short: str = ""  # the short command-line flag, e.g. -M
    panel: str = ""  # the panel's parameter name (camelCase); "" when the panel does not show it
    label: str = ""  # the panel's label
    widget: str = ""  # the panel's widget class

    def range_text(self) -> str:
        """The valid range as the error messages say it: "1 to 50", "more than 0 and at most 10"."""
        low, high = number_text(self.minimum), number_text(self.maximum)
        if not (self.above or self.below):
            return f"{low} to {high}"
        return (f"{'more than' if self.above else 'at least'} {low} and "
                f"{'less than' if self.below else 'at most'} {high}")


def knob(default, help: str, **what) -> field:
    """A Settings field with its Knob."""
    return field(default=default, metadata={"knob": Knob(help, **what)})


def number_text(value) -> str:
    """A number as people write it: 1000000 not 1e+06, 10 not 10.0, 0.03 not 0.030000."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)  # 1e6 reads 1000000, not 1e+06; 10.0 reads 10
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass
class Settings:
    """Parameters of one segmentation run; names follow the papers (M, p, q, θ, μ, T)."""

    variant: str = knob(
        "proposed", "proposed: the TIP 2020 network; superpixel: SLIC majority vote each iteration; nobn: no "
        "response BatchNorm; kmeans: the k-means baseline", choices=VARIANTS,
        panel="variant", label="Variant", widget="QComboBox")
    mode: str = knob(
        "volume", "volume: one network for the whole series (consistent labels); slice: a fresh network per "
        "slice, as in the papers", choices=MODES, panel="mode", label="Mode", widget="QComboBox")
    layers: int = knob(
        3, "3x3 conv -> ReLU -> BatchNorm blocks; more: larger, smoother regions, slower (the study's best is 9)",
        minimum=1, maximum=50, symbol="M", short="-M", panel="layers", label="M (conv blocks)", widget="QSpinBox")
    channels: int = knob(
        48, "filters per block, the network's width (the papers use 100); it is also the most labels a run can "
        "give when q is 0", minimum=2, maximum=1024, symbol="p", short="-p",
        panel="channels", label="p (filters)", widget="QSpinBox")
    classes: int = knob(
        10, "response channels: caps the number of labels a run can give (an 'outside body' segment comes on "
        "top); 0 means q = p", minimum=0, maximum=1024, symbol="q", short="-q",
        panel="classes", label="q (maximum labels)", widget="QSpinBox")
    theta: float = knob(
        1.0, "weight of the similarity loss, the cross-entropy against the own argmax; higher: labels harden and "
        "merge sooner", minimum=0.0, maximum=10.0, symbol="θ",
        panel="theta", label="θ (similarity)", widget="ctkSliderWidget")
    mu: float = knob(
        1.0, "weight of the spatial continuity loss; higher: smoother, fewer regions", minimum=0.0, maximum=10.0,
        symbol="μ", panel="mu", label="μ (continuity)", widget="ctkSliderWidget")
    edge_hu: float = knob(
        50.0, "continuity weighted by exp(-|ΔHU|/edge_hu), so smoothing stops at density edges; 0 = the papers' "
        "plain term", minimum=0.0, maximum=10000.0)
    iterations: int = knob(
        30, "maximum training iterations (per slice in slice mode)", minimum=1, maximum=100000, symbol="T",
        short="-T", panel="iterations", label="Iterations (T)", widget="QSpinBox")
    min_labels: int = knob(
        3, "training stops once the label count falls to this", minimum=1, maximum=1024, symbol="minLabels",
        panel="minLabels", label="Minimum labels", widget="QSpinBox")
    lr: float = knob(
        0.03, "SGD learning rate; the papers use 0.1, which lets big tissues absorb small ones (bone) on CT",
        minimum=0.0, above=True, maximum=10.0)
    momentum: float = knob(0.9, "SGD momentum", minimum=0.0, maximum=1.0, below=True)
    windows: tuple = knob(
        ("wide", "soft"), "comma-separated HU windows stacked as input channels, from " + ",".join(WINDOWS),
        choices=tuple(WINDOWS))
    z_context: int = knob(
        1, "neighbouring slices on each side given to the network as extra input channels", minimum=0, maximum=5)
    mu_z: float = knob(
        3.0, "weight of the continuity term between consecutive slices, scaled by in-plane/slice spacing; "
        "0 = off", minimum=0.0, maximum=100.0)
    balance: float = knob(
        0.5, "the similarity loss weights each cluster by (its share)^-balance so small tissues survive; 0 = the "
        "papers' plain cross-entropy", minimum=0.0, maximum=1.0)
    warm_start: float = knob(
        0.67, "volume mode: share of T trained towards k-means clusters of the windowed HU before "
        "self-training; 0 = off", minimum=0.0, maximum=1.0)
    position: float = knob(
        0.0, "weight of each voxel's place in the body (left-right and front-back within the body's "
        "outline) as two more features of the network and the warm start; higher: tissues of one density "
        "split by where they lie, such as liver and spleen; 0 = off", minimum=0.0, maximum=2.0,
        panel="position", label="Position weight", widget="ctkSliderWidget")
    split_mm: float = knob(
        12.0, "organ split: each label's parts joined only by contacts narrower than twice this (mm) get labels "
        "of their own, so organs of one density (liver, spleen, kidneys) come apart; bone stays whole, and "
        "both lungs, the fat and the gas are one label each; "
        "0 = off (density classes only)", minimum=0.0, maximum=100.0,
        panel="splitMm", label="Split organs at necks under (mm)", widget="ctkSliderWidget")
    split_ml: float = knob(
        20.0, "organ split: the smallest part (millilitres) that gets a label of its own", minimum=0.1,
        maximum=1e5)
    scribble_method: str = knob(
        "propagate", "with scribbles: propagate: the strokes spread over the unsupervised run's own partition, "
        "each step costing the HU change, a crossing of the partition and unlikeness to the structure's strokes "
        "(propagation.py); network: the TIP 2020 scribble loss, the network learns the structures from the "
        "strokes", choices=SCRIBBLE_METHODS, panel="scribbleMethod", label="Scribble method", widget="QComboBox")
    psi: float = knob(
        1.0, "with scribbles, method network: ψ, weight of the cross-entropy between the response at the stroked "
        "voxels and their structure (the TIP 2020 scribble term); higher: the strokes outweigh the network's own "
        "grouping",
        minimum=0.0, above=True, maximum=100.0, symbol="ψ", panel="psi", label="ψ (stroke weight, network)",
        widget="QDoubleSpinBox")
    scribble_output: str = knob(
        "strict", "with scribbles: strict: every voxel in the body gets one of the structures, as Grow from seeds; "
        "open: voxels like no structure keep clusters of their own, numbered after the structures",
        choices=SCRIBBLE_OUTPUTS, panel="scribbleOutput", label="Scribble output", widget="QComboBox")
    trust_scribbles: int = knob(
        1, "with scribbles: 1: stroked voxels keep their structure; 0: method network may relabel them",
        minimum=0, maximum=1)
    batch_slices: int = knob(4, "volume mode: axial slices per training mini-batch", minimum=1, maximum=1024)
    train_size: int = knob(
        128, "volume mode: side of the square training crop in pixels; 0 = whole slices", minimum=0,
        maximum=100000)
    superpixels: int = knob(
        10000, "K: SLIC superpixels per slice for the superpixel variant", minimum=2, maximum=1_000_000,
        symbol="K", panel="superpixels", label="Superpixels (K)", widget="QSpinBox")
    compactness: float = knob(0.1, "SLIC compactness on the [0, 1] input", minimum=0.0, above=True, maximum=1e6)
    k: int = knob(
        15, "clusters of the k-means baseline", minimum=2, maximum=255, flag="-k",
        panel="kmeansK", label="k (k-means)", widget="QSpinBox")
    body_mask: bool = knob(
        True, "find the patient's body and leave the CT table, cushions, clothing and outside air out of "
        "training and unlabelled in the result; turn off for images without a body",
        panel="bodyMask", label="Remove table and clothing (body mask)", widget="QCheckBox")
    outside_segment: bool = knob(
        False, "with the body mask: give everything outside the body (table, clothing, air) one 'outside body' "
        "segment instead of leaving it unlabelled",
        panel="outsideSegment", label="Add an 'outside body' segment", widget="QCheckBox")
    min_island_mm3: float = knob(
        0.0, "clean-up: connected pieces of a label smaller than this volume (mm³) take the label of their "
        "neighbours; 0 = off; at most 1e6 mm³ (1 litre), which would already erase organs", minimum=0.0,
        maximum=1e6, panel="minIslandMm3", label="Remove islands smaller than (mm³)", widget="QDoubleSpinBox")
    fill_holes: bool = knob(
        False, "clean-up: in each axial slice, small pockets of other labels enclosed by a label take that label",
        panel="fillHoles", label="Fill holes in each label", widget="QCheckBox")
    seed: int = knob(
        0, "random seed; the same seed gives the same labels on CPU", minimum=0, maximum=SEED_MAX,
        panel="seed", label="Seed", widget="QSpinBox")
    device: str = knob("auto", "auto (CUDA when available) | cpu | cuda | cuda:N")

    def __post_init__(self):
        self.windows = tuple(self.windows) if isinstance(self.windows, (list, tuple)) else self.windows
        self.validate()

    @property
    def q(self) -> int:
        return self.classes or self.channels

    def validate(self) -> "Settings":
        """Refuse settings that cannot train or cannot mean anything, naming the fix."""
        def need(ok, message):
            if not ok:
                raise InputError(message)

        for f in fields(self):
            self._check_field(f)
        need(self.classes != 1, f"q (classes) = {self.classes}: use 0 (= p) or 2 to 1024")
        need(self.theta > 0 or self.mu > 0, "θ and μ are both 0: nothing to train; set θ > 0")
        if self.variant != "kmeans":
            need(self.min_labels <= self.q, f"minLabels = {self.min_labels} exceeds q = {self.q} response channels: "
                 f"lower minLabels or raise the channel count")
        need(len(self.windows) >= 1, "no HU windows: give at least one input window, e.g. wide")
        need(self.train_size == 0 or self.train_size >= 8, f"train_size = {self.train_size}: use 0 (whole slices) or >= 8 pixels")
        check_device_name(self.device)
        return self

    def _check_field(self, f) -> None:
        """The field's type and its Knob's range or choices; whole numbers and floats normalised."""
        value, default, what = getattr(self, f.name), f.default, f.metadata["knob"]
        name = f"{what.symbol} ({f.name})" if what.symbol and what.symbol != f.name else f.name
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(f"{name} = {value!r}: use true or false")
            return
        if isinstance(default, (int, float)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise InputError(f"{name} = {value!r}: give a number")
            if not math.isfinite(value):  # inf or NaN would turn the loss into NaN and the record into "Infinity"
                raise InputError(f"{name} = {value}: give a finite number")
            if isinstance(default, int):
                if value != int(value):
                    raise InputError(f"{name} = {value}: use a whole number, {what.range_text()}")
                value = int(value)
            else:
                value = float(value)
            setattr(self, f.name, value)
            low_ok = value > what.minimum if what.above else value >= what.minimum
            high_ok = value < what.maximum if what.below else value <= what.maximum
            if not (low_ok and high_ok):
                raise InputError(f"{name} = {number_text(value)}: use {what.range_text()}")
            return
        values = value if isinstance(default, tuple) else (value,)
        if what.choices:
            if not isinstance(value, type(default)) or not all(v in what.choices for v in values):
                bad = next((v for v in values if v not in what.choices), value)
                raise InputError(f"unknown {f.name.rstrip('s')} {bad!r}: choose from {', '.join(what.choices)}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["windows"] = list(self.windows)
        d["q"] = self.q
        return d

    @classmethod
    def field_names(cls) -> list:
        return [f.name for f in fields(cls)]


def knobs() -> dict:
    """Settings field name -> its Knob, in the dataclass's order."""
    return {f.name: f.metadata["knob"] for f in fields(Settings)}


def flag_names(name: str) -> list:
    """The command-line names of a Settings field: its short flag first when it has one."""
    what = knobs()[name]
    long = what.flag or "--" + name.replace("_", "-")
    return [what.short, long] if what.short else [long]


def command_line(settings: Settings) -> list:
    """`settings` as `ctseg segment` flags, every field spelled out: what a parent process passes to a
    child that runs the command line."""
    arguments = []
    for name in knobs():
        value, flag = getattr(settings, name), flag_names(name)[-1]
        if isinstance(value, bool):
            arguments.append(flag if value else "--no-" + flag[2:])
        else:
            arguments += [flag, ",".join(value) if isinstance(value, tuple) else repr(value) if isinstance(value, float)
                          else str(value)]
    return arguments


def field_default(name: str):
    """A Settings field's default value, read from the dataclass without building (and checking) Settings."""
    return next(f.default for f in fields(Settings) if f.name == name)


def shown_default(name: str, values: dict | None = None) -> str:
    """A field's default (or its value in `values`, a preset) as the CLI's help and the README write
    it: on/off, comma lists, numbers."""
    default_value = (values or {}).get(name, field_default(name))
    if isinstance(default_value, bool):
        return "on" if default_value else "off"
    if isinstance(default_value, tuple):
        return ",".join(default_value)
    return number_text(default_value) if isinstance(default_value, (int, float)) else str(default_value)


# The papers' configuration: the reference code's defaults for natural images (M=2 conv blocks,
# p=q=100, θ=μ=1, SGD lr 0.1 and momentum 0.9, T=1000, minLabels 3), one network per image, on one
# input channel, without any of our CT additions. The other presets are this with a few changes.
PAPERS = dict(mode="slice", layers=2, channels=100, classes=0, theta=1.0, mu=1.0, iterations=1000, min_labels=3,
              lr=0.1, momentum=0.9, windows=("wide",), train_size=0, edge_hu=0.0, z_context=0, mu_z=0.0,
              balance=0.0, warm_start=0.0, body_mask=False, outside_segment=False, min_island_mm3=0.0,
              fill_holes=False, split_mm=0.0)
# The CT study's best configuration (M=9, θ=1.5, μ=1), run as in the papers: kept as a preset to
# reproduce and compare against.
STUDY_PRESET = dict(PAPERS, layers=9, theta=1.5)


def preset_text(values: dict) -> str:
    """The values of a preset as the help texts list them: "slice mode, M=9, p=100, ..."."""
    known = knobs()
    parts = []
    for name, value in values.items():
        what = known[name]
        if isinstance(value, bool):
            parts.append(f"{name.replace('_', ' ')} {'on' if value else 'off'}")
        elif isinstance(value, tuple):
            parts.append(f"{name} {','.join(value)}")
        elif isinstance(value, str):
            parts.append(f"{value} {name}")
        else:
            parts.append(f"{what.symbol or name}={number_text(value)}")
    return ", ".join(parts)
