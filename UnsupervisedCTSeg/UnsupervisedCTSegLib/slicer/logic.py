"""The Slicer side of the engine: volume nodes in, segmentation (and review) nodes out.

Uses only the MRML/VTK API that the slicer-core package also provides (no Qt, no application), so
the same code runs in the module panel, in Slicer's Python console for batch work and in plain
pytest with a bare ``slicer.vtkMRMLScene()``.

Threading contract: ``volumeFromNode`` copies the voxels out of the scene, ``segment`` only runs
the engine on that copy (the panel runs it in a worker thread; it must not touch the scene), and
``applyResult`` is the one method that changes the scene (call it in the GUI thread). So a run
that fails or is cancelled has changed nothing in the scene.

Layout: this module is the facade and the runs; the scene import and export of segments behind
applyResult, fillStrokeSegments, labelsFromSegmentation and strokesFromSegmentation are in
segments.py, the slice consistency table and chart in consistency.py, and a node's voxels and grid
in nodes.py.

Geometry: Slicer stores a volume's grid as IJKToRAS; the engine's Volume uses LPS like ITK and
DICOM. The conversion lives in volume.py (Volume.ijk_to_ras, geometry_from_ijk_to_ras) and is used
both ways (nodes.py), so a segmentation lies exactly on the CT it was made from.
"""
from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..engine.device import others_computing
from ..engine.errors import InputError
from ..engine.results import Segmentation
from ..engine.scribbles import Strokes
from ..engine.volume import Volume
from ..engine.windows import SOFT_TISSUE_WINDOW
from ..io.phantom import make_phantom
from . import segments
from .childrun import ChildRun, NodeVoxels, Worker
from .nodes import (_dimensions, _gridOf, _ijkToRAS, _imageArray, _volumeFromNode, checkVolumeNode,
                    volumeNodeFromVolume)
from .panelrun import runThreads
from .segments import RUN_RECORD_ATTRIBUTE, AppliedNodes, ensureClosedSurfaceRule


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

    # ------------------------------------------------------------------ output (segments.py)

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
        return segments.applyResult(self.scene, volumeNode, result, segmentationNode, createLabelmap, name,
                                    keepPreviousAs)

    def fillStrokeSegments(self, segmentationNode, volumeNode, result) -> list:
        """Write a scribble run's result into the segments that hold its strokes, in place: segment i
        (in the segmentation's order, as strokesFromSegmentation read them) gets structure i's
        voxels, keeping its ID, name, colour and terminology; labels after the structures (`open`
        output) become new segments after them. This is how the Segment Editor effect writes, so
        the editor's Undo brings the strokes back. Refuses, changing nothing, a result that is not
        on the volume's whole grid or whose structures are no longer the segmentation's segments.
        Returns the IDs of the segments written, in label order."""
        return segments.fillStrokeSegments(self.scene, segmentationNode, volumeNode, result)

    # ------------------------------------------------------------------ review (segments.py)

    def labelsFromSegmentation(self, segmentationNode, volumeNode) -> np.ndarray:
        """The segmentation as engine labels (z, y, x) on the volume's grid (0 outside every segment).

        Each segment gets the engine label it was made from (its tag; else its label value).
        """
        return segments.labelsFromSegmentation(self.scene, segmentationNode, volumeNode)

    def strokesFromSegmentation(self, segmentationNode, volumeNode) -> Strokes:
        """A segmentation whose segments hold a user's strokes (Segment Editor's Paint or Draw) as the
        engine's Strokes on the volume's grid: segment i (in the segmentation's order) is structure
        i, with the segment's name, colour and terminology. Refuses, with the fix, a segmentation
        with fewer than two segments or a segment without a stroke."""
        return segments.strokesFromSegmentation(self.scene, segmentationNode, volumeNode)


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


__all__ = ["UnsupervisedCTSegLogic", "AppliedNodes", "phantomVolumeNode", "volumeNodeFromVolume",
           "checkVolumeNode", "ensureClosedSurfaceRule", "RUN_RECORD_ATTRIBUTE"]
