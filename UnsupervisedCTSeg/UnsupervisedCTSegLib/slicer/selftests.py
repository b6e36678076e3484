"""The module's self-tests, written once for Slicer and for pytest.

Each test is a plain function ``test_xxx(scene, delayDisplay=print)`` that uses only the Slicer
logic and raises AssertionError with a message on failure. The module's ScriptedLoadableModuleTest
calls them with ``slicer.mrmlScene`` and its ``delayDisplay``; pytest calls them with a fresh
``slicer.vtkMRMLScene()`` from slicer-core (Testing/test_selftests.py). So what is tested inside
Slicer and in CI is the same code, and the pytest suite has no second copy of these tests: the
Slicer logic tests that only make sense in pytest (failure injection, parametrized hostile CT volumes,
geometry round trips) live in Testing/. Volumes are tiny and training is short (testsettings.py):
each test takes seconds on a CPU.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..engine.errors import Cancelled, InputError
from ..engine.tissues import OUTSIDE_NAME
from ..evaluation import consistency
from .logic import RUN_RECORD_ATTRIBUTE, UnsupervisedCTSegLogic, phantomVolumeNode
from .testsettings import fast_settings

TOL = 1e-4


# ---------------------------------------------------------------------- helpers

def check(condition, message: str) -> None:
    """assert that also runs under python -O and says what went wrong."""
    if not condition:
        raise AssertionError(message)


def expectError(errorClass, call, what: str) -> BaseException:
    """The errorClass exception that call() raises; AssertionError naming `what` if it raises none."""
    try:
        call()
    except errorClass as error:
        return error
    raise AssertionError(f"{what} did not raise {errorClass.__name__}")


def smallPhantom(scene, name="UnsupervisedCTSeg phantom"):
    """A 4-slice 96 x 96 phantom volume node."""
    return phantomVolumeNode(scene, name=name, slices=4, size=96)


def tiltedPhantom(scene, name="tilted phantom"):
    """smallPhantom turned 30 degrees about S and 10 about R, away from the RAS origin: no axis is
    aligned, so a grid that is transposed, unflipped or shifted cannot pass a geometry check."""
    volumeNode = smallPhantom(scene, name)
    a, b = np.radians(30.0), np.radians(10.0)
    aboutS = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    aboutR = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    directions = aboutS @ aboutR @ (nodeGeometry(volumeNode)[:3, :3] / np.array(volumeNode.GetSpacing()))
    volumeNode.SetIJKToRASDirections(*directions.ravel())  # row-major; columns are the i, j, k axes
    volumeNode.SetOrigin(-10.5, 20.25, -30.0)
    return volumeNode


def imageNode(scene, className: str, name: str, dimensions, scalarType: int, components: int):
    """A volume node of `className` holding freshly allocated image data of that layout."""
    node = scene.AddNewNodeByClass(className, name)
    image = vtk.vtkImageData()
    image.SetDimensions(*dimensions)
    image.AllocateScalars(scalarType, components)
    node.SetAndObserveImageData(image)
    return node


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


def voxelArray(volumeNode) -> np.ndarray:
    """A volume node's voxels as a (z, y, x) view of its VTK buffer (no copy)."""
    image = volumeNode.GetImageData()
    nx, ny, nz = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)


