"""The module's self-tests, written once for Slicer and for pytest.

Each test is a plain function ``test_xxx(scene, delayDisplay=print)`` that uses only the Slicer
logic and raises AssertionError with a message on failure. The module's ScriptedLoadableModuleTest
calls them with ``slicer.mrmlScene`` and its ``delayDisplay``; pytest calls them with a fresh
``slicer.vtkMRMLScene()`` from slicer-core. So what is tested inside Slicer and in CI is the same
code. Volumes are tiny and training is short: each test takes seconds on a CPU.
"""
from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..evaluation import consistency
from ..engine.errors import Cancelled, InputError
from ..engine.settings import Settings
from .logic import (RUN_RECORD_ATTRIBUTE, UnsupervisedCTSegLogic, phantomVolumeNode,
                          volumeNodeFromVolume)

TOL = 1e-4


def fastSettings(**overrides) -> Settings:
    """Settings that train for seconds on a CPU; the same seed gives the same labels."""
    values = dict(layers=2, channels=8, iterations=5, train_size=64, device="cpu")
    values.update(overrides)
    return Settings(**values)


def smallPhantom(scene, name="UnsupervisedCTSeg phantom"):
    """A 4-slice 96 x 96 phantom volume node."""
    return phantomVolumeNode(scene, name=name, slices=4, size=96)


def check(condition, message: str) -> None:
    """assert that also runs under python -O and says what went wrong."""
    if not condition:
        raise AssertionError(message)


def referenceGeometry(segmentationNode) -> tuple:
    """(IJKToRAS 4x4, extent) of the segmentation's reference image geometry."""
    text = segmentationNode.GetSegmentation().GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName())
    numbers = [float(v) for v in text.split(";") if v.strip()]
    check(len(numbers) == 22, f"reference geometry '{text}' is not a 4x4 matrix and an extent")
    return np.array(numbers[:16]).reshape(4, 4), tuple(int(v) for v in numbers[16:])


def imageGeometry(image) -> np.ndarray:
    """IJKToRAS 4x4 of a segment's vtkOrientedImageData."""
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def nodeGeometry(volumeNode) -> np.ndarray:
    """IJKToRAS 4x4 of a volume node."""
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def sceneNodeIDs(scene) -> list:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def checkSegmentsMatch(logic, segmentationNode, volumeNode, result) -> None:
    """One segment per tissue with its name and colour, and voxels equal to the engine's labels."""
    segmentation = segmentationNode.GetSegmentation()
    check(segmentation.GetNumberOfSegments() == len(result.tissues),
          f"{segmentation.GetNumberOfSegments()} segments for {len(result.tissues)} tissues")
    byName = {segmentation.GetNthSegment(i).GetName(): segmentation.GetNthSegment(i)
              for i in range(segmentation.GetNumberOfSegments())}
    for tissue in result.tissues:
        segment = byName.get(tissue.name)
        check(segment is not None, f"no segment named '{tissue.name}' (have {sorted(byName)})")
        check(np.allclose(segment.GetColor(), tissue.color[:3], atol=1e-6),
              f"segment '{tissue.name}' colour {segment.GetColor()} != {tissue.color}")
    labels = logic.labelsFromSegmentation(segmentationNode, volumeNode)
    check(labels.shape == result.labels.shape, f"labels read back with shape {labels.shape}, not {result.labels.shape}")
    differ = int(np.count_nonzero(labels != result.labels))
    check(differ == 0, f"{differ} voxels of the segmentation differ from the engine's labels")


# ---------------------------------------------------------------------- tests

def test_phantom_segmentation(scene, delayDisplay=print):
    """Phantom -> segmentation: segments, names, colours, voxels and geometry equal the engine's."""
    delayDisplay("Segmenting a small phantom")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    display = volumeNode.GetDisplayNode()
    check(abs(display.GetWindow() - 400) < 1e-6 and abs(display.GetLevel() - 40) < 1e-6,
          "the phantom is not shown in a 400/40 CT window")
    result = logic.segment(logic.volumeFromNode(volumeNode), fastSettings())
    applied = logic.applyResult(volumeNode, result)
    checkSegmentsMatch(logic, applied.segmentationNode, volumeNode, result)

    matrix, extent = referenceGeometry(applied.segmentationNode)
    nx, ny, nz = volumeNode.GetImageData().GetDimensions()
    check(np.allclose(matrix, nodeGeometry(volumeNode), atol=TOL), "reference geometry is not the input's grid")
    check(extent == (0, nx - 1, 0, ny - 1, 0, nz - 1), f"reference extent {extent} is not the input's")
    segmentation = applied.segmentationNode.GetSegmentation()
    image = segmentation.GetNthSegment(0).GetRepresentation("Binary labelmap")
    check(np.allclose(imageGeometry(image), nodeGeometry(volumeNode), atol=TOL), "labelmap is not on the input's grid")
    check(applied.segmentationNode.GetAttribute(RUN_RECORD_ATTRIBUTE), "no run record on the segmentation node")
    delayDisplay("Phantom segmentation matches the engine")


def test_rerun_replaces_segments(scene, delayDisplay=print):
    """A second run into the same segmentation replaces its segments and reuses the review nodes."""
    delayDisplay("Re-running into the same segmentation")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    first = logic.run(volumeNode, fastSettings())
    count = scene.GetNumberOfNodes()
    result = logic.segment(logic.volumeFromNode(volumeNode), fastSettings(seed=1, iterations=3))
    second = logic.applyResult(volumeNode, result, segmentationNode=first.segmentationNode)
    check(second.segmentationNode is first.segmentationNode, "a new segmentation node was made")
    check(second.tableNode is first.tableNode and second.plotChartNode is first.plotChartNode,
          "the consistency table or chart was not reused")
    check(scene.GetNumberOfNodes() == count, f"re-run changed the node count {count} -> {scene.GetNumberOfNodes()}")
    checkSegmentsMatch(logic, second.segmentationNode, volumeNode, result)
    delayDisplay("Re-run replaced the segments")


