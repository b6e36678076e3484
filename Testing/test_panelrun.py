"""The panel's run decisions (slicer/panelrun.py): threads, the job record, the preview node, where a
result goes, what an ended run leads to, the CPU estimate's questions, the Apply button.

Scenes and nodes are real (slicer-core), results come from the engine on a tiny volume; a run is
a plain record with the interface of the panel's runs (context, cancelled, elapsed, error, details,
result), since what is tested is what the panel makes of it.
"""
import dataclasses
import os
import types

import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402
from helpers import blocks_volume, fast_settings  # noqa: E402

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError  # noqa: E402
from UnsupervisedCTSegLib.engine.settings import Settings  # noqa: E402
from UnsupervisedCTSegLib.slicer import panelrun  # noqa: E402
from UnsupervisedCTSegLib.slicer.logic import volumeNodeFromVolume  # noqa: E402

# --- threads and the job record ------------------------------------------------------------------


def test_a_run_gets_all_cores_but_one_and_at_least_one():
    assert panelrun.runThreads(16) == 15
    assert panelrun.runThreads(2) == 1
    assert panelrun.runThreads(1) == 1
    assert panelrun.runThreads() == max(1, panelrun.availableCores() - 1)


def test_available_cores_follow_the_affinity_else_the_count(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert panelrun.availableCores() == len(os.sched_getaffinity(0))
        monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert panelrun.availableCores() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable
    assert panelrun.availableCores() == 1


def test_run_job_is_a_typed_record():
    fields = {f.name: f.type for f in dataclasses.fields(panelrun.RunJob)}
    assert list(fields) == ["volumeNode", "settings", "preview", "outputNode", "createLabelmap", "device",
                            "estimate", "discard", "scribblesNode"]
    assert fields["settings"] == "Settings" and fields["preview"] == "bool" and fields["discard"] == "bool"


def test_a_preview_job_never_writes_to_the_output_nor_makes_a_labelmap():
    output, settings = object(), Settings()
    preview = panelrun.RunJob.forRun("volume", settings, True, output, True, "CPU (3 threads)")
    assert preview.outputNode is None and preview.createLabelmap is False
    assert (preview.device, preview.estimate, preview.discard) == ("CPU (3 threads)", None, False)
    whole = panelrun.RunJob.forRun("volume", settings, False, output, True)
    assert whole.outputNode is output and whole.createLabelmap is True and whole.settings is settings


# --- the preview node and where a result goes ----------------------------------------------------


@pytest.fixture
def ct(scene):
    return volumeNodeFromVolume(scene, blocks_volume(depth=3, size=24), "ct")


@pytest.fixture
def results(logic, ct):
    """(one-slice result, whole-volume result) of the engine on the blocks."""
    settings = fast_settings(iterations=2)
    return (logic.segment(logic.axialSliceVolume(ct, 1), settings),
            logic.segment(logic.volumeFromNode(ct), settings))


def segmentations(scene) -> list:
    return [scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]


def test_the_preview_node_is_the_segmentation_named_after_the_input(scene, ct):
    assert panelrun.previewName("ct") == "ct preview"
    assert panelrun.findPreviewNode(scene, ct) is None
    scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "ct preview")  # not a segmentation
    assert panelrun.findPreviewNode(scene, ct) is None
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "ct preview")
    assert panelrun.findPreviewNode(scene, ct) is None  # the first node of that name is the volume
    scene.RemoveNode(scene.GetFirstNodeByName("ct preview"))
    assert panelrun.findPreviewNode(scene, ct) is node
    assert panelrun.previewName("ct", lambda text: text.replace("preview", "Vorschau")) == "ct Vorschau"


def test_previews_reuse_one_preview_node(scene, logic, ct, results):
    job = panelrun.RunJob.forRun(ct, fast_settings(), preview=True)
    first = panelrun.applyJob(logic, scene, job, results[0]).segmentationNode
    second = panelrun.applyJob(logic, scene, job, results[0]).segmentationNode
    assert first is second and first.GetName() == "ct preview"
    assert segmentations(scene) == [first]


