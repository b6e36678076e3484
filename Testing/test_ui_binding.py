"""The Slicer panel against the parameter table, without Qt or Slicer.

The .ui file is read as XML: every parameter of parameters.PARAMETERS must have exactly one widget
bound to it (the "SlicerParameterName" dynamic property that parameterNodeWrapper's connectGui
looks for), of a class parameterNodeWrapper can connect to that kind, with the table's range,
default, choices, label and tooltip. The panel's texts (help, preset button) are made from the same
table. The module file is loaded in a fresh interpreter without torch, with stand-ins for the Slicer
application: its parameter node must have one field per table row with the row's range or choices
and default, and its help the table's text. What it imports is read with ast.
"""
from __future__ import annotations

import ast
import functools
import html
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import run_python

from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.slicer import parameters, texts

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "UnsupervisedCTSeg"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "UnsupervisedCTSeg.ui"
MODULE_FILE = MODULE_DIR / "UnsupervisedCTSeg.py"
LIB_DIR = MODULE_DIR / "UnsupervisedCTSegLib"

NODE_PARAMETERS = parameters.NODE_PARAMETERS
ALL_NAMES = list(NODE_PARAMETERS) + [p.name for p in parameters.PARAMETERS]

# Widget classes that Slicer 5.8's parameterNodeWrapper has a GUI connector for, per kind
# (guiConnectors.py compares exact types, so subclasses do not count).
WIDGET_CLASSES = {
    int: {"QSpinBox", "QSlider"},
    float: {"QDoubleSpinBox", "ctkSliderWidget", "ctkDoubleSpinBox", "ctkDoubleSlider", "qMRMLSliderWidget",
            "qMRMLSpinBox"},
    bool: {"QCheckBox", "ctkCheckBox"},
    "choice": {"QComboBox", "ctkComboBox"},
    "node": {"qMRMLNodeComboBox"},
}

# Modules a Slicer module file may import: the application's own, the standard library, our package.
SLICER_NAMES = {"slicer", "qt", "ctk", "vtk"}
# Imported only inside functions: Slicer's Segment Editor effects module, to register ours once the
# application has started. Slicer's Sample Data module and the PyTorch extension's module are looked
# up by slicer/sampledata.py and slicer/install.py when called. PyTorch itself is never imported by
# the module file: the package does that (device.py lazily).
LAZY_NAMES = {"qSlicerSegmentationsEditorEffectsPythonQt"}
# The package modules the module file imports when Slicer loads it, before PyTorch is installed:
# none of them may need torch at import time. The logic, engine and self-tests come once a run starts.
LOAD_TIME_MODULES = ("slicer.parameters", "slicer.texts", "slicer.requirements", "slicer.guibinding",
                     "slicer.install", "slicer.modulehelp", "slicer.panelrun", "slicer.sampledata",
                     "slicer.lifecycle", "slicer.views")


# --- .ui helpers -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def ui_root() -> ET.Element:
    """The parsed .ui, parsed once so elements can be compared by identity."""
    return ET.parse(UI_FILE).getroot()


def value_of(prop: ET.Element):
    """The typed value of a <property> element."""
    child = prop[0]
    if child.tag == "number":
        return int(child.text)
    if child.tag == "double":
        return float(child.text)
    if child.tag == "bool":
        return child.text == "true"
    if child.tag == "string":
        return child.text or ""
    if child.tag == "stringlist":
        return [s.text for s in child.findall("string")]
    if child.tag in ("enum", "set"):
        return child.text
    if child.tag in ("rect", "size"):
        return {c.tag: int(c.text) for c in child}
    raise AssertionError(f"unexpected property type <{child.tag}>")


def props(widget: ET.Element) -> dict:
    """The widget's own properties (not its children's)."""
    return {p.get("name"): value_of(p) for p in widget.findall("property")}


def bound_widgets() -> dict:
    """SlicerParameterName -> list of widget elements carrying it."""
    found = {}
    for widget in ui_root().iter("widget"):
        name = props(widget).get("SlicerParameterName")
        if name is not None:
            found.setdefault(name, []).append(widget)
    return found


