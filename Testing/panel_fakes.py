"""Stand-ins for Slicer 5.6's parameterNodeWrapper, its parameter node and the panel's widgets.

The Slicer application and Qt cannot be installed here, so the tests of the panel's connection to
its parameter node (test_guibinding.py, test_panel.py) run against these. They behave as Slicer
5.6 and 5.8 do where connecting a panel is concerned (parameterNodeWrapper/wrapper.py and
guiConnectors.py there):

- ``connectGui(gui)`` finds the widgets by their "SlicerParameterName" property, connects them and
  returns None: the bug the panel must live with. ``connectParametersToGui(mapping)`` returns a
  tag; ``disconnectGui(tag)`` removes the connectors of a known tag only, so ``disconnectGui(None)``
  removes nothing.
- Connecting writes the node's values into the widgets; a widget change is written into the node;
  a change of the node is written into every widget the wrapper has connected (the wrapper keeps
  observing its node for good).
- Making a combo box's connector clears and refills the box's items, which, as in Qt, emits
  currentIndexChanged (index -1, then 0) to whatever still listens.
- Each wrapper has its own connectors; all wrappers of the scene's parameter node share the node.

The widgets are made from the panel's real .ui file (``panelUi``), as slicer.util.childWidgetVariables
makes the ``ui`` namespace: every named widget is an attribute, those with a SlicerParameterName are
working fakes of their class, the others accept whatever the panel sets or calls on them.
"""
from __future__ import annotations

import itertools
import typing
import xml.etree.ElementTree as ET
from pathlib import Path

PARAMETER_NAME_PROPERTY = "SlicerParameterName"
UI_FILE = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg" / "Resources" / "UI" / "UnsupervisedCTSeg.ui"


# --- widgets ------------------------------------------------------------------------------------


class Signal:
    def __init__(self):
        self._slots = []

    def connect(self, slot):
        self._slots.append(slot)

    def disconnect(self, slot):
        self._slots.remove(slot)

    def emit(self):
        for slot in list(self._slots):
            slot()

    @property
    def listeners(self) -> int:
        return len(self._slots)


class Widget:
    """A widget the panel only sets properties on and calls methods of (buttons, labels, ...)."""

    def __init__(self, name: str, parameterName=None):
        self.objectName = name
        self._parameterName = parameterName
        self.calls = []

    def property(self, name):
        return self._parameterName if name == PARAMETER_NAME_PROPERTY else None

    def __getattr__(self, name):  # hide(), show(), connect("clicked(bool)", ...), setFormat(...)
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, args))


class ComboBox(Widget):
    def __init__(self, name, parameterName, items):
        super().__init__(name, parameterName)
        self.currentIndexChanged = Signal()
        self.items = list(items)
        self._index = 0 if self.items else -1

    @property
    def currentIndex(self) -> int:
        return self._index

    @currentIndex.setter
    def currentIndex(self, index: int) -> None:
        if not 0 <= index < len(self.items):  # Qt takes an index outside the items as "none"
            index = -1
        if index != self._index:
            self._index = index
            self.currentIndexChanged.emit()

    @property
    def currentText(self) -> str:
        return self.items[self._index] if 0 <= self._index < len(self.items) else ""

    def clear(self) -> None:
        self.items = []
        self.currentIndex = -1

    def addItem(self, text: str) -> None:
        self.items.append(text)
        if self._index == -1:
            self.currentIndex = 0

    def choose(self, text: str) -> None:
        """What the user does: pick an item."""
        self.currentIndex = self.items.index(text)


class ValueWidget(Widget):
    """A check box (its value is `checked`) or a spin box or slider (its value is `value`)."""

    def __init__(self, name, parameterName, value, signal: str, attribute: str):
        super().__init__(name, parameterName)
        self._value = value
        self.changedSignal = Signal()
        self._signal, self._attribute = signal, attribute
        setattr(self, signal, self.changedSignal)

    def __setattr__(self, name, value):
        if name != "_attribute" and name == getattr(self, "_attribute", None):
            if value != self._value:
                object.__setattr__(self, "_value", value)
                self.changedSignal.emit()
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        if name == self.__dict__.get("_attribute"):
            return self._value
        return super().__getattr__(name)


def CheckBox(name, parameterName, checked=False):
    return ValueWidget(name, parameterName, checked, "stateChanged", "checked")


def SpinBox(name, parameterName, value=0):
    return ValueWidget(name, parameterName, value, "valueChanged", "value")


