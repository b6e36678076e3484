"""The Segment Editor effect's file, checked without the Slicer application it needs to run.

Qt and the Segment Editor are not installable here; what the effect calls is tested on slicer-core
in test_slicer_scribbles.py, test_editor_write.py and test_effect_session.py, and the effect on a
slicer-core scene in test_editor_preview.py. The first checks catch what would break it silently in
Slicer: the file and class names that Slicer's effect loader derives from the path, the
registration path, and every name it uses from the module file, the package and the logic. The
others run the effect against stand-ins (panel_fakes.py, with a fake editorwrite): what it connects
and ends at a scene close and at the exit (Slicer 5.6 and 5.8 never call its cleanup()), the
buttons and the error dialog around an install, the wait cursor and status while it writes, the
auto-update timer and its queue, the question to run again on the CPU, Cancel, and a segmentation
switched in the editor during a run.
"""
import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

from UnsupervisedCTSegLib.slicer import (checkpoints, editorwrite, effectsession, lifecycle, logic, panelrun,
                                         parameters, texts, views)

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
    for owner, real in (("editorwrite", editorwrite), ("effectsession", effectsession), ("checkpoints", checkpoints)):
        used = attributes_of(effect, owner)
        assert used and all(hasattr(real, name) for name in used), (owner, used)
    used = attributes_of(effect, "logic")
    assert all(hasattr(logic.UnsupervisedCTSegLogic, name) for name in used), used
    assert "fillStrokeSegments" not in used  # the editor writes the segments, by its rules (editorwrite.writePreview)
    assert "writePreview" in attributes_of(effect, "editorwrite")
    assert "modifySegmentByLabelmap" in attributes_of(effect, "scriptedEffect")
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

seen = {"errors": [], "statusMessages": [], "pipped": [], "questions": []}
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
    seen["initializeDuringInstall"] = effect.initializeButton.enabled
    if scenario == "pipfails":  # offline
        raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *packages])
    missing.clear()


util = slicer.util
util.tryWithErrorDisplay, util.pip_install, util.WaitCursor = tryWithErrorDisplay, pip_install, contextlib.nullcontext
util.errorDisplay = lambda text, **kwargs: seen["errors"].append(text)
util.confirmOkCancelDisplay = lambda text, **kwargs: True


def confirmYesNoDisplay(text, **kwargs):
    seen["questions"].append([text, kwargs.get("windowTitle")])
    return True


util.confirmYesNoDisplay = confirmYesNoDisplay
util.showStatusMessage = lambda message, duration=0: seen["statusMessages"].append(message)
qt.QPushButton, qt.QLabel, qt.QCheckBox = fakes.EffectButton, fakes.EffectLabel, fakes.EffectCheckBox
qt.QProgressBar, qt.QTimer = lambda: fakes.Widget("bar"), fakes.Timer


class AbstractScriptedSegmentEditorEffect:
    def __init__(self, scriptedEffect):
        self.scriptedEffect = scriptedEffect


sys.modules["SegmentEditorEffects"] = types.SimpleNamespace(
    AbstractScriptedSegmentEditorEffect=AbstractScriptedSegmentEditorEffect)
volume = fakes.Node("vtkMRMLScalarVolumeNode1", "vtkMRMLScalarVolumeNode", "CT")
strokes = fakes.Node("vtkMRMLSegmentationNode1", "vtkMRMLSegmentationNode", "strokes")
other = fakes.Node("vtkMRMLSegmentationNode2", "vtkMRMLSegmentationNode", "other strokes")
shown = {"segmentation": strokes}  # what the Segment Editor shows
editorNode = types.SimpleNamespace(GetSegmentationNode=lambda: shown["segmentation"],
                                   GetSourceVolumeNode=lambda: volume)
session = fakes.Session(probe=lambda: [app.cursors, effect.statusLabel.text])
sys.modules.update(session.modules(editorWrite=True))


class ScriptedEffect(Anything):
    def __init__(self):
        self.parameters = {}  # the effect's parameters, attributes of the editor's node in Slicer

    def setParameter(self, name, value):
        self.parameters[name] = str(value)

    def parameterSetNode(self):
        return editorNode

    def saveStateForUndo(self):
        session.record("saveStateForUndo")

    def modifySegmentByLabelmap(self, segmentationNode, segmentID, labelmap, mode):
        session.record("modifySegmentByLabelmap", segmentationNode.GetName(), segmentID)


from UnsupervisedCTSegLib.slicer import install

missing = ["scikit-image>=0.20"] if scenario in ("pipfails", "close") else []
parameterNode = types.SimpleNamespace(forceCPU=False)
sys.modules["UnsupervisedCTSeg"] = types.SimpleNamespace(
    installer=lambda: install.Installer(f"{module_dir}/Resources/requirements.txt", torchInstalled=lambda: True,
                                        missingPackages=lambda requirements: list(missing)),
    getParameterNode=lambda: parameterNode, parameterValues=lambda node: {"forceCPU": node.forceCPU})
