"""The module file's panel and self-test runner, run as Slicer runs them, with stand-ins for Slicer.

As in test_ui_binding.py the module file is loaded in a fresh interpreter in which slicer, qt, vtk
and ctk are stand-ins; here they are ones the panel can run against: the ``ui`` namespace is made
from the real .ui file and the parameter node wrapper behaves as Slicer 5.6/5.8's does, whose
connectGui returns no tag (panel_fakes.py). The panel's own code, the module file and the slicer
layer, is the real one. What each scenario saw comes back as JSON.

- Opening the panel with a broken PyTorch installed (found, but importing it fails) imports nothing
  of it and writes the device line.
- Entering the module twice, and closing a scene, then loading a saved one, keeps the values.
- A broken logic import on Apply ends in an error dialog, and the panel stays usable.
- The self-test runner in testing mode, with PyTorch missing, skips without installing anything.
- A scene close and the application's exit cancel every run and delete every scribble checkpoint;
  a removed volume or segmentation takes its checkpoints along (fake childrun and checkpoints).
- Apply and Preview are disabled while pip installs (it processes events), also when it fails
  offline, which ends in an error dialog.
- Writing the volume and applying the result show a wait cursor and say so; the layout switches
  to a plot view once per session, not at every run.
"""
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "UnsupervisedCTSeg"
MODULE_FILE = MODULE_DIR / "UnsupervisedCTSeg.py"
TESTING_DIR = Path(__file__).resolve().parent

CHOSEN = {"variant": "kmeans", "mode": "slice", "layers": 7, "bodyMask": False}
SAVED = {"variant": "superpixel", "mode": "slice", "theta": 2.5, "fillHoles": True}