class NodeComboBox(Widget):
    def __init__(self, name, parameterName):
        super().__init__(name, parameterName)
        self.currentNodeChanged = Signal()
        self._node = None

    def currentNode(self):
        return self._node

    def setCurrentNode(self, node) -> None:
        if node is not self._node:
            self._node = node
            self.currentNodeChanged.emit()


class Ui:
    """The panel's ``ui`` namespace: one attribute per named widget of the .ui file."""

    def bound(self) -> dict:
        return {w.property(PARAMETER_NAME_PROPERTY): w for w in vars(self).values()
                if w.property(PARAMETER_NAME_PROPERTY)}


def _properties(element) -> dict:
    values = {}
    for prop in element.findall("property"):
        child = prop[0]
        text = child.text or ""
        values[prop.get("name")] = {"number": int, "double": float, "bool": lambda t: t == "true"}.get(
            child.tag, str)(text)
    return values


def panelUi(uiFile=UI_FILE) -> Ui:
    """The ui namespace of the panel's .ui file, with working fakes for the bound widgets."""
    ui = Ui()
    for element in ET.parse(uiFile).getroot().iter("widget"):
        name, klass, props = element.get("name"), element.get("class"), _properties(element)
        parameterName = props.get(PARAMETER_NAME_PROPERTY)
        if not name:
            continue
        if parameterName is None:
            widget = Widget(name)
        elif klass == "QComboBox":
            items = [item.find("property/string").text for item in element.findall("item")]
            widget = ComboBox(name, parameterName, items)
            widget._index = props.get("currentIndex", 0)
        elif klass in ("QCheckBox", "ctkCheckBox"):
            widget = CheckBox(name, parameterName, props.get("checked", False))
        elif klass in ("QSpinBox", "QDoubleSpinBox", "ctkSliderWidget", "ctkDoubleSpinBox"):
            widget = SpinBox(name, parameterName, props.get("value", 0))
        elif klass == "qMRMLNodeComboBox":
            widget = NodeComboBox(name, parameterName)
        else:
            raise AssertionError(f"no fake for a {klass} bound to {parameterName}")
        setattr(ui, name, widget)
    return ui


# --- connectors, as guiConnectors.py makes them ------------------------------------------------------


class Connector:
    def __init__(self, widget, signal):
        self.widget, self._signal, self._callback = widget, signal, None

    def onChanged(self, callback) -> None:
        if callback is None:
            self._signal.disconnect(self._changed)
        else:
            self._signal.connect(self._changed)
        self._callback = callback

    def _changed(self) -> None:
        if self._callback:
            self._callback()


class ComboConnector(Connector):
    def __init__(self, widget: ComboBox, choices):
        super().__init__(widget, widget.currentIndexChanged)
        self.choices = list(choices)
        widget.clear()  # as QComboBoxToStringableConnector.__init__ does
        for choice in self.choices:
            widget.addItem(str(choice))

    def read(self):
        return self.choices[self.widget.currentIndex]  # index -1 reads the last choice, as there

    def write(self, value) -> None:
        self.widget.currentIndex = self.choices.index(value)


class ValueConnector(Connector):
    def __init__(self, widget: ValueWidget):
        super().__init__(widget, widget.changedSignal)

    def read(self):
        return getattr(self.widget, self.widget._attribute)

    def write(self, value) -> None:
        setattr(self.widget, self.widget._attribute, value)


class NodeConnector(Connector):
    def __init__(self, widget: NodeComboBox):
        super().__init__(widget, widget.currentNodeChanged)

    def read(self):
        return self.widget.currentNode()

    def write(self, value) -> None:
        self.widget.setCurrentNode(value)


def makeConnector(widget, field):
    if isinstance(widget, ComboBox):
        return ComboConnector(widget, field.choices)
    if isinstance(widget, NodeComboBox):
        return NodeConnector(widget)
    return ValueConnector(widget)


# --- the parameter node and its wrapper -------------------------------------------------------------


class ParameterNode:
    """The scene's vtkMRMLScriptedModuleNode: values and ModifiedEvent observers."""

    _tags = itertools.count(1)

    def __init__(self):
        self.values = {}
        self._observers = {}

    def AddObserver(self, event, callback, priority=0.0) -> int:
        tag = next(self._tags)
        self._observers[tag] = callback
        return tag

    def RemoveObserver(self, tag) -> None:
        self._observers.pop(tag, None)

    @property
    def observers(self) -> int:
        return len(self._observers)

    def Modified(self) -> None:
        for callback in list(self._observers.values()):
            callback(self, "ModifiedEvent")

    def set(self, name, value) -> None:
        if name not in self.values or self.values[name] != value:
            self.values[name] = value
            self.Modified()

    def reset(self) -> None:
        """What closing the scene does to the singleton parameter node: every value goes."""
        self.values.clear()
        self.Modified()

    def load(self, values: dict) -> None:
        """What loading a saved scene does: its values are copied into the node at once."""
        self.values.update(values)
        self.Modified()


