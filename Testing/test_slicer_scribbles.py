"""Scribbles in the Slicer logic, on a real MRML scene: strokes painted into segments in, whole
segments with the same names and colours out, through the panel's child process."""
import time

import numpy as np
import pytest

from UnsupervisedCTSegLib.slicer import checkpoints
from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.results import Segmentation
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.tissues import Tissue
from UnsupervisedCTSegLib.evaluation.strokes import simulate_strokes, structure_masks
from UnsupervisedCTSegLib.io.phantom import make_phantom

COLOURS = [(0.8, 0.2, 0.2), (0.2, 0.7, 0.3), (0.95, 0.95, 0.85), (0.3, 0.3, 0.9)]
SETTINGS = Settings(iterations=8, channels=16, device="cpu")


@pytest.fixture
def painted(scene, logic):
    """The phantom as a volume node and a segmentation node holding simulated strokes, as a user
    would paint them: one segment per structure."""
    from UnsupervisedCTSegLib.slicer.logic import phantomVolumeNode

    volumeNode = phantomVolumeNode(scene, slices=6, size=96)
    volume, truth, _ = make_phantom(slices=6, size=96)
    body = body_mask(volume.hu, volume.spacing)
    strokes = simulate_strokes(structure_masks({"liver": truth == 6, "bone": truth == 10, "fat": truth == 4}, body),
                               2, seed=0)
    tissues = [Tissue(i, name, COLOURS[i - 1], 0.0, 0.0, 1) for i, name in enumerate(strokes.names, start=1)]
    applied = logic.applyResult(volumeNode, Segmentation(strokes.labels, tissues, {}, logic.volumeFromNode(volumeNode)),
                                name="strokes")
    return volumeNode, applied.segmentationNode, strokes


def wait(run, seconds=120):
    deadline = time.monotonic() + seconds
    while not run.done:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def finished_run(logic, volumeNode, strokesNode, settings=SETTINGS):
    """A scribble run on the strokes' segmentation through the child process, ended without error."""
    run = logic.startRun(logic.volumeFromNode(volumeNode), settings,
                         strokes=logic.strokesFromSegmentation(strokesNode, volumeNode))
    wait(run)
    assert run.error is None, run.details
    return run


def test_strokes_come_out_of_the_segments_with_their_names_and_colours(logic, painted):
    volumeNode, strokesNode, strokes = painted
    read = logic.strokesFromSegmentation(strokesNode, volumeNode)
    assert read.names == strokes.names
    assert np.array_equal(read.labels, strokes.labels)
    assert np.allclose(read.colors, COLOURS[:len(strokes.names)])
    assert all(term.startswith("Segmentation category and type") for term in read.terminologies)


def test_a_scribble_run_gives_whole_segments_named_as_the_strokes_and_a_rerun_starts_from_its_weights(
        scene, logic, painted, tmp_path):
    volumeNode, strokesNode, strokes = painted
    volume = logic.volumeFromNode(volumeNode)
    read = logic.strokesFromSegmentation(strokesNode, volumeNode)
    weights = checkpoints.path(volumeNode.GetID(), strokesNode.GetID())  # where the panel keeps it
    run = logic.startRun(volume, SETTINGS, strokes=read, weights=weights)
    wait(run)
    assert run.error is None, run.details
    applied = logic.applyResult(volumeNode, run.result)
    segmentation = applied.segmentationNode.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == list(strokes.names)
    assert np.allclose([segmentation.GetNthSegment(i).GetColor() for i in range(len(names))], COLOURS[:len(names)])
    labels = logic.labelsFromSegmentation(applied.segmentationNode, volumeNode)
    assert np.array_equal(labels, run.result.labels)  # geometry exact: the segments lie on the CT's grid
    assert np.array_equal(labels[strokes.labels > 0], strokes.labels[strokes.labels > 0])
    assert weights.is_file()
    rerun = logic.startRun(volume, SETTINGS, strokes=read, weights=weights)
    wait(rerun)
    assert rerun.error is None, rerun.details
    assert rerun.result.record["scribbles"]["resumed_from_previous_run"]
    checkpoints.forget(volumeNode.GetID())
    assert not weights.exists()


def test_a_cancelled_scribble_run_leaves_the_scene_and_the_weights_as_they_were(scene, logic, painted, tmp_path):
    volumeNode, strokesNode, strokes = painted
    nodes = scene.GetNumberOfNodes()
    weights = tmp_path / "strokes.weights.pt"
    run = logic.startRun(logic.volumeFromNode(volumeNode), Settings(iterations=100000, channels=16, device="cpu"),
                         strokes=logic.strokesFromSegmentation(strokesNode, volumeNode), weights=weights)
    time.sleep(1.0)
    run.cancel()
    assert run.done and isinstance(run.error, Cancelled)
    assert scene.GetNumberOfNodes() == nodes and not weights.exists()


def test_one_segment_is_not_enough(scene, logic, painted):
    volumeNode, strokesNode, strokes = painted
    segmentation = strokesNode.GetSegmentation()
    while segmentation.GetNumberOfSegments() > 1:
        segmentation.RemoveSegment(segmentation.GetNthSegmentID(1))
    with pytest.raises(InputError, match="one structure"):
        logic.strokesFromSegmentation(strokesNode, volumeNode)


