"""The Segment Editor effect on a slicer-core scene: Initialize, the preview, auto-update, Apply, Undo.

The effect's file runs in a fresh interpreter as the Segment Editor runs it, with slicer-core's
slicer and vtk (a real scene, segmentation and editor node), stand-ins for Qt (panel_fakes.py), for
the editor's side of an effect (segment_editor_standin.py: undo, the aligned source volume and
modifySegmentByLabelmap by Slicer's rules) and for the child process (a fake logic whose runs the
scenario ends with a result on the CT's grid). What each scenario saw comes back as JSON.
"""
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("slicer")

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"
EFFECT = MODULE_DIR / "SegmentEditorUnsupervisedCTSegLib" / "SegmentEditorEffect.py"

EFFECT_ON_A_SCENE = r"""
import contextlib, importlib.util, json, sys, types

module_dir, effect_file, testing_dir, scenario = sys.argv[1:5]
sys.path[:0] = [testing_dir, module_dir]
import slicer, slicer.util  # slicer-core's: the scene, segmentations, VTK

import panel_fakes as fakes
import standin_application
from panel_fakes import Anything

standin_application.install(lambda name: Anything(), modules=("qt", "ctk"))
import qt

i18n = types.ModuleType("slicer.i18n")
i18n.tr = lambda text: text
sys.modules["slicer.i18n"], slicer.i18n = i18n, i18n
seen = {"errors": [], "questions": []}
app = fakes.Application()
slicer.app = app


@contextlib.contextmanager
def tryWithErrorDisplay(message="", waitCursor=False):
    try:
        yield
    except Exception as error:
        seen["errors"].append(f"{message} {error}")


slicer.util.tryWithErrorDisplay = tryWithErrorDisplay
slicer.util.errorDisplay = lambda text, **kwargs: seen["errors"].append(text)
slicer.util.confirmYesNoDisplay = lambda text, **kwargs: seen["questions"].append(text) or True
slicer.util.showStatusMessage = lambda message, duration=0: None
qt.QPushButton, qt.QLabel, qt.QCheckBox = fakes.EffectButton, fakes.EffectLabel, fakes.EffectCheckBox
qt.QProgressBar, qt.QTimer = lambda: fakes.Widget("bar"), fakes.Timer

session = fakes.Session()
sys.modules.update(session.modules())  # the child process, its checkpoints and the logic: fakes; editorwrite: real
import editor_scene
import segment_editor_standin as standin
from editor_scene import STROKES, box

slicer.qSlicerSegmentEditorAbstractEffect = standin.MODES
s = editor_scene.Scene(log=session.log)
slicer.mrmlScene = s.scene


class AbstractScriptedSegmentEditorEffect:
    def __init__(self, scriptedEffect):
        self.scriptedEffect = scriptedEffect


sys.modules["SegmentEditorEffects"] = types.SimpleNamespace(
    AbstractScriptedSegmentEditorEffect=AbstractScriptedSegmentEditorEffect)
from UnsupervisedCTSegLib.slicer import install

sys.modules["UnsupervisedCTSeg"] = types.SimpleNamespace(
    installer=lambda: install.Installer(f"{module_dir}/Resources/requirements.txt", torchInstalled=lambda: True,
                                        missingPackages=lambda requirements: []),
    getParameterNode=lambda: None, parameterValues=lambda node: {})
spec = importlib.util.spec_from_file_location("SegmentEditorEffect", effect_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

effect = module.SegmentEditorEffect(s.effect)
effect.setMRMLDefaults()
effect.setupOptionsFrame()
effect.updateGUIFromMRML()  # as the Segment Editor does for each of its effects


def masks():
    return {name: mask.tolist() for name, mask in s.masks().items()}


def previews():
    nodes = [s.scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
             for i in range(s.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]
    return [node for node in nodes if node.GetAttribute("UnsupervisedCTSeg.EditorPreview")]


def previewed(node):
    segmentation = node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    names = {segmentID: name for name, segmentID in s.ids.items()}
    return {"segments": [names.get(i, i) for i in ids], "hidden": bool(node.GetHideFromEditors()),
            "saved": bool(node.GetSaveWithScene()),
            "voxels": {names[i]: standin.segmentMask(node, i, s.geometry()).tolist() for i in ids if i in names}}


def strokeNames(run):
    return list(run.options["strokes"].names)


report = {"before": masks()}
timer = effect.autoUpdateTimer
if scenario == "apply":
    effect.initializeButton.click()
    run = session.runs[0]
    report["strokes"] = strokeNames(run)
    report["strokesLabels"] = run.options["strokes"].labels.tolist()
    run.finish(s.result())
    effect.onPoll()
    (node,) = previews()
    report["preview"] = previewed(node)
    report["whilePreviewing"] = [masks(), s.segmentationNode.GetDisplayNode().GetOpacity(), effect.statusLabel.text]
    effect.applyButton.click()
    report["applied"] = [masks(), len(previews()), s.segmentationNode.GetDisplayNode().GetOpacity(),
                         effect.statusLabel.text]
    report["log"] = [entry[0] for entry in session.log if entry[0] in ("saveStateForUndo", "modifySegmentByLabelmap")]
    s.effect.undo()
    report["undone"] = masks()
elif scenario == "autoupdate":
    s.editorNode.SetOverwriteMode(slicer.vtkMRMLSegmentEditorNode.OverwriteVisibleSegments)
    effect.initializeButton.click()
    session.runs[0].finish(s.result())
    effect.onPoll()
    report["opacity"] = s.segmentationNode.GetDisplayNode().GetOpacity()  # the effect's own change: no update
    report["timerAfterPreview"] = timer.active
    s.paint("liver", STROKES["liver"] | box(z=2, y=3, x=1))  # a stroke more, with Paint
    report["timerAfterPainting"] = timer.active
    timer.fire()
    strokes = session.runs[1].options["strokes"]
    report["secondStrokes"] = [list(strokes.names), int((strokes.labels == 1).sum())]
    s.segmentationNode.GetDisplayNode().SetSegmentVisibility(s.ids["fat"], False)  # hidden: no structure any more
    timer.fire()  # a run goes: queued
    session.runs[1].finish(s.result())
    effect.onPoll()  # its preview, then the queued run at once
    report["thirdStrokes"] = strokeNames(session.runs[2])
    session.runs[2].finish(s.result(names=("liver", "bone")))
    effect.onPoll()
    (node,) = previews()
    report["preview"] = previewed(node)
    effect.applyButton.click()
    report["applied"] = masks()
    report["runs"] = len(session.runs)
elif scenario == "switched":
    other = s.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "other strokes")
    effect.initializeButton.click()
    s.editorNode.SetAndObserveSegmentationNode(other)  # the user picks another segmentation during the run
    session.runs[0].finish(s.result())
    effect.onPoll()
    report["afterRun"] = [len(previews()), effect.statusLabel.text, masks()]
elif scenario == "close":
    effect.initializeButton.click()
    session.runs[0].finish(s.result())
    effect.onPoll()
    effect.initializeButton.click()  # Update: a second run goes
    s.scene.Clear(0)
    effect.onPoll()
    report["afterClose"] = [effect.statusLabel.text, effect.session.state, len(session.observers),
                            effect.applyButton.enabled]
report.update(seen)
print(json.dumps(report))
"""


