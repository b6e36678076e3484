"""What the Segment Editor effect reads from the editor's segmentation and writes into it.

Why a module of its own: the effect works as Slicer's auto-complete effects (Grow from seeds) do,
and all of it that touches MRML is here, tested on a slicer-core scene (Testing/test_editor_write.py);
the effect file keeps the Qt wiring and effectsession.py the bookkeeping.

- The strokes are the **visible** segments of the editor's segmentation, in its order (structure i
  is the i-th visible segment): a hidden segment is neither a stroke nor written (visibleStrokes).
- A run's labels become a **preview**: a segmentation node of its own, hidden from the node
  selectors and never saved with the scene, shown over the strokes (showPreview). Its segments
  have the IDs, names and colours of the segments they will be written to and share one labelmap,
  on the geometry the editor edits on (its aligned source volume): label i for structure i, then
  the clusters of `open` output, which Apply adds as new segments.
- **Apply** writes each preview segment through the editor's own
  ``modifySegmentByLabelmap(segmentationNode, segmentID, labelmap, ModificationModeSet)``
  (writePreview, given that call), so the editor applies its rules itself: the editable area and
  the editable intensity range mask what is written (a segment keeps its voxels outside them), and
  the overwrite mode ('Modify other segments') decides which other segments lose the written voxels.
  The caller saves the editor's undo state once before, so one Undo brings the strokes back.

Observing the strokes for auto-update (observeStrokes) and telling a change of them from other
events (strokesSignature) are here too. Nothing here imports torch or Qt.
"""
from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..engine.errors import InputError
from ..engine.scribbles import make_strokes
from ..engine.tissues import OUTSIDE_NAME
from ..io.terminology import terminology_entry
from .effectsession import PREVIEW_OPACITY

PREVIEW_ATTRIBUTE = "UnsupervisedCTSeg.EditorPreview"  # marks the effect's preview segmentation node
EXTRA_TAG = "UnsupervisedCTSeg.NewSegment"  # a preview segment that Apply adds (a cluster of open output)


def _binaryLabelmapName() -> str:
    return slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()


# --- the strokes ---------------------------------------------------------------------------------


def visibleSegmentIDs(segmentationNode) -> list:
    """The IDs of the segments shown in the views, in the segmentation's order (all of them when the
    segmentation has no display node yet)."""
    segmentation = segmentationNode.GetSegmentation()
    display = segmentationNode.GetDisplayNode()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    return [i for i in ids if display is None or display.GetSegmentVisibility(i)]


def strokesSignature(segmentationNode) -> tuple:
    """What a change of the strokes changes: each segment's ID, visibility and labelmap's modification
    time. The effect's own changes (the segmentation's opacity) leave it as it was."""
    segmentation = segmentationNode.GetSegmentation()
    display = segmentationNode.GetDisplayNode()
    name = _binaryLabelmapName()
    signature = []
    for i in range(segmentation.GetNumberOfSegments()):
        segmentID = segmentation.GetNthSegmentID(i)
        labelmap = segmentation.GetNthSegment(i).GetRepresentation(name)
        signature.append((segmentID, bool(display is None or display.GetSegmentVisibility(segmentID)),
                          labelmap.GetMTime() if labelmap is not None else 0))
    return tuple(signature)


def visibleStrokes(scene, segmentationNode, volumeNode, segmentIDs):
    """The strokes of the segments `segmentIDs` (visibleSegmentIDs) on the volume's grid, as the
    engine's Strokes: segment i of the list is structure i, with its name, colour and terminology.
    Slicer's own export resamples them onto the volume and honours transforms; the helper nodes it
    needs are removed again. Refuses, with the fix, fewer than two visible segments or one without a
    stroke."""
    if volumeNode is None or volumeNode.GetImageData() is None:
        raise InputError("the source volume has no voxels: select a CT volume as the Segment Editor's source volume")
    if len(segmentIDs) < 2:
        raise InputError("scribbles need at least two visible segments (hidden segments are not used as strokes): "
                         "show the segments that hold the strokes, or add and paint another segment")
    segmentation = segmentationNode.GetSegmentation()
    ids = vtk.vtkStringArray()
    for segmentID in segmentIDs:
        ids.InsertNextValue(segmentID)
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        exported = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentationNode, ids, exported, volumeNode, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY):
            raise InputError("Slicer could not export the strokes onto the source volume's grid: check that the "
                             "segmentation has binary labelmaps")
        image = exported.GetImageData()
        nx, ny, nz = image.GetDimensions()
        order = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx).astype(np.uint16)
    finally:
        for node in [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]:
            if node.GetID() not in before and not node.GetSingletonTag():
                scene.RemoveNode(node)
    segments = [segmentation.GetSegment(segmentID) for segmentID in segmentIDs]
    terms = []
    for segment in segments:
        entry = vtk.reference("")
        terms.append(str(entry) if segment.GetTag(segment.GetTerminologyEntryTagName(), entry) else "")
    return make_strokes(order, [s.GetName() for s in segments], [tuple(s.GetColor()) for s in segments], terms,
                        shape=order.shape)


