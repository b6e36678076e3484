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

For the panel's and the Segment Editor effect's life in the application (test_panel.py,
test_editor_effect.py, test_editor_preview.py) there are stand-ins for slicer.app (its aboutToQuit
signal, the override cursor, the layout manager), the scene (observers that `fire` calls as VTK
does) and a process's runs: a fake logic whose runs the test ends by hand, and fake childrun and
checkpoints modules whose cancelAll, forget and forgetAll are recorded (Session); for the effect
also a fake editorwrite (the effect's reading and writing of segments, recorded), and the effect's
widgets: buttons that click, a check box that toggles, timers that the test fires. What the
Segment Editor gives an effect (``scriptedEffect``) is in segment_editor_standin.py.
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


# --- the application, the scene, the logic and its runs, for the panel's and the effect's life ----------
# (test_panel.py and test_editor_effect.py load the module file and the effect with these)


class Anything:
    """What the application hands out where the code under test only passes things on: every
    attribute, call and context is another Anything, and it iterates as empty."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = Anything()
        object.__setattr__(self, name, value)
        return value

    def __call__(self, *args, **kwargs):
        return Anything()

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


VTK_OBJECT = "vtkObject"


def calldata_type(kind):
    """VTK's decorator: an observer so marked is called with the event's object as a third argument."""
    def mark(function):
        function.CallDataType = kind
        return function
    return mark


class Node:
    """An MRML node: its ID, name and class (IsA knows the volume classes' bases)."""

    BASES = {"vtkMRMLScalarVolumeNode": ("vtkMRMLVolumeNode",),
             "vtkMRMLLabelMapVolumeNode": ("vtkMRMLScalarVolumeNode", "vtkMRMLVolumeNode")}

    def __init__(self, nodeID: str, className: str, name: str = ""):
        self.nodeID, self.className, self.name = nodeID, className, name or nodeID

    def GetID(self):
        return self.nodeID

    def GetName(self):
        return self.name

    def IsA(self, className) -> bool:
        return className == self.className or className in self.BASES.get(self.className, ())


class Scene:
    """The vtkMRMLScene that the panel and the effect observe: observers by event, and `fire`, which
    calls them as VTK does (with the node as a third argument where the observer asks for it)."""

    StartCloseEvent, EndCloseEvent, NodeRemovedEvent = "StartCloseEvent", "EndCloseEvent", "NodeRemovedEvent"

    def __init__(self):
        self._observers = {}
        self._tags = itertools.count(1)

    def AddObserver(self, event, callback, priority=0.0) -> int:
        tag = next(self._tags)
        self._observers[tag] = (event, callback)
        return tag

    def RemoveObserver(self, tag) -> None:
        self._observers.pop(tag, None)

    def observers(self, event) -> int:
        return sum(1 for observed, _ in self._observers.values() if observed == event)

    def fire(self, event, node=None) -> None:
        for observed, callback in list(self._observers.values()):
            if observed == event:
                if getattr(callback, "CallDataType", None):
                    callback(self, event, node)
                else:
                    callback(self, event)

    def Clear(self, removeSingletons=False) -> None:
        self.fire(self.StartCloseEvent)
        self.fire(self.EndCloseEvent)

    def IsNodePresent(self, node) -> bool:
        return True

    def GetFirstNodeByName(self, name):
        return None

    def GetNodeByID(self, nodeID):
        return None


class LayoutManager:
    def __init__(self):
        self.plotViewCount = 0
        self.threeDViewCount = 0

    def sliceWidget(self, name):
        return None


class Application:
    """slicer.app: its aboutToQuit signal, the override cursor (a depth), the layout manager."""

    def __init__(self):
        self.aboutToQuit = Signal()
        self.cursors = 0
        self.layout = LayoutManager()
        self.connected = []

    def connect(self, signal, slot) -> None:
        self.connected.append(signal)

    def setOverrideCursor(self, cursor) -> None:
        self.cursors += 1

    def restoreOverrideCursor(self) -> None:
        self.cursors -= 1

    def layoutManager(self):
        return self.layout

    def testingEnabled(self) -> bool:
        return False


class Session:
    """One process's runs, as the fake logic starts them and the fake childrun and checkpoints modules
    see them; `log` records what was called, each with `probe()` (the cursor and status at the time).
    For the effect's fake editorwrite: `signature` stands for the strokes, and paint() changes them
    and calls what observes them, as painting in the Segment Editor does."""

    def __init__(self, probe=lambda: None):
        self.log, self.runs, self.probe = [], [], probe
        self.signature, self.observers = 0, []

    def record(self, *what) -> None:
        self.log.append([*what, self.probe()])

    def paint(self) -> None:
        self.signature += 1
        for callback in list(self.observers):
            callback(None, "SourceRepresentationModified")

    def editorWrite(self):
        """A fake slicer.editorwrite: two visible segments, a preview node, writes and removals recorded."""
        import types

        session = self
        module = types.ModuleType("editorwrite")
        module.visibleSegmentIDs = lambda segmentationNode: ["Segment_1", "Segment_2"]
        module.visibleStrokes = lambda scene, segmentationNode, volumeNode, ids: "strokes"
        module.strokesSignature = lambda segmentationNode: session.signature

        def observeStrokes(segmentationNode, callback):
            session.observers.append(callback)
            return [callback]

        def unobserve(observations):
            for callback in observations or ():
                session.observers.remove(callback)

        def showPreview(scene, segmentationNode, volumeNode, result, structureIDs, reference=None, previewNode=None,
                        name=""):
            session.record("showPreview", name)
            return previewNode or Node("vtkMRMLSegmentationNode9", "vtkMRMLSegmentationNode", name)

        def writePreview(modify, previewNode, segmentationNode, reference=None):
            session.record("writePreview")
            for segmentID in ("Segment_1", "Segment_2"):
                modify(segmentationNode, segmentID, "labelmap")
            return ["Segment_1", "Segment_2"]

        def removePreview(scene, previewNode, segmentationNode=None, opacity=None):
            if previewNode is not None:
                session.record("removePreview")

        module.observeStrokes, module.unobserve, module.showPreview = observeStrokes, unobserve, showPreview
        module.writePreview, module.removePreview = writePreview, removePreview
        module.dimSegmentation = lambda segmentationNode: 1.0
        return module

    def modules(self, editorWrite=False) -> dict:
        """{module name: module} of the fake childrun, checkpoints and logic (and with `editorWrite`, of
        the fake editorwrite), for sys.modules."""
        import types

        def cancelAll():
            self.record("cancelAll")
            for run in self.runs:
                if not run.done:
                    run.cancel(wait=0)

        childrun = types.ModuleType("childrun")
        childrun.cancelAll = cancelAll
        checkpoints = types.ModuleType("checkpoints")
        checkpoints.forget = lambda nodeID: self.record("forget", nodeID)
        checkpoints.forgetAll = lambda: self.record("forgetAll")
        checkpoints.path = lambda *ids: "/checkpoints/" + "-".join(map(str, ids))
        logic = types.ModuleType("logic")
        session = self

        class UnsupervisedCTSegLogic(Logic):
            def __init__(self, scene):
                super().__init__(session)

        logic.UnsupervisedCTSegLogic = UnsupervisedCTSegLogic
        package = "UnsupervisedCTSegLib.slicer."
        modules = {package + "childrun": childrun, package + "checkpoints": checkpoints, package + "logic": logic}
        if editorWrite:
            modules[package + "editorwrite"] = self.editorWrite()
        return modules


class Run:
    """A ChildRun that the test ends: finish() with a result, fail() with an error, or cancel().
    `options` are what startRun was given (strokes, weights, ...)."""

    def __init__(self, session: Session, context, options=None):
        self.session, self.context, self.options = session, context, options or {}
        self.cancelled = self.done = False
        self.estimate = self.error = self.result = None
        self.elapsed, self.details = 3.0, ""

    def poll(self):
        return None

    def cancel(self, wait=2.0) -> None:
        self.session.record("cancel")
        self.cancelled = self.done = True

    def join(self, timeout=None) -> bool:
        return self.done

    def finish(self, result=None) -> None:
        import types

        self.done = True
        self.result = result or types.SimpleNamespace(record={"device": "CPU"}, tissues=[1, 2, 3])

    def fail(self, error) -> None:
        self.done, self.error = True, error


class Logic:
    """UnsupervisedCTSegLogic as the panel and the effect use it, recording each call."""

    def __init__(self, session: Session):
        self.session = session

    def nodeVoxels(self, volumeNode):
        return "voxels"

    volumeFromNode = nodeVoxels

    def strokesFromSegmentation(self, segmentationNode, volumeNode):
        return "strokes"

    def startRun(self, volume, settings, context=None, **options):
        self.session.record("startRun", context.volumeNode.GetName())
        run = Run(self.session, context, options)
        self.session.runs.append(run)
        return run

    def applyResult(self, volumeNode, result, segmentationNode=None, **options):
        import types

        self.session.record("applyResult")
        return types.SimpleNamespace(segmentationNode=Anything(), labelmapNode=None, tableNode=None,
                                     plotChartNode="chart", previousNode=None)

    def fillStrokeSegments(self, segmentationNode, volumeNode, result):
        self.session.record("fillStrokeSegments")

    def closeWorker(self) -> None:
        self.session.record("closeWorker")

    def previewWorker(self, threads):
        self.session.record("previewWorker")


# --- the Segment Editor effect's widgets ----------------------------------------------------------------


class EffectButton(Widget):
    """A QPushButton: its text, whether enabled, and click() as a user's click (nothing when disabled)."""

    def __init__(self, text=""):
        super().__init__(text)
        self.text, self.enabled, self.toolTip = text, True, ""
        self._slots = []

    def connect(self, signal, slot) -> None:
        self._slots.append(slot)

    def click(self) -> None:
        if self.enabled:
            for slot in list(self._slots):
                slot()


class EffectLabel(Widget):
    def __init__(self, text=""):
        super().__init__("label")
        self.text, self.wordWrap = text, False


class EffectCheckBox(Widget):
    """A QCheckBox: toggle(checked) as a user's click emits toggled(bool) unless signals are blocked."""

    def __init__(self, text=""):
        super().__init__(text)
        self.text, self.checked, self.enabled, self.toolTip = text, False, True, ""
        self._slots, self._blocked = [], False

    def connect(self, signal, slot) -> None:
        self._slots.append(slot)

    def blockSignals(self, blocked) -> bool:
        before, self._blocked = self._blocked, bool(blocked)
        return before

    def toggle(self, checked) -> None:
        self.checked = checked
        if not self._blocked:
            for slot in list(self._slots):
                slot(checked)


class Timer:
    """A QTimer the test fires by hand: active between start() and stop() (a single-shot one stops
    when it fires); `starts` counts start() calls (each one restarts the wait)."""

    def __init__(self):
        self.active, self.singleShot, self.interval, self.starts = False, False, 0, 0
        self._slots = []

    def setSingleShot(self, singleShot) -> None:
        self.singleShot = bool(singleShot)

    def setInterval(self, interval) -> None:
        self.interval = interval

    def connect(self, signal, slot) -> None:
        self._slots.append(slot)

    def disconnect(self, signal, slot) -> None:
        self._slots.remove(slot)

    def start(self) -> None:
        self.active, self.starts = True, self.starts + 1

    def stop(self) -> None:
        self.active = False

    def fire(self) -> None:
        """The interval has passed."""
        if self.singleShot:
            self.active = False
        for slot in list(self._slots):
            slot()

    @property
    def connected(self) -> int:
        return len(self._slots)