def test_a_whole_volume_run_makes_its_segmentation_and_hides_the_preview(scene, logic, ct, results):
    preview = panelrun.applyJob(logic, scene, panelrun.RunJob.forRun(ct, fast_settings(), True), results[0])
    job = panelrun.RunJob.forRun(ct, fast_settings(), False, None, createLabelmap=True)
    applied = panelrun.applyJob(logic, scene, job, results[1])
    assert applied.segmentationNode is not preview.segmentationNode
    assert applied.segmentationNode.GetName() == "ct segmentation"
    assert applied.labelmapNode is not None
    assert preview.segmentationNode.GetDisplayNode().GetVisibility() == 0


def test_a_whole_volume_run_replaces_its_output_or_makes_one_when_it_was_removed(scene, logic, ct, results):
    output = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mine")
    job = panelrun.RunJob.forRun(ct, fast_settings(), False, output)
    assert panelrun.applyJob(logic, scene, job, results[1]).segmentationNode is output
    scene.RemoveNode(output)  # during the next run
    applied = panelrun.applyJob(logic, scene, job, results[1])
    assert applied.segmentationNode is not output and scene.IsNodePresent(applied.segmentationNode)


def test_show_segmentation_shows_a_preview_in_2d_and_a_whole_run_in_3d_too(scene, logic, ct, results):
    job = panelrun.RunJob.forRun(ct, fast_settings(), True)
    preview = panelrun.applyJob(logic, scene, job, results[0]).segmentationNode
    preview.GetDisplayNode().SetVisibility(False)
    panelrun.showSegmentation(preview, preview=True)
    display = preview.GetDisplayNode()
    assert display.GetVisibility() and display.GetVisibility2D()
    assert not preview.GetSegmentation().ContainsRepresentation("Closed surface")
    whole = panelrun.applyJob(logic, scene, panelrun.RunJob.forRun(ct, fast_settings(), False), results[1])
    node = whole.segmentationNode
    node.GetDisplayNode().SetVisibility3D(False)
    panelrun.showSegmentation(node, preview=False)
    assert node.GetDisplayNode().GetVisibility3D()
    assert node.GetSegmentation().ContainsRepresentation("Closed surface")


# --- the slice a preview takes -----------------------------------------------------------------------


def redSliceNode(scene, translation):
    node = slicer.vtkMRMLSliceNode()
    node.SetName("Red")
    node.SetLayoutName("Red")
    node.SetSingletonTag("Red")
    scene.AddNode(node)
    matrix = vtk.vtkMatrix4x4()
    for row, value in enumerate(translation):
        matrix.SetElement(row, 3, value)
    node.GetSliceToRAS().DeepCopy(matrix)
    return node


def test_the_red_slice_centre_comes_from_the_layout_or_else_the_scene(scene):
    with pytest.raises(RuntimeError, match="no Red slice view"):
        panelrun.redSliceCenterRAS(scene)
    redSliceNode(scene, (5.0, -2.0, 12.5))
    assert panelrun.redSliceCenterRAS(scene) == [5.0, -2.0, 12.5]
    other = slicer.vtkMRMLSliceNode()
    other.GetSliceToRAS().SetElement(2, 3, -40.0)
    widget = types.SimpleNamespace(mrmlSliceNode=lambda: other)
    layout = types.SimpleNamespace(sliceWidget=lambda name: widget if name == "Red" else None)
    assert panelrun.redSliceCenterRAS(scene, layout) == [0.0, 0.0, -40.0]
    noViews = types.SimpleNamespace(sliceWidget=lambda name: None)
    assert panelrun.redSliceCenterRAS(scene, noViews) == [5.0, -2.0, 12.5]


def test_run_volume_is_the_red_views_slice_for_a_preview(scene, logic, ct):
    k = 2
    ijkToRAS = vtk.vtkMatrix4x4()
    ct.GetIJKToRASMatrix(ijkToRAS)
    redSliceNode(scene, [ijkToRAS.MultiplyPoint((0, 0, k, 1))[row] for row in range(3)])
    volume = panelrun.runInputs(logic, ct, True, scene)[0]
    assert volume.shape[0] == 1
    assert (volume.hu[0] == logic.volumeFromNode(ct).hu[k]).all()
    assert panelrun.runInputs(logic, ct, False, scene)[0].shape == logic.volumeFromNode(ct).shape


# --- what an ended run leads to -------------------------------------------------------------------------


