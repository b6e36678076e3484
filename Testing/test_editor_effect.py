"""The Segment Editor effect's file, checked without the Slicer application it needs to run.

Qt and the Segment Editor are not installable here; what the effect calls is tested on slicer-core
in test_slicer_scribbles.py. The first checks catch what would break it silently in Slicer: the
file and class names that Slicer's effect loader derives from the path, the registration path,
and every name it uses from the module file, the package and the logic. The others run the effect
against stand-ins (panel_fakes.py): what it connects and ends at a scene close and at the exit
(Slicer 5.6 and 5.8 never call its cleanup()), the Apply button and the error dialog around an
install, and the wait cursor and status while it writes.
"""
import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

from UnsupervisedCTSegLib.slicer import lifecycle, logic, panelrun, parameters, texts, views

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"
EFFECT = MODULE_DIR / "SegmentEditorUnsupervisedCTSegLib" / "SegmentEditorEffect.py"


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def attributes_of(module: ast.Module, owner: str) -> set:
    """The names used as `owner.NAME` (owner a plain name, or `self.owner`)."""
    found = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute):
            value = node.value
            if isinstance(value, ast.Name) and value.id == owner:
                found.add(node.attr)
            elif isinstance(value, ast.Attribute) and value.attr == owner and isinstance(value.value, ast.Name):
                found.add(node.attr)
    return found


def test_the_effect_class_is_named_as_slicers_loader_expects():
    """Slicer takes the class name from the file name, and the module name from the folder's
    (older versions: the file's), so the folder must be a name no other module has."""
    classes = [n.name for n in tree(EFFECT).body if isinstance(n, ast.ClassDef)]
    assert classes == ["SegmentEditorEffect"] == [EFFECT.stem]
    assert EFFECT.parent.name == "SegmentEditorUnsupervisedCTSegLib"
    bases = [b.id for n in tree(EFFECT).body if isinstance(n, ast.ClassDef) for b in n.bases]
    assert bases == ["AbstractScriptedSegmentEditorEffect"]