def test_the_panel_takes_the_strokes_with_the_volume(scene, logic, painted):
    from UnsupervisedCTSegLib.slicer import panelrun

    volumeNode, strokesNode, strokes = painted
    volume, read, weights = panelrun.runInputs(logic, volumeNode, False, scene, scribblesNode=strokesNode,
                                               outputNode=strokesNode)
    assert np.array_equal(read.labels, strokes.labels) and weights.name.endswith(".weights.pt")
    assert panelrun.runInputs(logic, volumeNode, False, scene)[1:] == (None, None)


def test_replacing_the_strokes_segmentation_keeps_the_strokes_as_a_copy(scene, logic, painted):
    from UnsupervisedCTSegLib.slicer import panelrun

    volumeNode, strokesNode, strokes = painted
    volume = logic.volumeFromNode(volumeNode)
    run = finished_run(logic, volumeNode, strokesNode)
    job = panelrun.RunJob.forRun(volumeNode, SETTINGS, False, strokesNode, scribblesNode=strokesNode)
    nodes = scene.GetNumberOfNodes()
    broken = Segmentation(run.result.labels[:1], run.result.tissues, {}, volume)  # labels off their grid
    with pytest.raises(InputError):
        panelrun.applyJob(logic, scene, job, broken)
    assert scene.GetNumberOfNodes() == nodes  # a failed replacement leaves no copy behind
    assert np.array_equal(logic.labelsFromSegmentation(strokesNode, volumeNode), strokes.labels)

    applied = panelrun.applyJob(logic, scene, job, run.result)
    assert applied.segmentationNode is strokesNode
    assert np.array_equal(logic.labelsFromSegmentation(strokesNode, volumeNode), run.result.labels)
    kept = applied.previousNode
    assert kept is not None and kept is not strokesNode and kept.GetName() == "strokes strokes"
    again = logic.strokesFromSegmentation(kept, volumeNode)
    assert np.array_equal(again.labels, strokes.labels) and again.names == strokes.names
    assert np.allclose(again.colors, COLOURS[:len(strokes.names)])


def test_filling_the_stroke_segments_in_place_keeps_their_ids_names_and_colours(scene, logic, painted):
    """The Segment Editor effect's way of writing: the strokes' own segments get the structures."""
    volumeNode, strokesNode, strokes = painted
    segmentation = strokesNode.GetSegmentation()
    while segmentation.GetNumberOfSegments() > 2:  # two structures: in open output, clusters are left over
        segmentation.RemoveSegment(segmentation.GetNthSegmentID(2))
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    nodes = scene.GetNumberOfNodes()
    for output in ("strict", "open"):
        run = finished_run(logic, volumeNode, strokesNode, Settings(iterations=8, channels=16, device="cpu",
                                                                    scribble_output=output, scribble_method="network",
                                                                    classes=8))
        written = logic.fillStrokeSegments(strokesNode, volumeNode, run.result)
        assert written[:len(ids)] == ids and scene.GetNumberOfNodes() == nodes  # no node left behind
        assert [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())] == written
        names = [segmentation.GetSegment(i).GetName() for i in written]
        assert names[:len(ids)] == list(strokes.names[:len(ids)])
        assert np.allclose([segmentation.GetSegment(i).GetColor() for i in ids], COLOURS[:len(ids)])
        labels = logic.labelsFromSegmentation(strokesNode, volumeNode)
        expected = run.result.labels.copy()
        tissues = {t.label: t.name for t in run.result.tissues}
        extra = sorted(label for label, name in tissues.items() if label > len(ids) and name != "outside body")
        for position, label in enumerate(extra, start=len(ids) + 1):
            expected[run.result.labels == label] = position
        expected[~np.isin(run.result.labels, list(range(1, len(ids) + 1)) + extra)] = 0
        assert np.array_equal(labels, expected)  # voxels exact, on the CT's grid
        assert (len(written) > len(ids)) == (output == "open")  # open output: the extra labels as segments
        assert names[len(ids):] == [tissues[label] for label in extra]
        for segmentID in written[len(ids):]:  # back to the strokes' segments for the next round
            segmentation.RemoveSegment(segmentID)


def test_filling_refuses_a_result_whose_structures_are_no_longer_the_segments(scene, logic, painted):
    volumeNode, strokesNode, strokes = painted
    run = finished_run(logic, volumeNode, strokesNode)
    before = logic.labelsFromSegmentation(strokesNode, volumeNode)
    segmentation = strokesNode.GetSegmentation()
    segmentation.AddEmptySegment("", "added during the run", [0.5, 0.5, 0.5])
    with pytest.raises(InputError, match="segments changed"):
        logic.fillStrokeSegments(strokesNode, volumeNode, run.result)
    segmentation.RemoveSegment(segmentation.GetNthSegmentID(segmentation.GetNumberOfSegments() - 1))
    one_slice = Segmentation(run.result.labels[:1], run.result.tissues, run.result.record,
                             logic.axialSliceVolume(volumeNode, 0))
    with pytest.raises(InputError, match="whole grid"):
        logic.fillStrokeSegments(strokesNode, volumeNode, one_slice)
    assert np.array_equal(logic.labelsFromSegmentation(strokesNode, volumeNode), before)