def widget_for(name: str) -> ET.Element:
    widgets = bound_widgets()[name]
    assert len(widgets) == 1
    return widgets[0]


def combo_items(widget: ET.Element) -> list:
    return [value_of(item.find("property")) for item in widget.findall("item")]


def form_label(widget: ET.Element) -> str:
    """Text of the QLabel in column 0 of the form-layout row holding `widget` in column 1."""
    for layout in ui_root().iter("layout"):
        items = layout.findall("item")
        for item in items:
            if item.find("widget") is widget and item.get("column") == "1":
                for other in items:
                    if other.get("row") == item.get("row") and other.get("column") == "0":
                        return props(other.find("widget"))["text"]
    raise AssertionError(f"{widget.get('name')} is not in column 1 of a form layout")


def widgets_by_name() -> dict:
    return {w.get("name"): w for w in ui_root().iter("widget")}


def kind_key(p):
    return "choice" if p.choices else p.kind


# --- .ui against the table ---------------------------------------------------------------------


def test_every_parameter_has_exactly_one_widget():
    widgets = bound_widgets()
    for name in ALL_NAMES:
        assert len(widgets.get(name, [])) == 1, f"{name}: {len(widgets.get(name, []))} widgets bound"


def test_no_widget_names_an_unknown_parameter():
    unknown = set(bound_widgets()) - set(ALL_NAMES)
    assert not unknown, f"widgets bound to parameters the table does not have: {sorted(unknown)}"


def test_binding_property_is_dynamic():
    """Designer writes dynamic properties with stdset="0"; Qt then stores them on the widget as is."""
    for widget in ui_root().iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                assert prop.get("stdset") == "0", widget.get("name")


@pytest.mark.parametrize("p", parameters.PARAMETERS, ids=lambda p: p.name)
def test_widget_class_suits_the_kind(p):
    klass = widget_for(p.name).get("class")
    assert klass in WIDGET_CLASSES[kind_key(p)], f"{p.name} ({kind_key(p)}) bound to a {klass}"


@pytest.mark.parametrize("p", [p for p in parameters.PARAMETERS if p.kind in (int, float) and not p.choices],
                         ids=lambda p: p.name)
def test_number_range_and_default_are_the_tables(p):
    values = props(widget_for(p.name))
    assert values.get("minimum") == p.minimum, f"{p.name} minimum"
    assert values.get("maximum") == p.maximum, f"{p.name} maximum"
    assert values.get("value") == p.default, f"{p.name} value"
    assert p.minimum <= p.default <= p.maximum
    step = values.get("singleStep", 1)
    assert 0 < step <= p.maximum - p.minimum, f"{p.name} singleStep {step}"
    if p.kind is int:
        assert all(isinstance(values[k], int) for k in ("minimum", "maximum", "value")), p.name


@pytest.mark.parametrize("p", [p for p in parameters.PARAMETERS if p.kind is float], ids=lambda p: p.name)
def test_float_decimals_represent_the_table(p):
    values = props(widget_for(p.name))
    decimals = values.get("decimals", 2)  # Qt's and CTK's default
    for key, number in (("value", p.default), ("minimum", p.minimum), ("maximum", p.maximum)):
        assert round(number, decimals) == number, f"{p.name} {key} {number} needs more than {decimals} decimals"
    for preset in (parameters.STUDY_VALUES, parameters.OUR_VALUES):
        if p.name in preset:
            assert round(preset[p.name], decimals) == preset[p.name], f"{p.name} preset {preset[p.name]}"
    assert round(values.get("singleStep", 1.0), decimals) == values.get("singleStep", 1.0)


@pytest.mark.parametrize("p", [p for p in parameters.PARAMETERS if p.choices], ids=lambda p: p.name)
def test_combobox_items_are_the_choices_and_default_is_current(p):
    widget = widget_for(p.name)
    items = combo_items(widget)
    assert items == list(p.choices), f"{p.name} items"
    assert items[props(widget).get("currentIndex", 0)] == p.default


@pytest.mark.parametrize("p", [p for p in parameters.PARAMETERS if p.kind is bool], ids=lambda p: p.name)
def test_checkbox_default_is_the_tables(p):
    assert props(widget_for(p.name)).get("checked", False) == p.default