def test_consistency_table(scene, delayDisplay=print):
    """The consistency table has one row per slice with the values of consistency.slice_consistency."""
    delayDisplay("Checking the slice consistency table")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    result = logic.segment(logic.volumeFromNode(volumeNode), fastSettings())
    applied = logic.applyResult(volumeNode, result)
    table = applied.tableNode
    depth = volumeNode.GetImageData().GetDimensions()[2]
    check(table.GetNumberOfRows() == depth, f"{table.GetNumberOfRows()} table rows for {depth} slices")
    expected = consistency.slice_consistency(result.labels)
    for column, values in expected.items():
        array = table.GetTable().GetColumnByName(column)
        check(array is not None, f"table has no column '{column}'")
        got = np.array([array.GetTuple1(i) for i in range(array.GetNumberOfTuples())])
        check(np.allclose(got, values, equal_nan=True), f"column '{column}' is {got}, expected {values}")
    check(applied.plotChartNode.GetNumberOfPlotSeriesNodes() == 2, "the chart does not have two series")
    delayDisplay("Consistency table is right")


def test_preview_slice(scene, delayDisplay=print):
    """Previewing one slice gives a one-slice segmentation lying on that slice of the input."""
    delayDisplay("Previewing one slice")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    k = 2
    sliceVolume = logic.axialSliceVolume(volumeNode, k)
    result = logic.segment(sliceVolume, fastSettings())
    applied = logic.applyResult(volumeNode, result)
    segmentation = applied.segmentationNode.GetSegmentation()
    image = segmentation.GetNthSegment(0).GetRepresentation("Binary labelmap")
    expectedOrigin = (nodeGeometry(volumeNode) @ np.array([0, 0, k, 1.0]))[:3]
    check(np.allclose(imageGeometry(image)[:3, 3], expectedOrigin, atol=TOL),
          f"preview lies at {imageGeometry(image)[:3, 3]}, not on slice {k} at {expectedOrigin}")
    labels = logic.labelsFromSegmentation(applied.segmentationNode, volumeNode)
    check(np.array_equal(labels[k], result.labels[0]), "preview voxels differ from the engine's")
    check(not np.any(np.delete(labels, k, axis=0)), "preview has voxels outside its slice")
    check(applied.tableNode is None and applied.plotChartNode is None, "a one-slice preview got a consistency review")
    delayDisplay("Preview is on the right slice")


def test_outside_body_segment_and_clean_up(scene, delayDisplay=print):
    """Body mask with an "outside body" segment and both clean-ups: one more segment, hidden in 3D."""
    delayDisplay("Segmenting with an 'outside body' segment and clean-up")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    settings = fastSettings(body_mask=True, outside_segment=True, min_island_mm3=20.0, fill_holes=True)
    result = logic.segment(logic.volumeFromNode(volumeNode), settings)
    names = [t.name for t in result.tissues]
    check(names.count("outside body") == 1 and names[-1] == "outside body",
          f"expected one 'outside body' tissue, last; got {names}")
    check(bool(np.all(result.labels > 0)), "with an 'outside body' segment every voxel should have a label")
    applied = logic.applyResult(volumeNode, result)
    checkSegmentsMatch(logic, applied.segmentationNode, volumeNode, result)
    segmentation = applied.segmentationNode.GetSegmentation()
    display = applied.segmentationNode.GetDisplayNode()
    for i in range(segmentation.GetNumberOfSegments()):
        name = segmentation.GetNthSegment(i).GetName()
        shown = display.GetSegmentVisibility3D(segmentation.GetNthSegmentID(i))
        check(shown == (name != "outside body"), f"segment '{name}' is {'shown' if shown else 'hidden'} in 3D")
    delayDisplay("The 'outside body' segment is there, shown in the slice views only")


def test_cancel_leaves_scene_unchanged(scene, delayDisplay=print):
    """A cancelled run raises Cancelled and adds, removes and changes no node."""
    delayDisplay("Cancelling a run")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    before = sceneNodeIDs(scene)
    try:
        logic.run(volumeNode, fastSettings(), cancel=lambda: True)
    except Cancelled:
        pass
    else:
        raise AssertionError("the cancelled run did not raise Cancelled")
    check(sceneNodeIDs(scene) == before, "a cancelled run changed the scene's nodes")
    delayDisplay("Cancel left the scene alone")


def test_bad_inputs_are_refused(scene, delayDisplay=print):
    """No volume and a labelmap are refused with a message saying what to choose instead."""
    delayDisplay("Checking input errors")
    logic = UnsupervisedCTSegLogic(scene)
    ct = volumeNodeFromVolume(scene, logic.volumeFromNode(smallPhantom(scene)), "copy of the phantom")
    labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    labelmapNode.SetAndObserveImageData(ct.GetImageData())  # CT voxels, but a labelmap node
    for node, words in ((None, "select an input volume"), (labelmapNode, "not a labelmap")):
        try:
            logic.volumeFromNode(node)
        except InputError as error:
            check(words in str(error), f"message '{error}' does not say '{words}'")
        else:
            raise AssertionError(f"{node} was accepted as input")
    delayDisplay("Bad inputs are refused")


ALL_TESTS = [
    test_phantom_segmentation,
    test_rerun_replaces_segments,
    test_consistency_table,
    test_preview_slice,
    test_outside_body_segment_and_clean_up,
    test_cancel_leaves_scene_unchanged,
    test_bad_inputs_are_refused,
]