spec = importlib.util.spec_from_file_location("SegmentEditorEffect", effect_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

effect = module.SegmentEditorEffect(ScriptedEffect())
effect.setupOptionsFrame()  # as the Segment Editor does for each of its effects


def connected():
    return [scene.observers(scene.StartCloseEvent), scene.observers(scene.NodeRemovedEvent), app.aboutToQuit.listeners]


def logged():
    return [entry[:-1] for entry in session.log]


def buttons():
    return {"initialize": [effect.initializeButton.text, effect.initializeButton.enabled],
            "apply": effect.applyButton.enabled, "cancel": effect.cancelButton.enabled}


def started():
    return [entry[1] for entry in session.log if entry[0] == "startRun"]


report = {"connected": connected(), "buttonsAtStart": buttons()}
if scenario == "pipfails":
    effect.initializeButton.click()
elif scenario == "close":
    scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLTableNode1", "vtkMRMLTableNode"))
    scene.fire(scene.NodeRemovedEvent, fakes.Node("vtkMRMLScalarVolumeNode7", "vtkMRMLScalarVolumeNode"))
    effect.initializeButton.click()
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
    effect.initializeButton.click()
    report["buttonsWhileComputing"] = buttons()
    session.runs[0].finish()
    effect.onPoll()
    report["buttonsWithPreview"], report["statusWithPreview"] = buttons(), effect.statusLabel.text
    effect.applyButton.click()
    report["log"] = session.log
elif scenario == "autoupdate":
    timer = effect.autoUpdateTimer
    effect.initializeButton.click()
    session.paint()  # during the first run: the update waits for it
    timer.fire()
    session.runs[0].finish()
    effect.onPoll()
    report["queuedFirst"] = [len(started()), len(session.runs)]
    session.runs[1].finish()
    effect.onPoll()
    report["settled"] = [len(started()), timer.active]
    before = timer.starts
    session.paint()
    session.paint()
    report["timer"] = [timer.active, timer.starts - before, timer.singleShot, 500 <= timer.interval <= 1000]
    timer.fire()
    report["afterPause"] = len(started())
    session.paint()
    timer.fire()  # a run goes: queued
    report["queuedStatus"] = effect.statusLabel.text
    report["whileComputing"] = [len(started()), buttons()]
    session.runs[-1].finish()
    effect.onPoll()  # its preview, then the queued update at once
    report["afterQueue"] = len(started())
    session.runs[-1].finish()
    effect.onPoll()
    effect.autoUpdateCheckBox.toggle(False)
    session.paint()
    report["autoUpdateOff"] = [timer.active, dict(effect.scriptedEffect.parameters)]
    effect.autoUpdateCheckBox.toggle(True)  # the strokes changed meanwhile: an update waits
    report["autoUpdateOn"] = timer.active
    effect.cancelButton.click()
    report["afterCancel"] = [timer.active, len(session.observers), buttons(), effect.statusLabel.text]
    session.paint()
    report["paintedAfterCancel"] = timer.active
    report["log"] = [entry[:-1] for entry in session.log]
elif scenario == "offercpu":
    effect.initializeButton.click()
    session.runs[0].fail(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    effect.onPoll()
    report["forceCPU"], report["started"] = parameterNode.forceCPU, started()
elif scenario == "switched":
    effect.initializeButton.click()
    shown["segmentation"] = other  # the user picks another segmentation in the editor during the run
    session.runs[0].finish()
    effect.onPoll()
    report["afterRun"] = [effect.statusLabel.text, buttons()]
    shown["segmentation"] = strokes
    effect.initializeButton.click()
    session.runs[1].finish()
    effect.onPoll()
    shown["segmentation"] = other
    effect.applyButton.click()
    report["applyElsewhere"] = [effect.statusLabel.text, buttons()]
    session.paint()  # the preview's strokes change (another module) while the editor shows the other one
    effect.autoUpdateTimer.fire()
    report["updateElsewhere"] = [effect.statusLabel.text, len(started())]
    effect.initializeButton.click()  # on the segmentation it shows now: the old preview goes first
    report["restarted"] = started()
    report["log"] = [entry[:-1] for entry in session.log]
report.update(seen, status=effect.statusLabel.text, buttons=buttons(), cursors=app.cursors)
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
    assert seen["atQuit"] == [["closeWorker"], ["cancelAll"], ["forgetAll"]]  # the kept process ends too


def test_initialize_is_disabled_while_pip_installs():
    seen = effect_run("close")
    assert seen["pipped"] == [["scikit-image>=0.20"]] and seen["initializeDuringInstall"] is False
    assert seen["errors"] == [] and seen["buttons"]["initialize"] == ["Initialize", True]  # the run has ended


def test_a_failed_install_offline_is_an_error_dialog_not_only_a_console_line():
    seen = effect_run("pipfails")
    assert seen["initializeDuringInstall"] is False
    assert len(seen["errors"]) == 1 and "Installing scikit-image>=0.20 failed" in seen["errors"][0]
    assert seen["status"] == "Not started: the required Python packages are not installed."
    assert seen["buttons"]["initialize"] == ["Initialize", True] and seen["cursors"] == 0


def test_initialize_shows_a_preview_and_apply_writes_it_through_the_editor_after_one_undo_state():
    seen = effect_run("apply")
    assert seen["buttonsAtStart"] == {"initialize": ["Initialize", True], "apply": False, "cancel": False}
    assert seen["buttonsWhileComputing"] == {"initialize": ["Update", True], "apply": False, "cancel": True}
    assert seen["buttonsWithPreview"] == {"initialize": ["Update", True], "apply": True, "cancel": True}
    assert seen["statusWithPreview"].startswith("Done in 3 s on CPU: 3 labels. Preview shown: Apply writes it")
    steps = [entry[:-1] for entry in seen["log"]]
    assert steps == [["startRun", "CT"], ["showPreview", "strokes preview"], ["saveStateForUndo"], ["writePreview"],
                     ["modifySegmentByLabelmap", "strokes", "Segment_1"],
                     ["modifySegmentByLabelmap", "strokes", "Segment_2"], ["removePreview"]]
    assert seen["status"] == "Wrote 2 structures into the segments; Undo brings the strokes back."
    assert seen["buttons"] == {"initialize": ["Initialize", True], "apply": False, "cancel": False}


def test_writing_the_volume_the_preview_and_the_segments_shows_a_wait_cursor_and_says_so():
    seen = effect_run("apply")
    probes = {entry[0]: entry[-1] for entry in seen["log"]}
    assert probes["startRun"][0] >= 1 and probes["startRun"][1] == "Writing CT for the run..."
    assert probes["showPreview"][0] >= 1 and probes["showPreview"][1] == "Showing the preview..."
    assert probes["writePreview"][0] >= 1 and probes["writePreview"][1] == "Writing the structures into the segments..."
    assert seen["statusMessages"][-1] == "" and seen["cursors"] == 0


def test_changed_strokes_start_an_update_after_a_pause_and_one_during_a_run_is_queued():
    seen = effect_run("autoupdate")
    assert seen["queuedFirst"] == [2, 2]  # painted during the first run: the update started as it ended
    assert seen["settled"] == [2, False]
    assert seen["timer"] == [True, 2, True, True]  # each stroke restarts the wait
    assert seen["afterPause"] == 3
    assert seen["queuedStatus"] == "The strokes changed: the preview is updated when this run ends."
    assert seen["whileComputing"][0] == 3 and seen["whileComputing"][1]["apply"] is True  # the last preview
    assert seen["afterQueue"] == 4
    assert seen["autoUpdateOff"] == [False, {"AutoUpdate": "0"}]
    assert seen["autoUpdateOn"] is True
    timerActive, observers, buttons, status = seen["afterCancel"]
    assert not timerActive and observers == 0 and buttons["apply"] is False and buttons["cancel"] is False
    assert status == "Preview dropped; the segments were left as they were."
    assert seen["paintedAfterCancel"] is False
    assert "writePreview" not in [entry[0] for entry in seen["log"]] and seen["log"][-1] == ["removePreview"]
    assert seen["errors"] == []


def test_running_out_of_gpu_memory_asks_whether_to_run_on_the_cpu_with_yes_and_no():
    seen = effect_run("offercpu")
    assert seen["errors"] == []  # a question, not an error box with only OK
    ((question, title),) = seen["questions"]
    assert "Run again on the CPU?" in question and title == "Out of GPU memory"
    assert seen["forceCPU"] is True and seen["started"] == ["CT", "CT"]


def test_nothing_is_shown_or_written_while_the_editor_shows_another_segmentation():
    seen = effect_run("switched")
    status, buttons = seen["afterRun"]
    assert status.startswith("Finished, but the Segment Editor now shows another segmentation or source volume")
    assert "'strokes'" in status and buttons["apply"] is False and buttons["cancel"] is False
    status, buttons = seen["applyElsewhere"]
    assert status.startswith("Not written:") and buttons["apply"] is True  # the preview waits for its segmentation
    assert ["writePreview"] not in seen["log"] and ["saveStateForUndo"] not in seen["log"]
    status, runs = seen["updateElsewhere"]
    assert status.startswith("The strokes of 'strokes' changed, but the Segment Editor now shows another") and runs == 2
    assert seen["log"][-2:] == [["removePreview"], ["startRun", "CT"]]