@pytest.mark.parametrize("p", parameters.PARAMETERS, ids=lambda p: p.name)
def test_label_and_tooltip_are_the_tables(p):
    widget = widget_for(p.name)
    assert form_label(widget) == p.label + ":"
    assert props(widget).get("toolTip") == p.tooltip


def test_presets_hold_known_parameters_within_range():
    for preset in (parameters.STUDY_VALUES, parameters.OUR_VALUES):
        assert set(preset) == {"layers", "theta", "mu"}
        for name, value in preset.items():
            p = parameters.BY_NAME[name]
            assert p.minimum <= value <= p.maximum


# --- the rest of the panel ---------------------------------------------------------------------


def test_node_selectors():
    inp, out = props(widget_for("inputVolume")), props(widget_for("outputSegmentation"))
    assert widget_for("inputVolume").get("class") == widget_for("outputSegmentation").get("class") == "qMRMLNodeComboBox"
    assert inp["nodeTypes"] == [NODE_PARAMETERS["inputVolume"]]
    assert inp["showChildNodeTypes"] is False  # no labelmaps
    assert out["nodeTypes"] == [NODE_PARAMETERS["outputSegmentation"]]
    assert out["noneEnabled"] and out["addEnabled"] and out["renameEnabled"]
    assert out["noneDisplay"] == "Create new segmentation"