def segmentMask(segment, shape) -> np.ndarray:
    """A segment's own voxels on a (z, y, x) grid of `shape`, read straight from its binary labelmap
    (which it may share with other segments, each with its own label value)."""
    image = segment.GetRepresentation("Binary labelmap")
    i0, i1, j0, j1, k0, k1 = image.GetExtent()
    mask = np.zeros(shape, bool)
    if i1 >= i0 and j1 >= j0 and k1 >= k0:
        voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
        voxels = voxels.reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
        mask[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = voxels == segment.GetLabelValue()
    return mask


def segmentNames(segmentationNode) -> list:
    segmentation = segmentationNode.GetSegmentation()
    return [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]


def sceneNodeIDs(scene) -> list:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def sceneState(scene) -> list:
    """Every node's ID, class and name; a volume's voxels (hashed) and grid; a segmentation's segments:
    what a refused or cancelled run must leave exactly as it was."""
    state = []
    for i in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(i)
        entry = [node.GetID(), node.GetClassName(), node.GetName()]
        if isinstance(node, slicer.vtkMRMLVolumeNode) and node.GetImageData() is not None:
            scalars = node.GetImageData().GetPointData().GetScalars()
            if scalars is not None:
                entry.append(hashlib.sha256(numpy_support.vtk_to_numpy(scalars).tobytes()).hexdigest())
            entry.append(tuple(nodeGeometry(node).ravel()))
        if isinstance(node, slicer.vtkMRMLSegmentationNode):
            segmentation = node.GetSegmentation()
            entry.append(tuple(segmentation.GetNthSegmentID(k) for k in range(segmentation.GetNumberOfSegments())))
            entry.append(tuple(segmentNames(node)))
        state.append(tuple(entry))
    return state


def checkSegmentsMatch(logic, segmentationNode, volumeNode, result) -> None:
    """One segment per tissue with its name and colour, whose own voxels are labels == tissue.label
    on the input's grid; and the whole segmentation read back equals the engine's labels."""
    segmentation = segmentationNode.GetSegmentation()
    check(segmentation.GetNumberOfSegments() == len(result.tissues),
          f"{segmentation.GetNumberOfSegments()} segments for {len(result.tissues)} tissues")
    byName = {segmentation.GetNthSegment(i).GetName(): segmentation.GetNthSegment(i)
              for i in range(segmentation.GetNumberOfSegments())}
    grid = nodeGeometry(volumeNode)
    for tissue in result.tissues:
        segment = byName.get(tissue.name)
        check(segment is not None, f"no segment named '{tissue.name}' (have {sorted(byName)})")
        check(np.allclose(segment.GetColor(), tissue.color[:3], atol=1e-6),
              f"segment '{tissue.name}' colour {segment.GetColor()} != {tissue.color}")
        differ = int(np.count_nonzero(segmentMask(segment, result.labels.shape) != (result.labels == tissue.label)))
        check(differ == 0, f"{differ} voxels of segment '{tissue.name}' differ from the engine's label {tissue.label}")
        check(np.allclose(imageGeometry(segment.GetRepresentation("Binary labelmap")), grid, atol=TOL),
              f"the labelmap of segment '{tissue.name}' is not on the input's grid")
    labels = logic.labelsFromSegmentation(segmentationNode, volumeNode)
    check(labels.shape == result.labels.shape, f"labels read back with shape {labels.shape}, not {result.labels.shape}")
    differ = int(np.count_nonzero(labels != result.labels))
    check(differ == 0, f"{differ} voxels of the segmentation differ from the engine's labels")


def withoutTimes(record: dict) -> dict:
    """A run record as JSON data, less what differs between two identical runs (the clock)."""
    return {key: value for key, value in json.loads(json.dumps(record)).items()
            if key not in ("created", "wall_seconds")}


# ---------------------------------------------------------------------- tests

def test_phantom_segmentation(scene, delayDisplay=print):
    """Tilted phantom -> segmentation: its name, segments, colours, each segment's voxels and grid,
    the reference geometry and the run record are the engine's; no labelmap unless asked for."""
    delayDisplay("Segmenting a small tilted phantom")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = tiltedPhantom(scene)
    display = volumeNode.GetDisplayNode()
    check(not display.GetAutoWindowLevel() and abs(display.GetWindow() - 400) < 1e-6
          and abs(display.GetLevel() - 40) < 1e-6, "the phantom is not shown in a fixed 400/40 CT window")
    settings = fast_settings()
    applied = logic.run(volumeNode, settings)
    result = logic.segment(logic.volumeFromNode(volumeNode), settings)  # the same seed gives the same labels
    segmentationNode = applied.segmentationNode
    check(segmentationNode.GetName() == "tilted phantom segmentation", f"output named '{segmentationNode.GetName()}'")
    check(segmentationNode.GetDisplayNode() is not None, "the segmentation has no display node")
    check(len(result.tissues) >= 3, f"the phantom gave only {len(result.tissues)} tissues")
    checkSegmentsMatch(logic, segmentationNode, volumeNode, result)

    matrix, extent = referenceGeometry(segmentationNode)
    nx, ny, nz = volumeNode.GetImageData().GetDimensions()
    check(np.allclose(matrix, nodeGeometry(volumeNode), atol=TOL), "reference geometry is not the input's grid")
    check(extent == (0, nx - 1, 0, ny - 1, 0, nz - 1), f"reference extent {extent} is not the input's")
    text = segmentationNode.GetAttribute(RUN_RECORD_ATTRIBUTE)
    check(text, "no run record on the segmentation node")
    record = json.loads(text)
    recorded = (record.get("seed"), record.get("settings", {}).get("iterations"))
    check(recorded == (settings.seed, settings.iterations), f"the run record has (seed, T) {recorded}")
    check(withoutTimes(record) == withoutTimes(result.record), "the run record is not the engine's record of this run")
    check(applied.labelmapNode is None, "a labelmap was made without being asked for")
    delayDisplay("Phantom segmentation matches the engine")


def test_rerun_replaces_segments(scene, delayDisplay=print):
    """A second run into the same output replaces its segments and labelmap voxels and reuses every
    node: the scene has the same nodes as after the first run."""
    delayDisplay("Re-running into the same segmentation")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    first = logic.run(volumeNode, fast_settings(iterations=2, channels=16, min_labels=1), createLabelmap=True)
    ids = sceneNodeIDs(scene)
    settings = fast_settings(seed=3, iterations=8)
    second = logic.run(volumeNode, settings, segmentationNode=first.segmentationNode, createLabelmap=True)
    result = logic.segment(logic.volumeFromNode(volumeNode), settings)  # the same seed gives the same labels
    check(sceneNodeIDs(scene) == ids, f"re-run changed the scene's nodes {ids} -> {sceneNodeIDs(scene)}")
    for name in ("segmentationNode", "labelmapNode", "tableNode", "plotChartNode"):
        check(getattr(second, name) is getattr(first, name), f"the re-run made a new {name}")
    checkSegmentsMatch(logic, second.segmentationNode, volumeNode, result)
    check(np.array_equal(voxelArray(second.labelmapNode), result.labels), "the labelmap does not hold the new labels")
    delayDisplay("Re-run replaced the segments")


def test_consistency_table(scene, delayDisplay=print):
    """The consistency table has one row per slice with the values of consistency.slice_consistency,
    and its chart plots identical fraction and ARI against slice on a fixed 0..1 axis."""
    delayDisplay("Checking the slice consistency table and chart")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene, "ct")
    result = logic.segment(logic.volumeFromNode(volumeNode), fast_settings())
    applied = logic.applyResult(volumeNode, result)
    table = applied.tableNode
    depth = volumeNode.GetImageData().GetDimensions()[2]
    check(table.GetName() == "ct slice consistency", f"table named '{table.GetName()}'")
    check(table.GetNumberOfRows() == depth, f"{table.GetNumberOfRows()} table rows for {depth} slices")
    expected = consistency.slice_consistency(result.labels)
    columns = [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())]
    check(columns == list(expected), f"table columns {columns}, expected {list(expected)}")
    for column, values in expected.items():
        array = table.GetTable().GetColumnByName(column)
        got = np.array([array.GetTuple1(i) for i in range(array.GetNumberOfTuples())])
        check(np.allclose(got, values, equal_nan=True), f"column '{column}' is {got}, expected {values}")

    chart = applied.plotChartNode
    check(chart.GetName() == "ct slice consistency", f"chart named '{chart.GetName()}'")
    check(chart.GetNumberOfPlotSeriesNodes() == 2, f"the chart has {chart.GetNumberOfPlotSeriesNodes()} series, not 2")
    series = [chart.GetNthPlotSeriesNode(i) for i in range(2)]
    plotted = sorted(s.GetYColumnName() for s in series)
    check(plotted == ["ari_previous", "identical_fraction"], f"the chart plots {plotted}")
    for s in series:
        check(s.GetTableNodeID() == table.GetID() and s.GetXColumnName() == "slice",
              f"series '{s.GetName()}' does not plot the table's columns against slice")
        check(s.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter,
              f"series '{s.GetName()}' is not a scatter plot")
    check(chart.GetXAxisTitle() == "slice", f"x axis titled '{chart.GetXAxisTitle()}'")
    check(not chart.GetYAxisRangeAuto() and tuple(chart.GetYAxisRange()) == (0.0, 1.0),
          "the y axis is not fixed to 0..1")
    segmentationNode = applied.segmentationNode
    check(segmentationNode.GetNodeReference("unsupervisedCTSegConsistencyTable") is table
          and segmentationNode.GetNodeReference("unsupervisedCTSegConsistencyChart") is chart,
          "the segmentation does not reference its table and chart")
    delayDisplay("Consistency table and chart are right")


