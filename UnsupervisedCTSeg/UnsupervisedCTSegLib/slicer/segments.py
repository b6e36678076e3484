"""Scene import and export of segments: an engine result into a segmentation node, a scribble
run's result into the segments that hold its strokes, and a segmentation back into engine labels
or strokes.

Why a module of its own: UnsupervisedCTSegLogic (logic.py) is the facade that callers use
(applyResult, fillStrokeSegments, labelsFromSegmentation, strokesFromSegmentation) and runs the
engine; the MRML work behind those methods is here, each function taking the scene. Uses only the
MRML/VTK API that the slicer-core package also provides. Only applyResult and fillStrokeSegments
change the scene (call them in the GUI thread); if they fail, what they added is removed again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import slicer
import vtk

from ..engine.errors import InputError
from ..engine.scribbles import Strokes, make_strokes
from ..engine.tissues import OUTSIDE_NAME
from ..io.terminology import terminology_entry
from .consistency import addConsistencyReview
from .nodes import (_dimensions, _imageArray, _onNodeGrid, _referenced, _removeNode, _setVoxelsAndGeometry,
                    checkVolumeNode)

RUN_RECORD_ATTRIBUTE = "UnsupervisedCTSeg.RunRecord"
LABEL_TAG = "UnsupervisedCTSeg.Label"  # segment tag: the engine label a segment was made from
LABELMAP_ROLE = "unsupervisedCTSegLabelmap"
COLOR_TABLE_ROLE = "unsupervisedCTSegColorTable"


@dataclass
class AppliedNodes:
    """The nodes a run created or updated.

    labelmapNode is None unless a labelmap was asked for; tableNode and plotChartNode are None for
    a one-slice result (a preview), which has no neighbouring slices to compare.
    """

    segmentationNode: object
    labelmapNode: object = None
    tableNode: object = None
    plotChartNode: object = None
    previousNode: object = None  # applyResult(keepPreviousAs=...): the copy of the segments it replaced


def applyResult(scene, volumeNode, result, segmentationNode=None, createLabelmap=False,
                name=None, keepPreviousAs: str = "") -> AppliedNodes:
    """UnsupervisedCTSegLogic.applyResult (which says what it makes) on `scene`; GUI thread only."""
    checkVolumeNode(volumeNode)
    labels = np.asarray(result.labels)
    grid = result.volume
    if labels.shape != grid.shape:
        raise InputError(f"labels {labels.shape} do not match their volume {grid.shape}: "
                         "apply the result the engine returned, unchanged")
    fullGrid = _onNodeGrid(volumeNode, grid)
    inputName = volumeNode.GetName() or "volume"
    created = []

    def addNode(className, nodeName):
        node = scene.AddNewNodeByClass(className, nodeName)
        created.append(node)
        return node

    scene.StartState(scene.BatchProcessState)
    try:
        segNode, kept = segmentationNode, None
        if segNode is not None and keepPreviousAs:
            kept = addNode("vtkMRMLSegmentationNode", keepPreviousAs)
            kept.GetSegmentation().DeepCopy(segNode.GetSegmentation())
            kept.CreateDefaultDisplayNodes()
            created.append(kept.GetDisplayNode())
            kept.GetDisplayNode().SetVisibility(False)
            kept.SetAndObserveTransformNodeID(segNode.GetTransformNodeID())
        if segNode is None:
            default = f"{inputName} segmentation" if fullGrid else f"{inputName} slice preview"
            segNode = addNode("vtkMRMLSegmentationNode", name or default)
        elif name:
            segNode.SetName(name)
        if segNode.GetDisplayNode() is None:
            segNode.CreateDefaultDisplayNodes()
            created.append(segNode.GetDisplayNode())
        transformID = volumeNode.GetTransformNodeID()
        segNode.SetAndObserveTransformNodeID(transformID)

        labelmapNode = _referenced(segNode, LABELMAP_ROLE) if createLabelmap else None
        if labelmapNode is None:
            labelmapNode = addNode("vtkMRMLLabelMapVolumeNode", f"{inputName} labels")
        if not createLabelmap:
            labelmapNode.SetHideFromEditors(True)  # temporary: only the vehicle for the import
        _setVoxelsAndGeometry(labelmapNode, labels.astype(np.uint16, copy=False), grid)
        labelmapNode.SetAndObserveTransformNodeID(transformID)
        colors = None
        if createLabelmap:  # coloured before the import, which reads names from the labelmap's colours
            colors = _referenced(segNode, COLOR_TABLE_ROLE) or addNode("vtkMRMLColorTableNode", f"{inputName} labels colors")
            _fillColorTable(colors, result.tissues)
            display = labelmapNode.GetDisplayNode()
            if display is None:
                display = addNode("vtkMRMLLabelMapVolumeDisplayNode", "")
                labelmapNode.SetAndObserveDisplayNodeID(display.GetID())
            display.SetAndObserveColorNodeID(colors.GetID())

        _importSegments(segNode, labelmapNode, volumeNode if fullGrid else labelmapNode, result.tissues)
        _hideOutsideIn3D(segNode, result.tissues)
        segNode.SetAttribute(RUN_RECORD_ATTRIBUTE, json.dumps(result.record))
        if fullGrid:  # a one-slice preview has no 3D shape worth a surface
            _createClosedSurface(segNode)

        table = chart = None
        if labels.shape[0] > 1:  # one slice has no neighbour to agree with: no review
            table, chart = addConsistencyReview(segNode, labels, inputName, addNode)

        if createLabelmap:
            segNode.SetNodeReferenceID(LABELMAP_ROLE, labelmapNode.GetID())
            segNode.SetNodeReferenceID(COLOR_TABLE_ROLE, colors.GetID())
        else:
            _removeNode(scene, labelmapNode)
            labelmapNode = None
    except BaseException:
        for node in reversed(created):
            _removeNode(scene, node)
        raise
    finally:
        scene.EndState(scene.BatchProcessState)
    return AppliedNodes(segNode, labelmapNode, table, chart, kept)


def fillStrokeSegments(scene, segmentationNode, volumeNode, result) -> list:
    """UnsupervisedCTSegLogic.fillStrokeSegments (which says what it writes) on `scene`."""
    checkVolumeNode(volumeNode)
    labels = np.asarray(result.labels)
    if labels.shape != result.volume.shape or not _onNodeGrid(volumeNode, result.volume):
        raise InputError("the result is not on the whole grid of the volume: run the segmentation on "
                         "the whole volume to fill the segments")
    segmentation = segmentationNode.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    structures = result.record.get("scribbles", {}).get("structures", [])
    if [str(n) for n in structures] != names[:len(structures)] or len(names) != len(structures):
        raise InputError("the segments changed while the segmentation ran (now: " + ", ".join(names) + "; "
                         "the run's: " + ", ".join(map(str, structures)) + "): run it again")
    ids = [segmentation.GetNthSegmentID(i) for i in range(len(names))]
    temporary = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "UnsupervisedCTSeg labels")
    added = []
    lookup = np.zeros(max([int(t.label) for t in result.tissues] + [int(labels.max()), len(ids)]) + 1, np.uint16)
    lookup[1:len(ids) + 1] = np.arange(1, len(ids) + 1)  # structure i is label i
    try:
        for tissue in sorted(result.tissues, key=lambda t: t.label):
            if int(tissue.label) > len(ids) and tissue.name != OUTSIDE_NAME:  # an extra label: a segment
                added.append(segmentation.AddEmptySegment("", tissue.name, list(tissue.color[:3])))
                _describeSegment(segmentation.GetSegment(added[-1]), tissue)
                lookup[int(tissue.label)] = len(ids) + len(added)
        written = ids + added
        _setVoxelsAndGeometry(temporary, lookup[np.clip(labels, 0, None)], result.volume)
        temporary.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
        targets = vtk.vtkStringArray()
        for segmentID in written:
            targets.InsertNextValue(segmentID)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(temporary,
                                                                                        segmentationNode, targets):
            raise InputError("Slicer could not write the labels into the segments: check the segmentation "
                             "node is not locked and try again")
    except BaseException:
        for segmentID in added:
            segmentation.RemoveSegment(segmentID)
        raise
    finally:
        _removeNode(scene, temporary)
    return written


def labelsFromSegmentation(scene, segmentationNode, volumeNode) -> np.ndarray:
    """UnsupervisedCTSegLogic.labelsFromSegmentation on `scene`: engine labels by segment tag."""
    order, segments = exportSegments(scene, segmentationNode, volumeNode)
    return np.asarray([0] + [_segmentLabel(segment) for segment in segments], np.uint16)[order]

def strokesFromSegmentation(scene, segmentationNode, volumeNode) -> Strokes:
    """UnsupervisedCTSegLogic.strokesFromSegmentation on `scene`: segment i is structure i."""
    order, segments = exportSegments(scene, segmentationNode, volumeNode)
    names = [segment.GetName() for segment in segments]
    colors = [tuple(segment.GetColor()) for segment in segments]
    terms = []
    for segment in segments:
        entry = vtk.reference("")
        terms.append(str(entry) if segment.GetTag(segment.GetTerminologyEntryTagName(), entry) else "")
    return make_strokes(order, names, colors, terms, shape=order.shape)

def exportSegments(scene, segmentationNode, volumeNode) -> tuple:
    """(segment order per voxel (z, y, x), 1-based, 0 outside every segment; the segments in order).

    Uses Slicer's own export, which resamples onto the volume's grid and honours transforms; the
    helper nodes the export needs are removed again.
    """
    checkVolumeNode(volumeNode)
    segmentation = segmentationNode.GetSegmentation()
    ids = vtk.vtkStringArray()
    segments = []
    for i in range(segmentation.GetNumberOfSegments()):
        ids.InsertNextValue(segmentation.GetNthSegmentID(i))
        segments.append(segmentation.GetNthSegment(i))
    nx, ny, nz = _dimensions(volumeNode)
    if not segments:
        return np.zeros((nz, ny, nx), np.uint16), segments
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        exported = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentationNode, ids, exported, volumeNode, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY)
        if not ok:
            raise InputError("Slicer could not export the segmentation onto the volume's grid: "
                             "check that the segmentation has binary labelmaps")
        order = _imageArray(exported).astype(np.uint16)
    finally:
        for node in [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]:
            if node.GetID() not in before and not node.GetSingletonTag():
                _removeNode(scene, node)
    return order, segments


def ensureClosedSurfaceRule() -> bool:
    """Register the labelmap -> closed surface converter if it is missing (bare slicer-core lacks it).

    The Slicer application registers it at start-up; without it no 3D surface can be made.
    Segmentations created before the rule is registered do not see it. Returns whether it is there.
    """
    try:
        factory = slicer.vtkSegmentationConverterFactory.GetInstance()
        rules = factory.GetConverterRules()
        if not any(r.GetClassName() == "vtkBinaryLabelmapToClosedSurfaceConversionRule" for r in rules):
            factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
        return True
    except (AttributeError, TypeError):
        return False



def _importSegments(segNode, labelmapNode, referenceNode, tissues) -> None:
    """Replace the node's segments by one per tissue, imported from the labelmap node.

    The reference geometry is set first (the input volume for a full run, the slice itself for a
    preview), so Slicer imports the labels on exactly that grid without resampling, and the Segment
    Editor later edits on the CT's own grid. Slicer's import names segments after label values;
    the tissue names, colours and the label tag are set afterwards by label value. Tissues without
    voxels (none come from the engine) still get an empty segment, so there is one per tissue.
    """
    segmentation = segNode.GetSegmentation()
    segmentation.RemoveAllSegments()
    segNode.SetReferenceImageGeometryParameterFromVolumeNode(referenceNode)
    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmapNode, segNode):
        raise InputError("Slicer could not import the labels into the segmentation: "
                         "check the segmentation node is not locked and try again")
    byLabel = {int(t.label): t for t in tissues}
    found = set()
    for i in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(i)
        tissue = byLabel.get(int(segment.GetLabelValue()))
        if tissue is None:
            continue
        found.add(tissue.label)
        _describeSegment(segment, tissue)
    for tissue in tissues:
        if tissue.label not in found:
            segmentID = segmentation.AddEmptySegment("", tissue.name, list(tissue.color[:3]))
            _describeSegment(segmentation.GetSegment(segmentID), tissue)


def _describeSegment(segment, tissue) -> None:
    """Name, colour, engine label and standard terminology of one segment; the HU statistics as tags for review."""
    segment.SetName(tissue.name)
    segment.SetColor(*[float(c) for c in tissue.color[:3]])
    segment.SetNameAutoGenerated(False)
    segment.SetColorAutoGenerated(False)
    segment.SetTag(LABEL_TAG, str(int(tissue.label)))
    segment.SetTag("UnsupervisedCTSeg.MeanHU", f"{tissue.mean_hu:.1f}")
    segment.SetTag("UnsupervisedCTSeg.SdHU", f"{tissue.sd_hu:.1f}")
    # Standard codes (category and type) for Slicer's terminology tools and DICOM SEG export.
    segment.SetTag(segment.GetTerminologyEntryTagName(), tissue.terminology or terminology_entry(tissue.name))


def _hideOutsideIn3D(segNode, tissues) -> None:
    """Show an "outside body" segment in the slice views only.

    It fills everything around the body up to the image's edges, so its 3D surface is a box that
    encloses and hides the body. It stays in the segmentation and can be shown in 3D by hand.
    """
    outside = {str(int(t.label)) for t in tissues if t.name == OUTSIDE_NAME}
    if not outside:
        return
    display = segNode.GetDisplayNode()
    segmentation = segNode.GetSegmentation()
    for i in range(segmentation.GetNumberOfSegments()):
        tag = vtk.reference("")
        if segmentation.GetNthSegment(i).GetTag(LABEL_TAG, tag) and str(tag) in outside:
            display.SetSegmentVisibility3D(segmentation.GetNthSegmentID(i), False)


def _segmentLabel(segment) -> int:
    """The engine label a segment stands for: its tag if present, else its label value."""
    value = vtk.reference("")
    if segment.GetTag(LABEL_TAG, value) and str(value).strip().isdigit():
        return int(str(value))
    return int(segment.GetLabelValue())


# Slicer's surface nets with their own smoothing (Slicer 5.4 and later; older ones ignore the
# parameters): 7.8 s instead of 55.8 s for the 15 segments of a 512 x 512 x 30 scan on 2 cores,
# the default flying edges with windowed-sinc smoothing (benchmarks/slicer_big_scan.py).
SURFACE_PARAMETERS = {"Conversion method": "1", "SurfaceNets smoothing": "1"}


def _createClosedSurface(segNode) -> bool:
    """Ask for 3D surfaces, best effort: a missing converter or a failure leaves the 2D labelmaps."""
    try:
        for name, value in SURFACE_PARAMETERS.items():
            segNode.GetSegmentation().SetConversionParameter(name, value)
        return bool(segNode.CreateClosedSurfaceRepresentation())
    except (AttributeError, TypeError, RuntimeError):
        return False



def _fillColorTable(colors, tissues) -> None:
    """Labelmap colours and names by label value, so the labelmap reads like the segmentation."""
    top = max([int(t.label) for t in tissues] + [0])
    colors.SetTypeToUser()
    colors.SetNumberOfColors(top + 1)
    colors.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for label in range(1, top + 1):
        colors.SetColor(label, "unused", 0.0, 0.0, 0.0, 0.0)
    for t in tissues:
        r, g, b = (float(c) for c in t.color[:3])
        colors.SetColor(int(t.label), t.name, r, g, b, 1.0)
