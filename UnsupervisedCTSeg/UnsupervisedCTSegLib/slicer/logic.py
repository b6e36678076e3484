"""The Slicer side of the engine: volume nodes in, segmentation (and review) nodes out.

Uses only the MRML/VTK API that the slicer-core package also provides (no Qt, no application), so
the same code runs in the module panel, in Slicer's Python console for batch work and in plain
pytest with a bare ``slicer.vtkMRMLScene()``.

Threading contract: ``volumeFromNode`` copies the voxels out of the scene, ``segment`` only runs
the engine on that copy (the panel runs it in a worker thread; it must not touch the scene), and
``applyResult`` is the one method that changes the scene (call it in the GUI thread). So a run
that fails or is cancelled has changed nothing in the scene.

Geometry: Slicer stores a volume's grid as IJKToRAS; the engine's Volume uses LPS like ITK and
DICOM. The conversion lives in volume.py (Volume.ijk_to_ras, geometry_from_ijk_to_ras) and is used
both ways, so a segmentation lies exactly on the CT it was made from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..engine.device import others_computing
from ..engine.errors import InputError
from ..engine.results import Segmentation
from ..engine.scribbles import Strokes, make_strokes
from ..engine.tissues import OUTSIDE_NAME
from ..engine.volume import Grid, Volume, geometry_from_ijk_to_ras
from ..engine.windows import SOFT_TISSUE_WINDOW
from ..evaluation import consistency
from ..io.phantom import make_phantom
from ..io.terminology import terminology_entry
from .childrun import ChildRun, NodeVoxels, Worker
from .panelrun import runThreads

RUN_RECORD_ATTRIBUTE = "UnsupervisedCTSeg.RunRecord"
LABEL_TAG = "UnsupervisedCTSeg.Label"  # segment tag: the engine label a segment was made from
TABLE_ROLE = "unsupervisedCTSegConsistencyTable"  # node references from the segmentation node
CHART_ROLE = "unsupervisedCTSegConsistencyChart"
LABELMAP_ROLE = "unsupervisedCTSegLabelmap"
COLOR_TABLE_ROLE = "unsupervisedCTSegColorTable"
CONSISTENCY_COLUMNS = ("slice", "labels", "identical_fraction", "ari_previous")
SERIES = (  # (table column, series name suffix, colour): what the consistency chart plots
    ("identical_fraction", "identical fraction", (0.20, 0.45, 0.80)),
    ("ari_previous", "ARI with previous slice", (0.85, 0.35, 0.15)),
)


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


class UnsupervisedCTSegLogic:
    """Turns volume nodes into Volumes, runs the engine and puts its result into the scene."""

    def __init__(self, scene=None):
        if scene is None:
            scene = getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise RuntimeError("no MRML scene: outside the Slicer application pass one, "
                               "e.g. UnsupervisedCTSegLogic(slicer.vtkMRMLScene())")
        self.scene = scene
        self._worker = None  # the child process kept for previews (childrun.Worker), made by the first preview
        ensureClosedSurfaceRule()

    # ------------------------------------------------------------------ input

    def volumeFromNode(self, volumeNode) -> Volume:
        """A copy of the node's voxels and grid as an engine Volume (z, y, x), refusing unusable nodes.

        The node's own geometry is used. If the node is under a parent transform the geometry is
        not hardened: applyResult places the outputs under the same transform, so Slicer shows
        them exactly on the transformed CT.
        """
        checkVolumeNode(volumeNode)
        return _volumeFromNode(volumeNode, 0, _dimensions(volumeNode)[2])

    def nodeVoxels(self, volumeNode) -> NodeVoxels:
        """The node's voxels as stored (a view, no copy, int16 stays int16) and its grid, refusing
        unusable nodes: what a whole-volume run in a child process writes for it (startRun). Use it
        at once, on the GUI thread: the view follows the node."""
        checkVolumeNode(volumeNode)
        return NodeVoxels(_imageArray(volumeNode), _gridOf(volumeNode, 0, _dimensions(volumeNode)[2]))

    def axialSliceVolume(self, volumeNode, sliceIndex: int) -> Volume:
        """Slice k of the node as a one-slice Volume at its true position (for "Preview current slice").

        Only that slice is copied, so previewing a slice of a large CT is cheap.
        """
        checkVolumeNode(volumeNode)
        depth = _dimensions(volumeNode)[2]
        if not 0 <= int(sliceIndex) < depth:
            raise InputError(f"slice {sliceIndex} is outside the volume (slices 0..{depth - 1}): "
                             "move the slice view onto the volume")
        return _volumeFromNode(volumeNode, int(sliceIndex), int(sliceIndex) + 1)

    def sliceIndexFromRAS(self, volumeNode, ras) -> int:
        """Index k of the volume slice nearest to the world RAS point `ras`, clamped to the volume.

        k is the volume's slice axis (the last array axis in Slicer, the first in the engine); for
        an axial CT it is the Red view's normal, so the Red view's slice position picks the slice.
        A parent transform is undone first, since the point is in world coordinates and the grid
        is not hardened.
        """
        checkVolumeNode(volumeNode)
        point = [float(v) for v in ras][:3]
        parent = volumeNode.GetParentTransformNode()
        if parent is not None:
            fromWorld = vtk.vtkGeneralTransform()
            parent.GetTransformFromWorld(fromWorld)
            point = list(fromWorld.TransformPoint(point))
        ijk = np.linalg.inv(_ijkToRAS(volumeNode)) @ np.array([*point, 1.0])
        extent = volumeNode.GetImageData().GetExtent()
        k = int(np.floor(ijk[2] + 0.5)) - extent[4]
        return int(np.clip(k, 0, _dimensions(volumeNode)[2] - 1))

    # ------------------------------------------------------------------ run

    def segment(self, volume: Volume, settings, progress=None, cancel=None) -> Segmentation:
        """The engine's segment(), unchanged, in this process. Safe in a worker thread: it never touches
        the scene. (PyTorch is imported here, not when this module loads.)"""
        from ..engine.run import segment

        return segment(volume, settings, progress, cancel)

    def startRun(self, volume, settings, context=None, threads=None, estimate=True, strokes=None,
                 weights=None, warm=False) -> ChildRun:
        """Start segmenting `volume` (a Volume, or nodeVoxels of a whole node) in a child process and
        return at once (the panel's way: see
        childrun.py); poll the returned run, and apply its result with applyResult. The scene is
        not touched. With `strokes` (strokesFromSegmentation) the run learns from them; `weights`
        names a file where a scribble run keeps its network for the next rerun. With `warm` (the
        panel's previews) the run goes to the child process kept for them, started the first time."""
        worker = self.previewWorker(threads or runThreads()) if warm else None
        return ChildRun(volume, settings, context, threads, estimate, strokes=strokes, weights=weights, worker=worker)

    def previewWorker(self, threads: int, busy=None) -> Worker:
        """The idle child kept for previews, a new one when there is none, it has ended (a cancel ends
        it), it has another thread count, or the machine's load now calls for the other OpenMP wait
        policy: passive while other processes compute, since spinning threads then cost up to 14x.
        `busy(ours=[pids])` (default engine.device.others_computing) tells; the kept child's own
        threads are not others'. The panel asks again after each preview, so a cancelled one is
        replaced before the next."""
        worker = self._worker
        passive = (busy or others_computing)(ours=[worker.process.pid] if worker is not None else []) is not False
        if worker is None or not worker.alive or worker.busy or worker.threads != threads or worker.passive != passive:
            self.closeWorker()
            self._worker = Worker(threads, passive)
        return self._worker

    def closeWorker(self) -> None:
        """End the previews' child process, if any (the module does when it is unloaded)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def run(self, volumeNode, settings, segmentationNode=None, createLabelmap=False, progress=None,
            cancel=None) -> AppliedNodes:
        """volumeFromNode -> segment -> applyResult, synchronously (batch use from the Python console).

        Nothing is added to the scene before the engine has succeeded, so a cancelled (Cancelled) or
        failed run leaves the scene exactly as it was.
        """
        volume = self.volumeFromNode(volumeNode)
        result = self.segment(volume, settings, progress, cancel)
        return self.applyResult(volumeNode, result, segmentationNode, createLabelmap)

    # ------------------------------------------------------------------ output

    def applyResult(self, volumeNode, result, segmentationNode=None, createLabelmap=False,
                    name=None, keepPreviousAs: str = "") -> AppliedNodes:
        """Put an engine result into the scene: the only method that changes the scene (GUI thread).

        One segment per tissue (name, colour, voxels exactly labels == tissue.label) on the result's
        grid, which is the input's grid or, for a preview, one slice of it. With more than one
        slice, a "<input> slice consistency" table and chart show where labels jump between
        slices. A given (or previously used) segmentation node is reused: its segments are
        replaced, and the table, chart and labelmap it references are updated instead of new ones
        piling up. Outputs are placed under the input's parent transform. 3D surfaces are made for
        full runs only; an "outside body" segment is shown in the slice views only (in 3D it would
        be a box hiding the body). With `keepPreviousAs`, the reused node's segments are first copied
        to a new, hidden segmentation of that name (a scribble run replacing its own strokes). If
        anything fails, the nodes created by this call, the copy included, are removed again.
        """
        checkVolumeNode(volumeNode)
        labels = np.asarray(result.labels)
        grid = result.volume
        if labels.shape != grid.shape:
            raise InputError(f"labels {labels.shape} do not match their volume {grid.shape}: "
                             "apply the result the engine returned, unchanged")
        fullGrid = _onNodeGrid(volumeNode, grid)
        inputName = volumeNode.GetName() or "volume"
        scene = self.scene
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
                table = _referenced(segNode, TABLE_ROLE) or addNode("vtkMRMLTableNode", f"{inputName} slice consistency")
                _fillConsistencyTable(table, consistency.slice_consistency(labels))
                chart = _referenced(segNode, CHART_ROLE) or addNode("vtkMRMLPlotChartNode", f"{inputName} slice consistency")
                _fillConsistencyChart(chart, table, inputName, addNode)
                segNode.SetNodeReferenceID(TABLE_ROLE, table.GetID())
                segNode.SetNodeReferenceID(CHART_ROLE, chart.GetID())

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

    def fillStrokeSegments(self, segmentationNode, volumeNode, result) -> list:
        """Write a scribble run's result into the segments that hold its strokes, in place: segment i
        (in the segmentation's order, as strokesFromSegmentation read them) gets structure i's
        voxels, keeping its ID, name, colour and terminology; labels after the structures (`open`
        output) become new segments after them. This is how the Segment Editor effect writes, so
        the editor's Undo brings the strokes back. Refuses, changing nothing, a result that is not
        on the volume's whole grid or whose structures are no longer the segmentation's segments.
        Returns the IDs of the segments written, in label order."""
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
        scene = self.scene
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

    # ------------------------------------------------------------------ review

    def labelsFromSegmentation(self, segmentationNode, volumeNode) -> np.ndarray:
        """The segmentation as engine labels (z, y, x) on the volume's grid (0 outside every segment).

        Each segment gets the engine label it was made from (its tag; else its label value).
        """
        order, segments = self._exportSegments(segmentationNode, volumeNode)
        return np.asarray([0] + [_segmentLabel(segment) for segment in segments], np.uint16)[order]

    def strokesFromSegmentation(self, segmentationNode, volumeNode) -> Strokes:
        """A segmentation whose segments hold a user's strokes (Segment Editor's Paint or Draw) as the
        engine's Strokes on the volume's grid: segment i (in the segmentation's order) is structure
        i, with the segment's name, colour and terminology. Refuses, with the fix, a segmentation
        with fewer than two segments or a segment without a stroke."""
        order, segments = self._exportSegments(segmentationNode, volumeNode)
        names = [segment.GetName() for segment in segments]
        colors = [tuple(segment.GetColor()) for segment in segments]
        terms = []
        for segment in segments:
            entry = vtk.reference("")
            terms.append(str(entry) if segment.GetTag(segment.GetTerminologyEntryTagName(), entry) else "")
        return make_strokes(order, names, colors, terms, shape=order.shape)

    def _exportSegments(self, segmentationNode, volumeNode) -> tuple:
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
        scene = self.scene
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


# ---------------------------------------------------------------------- scene-free helpers

def checkVolumeNode(volumeNode) -> None:
    """Refuse nodes the engine cannot segment, each with a one-line message naming problem and fix."""
    if volumeNode is None:
        raise InputError("no input volume: select an input volume")
    name = volumeNode.GetName() if hasattr(volumeNode, "GetName") else str(volumeNode)
    if hasattr(slicer, "vtkMRMLSequenceNode") and isinstance(volumeNode, slicer.vtkMRMLSequenceNode):
        raise InputError(f"'{name}' is a 4D sequence: select the sequence's proxy volume "
                         "(one time point) instead")
    if not isinstance(volumeNode, slicer.vtkMRMLVolumeNode):
        raise InputError(f"'{name}' is a {volumeNode.GetClassName()}, not a volume: select a CT volume")
    if isinstance(volumeNode, slicer.vtkMRMLLabelMapVolumeNode):
        raise InputError(f"'{name}' is a labelmap: choose a scalar CT volume, not a labelmap")
    image = volumeNode.GetImageData()
    if isinstance(volumeNode, slicer.vtkMRMLVectorVolumeNode) or (
            image is not None and image.GetNumberOfScalarComponents() > 1):
        components = image.GetNumberOfScalarComponents() if image is not None else "several"
        raise InputError(f"'{name}' has {components} components per voxel (RGB colour, vector or multi-frame "
                         "4D data): choose a single-component scalar CT volume, or extract one frame")
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        raise InputError(f"'{name}' has no image data: load the CT's voxels into it or select another volume")
    if image.GetNumberOfPoints() == 0 or min(image.GetDimensions()) < 1:
        raise InputError(f"'{name}' is an empty image (0 voxels): select a volume that has voxels")


def volumeNodeFromVolume(scene, volume: Volume, name: str):
    """A scalar volume node holding `volume` on its grid: the inverse of volumeFromNode.

    Whole HU in int16 range are stored as int16 (as CT scanners do), others as float32.
    """
    hu = volume.hu
    whole = hu.size and hu.min() >= -32768 and hu.max() <= 32767 and np.array_equal(hu, np.round(hu))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    _setVoxelsAndGeometry(node, hu.astype(np.int16) if whole else hu.astype(np.float32), volume)
    node.CreateDefaultDisplayNodes()
    return node


def phantomVolumeNode(scene, name: str = "UnsupervisedCTSeg phantom", slices: int = 12, size: int = 256,
                      seed: int = 0):
    """The engine's synthetic abdominal CT (phantom.make_phantom) as a volume node in a CT window.

    Used by the Sample Data entry and the self-tests; slices and size make small test volumes.
    """
    volume, _, _ = make_phantom(slices=slices, size=size, seed=seed)
    node = volumeNodeFromVolume(scene, volume, name)
    display = node.GetDisplayNode()
    display.AutoWindowLevelOff()
    low, high = SOFT_TISSUE_WINDOW
    display.SetWindowLevel(high - low, (high + low) / 2)
    return node


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


def _dimensions(volumeNode) -> tuple:
    """(nx, ny, nz) of the node's image data."""
    return tuple(volumeNode.GetImageData().GetDimensions())


def _ijkToRAS(node) -> np.ndarray:
    """The node's IJKToRAS as a numpy 4x4."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _setIJKToRAS(node, ijkToRAS: np.ndarray) -> None:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(ijkToRAS[r, c]))
    node.SetIJKToRASMatrix(matrix)


def _imageArray(node) -> np.ndarray:
    """The node's voxels as a (z, y, x) numpy view of the VTK buffer (no copy: do not keep it)."""
    image = node.GetImageData()
    nx, ny, nz = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)


def _volumeFromNode(volumeNode, start: int, stop: int) -> Volume:
    """Slices start..stop-1 of a checked node as a Volume that owns its voxels.

    The voxels are copied, because the engine may run in a worker thread while the user changes or
    deletes the node. The grid is the node's IJKToRAS, with voxel (0, 0, start) of the image
    extent as origin.
    """
    view = _imageArray(volumeNode)[start:stop]
    hu = view.copy() if view.dtype == np.float32 else view  # other types are copied by the conversion
    grid = _gridOf(volumeNode, start, stop)
    return Volume(hu, grid.spacing, grid.origin, grid.direction, source=grid.source)


def _gridOf(volumeNode, start: int, stop: int) -> Grid:
    """The grid of slices start..stop-1 of the node: its IJKToRAS, with voxel (0, 0, start) of the
    image extent as origin."""
    ijkToRAS = _ijkToRAS(volumeNode)
    i0, _, j0, _, k0, _ = volumeNode.GetImageData().GetExtent()
    ijkToRAS[:3, 3] = (ijkToRAS @ np.array([i0, j0, k0 + start, 1.0]))[:3]
    spacing, origin, direction = geometry_from_ijk_to_ras(ijkToRAS)
    nx, ny, _ = _dimensions(volumeNode)
    return Grid((stop - start, ny, nx), spacing, origin, direction, volumeNode.GetName() or "")


def _setVoxelsAndGeometry(node, array: np.ndarray, volume: Volume) -> None:
    """Give a volume node a deep copy of `array` (z, y, x) as image data on the volume's grid."""
    array = np.ascontiguousarray(array)
    nz, ny, nx = array.shape
    image = vtk.vtkImageData()
    image.SetDimensions(nx, ny, nz)
    scalars = numpy_support.numpy_to_vtk(array.reshape(-1), deep=True)
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    node.SetAndObserveImageData(image)
    _setIJKToRAS(node, volume.ijk_to_ras())


def _onNodeGrid(volumeNode, grid: Volume, atol: float = 1e-4) -> bool:
    """Whether `grid` is the node's whole grid (a full run) rather than part of it (a preview)."""
    nx, ny, nz = _dimensions(volumeNode)
    if grid.shape != (nz, ny, nx):
        return False
    nodeGrid = _ijkToRAS(volumeNode)
    i0, _, j0, _, k0, _ = volumeNode.GetImageData().GetExtent()
    nodeGrid[:3, 3] = (nodeGrid @ np.array([i0, j0, k0, 1.0]))[:3]
    return bool(np.allclose(grid.ijk_to_ras(), nodeGrid, atol=atol))


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


def _fillConsistencyTable(table, values: dict) -> None:
    """Write the per-slice consistency numbers as table columns (rewritten on each run)."""
    table.RemoveAllColumns()
    descriptions = {
        "slice": "axial slice index k",
        "labels": "distinct non-zero labels in the slice",
        "identical_fraction": "fraction of pixels with the same label as in the previous slice",
        "ari_previous": "adjusted Rand index with the previous slice (1 = same regions)",
    }
    for column in CONSISTENCY_COLUMNS:
        data = np.asarray(values[column])
        data = data.astype(np.int32) if data.dtype.kind in "iu" else data.astype(np.float64)
        array = numpy_support.numpy_to_vtk(data, deep=True)
        array.SetName(column)
        table.AddColumn(array)
        table.SetColumnDescription(column, descriptions[column])
    table.Modified()


def _fillConsistencyChart(chart, table, inputName: str, addNode) -> None:
    """Two series (identical fraction and ARI against slice) from the table; existing ones are reused."""
    existing = {}
    for i in range(chart.GetNumberOfPlotSeriesNodes()):
        series = chart.GetNthPlotSeriesNode(i)
        if series is not None:
            existing[series.GetYColumnName()] = series
    for column, label, color in SERIES:
        series = existing.get(column)
        if series is None:
            series = addNode("vtkMRMLPlotSeriesNode", f"{inputName} {label}")
            chart.AddAndObservePlotSeriesNodeID(series.GetID())
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName("slice")
        series.SetYColumnName(column)
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
        series.SetLineStyle(slicer.vtkMRMLPlotSeriesNode.LineStyleSolid)
        series.SetColor(*color)
    chart.SetTitle(f"{inputName}: label agreement with the previous slice")
    chart.SetXAxisTitle("slice")
    chart.SetYAxisTitle("agreement (0..1)")
    chart.SetYAxisRangeAuto(False)
    chart.SetYAxisRange(0.0, 1.0)
    chart.SetLegendVisibility(True)


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


def _referenced(node, role: str):
    """The node `node` references under `role`, if it is still in the scene."""
    target = node.GetNodeReference(role)
    scene = node.GetScene()
    if target is None or scene is None or not scene.IsNodePresent(target):
        return None
    return target


def _removeNode(scene, node) -> None:
    """Remove a node and the display/storage nodes that belong only to it."""
    if node is None or not scene.IsNodePresent(node):
        return
    helpers = []
    if hasattr(node, "GetNumberOfDisplayNodes"):
        helpers += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    if hasattr(node, "GetStorageNode"):
        helpers.append(node.GetStorageNode())
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and scene.IsNodePresent(helper):
            scene.RemoveNode(helper)


__all__ = ["UnsupervisedCTSegLogic", "AppliedNodes", "phantomVolumeNode", "volumeNodeFromVolume",
           "checkVolumeNode", "ensureClosedSurfaceRule", "RUN_RECORD_ATTRIBUTE"]