def endedRun(ct, error=None, cancelled=False, discard=False, device="auto", record=None, details=""):
    job = panelrun.RunJob.forRun(ct, Settings(device=device), False)
    job.discard = discard
    result = types.SimpleNamespace(tissues=[1, 2, 3], record={} if record is None else record)
    return types.SimpleNamespace(context=job, error=error, cancelled=cancelled, elapsed=42.0, details=details,
                                 result=None if error else result)


def test_a_run_ended_by_a_scene_close_or_a_cancel_changes_nothing(scene, ct):
    outcome = panelrun.finishedRun(endedRun(ct, discard=True), scene)
    assert outcome == panelrun.Outcome("Stopped: the scene was closed.")
    for run in (endedRun(ct, cancelled=True), endedRun(ct, error=Cancelled("segmentation cancelled"))):
        outcome = panelrun.finishedRun(run, scene)
        assert outcome.status == "Cancelled after 42 s; the scene was left as it was."
        assert not (outcome.apply or outcome.message or outcome.offerCPU)


def test_gpu_out_of_memory_offers_the_cpu_but_not_on_the_cpu(scene, ct):
    error = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    outcome = panelrun.finishedRun(endedRun(ct, error=error), scene)
    assert outcome.offerCPU and outcome.title == "Out of GPU memory" and "Run again on the CPU?" in outcome.message
    assert outcome.status.startswith("Failed: CUDA out of memory")
    onCPU = panelrun.finishedRun(endedRun(ct, error=error, device="cpu"), scene)
    assert not onCPU.offerCPU and onCPU.title == "Segmentation failed"


def test_input_errors_are_shown_as_they_are_and_others_with_details(scene, ct):
    outcome = panelrun.finishedRun(endedRun(ct, error=InputError("the volume is a labelmap")), scene)
    assert (outcome.message, outcome.title, outcome.apply) == ("the volume is a labelmap", "Cannot segment this input", False)
    outcome = panelrun.finishedRun(endedRun(ct, error=ValueError("bad"), details="last lines"), scene)
    assert outcome.message == "Segmentation failed.\n\nbad" and outcome.details == "last lines"


def test_a_finished_run_is_applied_unless_its_input_was_removed(scene, ct):
    run = endedRun(ct, record={"device": "cuda:0 (NVIDIA H200)"})
    outcome = panelrun.finishedRun(run, scene)
    assert outcome.apply and outcome.device == "cuda:0 (NVIDIA H200)"
    assert outcome.status == "Done in 42 s on cuda:0 (NVIDIA H200): 3 labels."
    assert panelrun.finishedRun(endedRun(ct), scene).status == "Done in 42 s: 3 labels."
    scene.RemoveNode(ct)
    outcome = panelrun.finishedRun(run, scene)
    assert not outcome.apply and "input volume was removed" in outcome.status


# --- the CPU estimate's questions -------------------------------------------------------------------------


def test_a_run_estimated_within_a_minute_asks_nothing():
    assert panelrun.longRunQuestion(panelrun.LONG_CPU_RUN_SECONDS) is None
    assert panelrun.longRunQuestion(5.0) is None


def test_a_longer_run_asks_whether_to_go_on_naming_its_duration():
    question, title = panelrun.longRunQuestion(panelrun.LONG_CPU_RUN_SECONDS + 240)
    assert title == "Long run on the CPU" and "about 5 min" in question and "Go on with it?" in question
    translated = panelrun.longRunQuestion(600.0, lambda text: "<" + text + ">")
    assert translated[1] == "<Long run on the CPU>" and translated[0].startswith("<This run")


# --- the Apply button ----------------------------------------------------------------------------------------


def test_apply_button_reads_cancel_while_a_run_goes():
    assert panelrun.applyButtonState(True, False, False) == (
        "Apply", "Segment the whole input volume. While it runs this button cancels the run.", True)
    assert panelrun.applyButtonState(False, False, False) == ("Apply", "Select an input CT volume.", False)
    text, tooltip, enabled = panelrun.applyButtonState(True, True, False)
    assert (text, enabled) == ("Cancel", True) and "End the run's process" in tooltip
    assert panelrun.applyButtonState(True, True, True)[::2] == ("Cancelling...", False)