def test_every_node_combobox_gets_the_scene():
    root = ui_root()
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget"
    combos = {w.get("name") for w in root.iter("widget") if w.get("class") == "qMRMLNodeComboBox"}
    connected = {c.findtext("receiver") for c in root.iter("connection")
                 if c.findtext("sender") == top.get("name")
                 and c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
                 and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert combos and combos <= connected


def test_custom_widgets_are_declared():
    root = ui_root()
    used = {w.get("class") for w in root.iter("widget") if not w.get("class").startswith("Q")}
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    assert used <= declared, f"undeclared custom widgets: {sorted(used - declared)}"
    for custom in root.iter("customwidget"):
        assert custom.findtext("header") == custom.findtext("class") + ".h"
    containers = {c.findtext("class") for c in root.iter("customwidget") if c.findtext("container") == "1"}
    assert {"qMRMLWidget", "ctkCollapsibleButton"} <= containers


def test_panel_has_sections_buttons_progress_and_status():
    widgets = widgets_by_name()
    expected = {
        "inputsCollapsibleButton": "ctkCollapsibleButton", "parametersCollapsibleButton": "ctkCollapsibleButton",
        "cleanupCollapsibleButton": "ctkCollapsibleButton",
        "advancedCollapsibleButton": "ctkCollapsibleButton", "previewButton": "QPushButton",
        "applyButton": "QPushButton", "ourDefaultsButton": "QPushButton", "studyPresetButton": "QPushButton",
        "progressBar": "QProgressBar", "statusLabel": "QLabel", "deviceLabel": "QLabel",
    }
    for name, klass in expected.items():
        assert name in widgets and widgets[name].get("class") == klass, name
    assert props(widgets["inputsCollapsibleButton"])["text"] == "Inputs and outputs"
    assert props(widgets["parametersCollapsibleButton"])["text"] == "Parameters"
    assert props(widgets["advancedCollapsibleButton"]).get("collapsed") is True
    assert props(widgets["applyButton"])["text"] == "Apply"
    assert props(widgets["previewButton"])["text"] == "Preview current slice"
    assert props(widgets["ourDefaultsButton"])["text"] == "Our defaults"
    assert props(widgets["cleanupCollapsibleButton"])["text"] == "Clean-up"
    assert not props(widgets["cleanupCollapsibleButton"]).get("collapsed", False)
    # The advanced knobs are in the Advanced section, the main ones (the body mask included: clinicians
    # need it) in Parameters, the label clean-up in its own section.
    def bound_in(section):
        return {props(w).get("SlicerParameterName") for w in widgets[section].iter("widget")} - {None}

    main, cleanup, advanced = (bound_in(f"{name}CollapsibleButton") for name in ("parameters", "cleanup", "advanced"))
    assert {"variant", "mode", "layers", "theta", "mu", "iterations", "bodyMask", "outsideSegment"} <= main
    assert cleanup == {"minIslandMm3", "fillHoles"}
    assert {"channels", "classes", "minLabels", "seed", "superpixels", "kmeansK", "forceCPU", "createLabelmap"} <= advanced
    assert "deviceLabel" in {w.get("name") for w in widgets["advancedCollapsibleButton"].iter("widget")}


def test_study_button_text_names_the_preset():
    text = props(widgets_by_name()["studyPresetButton"])["text"]
    v = parameters.STUDY_VALUES
    assert text == f"Study CT preset (M={v['layers']}, θ={v['theta']:g}, μ={v['mu']:g})"
    assert texts.study_preset_text() == text  # what the panel sets at setup, as designed


def test_float_spin_boxes_step_by_a_round_amount_within_the_range():
    """A QDoubleSpinBox over a wide range (the island size) steps by a useful amount, not 0.01."""
    for p in (p for p in parameters.PARAMETERS if p.kind is float):
        widget = widget_for(p.name)
        if widget.get("class") == "QDoubleSpinBox":
            step = props(widget).get("singleStep", 1.0)
            assert step >= (p.maximum - p.minimum) / 1e6, f"{p.name} steps by {step}"


# --- the table against the engine's Settings ---------------------------------------------------


def test_every_setting_the_table_feeds_is_a_settings_field_of_the_same_kind():
    defaults = Settings()
    for p in parameters.PARAMETERS:
        if p.setting:
            assert p.setting in Settings.field_names(), p.name
            assert type(getattr(defaults, p.setting)) is p.kind, f"{p.name}: {p.kind} vs {type(getattr(defaults, p.setting))}"
            assert p.default == getattr(defaults, p.setting), p.name


def test_settings_from_parameters_defaults_are_the_engines():
    settings = parameters.settings_from_parameters({})
    defaults = Settings()
    for field in Settings.field_names():
        if field != "device":
            assert getattr(settings, field) == getattr(defaults, field), field
    assert settings.device == "auto"


def test_settings_from_parameters_passes_the_body_mask_clean_up_and_q_through():
    values = {"bodyMask": False, "outsideSegment": True, "minIslandMm3": 250, "fillHoles": True,
              "classes": 12, "channels": 64, "forceCPU": True}
    settings = parameters.settings_from_parameters(values)
    assert settings.body_mask is False and settings.outside_segment is True and settings.fill_holes is True
    assert settings.min_island_mm3 == 250.0 and isinstance(settings.min_island_mm3, float)
    assert settings.classes == 12 and settings.channels == 64 and settings.q == 12
    assert settings.device == "cpu"
    assert parameters.settings_from_parameters({"classes": 0, "channels": 40}).q == 40  # 0 means q = p


def test_settings_from_parameters_refuses_what_the_engine_refuses():
    from UnsupervisedCTSegLib.engine.errors import InputError

    with pytest.raises(InputError, match="q \\(classes\\) = 1"):
        parameters.settings_from_parameters({"classes": 1})  # the spin box allows it; the engine does not


# --- the panel's texts, made from the table ----------------------------------------------------


def test_help_names_every_parameter_with_its_range_or_choices():
    text = texts.parameter_help()
    assert text.startswith("<ul>") and text.endswith("</ul>")
    assert text.count("<li>") == len(parameters.PARAMETERS)
    for p in parameters.PARAMETERS:
        assert f"<b>{html.escape(p.label)}</b>" in text, p.name
        assert html.escape(p.tooltip) in text, p.name
    assert "(1 to 50; default 3)" in text  # M: an int range
    assert f"(0 to 10; default {parameters.BY_NAME['theta'].default:g})" in text  # θ: a float range, no 10.0
    assert "(one of proposed, superpixel, nobn, kmeans; default proposed)" in text
    assert "<b>Force CPU</b> (default off)" in text


def test_help_writes_whole_float_bounds_as_integers():
    text = texts.parameter_help()
    assert "<b>Remove islands smaller than (mm³)</b> (0 to 1000000; default " in text
    assert "e+" not in text


def test_help_translates_the_phrases_around_the_values():
    text = texts.parameter_help(lambda phrase: phrase.upper() if "{" not in phrase else "«" + phrase + "»")
    assert "«one of proposed" in text and "default OFF»" in text


def test_study_preset_text_names_the_study_values():
    text = texts.study_preset_text()
    assert "M=9" in text and "θ=1.5" in text and "μ=1)" in text
    assert texts.study_preset_text(lambda t: "<" + t + ">") == "<" + text + ">"


def test_our_defaults_tooltip_names_our_values():
    text = texts.our_defaults_tooltip()
    v = parameters.OUR_VALUES
    assert f"(M={v['layers']}, θ={v['theta']:g}, μ={v['mu']:g})" in text


# --- the module file ---------------------------------------------------------------------------


def module_tree() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"), filename=str(MODULE_FILE))


def imported_roots(tree, top_level_only=False) -> set:
    nodes = tree.body if top_level_only else ast.walk(tree)
    roots = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:  # relative ones stay in the package
            roots.add(node.module.split(".")[0])
    return roots


def test_module_file_compiles():
    compile(MODULE_FILE.read_text(encoding="utf-8"), str(MODULE_FILE), "exec")


def test_module_file_imports_only_slicer_std_and_our_package():
    allowed = SLICER_NAMES | {"UnsupervisedCTSegLib"} | set(sys.stdlib_module_names)
    tree = module_tree()
    everything = imported_roots(tree)
    assert everything <= allowed | LAZY_NAMES, f"unexpected imports: {sorted(everything - allowed - LAZY_NAMES)}"
    # The module must load before PyTorch or Sample Data exist: those only inside functions.
    top = imported_roots(tree, top_level_only=True)
    assert top <= allowed, f"imported at load time: {sorted(top - allowed)}"


def load_time_package_modules() -> set:
    """The UnsupervisedCTSegLib modules the module file imports at top level, as "layer.module"."""
    loaded = set()
    for node in module_tree().body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("UnsupervisedCTSegLib"):
            parts = node.module.split(".")[1:]
            if len(parts) == 1:
                loaded |= {f"{parts[0]}.{alias.name}" for alias in node.names}  # from a layer import modules
            else:
                loaded.add(".".join(parts[:2]))
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("UnsupervisedCTSegLib"):
                    assert alias.name.count(".") >= 2, "import the package's modules, not the package or a layer"
                    loaded.add(".".join(alias.name.split(".")[1:3]))
    return loaded


def test_module_file_imports_only_torch_free_parts_of_the_package_at_load_time():
    """At load time only the torch-free modules; the logic, engine and self-tests once a run starts."""
    loaded = load_time_package_modules()
    assert loaded <= set(LOAD_TIME_MODULES), f"imported at load time: {sorted(loaded - set(LOAD_TIME_MODULES))}"
    assert "slicer.parameters" in loaded


@pytest.mark.parametrize("name", LOAD_TIME_MODULES)
def test_load_time_modules_import_without_torch(name):
    """The module file imports these when Slicer starts, before PyTorch is installed."""
    run_python(f"import UnsupervisedCTSegLib.{name}", without_torch=True, failure=(
        f"UnsupervisedCTSegLib.{name} needs torch at import time, so the Slicer module cannot load "
        "before PyTorch is installed:\n"))


# The module file loaded as Slicer loads it, in a fresh interpreter without torch. Qt and the Slicer
# application cannot be imported here: every name from slicer, qt, vtk and ctk is a stand-in class
# that can be derived from and called (keeping the call's arguments) and whose attributes are more
# stand-ins. Four keep their real meaning: tr and translate return the text (an application
# without translations), parameterNodeWrapper returns the class it is given, and
# ScriptedLoadableModule keeps its parent, as Slicer's does. What Slicer reads from the file comes
# back as JSON.
LOAD_MODULE_FILE = r"""
import importlib.util, json, sys, types, typing

sys.modules["torch"] = None  # the module loads, and its panel opens, before PyTorch is installed
module_dir, module_file, testing_dir = sys.argv[1:4]


class StandIn(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return stand_in(name)


def stand_in(name):
    return StandIn(name, (), {"__init__": lambda self, *args, **kwargs: setattr(self, "args", list(args))})


sys.path.insert(0, testing_dir)
import standin_application

standin_application.install(stand_in)
import slicer.i18n, slicer.parameterNodeWrapper, slicer.ScriptedLoadableModule

slicer.i18n.tr = lambda text: text
slicer.i18n.translate = lambda context, text: text
slicer.parameterNodeWrapper.parameterNodeWrapper = lambda cls: cls


class ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent


slicer.ScriptedLoadableModule.ScriptedLoadableModule = ScriptedLoadableModule

sys.path.insert(0, module_dir)
spec = importlib.util.spec_from_file_location("UnsupervisedCTSeg", module_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def describe(annotation):
    if typing.get_origin(annotation) is typing.Annotated:
        return dict(kind=annotation.__origin__.__name__,
                    extras={type(extra).__name__: extra.args for extra in annotation.__metadata__})
    return dict(kind=annotation.__name__, extras={})


node = module.UnsupervisedCTSegParameterNode
parent = types.SimpleNamespace()
module.UnsupervisedCTSeg(parent)
print(json.dumps(dict(
    fields={name: describe(a) for name, a in typing.get_type_hints(node, include_extras=True).items()},
    help=parent.helpText, acknowledgement=parent.acknowledgementText, title=parent.title,
    bases={name: [base.__name__ for base in getattr(module, name).__mro__[1:]]
           for name in ("UnsupervisedCTSeg", "UnsupervisedCTSegWidget", "UnsupervisedCTSegTest")},
    test_methods=[name for name in ("setUp", "runTest") if name in vars(module.UnsupervisedCTSegTest)],
    torch_loaded=sys.modules.get("torch") is not None)))
"""


@functools.lru_cache(maxsize=None)
def loaded_module_file() -> dict:
    """What Slicer reads from the module file, loaded with stand-ins for the application and no torch."""
    run = subprocess.run([sys.executable, "-c", LOAD_MODULE_FILE, str(MODULE_DIR), str(MODULE_FILE),
                          str(Path(__file__).resolve().parent)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, "the module file does not load without torch:\n" + run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_module_file_loads_without_torch():
    assert loaded_module_file()["torch_loaded"] is False


def test_module_defines_slicer_classes():
    """Slicer finds the module, its panel and its test case by these names and base classes."""
    loaded = loaded_module_file()
    assert "ScriptedLoadableModule" in loaded["bases"]["UnsupervisedCTSeg"]
    assert "ScriptedLoadableModuleWidget" in loaded["bases"]["UnsupervisedCTSegWidget"]
    assert "ScriptedLoadableModuleTest" in loaded["bases"]["UnsupervisedCTSegTest"]
    assert loaded["test_methods"] == ["setUp", "runTest"]


def test_parameter_node_has_the_two_nodes_and_one_field_per_table_row():
    fields = loaded_module_file()["fields"]
    assert list(fields) == ALL_NAMES
    for name, mrml_class in NODE_PARAMETERS.items():
        assert fields[name] == {"kind": mrml_class, "extras": {}}, name


@pytest.mark.parametrize("p", parameters.PARAMETERS, ids=lambda p: p.name)
def test_parameter_node_field_has_the_tables_kind_range_or_choices_and_default(p):
    field = loaded_module_file()["fields"][p.name]
    assert field["kind"] == p.kind.__name__
    expected = {"Default": [p.default]}
    if p.choices:
        expected["Choice"] = [list(p.choices)]
    elif p.kind in (int, float) and p.minimum is not None:
        expected["WithinRange"] = [p.minimum, p.maximum]
    assert field["extras"] == expected
    for values in field["extras"].values():  # 3.0 and not 3 for a float: the wrapper checks types
        assert all(type(v) is p.kind for v in values if not isinstance(v, list)), values


def test_module_help_lists_the_parameters_and_the_acknowledgement_cites_the_papers():
    loaded = loaded_module_file()
    assert loaded["title"] == "Unsupervised CT Segmentation"
    assert texts.parameter_help() in loaded["help"]  # itself checked against the table above
    for citation in ("Kanezaki", "ICASSP", "Transactions on Image Processing"):
        assert citation in loaded["acknowledgement"], citation