def test_preview_slice(scene, delayDisplay=print):
    """Previewing one slice of a tilted volume gives a one-slice, 2D-only segmentation lying on that
    slice of the input, with no consistency review."""
    delayDisplay("Previewing one slice")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = tiltedPhantom(scene)
    k = 2
    sliceVolume = logic.axialSliceVolume(volumeNode, k)
    result = logic.segment(sliceVolume, fast_settings())
    applied = logic.applyResult(volumeNode, result, name="tilted phantom preview")
    segmentationNode = applied.segmentationNode
    check(segmentationNode.GetName() == "tilted phantom preview", f"preview named '{segmentationNode.GetName()}'")
    grid = nodeGeometry(volumeNode)
    sliceOrigin = (grid @ np.array([0, 0, k, 1.0]))[:3]
    matrix, extent = referenceGeometry(segmentationNode)
    nx, ny, _ = volumeNode.GetImageData().GetDimensions()
    check(extent == (0, nx - 1, 0, ny - 1, 0, 0), f"preview reference extent {extent} is not one slice")
    check(np.allclose(matrix[:3, 3], sliceOrigin, atol=TOL) and np.allclose(matrix[:3, :3], grid[:3, :3], atol=TOL),
          f"preview reference grid lies at {matrix[:3, 3]}, not on slice {k} at {sliceOrigin}")
    segmentation = segmentationNode.GetSegmentation()
    check(segmentation.GetNumberOfSegments() == len(result.tissues) > 0,
          f"{segmentation.GetNumberOfSegments()} segments for {len(result.tissues)} tissues")
    for i in range(segmentation.GetNumberOfSegments()):
        image = segmentation.GetNthSegment(i).GetRepresentation("Binary labelmap")
        check(np.allclose(imageGeometry(image)[:3, 3], sliceOrigin, atol=TOL),
              f"segment {i} lies at {imageGeometry(image)[:3, 3]}, not on slice {k} at {sliceOrigin}")
    labels = logic.labelsFromSegmentation(segmentationNode, volumeNode)
    check(np.array_equal(labels[k], result.labels[0]), "preview voxels differ from the engine's")
    check(not np.any(np.delete(labels, k, axis=0)), "preview has voxels outside its slice")
    check(applied.tableNode is None and applied.plotChartNode is None, "a one-slice preview got a consistency review")
    check(not segmentation.ContainsRepresentation("Closed surface"), "a one-slice preview got 3D surfaces")
    delayDisplay("Preview is on the right slice")