PANEL = r"""
import contextlib, importlib.abc, importlib.machinery, importlib.util, json, subprocess, sys, types, unittest

module_dir, module_file, testing_dir, scenario, torch_state, chosen, saved = sys.argv[1:8]
chosen, saved = json.loads(chosen), json.loads(saved)
seen = {"torchImports": [], "errors": [], "questions": [], "pipped": [], "torchInstalls": [], "statusMessages": []}


class BrokenTorch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # PyTorch is found (find_spec answers), but importing it fails as a missing library does.
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name.split(".")[0] == "torch" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        seen["torchImports"].append(module.__name__)
        raise OSError("libtorch_cpu.so: cannot open shared object file: No such file or directory")


class BrokenLogic(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "UnsupervisedCTSegLib.slicer.logic":
            raise OSError("libSimpleITK.so: cannot open shared object file")
        return None


if torch_state == "broken":
    sys.meta_path.insert(0, BrokenTorch())
else:
    sys.modules["torch"] = None  # not installed
if scenario == "brokenlogic":
    sys.meta_path.insert(0, BrokenLogic())


sys.path[:0] = [testing_dir, module_dir]
import panel_fakes as fakes
import standin_application
from panel_fakes import Anything

standin_application.install(lambda name: Anything())
import slicer, slicer.i18n, slicer.parameterNodeWrapper, slicer.ScriptedLoadableModule, slicer.util, vtk

sceneParameterNode = fakes.ParameterNode()
ui = fakes.panelUi()
app, scene = fakes.Application(), fakes.Scene()
slicer.app, slicer.mrmlScene = app, scene
vtk.calldata_type, vtk.VTK_OBJECT = fakes.calldata_type, fakes.VTK_OBJECT
charts = []  # what the Plots logic was asked to show
slicer.modules.plots = types.SimpleNamespace(logic=lambda: types.SimpleNamespace(ShowChartInLayout=charts.append))
# A run's life with a logic that needs no engine: its runs end when the scenario says so.
session = fakes.Session(probe=lambda: [app.cursors, ui.statusLabel.text])
if scenario in ("lifecycle", "install", "pipfails", "layout"):
    sys.modules.update(session.modules())
slicer.i18n.tr = lambda text: text
slicer.i18n.translate = lambda context, text: text
slicer.vtkMRMLScalarVolumeNode = type("vtkMRMLScalarVolumeNode", (), {})
slicer.vtkMRMLSegmentationNode = type("vtkMRMLSegmentationNode", (), {})
wrapperModule = slicer.parameterNodeWrapper
wrapperModule.parameterNodeWrapper = fakes.parameterNodeWrapper56
wrapperModule.Choice, wrapperModule.Default, wrapperModule.WithinRange = fakes.Choice, fakes.Default, fakes.WithinRange
slicer.app.testingEnabled = lambda: scenario == "selftest-testing"


@contextlib.contextmanager
def tryWithErrorDisplay(message="", waitCursor=False):
    try:
        yield
    except Exception as error:
        seen["errors"].append(f"{message} {error}")


def confirmOkCancelDisplay(text, windowTitle=None, **kwargs):
    seen["questions"].append(windowTitle)
    return True  # as in testing mode, where every question answers yes by itself


util = slicer.util
util.loadUI = lambda path: Anything()
util.childWidgetVariables = lambda widget: ui
util.getNodesByClass = lambda className: []
util.NodeModify = lambda node: contextlib.nullcontext()
util.WaitCursor = contextlib.nullcontext
util.tryWithErrorDisplay = tryWithErrorDisplay
util.errorDisplay = lambda text, **kwargs: seen["errors"].append(text)
util.confirmOkCancelDisplay = confirmOkCancelDisplay
util.showStatusMessage = lambda message, duration=0: seen["statusMessages"].append(message)
missing = ["scikit-image>=0.20"] if scenario in ("install", "pipfails") else []


def pip_install(packages):
    # slicer.util.pip_install: processes the application's events at every line pip prints
    seen["pipped"].append(packages)
    seen["buttonsDuringInstall"] = [ui.applyButton.enabled, ui.previewButton.enabled]
    if scenario == "pipfails":  # offline
        raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *packages])
    missing.clear()


util.pip_install = pip_install


class VTKObservationMixin:
    def __init__(self):
        self.observations = []

    def addObserver(self, obj, event, method, priority=0.0):
        self.observations.append(method)

    def removeObserver(self, obj, event, method):
        if method in self.observations:
            self.observations.remove(method)

    def removeObservers(self):
        self.observations = []


util.VTKObservationMixin = VTKObservationMixin


class ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent


class ScriptedLoadableModuleWidget:
    def __init__(self, parent=None):
        self.parent = parent
        self.layout = Anything()

    def setup(self):
        pass

    def resourcePath(self, name):
        return name

    def enter(self):
        pass

    def exit(self):
        pass


class ScriptedLoadableModuleLogic:
    def getParameterNode(self):
        return sceneParameterNode


class ScriptedLoadableModuleTest(unittest.TestCase):
    def __init__(self, methodName="runTest"):
        super().__init__(methodName)
        self.displayed = []

    def delayDisplay(self, message, msec=1000):
        self.displayed.append(message)


for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
            ScriptedLoadableModuleTest):
    setattr(slicer.ScriptedLoadableModule, cls.__name__, cls)


class PyTorchUtilsLogic:
    def installTorch(self, **kwargs):
        seen["torchInstalls"].append(kwargs)
        return None  # the user declines in the extension's dialog


sys.modules["PyTorchUtils"] = types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsLogic)

spec = importlib.util.spec_from_file_location("UnsupervisedCTSeg", module_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def values(names):
    bound = ui.bound()
    shown = {}
    for name in names:
        widget = bound[name]
        shown[name] = widget.currentText if isinstance(widget, fakes.ComboBox) else getattr(widget, widget._attribute)
    return {"node": {name: sceneParameterNode.values[name] for name in names}, "widgets": shown}


def choose(changes):
    bound = ui.bound()
    for name, value in changes.items():
        widget = bound[name]
        if isinstance(widget, fakes.ComboBox):
            widget.choose(value)
        else:
            setattr(widget, widget._attribute, value)


def reenter(widget, times=2):
    for _ in range(times):
        widget.exit()
        widget.enter()


if scenario in ("lifecycle", "install", "pipfails", "layout"):
    madeInstaller = module.installer

    def installer():
        made = madeInstaller()
        made.torchInstalled, made.missingPackages = (lambda: True), (lambda requirements: list(missing))
        return made

    module.installer = installer


def logged():
    return [entry[:-1] for entry in session.log]


report = {}
if scenario.startswith("selftest"):
    test = module.UnsupervisedCTSegTest()
    test.setUp()
    test.runTest()
    report["displayed"] = test.displayed
else:
    widget = module.UnsupervisedCTSegWidget(types.SimpleNamespace(isEntered=True))
    widget.setup()
    widget.enter()  # Slicer shows the panel
    report["deviceLine"] = ui.deviceLabel.text
    report["applyButton"] = [ui.applyButton.text, ui.applyButton.enabled]
    if scenario == "reenter":
        choose(chosen)
        reenter(widget)
        report["reentered"] = values(list(chosen))
        widget.onSceneStartClose(None, None)
        sceneParameterNode.reset()
        widget.onSceneEndClose(None, None)
        sceneParameterNode.load(saved)
        reenter(widget)
        report["saved"] = values(list(saved))
        report["listeners"] = ui.variantComboBox.currentIndexChanged.listeners
        widget.cleanup()
        report["listenersAfterCleanup"] = ui.variantComboBox.currentIndexChanged.listeners
    elif scenario == "brokenlogic":
        sceneParameterNode.values["inputVolume"] = "a CT volume node"
        for _ in range(2):
            widget.onApplyButton()
        report["status"] = ui.statusLabel.text
        report["running"] = widget._run is not None
        choose({"variant": "nobn"})
        report["afterwards"] = values(["variant"])
        report["applyButtonAfterwards"] = [ui.applyButton.text, ui.applyButton.enabled]
    elif scenario in ("lifecycle", "install", "pipfails", "layout"):
        sceneParameterNode.set("inputVolume", fakes.Node("vtkMRMLScalarVolumeNode1", "vtkMRMLScalarVolumeNode", "CT"))
        report["buttonsBefore"] = [ui.applyButton.enabled, ui.previewButton.enabled]
    if scenario in ("install", "pipfails"):
        widget.onApplyButton()
        report["status"] = ui.statusLabel.text
        report["buttonsAfter"] = [ui.applyButton.text, ui.applyButton.enabled, ui.previewButton.enabled]
    elif scenario == "lifecycle":
        report["connected"] = [scene.observers(scene.StartCloseEvent), scene.observers(scene.NodeRemovedEvent),
                               app.aboutToQuit.listeners]
        widget.onApplyButton()
        run = session.runs[0]
        widget._poll()
        scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLTableNode1", "vtkMRMLTableNode"))
        scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLSegmentationNode2", "vtkMRMLSegmentationNode"))
        scene.fire(scene.StartCloseEvent)
        report["discarded"] = run.context.discard
        widget._poll()  # the cancelled run has ended
        report["statusAfterClose"] = ui.statusLabel.text
        report["untilQuit"] = logged()
        app.aboutToQuit.emit()
        report["atQuit"] = logged()[len(report["untilQuit"]):]
        report["connectedAfterQuit"] = [scene.observers(scene.StartCloseEvent),
                                        scene.observers(scene.NodeRemovedEvent), app.aboutToQuit.listeners]
        widget.cleanup()
        report["connectedAfterCleanup"] = [scene.observers(scene.StartCloseEvent),
                                           scene.observers(scene.NodeRemovedEvent), app.aboutToQuit.listeners]
    elif scenario == "layout":
        for plotViews in (0, 0, 1):  # the user goes back to a layout without a plot view, then to one with
            app.layout.plotViewCount = plotViews
            widget.onApplyButton()
            session.runs[-1].finish()
            widget._poll()
        report["charts"] = charts
        report["log"] = session.log
        report["cursorsAfter"] = app.cursors
        report["status"] = ui.statusLabel.text
report.update(seen)
print(json.dumps(report, default=repr))
"""


