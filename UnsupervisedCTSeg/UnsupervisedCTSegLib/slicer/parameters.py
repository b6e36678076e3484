"""The Slicer panel's parameters: the engine's Settings as the panel shows them, plus two switches.

Each row is made from a Settings field's Knob (its panel name, label, widget, range and help), so
the typed parameter node, the `.ui` file's bound widgets (a test checks them against this table)
and the conversion back to Settings cannot drift from the engine. Pure Python: no slicer, no qt.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ..engine.settings import STUDY_PRESET, Settings, knobs


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
    widget: str = ""  # the widget class in the .ui


def _from_settings() -> tuple:
    defaults = Settings()
    rows = []
    for name, what in knobs().items():
        if what.panel:
            default = getattr(defaults, name)
            rows.append(Parameter(what.panel, type(default), default, name, what.minimum, what.maximum,
                                  what.choices, what.label, what.help, what.widget))
    return tuple(rows)


# The panel's own switches, which are not engine settings: the device is "auto" unless forced.
PANEL_SWITCHES = (
    Parameter("forceCPU", bool, False, label="Force CPU", tooltip="run on the CPU even when a CUDA GPU is available",
              widget="QCheckBox"),
    Parameter("createLabelmap", bool, False, label="Also create a labelmap volume",
              tooltip="add a labelmap volume node with the same labels beside the segmentation", widget="QCheckBox"),
)
PARAMETERS = _from_settings() + PANEL_SWITCHES
# The panel's node fields (parameter name -> MRML class), bound to the .ui's node selectors by name.
NODE_PARAMETERS = {"inputVolume": "vtkMRMLScalarVolumeNode", "outputSegmentation": "vtkMRMLSegmentationNode",
                   "scribbles": "vtkMRMLSegmentationNode"}
BY_NAME = {p.name: p for p in PARAMETERS}

# The CT study's best configuration (M=9, θ=1.5, μ=1), offered in the panel beside our defaults.
STUDY_VALUES = {"layers": STUDY_PRESET["layers"], "theta": STUDY_PRESET["theta"], "mu": STUDY_PRESET["mu"]}
OUR_VALUES = {name: BY_NAME[name].default for name in STUDY_VALUES}


def settings_from_parameters(values: dict) -> Settings:
    """Engine Settings from parameter values (missing ones take their defaults); validated."""
    fields = {p.setting: p.kind(values.get(p.name, p.default)) for p in PARAMETERS if p.setting}
    fields["device"] = "cpu" if values.get("forceCPU", False) else "auto"
    return Settings(**fields)


def node_annotations(node_class, Choice, Default, WithinRange) -> dict:
    """The typed parameter node's annotations: each NODE_PARAMETERS field as node_class(its MRML class
    name), then one Annotated type per PARAMETERS row with its range or choices and its default.

    Choice, Default and WithinRange are slicer.parameterNodeWrapper's, passed in by the module file,
    so that this module needs no slicer.
    """
    annotations = {name: node_class(className) for name, className in NODE_PARAMETERS.items()}
    for p in PARAMETERS:
        extras = []
        if p.choices:
            extras.append(Choice(list(p.choices)))
        elif p.kind in (int, float) and p.minimum is not None:
            extras.append(WithinRange(p.kind(p.minimum), p.kind(p.maximum)))
        extras.append(Default(p.kind(p.default)))
        annotations[p.name] = Annotated[(p.kind, *extras)]
    return annotations
