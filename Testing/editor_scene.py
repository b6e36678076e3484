"""A small CT and a segmentation of strokes on a slicer-core scene, with the Segment Editor's node and a
stand-in for the editor's side of an effect: what test_editor_write.py and test_editor_preview.py
(in its child interpreter) build on.

The volume is 3 x 12 x 16 voxels with HU rising across x, on a grid turned in-plane; the
segmentation holds, in this order, "liver", "hidden" (hidden), "bone", "region" (hidden) and "fat".
liver, bone and fat hold one stroke each; `result()` is what a run on them gives: liver on the left,
fat in the middle, bone on the right, the last row outside the body. Nothing here imports the
slicer layer's logic module, which the effect's test replaces by a fake.
"""
import types

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

import segment_editor_standin as standin
from UnsupervisedCTSegLib.engine.tissues import Tissue
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.slicer import editorwrite

SHAPE = (3, 12, 16)  # z, y, x
NAMES = ("liver", "bone", "fat")
COLOURS = [(0.8, 0.2, 0.2), (0.95, 0.95, 0.85), (0.9, 0.8, 0.3)]


def box(**where) -> np.ndarray:
    """A bool array of SHAPE, True in the given slices: box(z=1, y=slice(0, 4))."""
    mask = np.zeros(SHAPE, bool)
    mask[where.get("z", slice(None)), where.get("y", slice(None)), where.get("x", slice(None))] = True
    return mask


# what the run "found": liver left, fat in the middle, bone right; the last row is outside the body
REGIONS = {"liver": box(x=slice(0, 6), y=slice(0, 11)), "fat": box(x=slice(6, 10), y=slice(0, 11)),
           "bone": box(x=slice(10, 16), y=slice(0, 11))}
STROKES = {"liver": box(z=1, y=6, x=2), "bone": box(z=1, y=6, x=13), "fat": box(z=1, y=2, x=8)}
HIDDEN = box(z=0, y=slice(9, 12))  # a hidden segment, partly outside the body
REGION = box(z=1, y=slice(0, 8))  # a hidden segment, used as the editable area
HU = np.broadcast_to((np.arange(16) * 20 - 100).astype(np.float32), SHAPE)  # -100 .. 200 HU across x


def registerConverters() -> None:
    """The labelmap -> closed surface rule, without which bare slicer-core makes no labelmap segments
    (the Slicer application registers it at start-up, the module's logic when it is made)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    rules = [r.GetClassName() for r in factory.GetConverterRules()]
    if "vtkBinaryLabelmapToClosedSurfaceConversionRule" not in rules:
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())


def volumeNode(scene, volume: Volume, name: str):
    """A scalar volume node holding `volume`'s HU as int16 on its grid."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    nz, ny, nx = volume.shape
    image = vtk.vtkImageData()
    image.SetDimensions(nx, ny, nz)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
        np.ascontiguousarray(volume.hu, np.int16).ravel(), deep=True))
    node.SetAndObserveImageData(image)
    matrix = vtk.vtkMatrix4x4()
    for row, values in enumerate(volume.ijk_to_ras()):
        for column, value in enumerate(values):
            matrix.SetElement(row, column, float(value))
    node.SetIJKToRASMatrix(matrix)
    node.CreateDefaultDisplayNodes()
    return node


