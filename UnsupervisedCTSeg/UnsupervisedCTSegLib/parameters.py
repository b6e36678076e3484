"""The Slicer panel's parameters, declared once.

The module's typed parameter node, the `.ui` file's bound widgets (their ranges and defaults) and
the conversion to engine Settings all come from this table, and a test checks the `.ui` against
it, so the panel cannot drift from the engine. Pure Python: no slicer, no qt.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from .settings import MODES, SEED_MAX, STUDY_PRESET, VARIANTS, Settings

_DEFAULTS = Settings()


@dataclass(frozen=True)
class Parameter:
    name: str  # parameter node field, also the widget's SlicerParameterName
    kind: type  # int, float, bool or str
    default: object
    setting: str = ""  # the Settings field it feeds ("" for panel-only switches)
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    label: str = ""
    tooltip: str = ""


PARAMETERS = (
    Parameter("variant", str, _DEFAULTS.variant, "variant", choices=VARIANTS, label="Variant",
              tooltip="proposed: the TIP 2020 network; superpixel: SLIC majority vote each iteration; "
                      "nobn: no response BatchNorm; kmeans: the k-means baseline"),
    Parameter("mode", str, _DEFAULTS.mode, "mode", choices=MODES, label="Mode",
              tooltip="volume: one network for the whole series (consistent labels); slice: a fresh network per slice, as in the papers"),
    Parameter("layers", int, _DEFAULTS.layers, "layers", 1, 50, label="M (conv blocks)",
              tooltip="3x3 conv -> ReLU -> BatchNorm blocks; more: larger, smoother regions, slower"),
    Parameter("theta", float, _DEFAULTS.theta, "theta", 0.0, 10.0, label="θ (similarity)",
              tooltip="weight of the cross-entropy against the own argmax; higher: labels harden and merge sooner"),
    Parameter("mu", float, _DEFAULTS.mu, "mu", 0.0, 10.0, label="μ (continuity)",
              tooltip="weight of the spatial continuity loss; higher: smoother, fewer regions"),
    Parameter("iterations", int, _DEFAULTS.iterations, "iterations", 1, 5000, label="Iterations (T)",
              tooltip="maximum training iterations (per slice in slice mode)"),
    Parameter("bodyMask", bool, _DEFAULTS.body_mask, "body_mask", label="Remove table and clothing (body mask)",
              tooltip="find the patient's body and leave the CT table, cushions, clothing and outside air out of "
                      "training and unlabelled in the result; turn off for images without a body, such as a phantom"),
    Parameter("outsideSegment", bool, _DEFAULTS.outside_segment, "outside_segment",
              label="Add an 'outside body' segment",
              tooltip="with the body mask: give everything outside the body (table, clothing, air) one "
                      "'outside body' segment instead of leaving it unlabelled"),
    Parameter("minIslandMm3", float, _DEFAULTS.min_island_mm3, "min_island_mm3", 0.0, 1e6,
              label="Remove islands smaller than (mm³)",
              tooltip="clean-up: connected pieces of a label smaller than this volume take the label of their "
                      "neighbours; 0 = off"),
    Parameter("fillHoles", bool, _DEFAULTS.fill_holes, "fill_holes", label="Fill holes in each label",
              tooltip="clean-up: in each axial slice, small pockets of other labels enclosed by a label take that label"),
    Parameter("channels", int, _DEFAULTS.channels, "channels", 2, 1024, label="p (filters)",
              tooltip="filters per block, the network's width; it is also the most labels a run can give "
                      "only when q is 0"),
    Parameter("classes", int, _DEFAULTS.classes, "classes", 0, 1024, label="q (maximum labels)",
              tooltip="response channels: caps the number of labels a run can give (an 'outside body' segment "
                      "comes on top); 0 means q = p"),
    Parameter("minLabels", int, _DEFAULTS.min_labels, "min_labels", 1, 1024, label="Minimum labels",
              tooltip="training stops once the label count falls to this"),
    Parameter("seed", int, _DEFAULTS.seed, "seed", 0, SEED_MAX, label="Seed",
              tooltip="the same seed gives the same labels on CPU"),
    Parameter("superpixels", int, _DEFAULTS.superpixels, "superpixels", 2, 1_000_000, label="Superpixels (K)",
              tooltip="SLIC superpixels per slice for the superpixel variant"),
    Parameter("kmeansK", int, _DEFAULTS.k, "k", 2, 255, label="k (k-means)",
              tooltip="clusters of the k-means baseline"),
    Parameter("forceCPU", bool, False, "", label="Force CPU",
              tooltip="run on the CPU even when a CUDA GPU is available"),
    Parameter("createLabelmap", bool, False, "", label="Also create a labelmap volume",
              tooltip="add a labelmap volume node with the same labels beside the segmentation"),
)

BY_NAME = {p.name: p for p in PARAMETERS}

# The CT study's best configuration (M=9, θ=1.5, μ=1), offered in the panel beside our defaults.
STUDY_VALUES = {"layers": STUDY_PRESET["layers"], "theta": STUDY_PRESET["theta"], "mu": STUDY_PRESET["mu"]}
OUR_VALUES = {name: BY_NAME[name].default for name in STUDY_VALUES}


def settings_from_parameters(values: dict) -> Settings:
    """Engine Settings from parameter values (missing ones take their defaults); validated."""
    fields = {}
    for p in PARAMETERS:
        if p.setting:
            fields[p.setting] = p.kind(values.get(p.name, p.default))
    fields["device"] = "cpu" if values.get("forceCPU", False) else "auto"
    return Settings(**fields)


# --- the panel's texts, made from the table --------------------------------------------------


def _untranslated(text: str) -> str:
    return text


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)  # 1e6 reads 1000000, not 1e+06; 10.0 reads 10
    return str(value) if isinstance(value, int) else f"{value:g}"


def parameter_help(tr=_untranslated) -> str:
    """One HTML list item per panel parameter, made from the table so the help cannot drift.

    `tr` translates the phrases around the values (the Slicer module passes Slicer's translator).
    """
    items = []
    for p in PARAMETERS:
        if p.choices:
            values = tr("one of {choices}; default {default}").format(choices=", ".join(p.choices), default=p.default)
        elif p.kind is bool:
            values = tr("default {default}").format(default=tr("on") if p.default else tr("off"))
        else:
            values = tr("{minimum} to {maximum}; default {default}").format(
                minimum=_number(p.minimum), maximum=_number(p.maximum), default=_number(p.default))
        items.append(f"<li><b>{html.escape(p.label)}</b> ({html.escape(values)}): {html.escape(p.tooltip)}.</li>")
    return "<ul>" + "".join(items) + "</ul>"


def study_preset_text(tr=_untranslated) -> str:
    """The study preset button's text, naming the values it sets."""
    return tr("Study CT preset (M={layers}, θ={theta:g}, μ={mu:g})").format(**STUDY_VALUES)


def our_defaults_tooltip(tr=_untranslated) -> str:
    """The "Our defaults" button's tooltip, naming the values it sets and why."""
    return tr("Set M, θ and μ back to this module's defaults (M={layers}, θ={theta:g}, μ={mu:g}), which keep small "
              "tissues such as bone apart; the other parameters are left as they are.").format(**OUR_VALUES)