def observeStrokes(segmentationNode, callback) -> list:
    """Call `callback(caller, event)` at every change of the segmentation's segments (added, removed,
    modified, painted) and of its display (a segment shown or hidden). Returns what unobserve takes."""
    segmentation = segmentationNode.GetSegmentation()
    painted = getattr(slicer.vtkSegmentation, "SourceRepresentationModified", None)
    if painted is None:  # Slicer before 5.4
        painted = slicer.vtkSegmentation.MasterRepresentationModified
    events = (slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
              slicer.vtkSegmentation.SegmentModified, painted)
    observations = [(segmentation, segmentation.AddObserver(event, callback)) for event in events]
    display = segmentationNode.GetDisplayNode()
    if display is not None:
        observations.append((display, display.AddObserver(vtk.vtkCommand.ModifiedEvent, callback)))
    return observations


def unobserve(observations) -> None:
    for observed, tag in observations or ():
        observed.RemoveObserver(tag)


# --- labels on the editor's geometry ------------------------------------------------------------------


def labelImage(labels: np.ndarray, grid) -> "slicer.vtkOrientedImageData":
    """A label array (z, y, x) on `grid` (an engine Volume or Grid: its ijk_to_ras) as an oriented
    image, unsigned char when the values allow, else unsigned short."""
    labels = np.asarray(labels)
    nz, ny, nx = labels.shape
    image = slicer.vtkOrientedImageData()
    image.SetExtent(0, nx - 1, 0, ny - 1, 0, nz - 1)
    matrix = vtk.vtkMatrix4x4()
    for row, values in enumerate(np.asarray(grid.ijk_to_ras(), float)):
        for column, value in enumerate(values):
            matrix.SetElement(row, column, float(value))
    image.SetGeometryFromImageToWorldMatrix(matrix)
    small = labels.size == 0 or int(labels.max()) < 256
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR if small else vtk.VTK_UNSIGNED_SHORT, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)[...] = labels
    return image


def volumeToSegmentation(volumeNode, segmentationNode):
    """The transform from the volume's coordinates to the segmentation's, or None when both lie under
    the same transform (or none)."""
    volumeParent, segmentationParent = volumeNode.GetParentTransformNode(), segmentationNode.GetParentTransformNode()
    if volumeParent is segmentationParent:
        return None
    transform = vtk.vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(volumeParent, segmentationParent, transform)
    return transform


def onReference(image, reference, transform=None):
    """`image` (labels) on the geometry and extent of `reference` (the editor's aligned source volume),
    nearest neighbour, through `transform` when one is given; `image` itself when it is on it already.
    The editor writes a labelmap with its intensity mask only when it lies on that geometry."""
    if reference is None:
        return image
    resample = slicer.vtkOrientedImageDataResample
    if transform is None and resample.DoGeometriesMatch(image, reference) and resample.DoExtentsMatch(image, reference):
        return image
    resampled = slicer.vtkOrientedImageData()
    if not resample.ResampleOrientedImageToReferenceOrientedImage(image, reference, resampled, False, False, transform):
        raise InputError("Slicer could not resample the result onto the segmentation's geometry")
    return resampled


def previewValues(result, structureCount: int) -> tuple:
    """(lookup from the run's labels to the preview's values, the tissues of the new segments): structure
    i keeps value i; each further label (a cluster of `open` output) but the outside of the body gets
    the next value; everything else 0, which is never written."""
    labels = [int(t.label) for t in result.tissues]
    top = max(labels + [structureCount, int(np.asarray(result.labels).max(initial=0))])
    lookup = np.zeros(top + 1, np.uint16)
    lookup[1:structureCount + 1] = np.arange(1, structureCount + 1)
    extras = []
    for tissue in sorted(result.tissues, key=lambda t: t.label):
        if int(tissue.label) > structureCount and tissue.name != OUTSIDE_NAME:
            extras.append(tissue)
            lookup[int(tissue.label)] = structureCount + len(extras)
    return lookup, extras


# --- the preview ---------------------------------------------------------------------------------------


def _addPreviewSegment(preview, shared, value: int, segmentID: str, name: str, color, terminology: str = "",
                       new: bool = False) -> str:
    segment = slicer.vtkSegment()
    segment.SetName(name)
    segment.SetColor(*[float(c) for c in color[:3]])
    if terminology:
        segment.SetTag(segment.GetTerminologyEntryTagName(), terminology)
    if new:
        segment.SetTag(EXTRA_TAG, "1")
    segment.AddRepresentation(_binaryLabelmapName(), shared)
    segment.SetLabelValue(value)
    preview.AddSegment(segment, segmentID)
    return segmentID


def makePreviewNode(scene, name: str):
    """A segmentation node for the preview: hidden from the node selectors (so from export dialogs),
    never saved with the scene, drawn filled without outlines at PREVIEW_OPACITY."""
    node = slicer.vtkMRMLSegmentationNode()
    node.SetName(name)
    node.SetHideFromEditors(True)
    node.SetSaveWithScene(False)
    node.SetAttribute(PREVIEW_ATTRIBUTE, "1")
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetVisibility2DOutline(False)
    display.SetOpacity(PREVIEW_OPACITY)
    return node


