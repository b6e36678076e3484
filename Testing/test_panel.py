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
import contextlib, importlib.abc, importlib.machinery, importlib.util, json, sys, types, unittest

module_dir, module_file, testing_dir, scenario, torch_state, chosen, saved = sys.argv[1:8]
chosen, saved = json.loads(chosen), json.loads(saved)
seen = {"torchImports": [], "errors": [], "questions": [], "pipped": [], "torchInstalls": []}


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


class Anything:
    # What the application hands out where the panel only passes things on: every attribute, call
    # and context is another Anything, and it iterates as empty.
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


sys.path[:0] = [testing_dir, module_dir]
import standin_application

standin_application.install(lambda name: Anything())
import slicer, slicer.i18n, slicer.parameterNodeWrapper, slicer.ScriptedLoadableModule, slicer.util
import panel_fakes as fakes

sceneParameterNode = fakes.ParameterNode()
ui = fakes.panelUi()
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
util.pip_install = lambda packages: seen["pipped"].append(packages)


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