@functools.lru_cache(maxsize=None)
def panel(scenario: str, torch: str = "broken") -> dict:
    """What the module file did in `scenario`, with PyTorch `torch` ("broken" or "missing")."""
    run = subprocess.run([sys.executable, "-c", PANEL, str(MODULE_DIR), str(MODULE_FILE), str(TESTING_DIR),
                          scenario, torch, json.dumps(CHOSEN), json.dumps(SAVED)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"the panel failed in scenario {scenario}:\n" + run.stderr[-4000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_opening_the_panel_imports_no_torch_and_says_where_a_run_goes():
    opened = panel("open")
    assert opened["torchImports"] == []  # a broken install is not even touched
    assert opened["errors"] == [] and opened["questions"] == []
    assert opened["deviceLine"].startswith("Will run on: a CUDA GPU if PyTorch finds one, else the CPU (")
    assert opened["applyButton"] == ["Apply", False]  # no input volume yet


def test_opening_the_panel_before_pytorch_is_installed_says_so():
    opened = panel("open", torch="missing")
    assert opened["deviceLine"].endswith("; PyTorch is installed on the first run")
    assert opened["torchInstalls"] == [] and opened["pipped"] == []


def test_reentering_the_module_keeps_the_values_with_slicer_5_6s_wrapper():
    reentered = panel("reenter")["reentered"]
    assert reentered["node"] == CHOSEN
    assert reentered["widgets"] == CHOSEN


def test_a_saved_scenes_values_survive_a_scene_close_and_reentering():
    seen = panel("reenter")
    assert seen["saved"]["node"] == SAVED
    assert seen["saved"]["widgets"] == SAVED
    assert seen["listeners"] == 1  # each widget connected once
    assert seen["listenersAfterCleanup"] == 0


def test_a_broken_install_on_apply_is_an_error_message_and_the_panel_stays_usable():
    seen = panel("brokenlogic")
    assert len(seen["errors"]) == 2  # one per press, each a message, not an exception
    assert all("could not be loaded" in error and "OSError" in error for error in seen["errors"])
    assert seen["status"] == "Not started: the required Python packages are not installed."
    assert seen["running"] is False
    assert seen["afterwards"]["node"] == {"variant": "nobn"}
    assert seen["applyButtonAfterwards"] == ["Apply", True]


def test_the_self_test_under_ctest_skips_without_installing_when_pytorch_is_missing():
    seen = panel("selftest-testing", torch="missing")
    assert seen["torchInstalls"] == [] and seen["pipped"] == [] and seen["questions"] == []
    assert len(seen["displayed"]) == 1
    assert "skipped" in seen["displayed"][0] and "torch>=2.0" in seen["displayed"][0]


def test_the_self_test_run_by_hand_offers_pytorch_and_skips_when_declined():
    seen = panel("selftest-by-hand", torch="missing")
    assert len(seen["torchInstalls"]) == 1 and seen["torchInstalls"][0]["askConfirmation"] is True
    assert len(seen["displayed"]) == 1 and "skipped" in seen["displayed"][0]


@pytest.mark.parametrize("scenario", ["open", "reenter", "brokenlogic"])
def test_no_scenario_imports_torch(scenario):
    assert panel(scenario)["torchImports"] == []


def test_a_scene_close_and_the_exit_cancel_every_run_and_forget_every_checkpoint():
    seen = panel("lifecycle")
    assert seen["discarded"] is True  # nothing of the run is applied to the next scene
    assert seen["untilQuit"] == [["startRun", "CT"], ["forget", "vtkMRMLSegmentationNode2"],  # not the table's
                                 ["cancelAll"], ["cancel"], ["forgetAll"]]
    assert seen["statusAfterClose"] == "Stopped: the scene was closed."
    assert seen["atQuit"] == [["closeWorker"], ["cancelAll"], ["forgetAll"]]
    assert seen["connected"] == [1, 1, 1]
    assert seen["connectedAfterQuit"] == [0, 0, 1]  # the scene, deleted after Python, calls nothing in
    assert seen["connectedAfterCleanup"] == [0, 0, 0]


def test_apply_and_preview_are_disabled_while_pip_installs():
    seen = panel("install")
    assert seen["buttonsBefore"] == [True, True]
    assert seen["pipped"] == [["scikit-image>=0.20"]] and seen["buttonsDuringInstall"] == [False, False]
    assert seen["buttonsAfter"] == ["Cancel", True, False]  # installed: the run started
    assert seen["errors"] == []


def test_a_failed_install_offline_is_an_error_dialog_and_the_buttons_come_back():
    seen = panel("pipfails")
    assert seen["buttonsDuringInstall"] == [False, False]
    assert len(seen["errors"]) == 1
    assert "Installing scikit-image>=0.20 failed" in seen["errors"][0] and "network" in seen["errors"][0]
    assert seen["status"] == "Not started: the required Python packages are not installed."
    assert seen["buttonsAfter"] == ["Apply", True, True]


def test_writing_and_applying_show_a_wait_cursor_and_say_so():
    seen = panel("layout")
    cursor, label = 0, 1
    starts = [entry[-1] for entry in seen["log"] if entry[0] == "startRun"]
    applies = [entry[-1] for entry in seen["log"] if entry[0] == "applyResult"]
    assert len(starts) == len(applies) == 3
    assert all(probe[cursor] >= 1 and probe[label] == "Writing CT for the run..." for probe in starts)
    assert all(probe[cursor] >= 1 and probe[label] == "Adding the segmentation to the scene..." for probe in applies)
    assert {"Writing CT for the run...", "Adding the segmentation to the scene..."} <= set(seen["statusMessages"])
    assert seen["statusMessages"][-1] == ""  # the status bar is cleared after
    assert seen["cursorsAfter"] == 0
    assert seen["status"] == "Done in 3 s on CPU: 3 labels."


def test_the_layout_switches_to_a_plot_view_once_per_session():
    # The first run switches; the second leaves the layout the user went back to; the third shows its
    # chart in the plot view the user's layout has.
    assert panel("layout")["charts"] == ["chart", "chart"]