def test_outside_body_segment_and_clean_up(scene, delayDisplay=print):
    """Body mask with an "outside body" segment and both clean-ups: one more segment, last, labelled in
    the labelmap, shown in the slice views only; a re-run without it shows every segment in 3D."""
    delayDisplay("Segmenting with an 'outside body' segment and clean-up")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    settings = fast_settings(body_mask=True, outside_segment=True, min_island_mm3=20.0, fill_holes=True)
    applied = logic.run(volumeNode, settings, createLabelmap=True)
    result = logic.segment(logic.volumeFromNode(volumeNode), settings)  # the same seed gives the same labels
    outside = [t for t in result.tissues if t.name == OUTSIDE_NAME]
    check(len(outside) == 1 and outside[0].label == len(result.tissues),
          f"expected one '{OUTSIDE_NAME}' tissue with the last label; got {[t.name for t in result.tissues]}")
    outside = outside[0]
    counted = int(np.count_nonzero(result.labels == outside.label))
    check(counted == outside.voxels > 0, f"'{OUTSIDE_NAME}' counts {outside.voxels} voxels, the labels {counted}")
    check(bool(np.all(result.labels > 0)), f"with an '{OUTSIDE_NAME}' segment every voxel should have a label")
    segmentationNode = applied.segmentationNode
    checkSegmentsMatch(logic, segmentationNode, volumeNode, result)
    check(np.array_equal(voxelArray(applied.labelmapNode), result.labels), "the labelmap does not hold the labels")
    colourName = applied.labelmapNode.GetDisplayNode().GetColorNode().GetColorName(outside.label)
    check(colourName == OUTSIDE_NAME, f"label {outside.label} is called '{colourName}' in the labelmap")
    # Its 3D surface would be a box around the body: shown in 2D only, every tissue in 3D as well.
    segmentation, display = segmentationNode.GetSegmentation(), segmentationNode.GetDisplayNode()
    check(segmentation.ContainsRepresentation("Closed surface"), "no 3D surfaces were made")
    for i in range(segmentation.GetNumberOfSegments()):
        segmentID, name = segmentation.GetNthSegmentID(i), segmentation.GetNthSegment(i).GetName()
        shown = display.GetSegmentVisibility3D(segmentID)
        check(shown == (name != OUTSIDE_NAME), f"segment '{name}' is {'shown' if shown else 'hidden'} in 3D")
        check(display.GetSegmentVisibility(segmentID) and display.GetSegmentVisibility2DFill(segmentID),
              f"segment '{name}' is not shown in the slice views")

    delayDisplay("Re-running without the 'outside body' segment")
    plain = fast_settings(body_mask=True)
    again = logic.run(volumeNode, plain, segmentationNode=segmentationNode)
    expected = logic.segment(logic.volumeFromNode(volumeNode), plain)
    check(OUTSIDE_NAME not in segmentNames(again.segmentationNode), f"'{OUTSIDE_NAME}' is still there")
    check(not np.all(expected.labels > 0), "without an 'outside body' segment the outside should be unlabelled")
    checkSegmentsMatch(logic, again.segmentationNode, volumeNode, expected)
    hidden = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())
              if not display.GetSegmentVisibility3D(segmentation.GetNthSegmentID(i))]
    check(not hidden, f"segments {hidden} are still hidden in 3D")
    delayDisplay("The 'outside body' segment is there, shown in the slice views only")