class Scene:
    """A volume, a segmentation with three painted segments and two hidden ones, and the editor's node;
    `effect` is the stand-in for what the editor gives an effect ("stand-in"), or one that writes and
    undoes with Slicer's own editor logic ("Slicer", slicer-core 5.10 and later)."""

    def __init__(self, editor="stand-in", scene=None, log=None, probe=lambda: None):
        self.scene = scene or slicer.vtkMRMLScene()
        self.scene.RegisterNodeClass(slicer.vtkMRMLSegmentEditorNode())
        registerConverters()
        direction = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # axes turned in-plane
        self.volume = Volume(HU, (1.2, 0.9, 2.5), (-30.0, 12.0, 40.0), direction)
        self.volumeNode = volumeNode(self.scene, self.volume, "CT")
        self.segmentationNode = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "strokes")
        self.segmentationNode.CreateDefaultDisplayNodes()
        self.segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(self.volumeNode)
        segmentation = self.segmentationNode.GetSegmentation()
        self.ids = {}
        for name, colour in zip(("liver", "hidden", "bone", "region", "fat"),
                                [COLOURS[0], (0.5, 0.5, 0.5), COLOURS[1], (0.3, 0.3, 0.9), COLOURS[2]]):
            self.ids[name] = segmentation.AddEmptySegment("", name, list(colour))
        for name, mask in {**STROKES, "hidden": HIDDEN, "region": REGION}.items():
            self.paint(name, mask)
        display = self.segmentationNode.GetDisplayNode()
        display.SetSegmentVisibility(self.ids["hidden"], False)
        display.SetSegmentVisibility(self.ids["region"], False)
        self.editorNode = self.scene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
        self.editorNode.SetAndObserveSegmentationNode(self.segmentationNode)
        self.editorNode.SetAndObserveSourceVolumeNode(self.volumeNode)
        self.effect = (standin.ScriptedEffect(self.editorNode, log=log, probe=probe) if editor == "stand-in"
                       else standin.SlicerEditorEffect(self.scene, self.editorNode, log=log, probe=probe))
        self.effect.perSegment = False

    def geometry(self):
        """The volume's grid as an oriented image (the segmentation's reference geometry here)."""
        return editorwrite.labelImage(np.zeros(SHAPE, np.uint8), self.volume)

    def paint(self, name, mask) -> None:
        """What Paint does to a segment: its voxels become `mask`."""
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        logic.SetBinaryLabelmapToSegment(editorwrite.labelImage(mask.astype(np.uint8), self.volume),
                                         self.segmentationNode, self.ids[name], logic.MODE_REPLACE)

    def masks(self) -> dict:
        """{segment name: its voxels on the volume's grid}."""
        geometry = self.geometry()
        return {name: standin.segmentMask(self.segmentationNode, segmentID, geometry)
                for name, segmentID in self.ids.items()}

    def result(self, extra=None, names=NAMES):
        """A run's result as the child process gives it: structure i is label i (the visible segments'
        order), the outside of the body a label of its own, `extra` a cluster of open output."""
        labels = np.full(SHAPE, len(names) + 1, np.uint16)
        for label, name in enumerate(names, start=1):
            labels[REGIONS[name]] = label
        tissues = [Tissue(i, name, COLOURS[NAMES.index(name)], 0.0, 0.0, 1) for i, name in enumerate(names, start=1)]
        tissues.append(Tissue(len(names) + 1, "outside body", (0.0, 0.0, 0.0), -1000.0, 0.0, 1))
        if extra is not None:
            labels[extra] = len(names) + 2
            tissues.append(Tissue(len(names) + 2, "fluid 5", (0.2, 0.6, 0.9), 10.0, 5.0, 1))
        return types.SimpleNamespace(labels=labels, tissues=tissues, volume=self.volume, elapsed=3.0,
                                     record={"device": "CPU", "scribbles": {"structures": list(names)}})

    def visibleIDs(self):
        return editorwrite.visibleSegmentIDs(self.segmentationNode)

    def preview(self, result=None):
        return editorwrite.showPreview(self.scene, self.segmentationNode, self.volumeNode, result or self.result(),
                                       self.visibleIDs(), self.effect.sourceVolumeImageData())

    def apply(self, result=None) -> list:
        """What the effect's Apply does: the preview written through the editor, after one undo state."""
        previewNode = self.preview(result)
        self.effect.saveStateForUndo()

        def modify(segmentationNode, segmentID, labelmap):
            self.effect.modifySegmentByLabelmap(segmentationNode, segmentID, labelmap,
                                                standin.MODES.ModificationModeSet)

        written = editorwrite.writePreview(modify, previewNode, self.segmentationNode,
                                           self.effect.sourceVolumeImageData())
        editorwrite.removePreview(self.scene, previewNode)
        assert not self.effect.errors
        return written