def test_the_module_registers_the_effect_at_startup_by_its_path():
    module = tree(MODULE_DIR / "UnsupervisedCTSeg.py")
    text = (MODULE_DIR / "UnsupervisedCTSeg.py").read_text(encoding="utf-8")
    assert 'slicer.app.connect("startupCompleted()", registerEditorEffect)' in text
    register = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "registerEditorEffect")
    strings = {n.value for n in ast.walk(register) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {EFFECT.parent.name, EFFECT.name} <= strings


def test_every_name_the_effect_uses_exists():
    effect = tree(EFFECT)
    module = tree(MODULE_DIR / "UnsupervisedCTSeg.py")
    defined = {n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert attributes_of(effect, "UnsupervisedCTSeg") <= defined
    for owner, real in (("panelrun", panelrun), ("parameters", parameters), ("lifecycle", lifecycle),
                        ("texts", texts), ("views", views)):
        used = attributes_of(effect, owner)
        assert used and all(hasattr(real, name) for name in used), (owner, used)
    used = attributes_of(effect, "logic")
    assert all(hasattr(logic.UnsupervisedCTSegLogic, name) for name in used), used
    assert "fillStrokeSegments" in used
    job = attributes_of(effect, "job")
    assert job and all(name in panelrun.RunJob.__dataclass_fields__ for name in job), job


# The effect run as the Segment Editor runs it, in a fresh interpreter with stand-ins for Qt, the
# application and the Segment Editor (panel_fakes.py), a logic whose runs the scenario ends, and fake
# childrun and checkpoints modules that record what is cancelled and deleted. What it saw comes back
# as JSON.
EFFECT_RUN = r"""
import contextlib, importlib.util, json, subprocess, sys, types

module_dir, effect_file, testing_dir, scenario = sys.argv[1:5]
sys.path[:0] = [testing_dir, module_dir]
import panel_fakes as fakes
import standin_application
from panel_fakes import Anything

standin_application.install(lambda name: Anything())
import qt, slicer, slicer.i18n, slicer.util, vtk

seen = {"errors": [], "statusMessages": [], "pipped": []}
app, scene = fakes.Application(), fakes.Scene()
slicer.app, slicer.mrmlScene = app, scene
slicer.i18n.tr = lambda text: text
vtk.calldata_type, vtk.VTK_OBJECT = fakes.calldata_type, fakes.VTK_OBJECT


@contextlib.contextmanager
def tryWithErrorDisplay(message="", waitCursor=False):
    app.cursors += waitCursor
    try:
        yield
    except Exception as error:
        seen["errors"].append(f"{message} {error}")
    finally:
        app.cursors -= waitCursor


def pip_install(packages):
    seen["pipped"].append(packages)
    seen["applyDuringInstall"] = effect.applyButton.enabled
    if scenario == "pipfails":  # offline
        raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *packages])
    missing.clear()


util = slicer.util
util.tryWithErrorDisplay, util.pip_install, util.WaitCursor = tryWithErrorDisplay, pip_install, contextlib.nullcontext
util.errorDisplay = lambda text, **kwargs: seen["errors"].append(text)
util.confirmOkCancelDisplay = lambda text, **kwargs: True
util.showStatusMessage = lambda message, duration=0: seen["statusMessages"].append(message)


class Button(fakes.Widget):
    def __init__(self, text=""):
        super().__init__(text)
        self.text, self.enabled = text, True


class Label(fakes.Widget):
    def __init__(self):
        super().__init__("label")
        self.text = ""


qt.QPushButton, qt.QLabel = Button, Label
qt.QProgressBar, qt.QTimer = lambda: fakes.Widget("bar"), lambda: fakes.Widget("timer")


class AbstractScriptedSegmentEditorEffect:
    def __init__(self, scriptedEffect):
        self.scriptedEffect = scriptedEffect


sys.modules["SegmentEditorEffects"] = types.SimpleNamespace(
    AbstractScriptedSegmentEditorEffect=AbstractScriptedSegmentEditorEffect)
volume = fakes.Node("vtkMRMLScalarVolumeNode1", "vtkMRMLScalarVolumeNode", "CT")
strokes = fakes.Node("vtkMRMLSegmentationNode1", "vtkMRMLSegmentationNode", "strokes")
editorNode = types.SimpleNamespace(GetSegmentationNode=lambda: strokes, GetSourceVolumeNode=lambda: volume)
session = fakes.Session(probe=lambda: [app.cursors, effect.statusLabel.text])
sys.modules.update(session.modules())


class ScriptedEffect(Anything):
    def parameterSetNode(self):
        return editorNode

    def saveStateForUndo(self):
        session.record("saveStateForUndo")


from UnsupervisedCTSegLib.slicer import install

missing = ["scikit-image>=0.20"] if scenario in ("pipfails", "close") else []
sys.modules["UnsupervisedCTSeg"] = types.SimpleNamespace(
    installer=lambda: install.Installer(f"{module_dir}/Resources/requirements.txt", torchInstalled=lambda: True,
                                        missingPackages=lambda requirements: list(missing)),
    getParameterNode=lambda: None, parameterValues=lambda node: {})
spec = importlib.util.spec_from_file_location("SegmentEditorEffect", effect_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

effect = module.SegmentEditorEffect(ScriptedEffect())
effect.setupOptionsFrame()  # as the Segment Editor does for each of its effects


def connected():
    return [scene.observers(scene.StartCloseEvent), scene.observers(scene.NodeRemovedEvent), app.aboutToQuit.listeners]


def logged():
    return [entry[:-1] for entry in session.log]


report = {"connected": connected()}
if scenario == "pipfails":
    effect.onApply()
elif scenario == "close":
    scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLTableNode1", "vtkMRMLTableNode"))
    scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLScalarVolumeNode7", "vtkMRMLScalarVolumeNode"))
    effect.onApply()
    run = session.runs[0]
    scene.fire(scene.StartCloseEvent)
    report["discarded"] = run.context.discard
    effect.onPoll()
    report["untilQuit"] = logged()
    app.aboutToQuit.emit()
    report["atQuit"] = logged()[len(report["untilQuit"]):]
    report["connectedAfterQuit"] = connected()
    effect.cleanup()  # Slicer 5.10 and later
    report["connectedAfterCleanup"] = connected()
elif scenario == "apply":
    effect.onApply()
    session.runs[0].finish()
    effect.onPoll()
    report["log"] = session.log
report.update(seen, status=effect.statusLabel.text, applyEnabled=effect.applyButton.enabled, cursors=app.cursors)
print(json.dumps(report, default=repr))
"""


@functools.lru_cache(maxsize=None)
def effect_run(scenario: str) -> dict:
    run = subprocess.run([sys.executable, "-c", EFFECT_RUN, str(MODULE_DIR), str(EFFECT), str(Path(__file__).parent),
                          scenario], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"the effect failed in scenario {scenario}:\n" + run.stderr[-4000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_the_effect_connects_the_scene_close_node_removals_and_the_exit_itself():
    """On Slicer 5.6 and 5.8 the Segment Editor never calls an effect's cleanup(): the effect connects
    them as it is set up, and cleanup(), where it is called, disconnects them."""
    seen = effect_run("close")
    assert seen["connected"] == [1, 1, 1]
    assert seen["connectedAfterQuit"] == [0, 0, 1]  # the scene, deleted after Python, calls nothing in
    assert seen["connectedAfterCleanup"] == [0, 0, 0]


def test_a_scene_close_and_the_exit_end_the_effects_run_and_forget_every_checkpoint():
    seen = effect_run("close")
    assert seen["discarded"] is True
    assert seen["untilQuit"] == [["forget", "vtkMRMLScalarVolumeNode7"], ["startRun", "CT"],
                                 ["cancelAll"], ["cancel"], ["forgetAll"]]
    assert seen["status"] == "Stopped: the scene was closed."
    assert seen["atQuit"] == [["cancelAll"], ["forgetAll"]]


def test_apply_is_disabled_while_pip_installs():
    seen = effect_run("close")
    assert seen["pipped"] == [["scikit-image>=0.20"]] and seen["applyDuringInstall"] is False
    assert seen["errors"] == [] and seen["applyEnabled"] is True  # the run has ended


def test_a_failed_install_offline_is_an_error_dialog_not_only_a_console_line():
    seen = effect_run("pipfails")
    assert seen["applyDuringInstall"] is False
    assert len(seen["errors"]) == 1 and "Installing scikit-image>=0.20 failed" in seen["errors"][0]
    assert seen["status"] == "Not started: the required Python packages are not installed."
    assert seen["applyEnabled"] is True and seen["cursors"] == 0


def test_writing_the_volume_and_the_segments_shows_a_wait_cursor_and_says_so():
    seen = effect_run("apply")
    (start,) = [entry[-1] for entry in seen["log"] if entry[0] == "startRun"]
    (fill,) = [entry[-1] for entry in seen["log"] if entry[0] == "fillStrokeSegments"]
    assert start[0] >= 1 and start[1] == "Writing CT for the run..."
    assert fill[0] >= 1 and fill[1] == "Writing the structures into the segments..."
    assert seen["statusMessages"][-1] == "" and seen["cursors"] == 0
    assert seen["status"] == "Done in 3 s on CPU: 3 labels."