def test_cancel_leaves_scene_unchanged(scene, delayDisplay=print):
    """A run cancelled before it starts or during training raises Cancelled and leaves the scene, an
    earlier result in the same output included, exactly as it was."""
    delayDisplay("Cancelling a run")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    earlier = logic.run(volumeNode, fast_settings())
    before = sceneState(scene)
    expectError(Cancelled, lambda: logic.run(volumeNode, fast_settings(), cancel=lambda: True),
                "a run cancelled before it started")
    check(sceneState(scene) == before, "a run cancelled before it started changed the scene")

    stop = threading.Event()

    def progress(p):
        if p.iteration >= 2:
            stop.set()

    expectError(Cancelled, lambda: logic.run(volumeNode, fast_settings(iterations=50, min_labels=1),
                                             segmentationNode=earlier.segmentationNode, createLabelmap=True,
                                             progress=progress, cancel=stop),
                "a run cancelled during training")
    check(stop.is_set(), "the run ended before it was cancelled")
    check(sceneState(scene) == before, "a run cancelled during training changed the scene")
    delayDisplay("Cancel left the scene alone")


def test_bad_inputs_are_refused(scene, delayDisplay=print):
    """Every kind of node the engine cannot segment is refused by volumeFromNode and by run with one
    line naming the problem, and the scene, an earlier result included, is left exactly as it was."""
    delayDisplay("Checking input errors")
    logic = UnsupervisedCTSegLogic(scene)
    ct = smallPhantom(scene)
    earlier = logic.run(ct, fast_settings())

    def labelmapOfCT():  # CT voxels, but a labelmap node: refused for what it is
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
        image = vtk.vtkImageData()
        image.DeepCopy(ct.GetImageData())
        node.SetAndObserveImageData(image)
        return node

    badNodes = (  # (what, make, pattern the message must match)
        ("no volume", lambda: None, "select an input volume"),
        ("an RGB vector volume",
         lambda: imageNode(scene, "vtkMRMLVectorVolumeNode", "rgb", (5, 4, 3), vtk.VTK_UNSIGNED_CHAR, 3),
         "3 components.*RGB"),
        ("RGB voxels in a scalar volume",
         lambda: imageNode(scene, "vtkMRMLScalarVolumeNode", "rgb in a scalar node", (5, 4, 3),
                           vtk.VTK_UNSIGNED_CHAR, 3),
         "3 components.*single-component"),
        ("a labelmap", labelmapOfCT, "choose a scalar CT volume, not a labelmap"),
        ("a volume without voxels", lambda: scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "no voxels"),
         "no image data"),
        ("an empty image", lambda: imageNode(scene, "vtkMRMLScalarVolumeNode", "empty", (0, 0, 0), vtk.VTK_SHORT, 1),
         "empty image"),
        ("a 4D sequence", lambda: scene.AddNewNodeByClass("vtkMRMLSequenceNode", "4D"), "4D sequence.*one time point"),
        ("a model", lambda: scene.AddNewNodeByClass("vtkMRMLModelNode", "surface"), "not a volume"),
    )
    for what, make, pattern in badNodes:
        node = make()
        before = sceneState(scene)
        for call, how in ((lambda: logic.volumeFromNode(node), "reading"),
                          (lambda: logic.run(node, fast_settings(), segmentationNode=earlier.segmentationNode,
                                             createLabelmap=True), "running")):
            message = str(expectError(InputError, call, f"{how} {what}"))
            check(re.search(pattern, message), f"{how} {what}: message '{message}' does not say '{pattern}'")
            check("\n" not in message, f"{how} {what}: message '{message}' is not one line")
            check(sceneState(scene) == before, f"{how} {what} changed the scene")
    delayDisplay("Bad inputs are refused")