@functools.lru_cache(maxsize=None)
def effect_on_a_scene(scenario: str) -> dict:
    run = subprocess.run([sys.executable, "-c", EFFECT_ON_A_SCENE, str(MODULE_DIR), str(EFFECT),
                          str(Path(__file__).parent), scenario], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"the effect failed in scenario {scenario}:\n" + run.stderr[-4000:]
    return json.loads(run.stdout.splitlines()[-1])


def regions(*names):
    from editor_scene import REGIONS

    return {name: REGIONS[name].tolist() for name in names}


def test_initialize_learns_from_the_visible_segments_and_shows_a_preview_without_touching_them():
    seen = effect_on_a_scene("apply")
    assert seen["strokes"] == ["liver", "bone", "fat"]  # the hidden segments are no strokes
    preview = seen["preview"]
    assert preview["segments"] == ["liver", "bone", "fat"] and preview["hidden"] and not preview["saved"]
    assert preview["voxels"] == regions("liver", "bone", "fat")
    segments, opacity, status = seen["whilePreviewing"]
    assert segments == seen["before"] and opacity == pytest.approx(0.4)
    assert status == "Done in 3 s on CPU: 4 labels. Preview shown: Apply writes it into the segments, Cancel drops it."
    assert seen["errors"] == []


def test_apply_writes_through_the_editor_in_one_undo_state_and_undo_brings_the_strokes_back():
    seen = effect_on_a_scene("apply")
    segments, previews, opacity, status = seen["applied"]
    for name in ("liver", "bone", "fat"):
        assert segments[name] == regions(name)[name], name
    assert previews == 0 and opacity == pytest.approx(1.0)
    assert status == "Wrote 3 structures into the segments; Undo brings the strokes back."
    assert seen["log"] == ["saveStateForUndo"] + ["modifySegmentByLabelmap"] * 3
    assert seen["undone"] == seen["before"]


def test_painting_and_hiding_a_segment_update_the_preview_and_apply_leaves_the_hidden_one_alone():
    seen = effect_on_a_scene("autoupdate")
    assert seen["opacity"] == pytest.approx(0.4) and seen["timerAfterPreview"] is False
    assert seen["timerAfterPainting"] is True
    assert seen["secondStrokes"] == [["liver", "bone", "fat"], 2]  # the new stroke is in
    assert seen["thirdStrokes"] == ["liver", "bone"]
    assert seen["preview"]["segments"] == ["liver", "bone"]
    applied = seen["applied"]
    assert applied["liver"] == regions("liver")["liver"] and applied["bone"] == regions("bone")["bone"]
    assert applied["fat"] == seen["before"]["fat"]  # hidden: not written, and not overwritten (visible segments only)
    assert seen["runs"] == 3 and seen["errors"] == []


def test_a_run_that_ends_after_the_editor_switched_segmentation_shows_and_writes_nothing():
    seen = effect_on_a_scene("switched")
    previews, status, segments = seen["afterRun"]
    assert previews == 0 and status.startswith("Finished, but the Segment Editor now shows another segmentation")
    assert segments == seen["before"]


def test_a_scene_close_during_an_update_ends_the_session():
    seen = effect_on_a_scene("close")
    assert seen["afterClose"] == ["Stopped: the scene was closed.", "idle", 0, False]
    assert seen["errors"] == []
