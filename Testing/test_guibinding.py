"""The panel's connection to its parameter node (slicer/guibinding.py) with Slicer 5.6/5.8's wrapper.

There connectGui returns no tag, so the module template's disconnect-and-reconnect on every enter()
left the old connectors on the widgets, and Variant and Mode fell back to proposed and volume. The
wrapper, its node and the widgets made from the panel's .ui file are the stand-ins of
panel_fakes.py, which behave as Slicer's do; ParameterNodeBinding is the real one. The first test
shows that the stand-ins reproduce the bug, so the others would catch it.
"""
import pytest
from panel_fakes import ComboBox, ParameterNode, panelUi, tableWrapper

from UnsupervisedCTSegLib.slicer.guibinding import ParameterNodeBinding, boundWidgets

Wrapper = tableWrapper()
CHOSEN = {"variant": "kmeans", "mode": "slice", "layers": 7, "bodyMask": False}
SAVED = {"variant": "superpixel", "mode": "slice", "theta": 2.5, "fillHoles": True}


@pytest.fixture
def ui():
    return panelUi()


def widgetValues(ui, names) -> dict:
    bound = ui.bound()
    values = {}
    for name in names:
        widget = bound[name]
        values[name] = widget.currentText if isinstance(widget, ComboBox) else getattr(widget, widget._attribute)
    return values


def choose(ui, values: dict) -> None:
    """What the user does in the panel."""
    bound = ui.bound()
    for name, value in values.items():
        widget = bound[name]
        if isinstance(widget, ComboBox):
            widget.choose(value)
        else:
            setattr(widget, widget._attribute, value)


def test_the_stand_ins_lose_the_choices_as_the_template_did_on_slicer_5_6(ui):
    """The template's enter/exit with connectGui/disconnectGui: the old connectors stay and reset the combos."""
    node = ParameterNode()
    wrapper = Wrapper(node)
    tag = wrapper.connectGui(ui)
    assert tag is None
    choose(ui, CHOSEN)
    assert node.values["variant"] == "kmeans"
    for _ in range(2):  # exit(), then enter() with a new wrapper of the same node
        wrapper.disconnectGui(tag)
        wrapper = Wrapper(node)
        tag = wrapper.connectGui(ui)
    assert node.values["variant"] == "proposed" and node.values["mode"] == "volume"
    assert widgetValues(ui, ["variant", "mode"]) == {"variant": "proposed", "mode": "volume"}


def test_reentering_the_panel_twice_keeps_every_value(ui):
    node, modified = ParameterNode(), []
    binding = ParameterNodeBinding(ui, lambda: modified.append(True), modifiedEvent="ModifiedEvent")
    binding.bind(Wrapper(node))  # setup()
    choose(ui, CHOSEN)
    for _ in range(2):
        binding.bind(Wrapper(node))  # enter(): getParameterNode() wraps the same node again
    assert {name: node.values[name] for name in CHOSEN} == CHOSEN
    assert widgetValues(ui, CHOSEN) == CHOSEN
    assert ui.variantComboBox.currentIndexChanged.listeners == 1  # connected once


def test_a_saved_scenes_choices_survive_closing_loading_and_reentering(ui):
    node = ParameterNode()
    binding = ParameterNodeBinding(ui, lambda: None, modifiedEvent="ModifiedEvent")
    binding.bind(Wrapper(node))
    choose(ui, CHOSEN)
    binding.bind(None)  # the scene starts closing
    node.reset()
    binding.bind(Wrapper(node))  # it has closed, the module is shown
    assert widgetValues(ui, ["variant", "mode"]) == {"variant": "proposed", "mode": "volume"}  # a new scene
    node.load(SAVED)  # a saved scene is loaded
    for _ in range(2):
        binding.bind(Wrapper(node))
    assert {name: node.values[name] for name in SAVED} == SAVED
    assert widgetValues(ui, SAVED) == SAVED


def test_a_new_parameter_node_is_connected_and_the_old_one_let_go(ui):
    first, second, modified = ParameterNode(), ParameterNode(), []
    binding = ParameterNodeBinding(ui, lambda: modified.append(True), modifiedEvent="ModifiedEvent")
    binding.bind(Wrapper(first))
    observed = first.observers
    second.values.update(SAVED)
    wrapper = Wrapper(second)
    assert binding.bind(wrapper) is wrapper
    assert widgetValues(ui, SAVED) == SAVED  # the new node's values are shown
    choose(ui, {"variant": "nobn"})
    assert second.values["variant"] == "nobn" and first.values["variant"] == "proposed"
    assert first.observers == observed - 1  # the binding's observer is removed
    count = len(modified)
    first.load({"variant": "kmeans"})
    assert len(modified) == count and ui.variantComboBox.currentText == "nobn"  # the old node reaches nothing


def test_bind_keeps_the_wrapper_in_use_and_reports_changes(ui):
    node, modified = ParameterNode(), []
    binding = ParameterNodeBinding(ui, lambda: modified.append(True), modifiedEvent="ModifiedEvent")
    wrapper = Wrapper(node)
    assert binding.bind(wrapper) is wrapper and binding.parameterNode is wrapper
    assert len(modified) == 1  # told once on connecting
    assert binding.bind(Wrapper(node)) is wrapper
    node.load({"layers": 9})
    assert len(modified) == 2
    assert ui.layersSpinBox.value == 9


def test_unbind_disconnects_the_widgets_and_stops_reporting(ui):
    node, modified = ParameterNode(), []
    binding = ParameterNodeBinding(ui, lambda: modified.append(True), modifiedEvent="ModifiedEvent")
    binding.bind(Wrapper(node))
    binding.unbind()
    assert binding.parameterNode is None
    choose(ui, {"variant": "kmeans"})
    node.load({"mode": "slice"})
    assert node.values["variant"] == "proposed" and ui.modeComboBox.currentText == "volume"
    assert len(modified) == 1
    binding.unbind()  # twice is harmless


def test_bound_widgets_are_those_naming_a_parameter(ui):
    widgets = boundWidgets(ui)
    assert widgets == ui.bound()
    assert "variant" in widgets and "inputVolume" in widgets
    assert all(w.property("SlicerParameterName") == name for name, w in widgets.items())
    assert ParameterNodeBinding(ui, lambda: None, "ModifiedEvent").parameterNames == sorted(widgets)