def waitFor(run, seconds: float = 120.0):
    """Poll a child-process run as the panel's QTimer does until it is done; its progress, in order."""
    seen, deadline = [], time.monotonic() + seconds
    while not run.done:
        check(time.monotonic() < deadline, f"the child process did not finish within {seconds:g} s")
        progress = run.poll()
        if progress is not None:
            seen.append(progress)
        time.sleep(0.05)
    progress = run.poll()
    return seen + ([progress] if progress is not None else [])


def test_child_process_run(scene, delayDisplay=print):
    """The panel's path: a tilted volume node -> temporary NRRD -> child process -> result files ->
    segmentation, table and chart nodes, voxel for voxel the engine's labels in this process; a second
    run into the same output replaces the segments; the temporary folder is gone after each run."""
    delayDisplay("Segmenting in a child process")
    import torch  # the in-process twin below; the child gets the same thread count, so the same labels

    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = tiltedPhantom(scene)
    settings = fast_settings(iterations=4)
    threads = torch.get_num_threads()
    run = logic.startRun(logic.volumeFromNode(volumeNode), settings, context="job", threads=threads)
    check(run.context == "job", "the run lost its context")
    progress = waitFor(run)
    check(run.error is None, f"the child failed: {run.error}\n{run.details}")
    check(not run.folder.exists(), f"the temporary folder {run.folder} was left behind")
    check(len(progress) >= 1 and all(a.fraction <= b.fraction for a, b in zip(progress, progress[1:])),
          f"progress out of order: {[p.fraction for p in progress]}")
    expected = logic.segment(logic.volumeFromNode(volumeNode), settings)
    result = run.result
    check(np.array_equal(result.labels, expected.labels), "the child's labels differ from the engine's at the same seed")
    check([t.name for t in result.tissues] == [t.name for t in expected.tissues], "the child's tissues differ")
    check(result.record["input"]["source"] == volumeNode.GetName(), "the run record names the temporary file")
    applied = logic.applyResult(volumeNode, result, createLabelmap=True)
    checkSegmentsMatch(logic, applied.segmentationNode, volumeNode, expected)
    check(applied.tableNode is not None and applied.plotChartNode is not None, "no table or chart")

    before = [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]
    second = logic.startRun(logic.volumeFromNode(volumeNode), fast_settings(iterations=2, seed=1), threads=threads)
    waitFor(second)
    check(second.error is None, f"the second run failed: {second.error}\n{second.details}")
    again = logic.applyResult(volumeNode, second.result, segmentationNode=applied.segmentationNode,
                              createLabelmap=True)
    check(again.segmentationNode is applied.segmentationNode, "the second run did not reuse the segmentation")
    check([scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())] == before,
          "the second run added or removed nodes instead of replacing the segments")
    checkSegmentsMatch(logic, again.segmentationNode, volumeNode, second.result)
    delayDisplay("The child process's result is the engine's")