class Field:
    def __init__(self, default=None, choices=None):
        self.default, self.choices = default, choices


class Wrapper56:
    """A parameterNodeWrapper instance as in Slicer 5.6/5.8; `fields` is {name: Field}."""

    fields: dict = {}

    def __init__(self, parameterNode: ParameterNode):
        object.__setattr__(self, "parameterNode", parameterNode)
        object.__setattr__(self, "_guis", {})
        object.__setattr__(self, "_tags", itertools.count())
        object.__setattr__(self, "_updating", False)
        for name, field in self.fields.items():
            if name not in parameterNode.values:  # missing values get their default, as in _initMethod
                parameterNode.values[name] = field.default

    def __getattr__(self, name):
        if name in type(self).fields:
            return self.getValue(name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in type(self).fields:
            self.setValue(name, value)
        else:
            object.__setattr__(self, name, value)

    def getValue(self, name):
        if name not in self.parameterNode.values:  # read() writes the default of a missing value
            self.parameterNode.values[name] = self.fields[name].default
        return self.parameterNode.values[name]

    def setValue(self, name, value) -> None:
        self.parameterNode.set(name, value)

    def connectGui(self, gui):
        mapping = {w.property(PARAMETER_NAME_PROPERTY): w for w in vars(gui).values()
                   if w.property(PARAMETER_NAME_PROPERTY)}
        self.connectParametersToGui(mapping)  # the tag is dropped: Slicer 5.6 and 5.8 return None

    def connectParametersToGui(self, mapping: dict) -> int:
        connectors = {name: makeConnector(widget, self.fields[name]) for name, widget in mapping.items()}
        tag = next(self._tags)
        self._guis[tag] = connectors
        for name, connector in connectors.items():
            connector.write(self.getValue(name))
            connector.onChanged(self._guiToParameter(name, connector))
        self.parameterNode.AddObserver("ModifiedEvent", lambda caller, event: self._updateGui())
        return tag

    def disconnectGui(self, tag) -> None:
        if tag in self._guis:
            for connector in self._guis.pop(tag).values():
                connector.onChanged(None)

    def _guiToParameter(self, name, connector):
        def callback():
            if not self._updating:
                self.setValue(name, connector.read())
        return callback

    def _updateGui(self) -> None:
        if self._updating:
            return
        object.__setattr__(self, "_updating", True)
        try:
            for connectors in list(self._guis.values()):
                for name, connector in connectors.items():
                    connector.write(self.getValue(name))
        finally:
            object.__setattr__(self, "_updating", False)

    def AddObserver(self, event, callback, priority=0.0) -> int:
        return self.parameterNode.AddObserver(event, callback, priority)

    def RemoveObserver(self, tag) -> None:
        self.parameterNode.RemoveObserver(tag)

    def StartModify(self):
        return 0

    def EndModify(self, wasModifying):
        return None


# The annotations parameterNodeWrapper reads (slicer.parameterNodeWrapper's Choice, Default, WithinRange).

class Choice:
    def __init__(self, choices):
        self.choices = choices


class Default:
    def __init__(self, value):
        self.value = value


class WithinRange:
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum


def parameterNodeWrapper56(cls):
    """What @parameterNodeWrapper makes of a class, as a Wrapper56 with the class's fields."""
    fields = {}
    for name, annotation in typing.get_type_hints(cls, include_extras=True).items():
        extras = getattr(annotation, "__metadata__", ())
        default = next((e.value for e in extras if isinstance(e, Default)), None)
        choices = next((e.choices for e in extras if isinstance(e, Choice)), None)
        fields[name] = Field(default, choices)
    return type(cls.__name__, (Wrapper56,), {"fields": fields, "__doc__": cls.__doc__})


def tableWrapper():
    """A Wrapper56 class with the fields of the panel's parameter table and its node fields."""
    from UnsupervisedCTSegLib.slicer import parameters

    fields = {name: Field() for name in parameters.NODE_PARAMETERS}
    fields.update({p.name: Field(p.kind(p.default), list(p.choices) if p.choices else None)
                   for p in parameters.PARAMETERS})
    return type("TableWrapper", (Wrapper56,), {"fields": fields})