def showPreview(scene, segmentationNode, volumeNode, result, structureIDs, reference=None, previewNode=None,
                name: str = "") -> object:
    """Put a finished run's result into the preview (made when `previewNode` is None or gone): one
    segment per structure that is still in the segmentation, with its ID, name and colour, then one per
    cluster of open output, all sharing one labelmap on `reference`'s geometry. The segmentation
    itself is not touched. Returns the preview node."""
    labels = np.asarray(result.labels)
    structures = (result.record or {}).get("scribbles", {}).get("structures")
    if structures is not None and len(structures) != len(structureIDs):
        raise InputError(f"the run learned {len(structures)} structures but {len(structureIDs)} segments were "
                         "visible when it started: run it again")
    lookup, extras = previewValues(result, len(structureIDs))
    image = labelImage(lookup[labels], result.volume)
    image = onReference(image, reference, volumeToSegmentation(volumeNode, segmentationNode))
    if previewNode is None or not scene.IsNodePresent(previewNode):
        previewNode = makePreviewNode(scene, name or f"{segmentationNode.GetName()} preview")
    previewNode.SetAndObserveTransformNodeID(segmentationNode.GetTransformNodeID())
    preview = previewNode.GetSegmentation()
    preview.RemoveAllSegments()
    segmentation = segmentationNode.GetSegmentation()
    for value, segmentID in enumerate(structureIDs, start=1):
        segment = segmentation.GetSegment(segmentID)
        if segment is None:  # removed during the run: nothing to write it to
            continue
        entry = vtk.reference("")
        terminology = str(entry) if segment.GetTag(segment.GetTerminologyEntryTagName(), entry) else ""
        _addPreviewSegment(preview, image, value, segmentID, segment.GetName(), segment.GetColor(), terminology)
    for value, tissue in enumerate(extras, start=len(structureIDs) + 1):
        _addPreviewSegment(preview, image, value, preview.GenerateUniqueSegmentID(tissue.name), tissue.name,
                           tissue.color, tissue.terminology or terminology_entry(tissue.name), new=True)
    return previewNode


def dimSegmentation(segmentationNode) -> float:
    """Show the strokes' segmentation at 1 - PREVIEW_OPACITY under the preview; returns its opacity before."""
    display = segmentationNode.GetDisplayNode()
    if display is None:
        return 1.0
    before = display.GetOpacity()
    display.SetOpacity(1.0 - PREVIEW_OPACITY)
    return before


def removePreview(scene, previewNode, segmentationNode=None, opacity=None) -> None:
    """Remove the preview node (if still in the scene) and give the segmentation its opacity back."""
    if previewNode is not None and scene.IsNodePresent(previewNode):
        scene.RemoveNode(previewNode)
    if segmentationNode is not None and opacity is not None and segmentationNode.GetDisplayNode() is not None:
        segmentationNode.GetDisplayNode().SetOpacity(opacity)


def previewSegmentLabelmaps(previewNode, reference=None):
    """(segment ID, whether it is a new segment, its voxels as a binary labelmap on `reference`'s
    geometry and extent), one preview segment after the other: one labelmap is held at a time."""
    preview = previewNode.GetSegmentation()
    for index in range(preview.GetNumberOfSegments()):
        segmentID = preview.GetNthSegmentID(index)
        new = preview.GetNthSegment(index).HasTag(EXTRA_TAG)
        labelmap = slicer.vtkOrientedImageData()
        previewNode.GetBinaryLabelmapRepresentation(segmentID, labelmap)
        yield segmentID, new, onReference(labelmap, reference)


def writePreview(modify, previewNode, segmentationNode, reference=None) -> list:
    """Write the preview into the segmentation through `modify(segmentationNode, segmentID, labelmap)`,
    the editor's modifySegmentByLabelmap in "set" mode: each structure into the segment with its ID
    (one removed since the run is skipped), each cluster of open output into a segment added for it. `reference` is the
    editor's aligned source volume (its intensity mask needs that geometry). The caller saves the
    editor's undo state before. Returns the IDs written, in the preview's order."""
    segmentation, preview = segmentationNode.GetSegmentation(), previewNode.GetSegmentation()
    written = []
    for previewID, new, labelmap in previewSegmentLabelmaps(previewNode, reference):
        segmentID = previewID
        if new:  # a segment of its own, under an ID no segment has now
            source = preview.GetSegment(previewID)
            segmentID = segmentation.AddEmptySegment(segmentation.GenerateUniqueSegmentID(source.GetName()),
                                                     source.GetName(), source.GetColor())
            entry = vtk.reference("")
            if source.GetTag(source.GetTerminologyEntryTagName(), entry):
                segmentation.GetSegment(segmentID).SetTag(source.GetTerminologyEntryTagName(), str(entry))
        elif segmentation.GetSegment(segmentID) is None:
            continue
        modify(segmentationNode, segmentID, labelmap)
        written.append(segmentID)
    return written