def test_child_process_cancel(scene, delayDisplay=print):
    """Cancelling a child-process run in the middle of training ends the child within about 2 s,
    removes its temporary folder, reports Cancelled, and the scene stays exactly as it was."""
    delayDisplay("Cancelling a child process")
    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = smallPhantom(scene)
    logic.run(volumeNode, fast_settings())
    before = sceneState(scene)
    run = logic.startRun(logic.volumeFromNode(volumeNode), fast_settings(iterations=100000, min_labels=1))
    deadline = time.monotonic() + 120
    while True:
        progress = run.poll()
        if progress is not None and progress.iteration >= 2:
            break
        check(not run.done, f"the run ended before it was cancelled: {run.error}\n{run.details}")
        check(time.monotonic() < deadline, "the run never reached its second iteration")
        time.sleep(0.05)
    started = time.monotonic()
    run.cancel()
    check(run.done and time.monotonic() - started < 2.5, f"cancel took {time.monotonic() - started:.1f} s")
    check(run.process.poll() is not None, "the child process still runs")
    check(isinstance(run.error, Cancelled) and run.result is None, f"a cancelled run reported {run.error!r}")
    check(not run.folder.exists(), f"the temporary folder {run.folder} was left behind")
    check(sceneState(scene) == before, "a cancelled child-process run changed the scene")
    delayDisplay("Cancel ended the child process")


def test_scribbles_fill_the_stroke_segments(scene, delayDisplay=print):
    """Strokes painted into three segments -> a scribble run in a child process -> each segment filled
    in place with its structure, as the Segment Editor effect writes: the same segment IDs, names and
    colours, voxels exactly the run's labels on the CT's grid, every stroke kept, no node added."""
    delayDisplay("Scribbles: strokes in segments, whole structures out")
    from ..engine.bodymask import body_mask
    from ..engine.results import Segmentation
    from ..engine.tissues import Tissue
    from ..evaluation.strokes import simulate_strokes, structure_masks
    from ..io.phantom import make_phantom

    logic = UnsupervisedCTSegLogic(scene)
    volumeNode = phantomVolumeNode(scene, slices=6, size=96)
    phantom, truth, _ = make_phantom(slices=6, size=96)
    masks = structure_masks({"liver": truth == 6, "bone": truth == 10, "fat": truth == 4},
                            body_mask(phantom.hu, phantom.spacing))
    painted = simulate_strokes(masks, 2, seed=0)
    colours = [(0.8, 0.2, 0.2), (0.95, 0.95, 0.85), (0.9, 0.8, 0.4), (0.4, 0.4, 0.9)]
    tissues = [Tissue(i, name, colours[i - 1], 0.0, 0.0, 1) for i, name in enumerate(painted.names, start=1)]
    volume = logic.volumeFromNode(volumeNode)
    strokesNode = logic.applyResult(volumeNode, Segmentation(painted.labels, tissues, {}, volume),
                                    name="strokes").segmentationNode
    segmentation = strokesNode.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    strokes = logic.strokesFromSegmentation(strokesNode, volumeNode)
    check(np.array_equal(strokes.labels, painted.labels), "the strokes read back differ from those painted")
    run = logic.startRun(volume, fast_settings(iterations=4), strokes=strokes, estimate=False)
    waitFor(run)
    check(run.error is None, f"the scribble run failed: {run.error}\n{run.details}")
    nodes = sceneNodeIDs(scene)
    written = logic.fillStrokeSegments(strokesNode, volumeNode, run.result)
    check(written == ids and sceneNodeIDs(scene) == nodes, "filling changed the segments' IDs or the nodes")
    check(segmentNames(strokesNode) == list(painted.names), f"segment names {segmentNames(strokesNode)}")
    check(np.allclose([segmentation.GetSegment(i).GetColor() for i in ids], colours[:len(ids)]), "colours changed")
    labels = logic.labelsFromSegmentation(strokesNode, volumeNode)
    check(np.array_equal(labels, run.result.labels), "the segments' voxels are not the run's labels")
    stroked = painted.labels > 0
    check(np.array_equal(labels[stroked], painted.labels[stroked]), "a stroke lost its structure")
    delayDisplay("Each segment holds its whole structure")


ALL_TESTS = [
    test_phantom_segmentation,
    test_rerun_replaces_segments,
    test_consistency_table,
    test_preview_slice,
    test_outside_body_segment_and_clean_up,
    test_cancel_leaves_scene_unchanged,
    test_bad_inputs_are_refused,
    test_child_process_run,
    test_child_process_cancel,
    test_scribbles_fill_the_stroke_segments,
]
