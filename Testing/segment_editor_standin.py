"""A stand-in for what the Segment Editor gives a scripted effect (``self.scriptedEffect``), on a
slicer-core scene: the editor's parameter node, effect parameters, the options frame, the undo
state, the aligned source volume, and ``modifySegmentByLabelmap``.

``ScriptedEffect.modifySegmentByLabelmap`` stands in for Slicer's implementation, which lives in the
application's C++ editor: ``qSlicerSegmentEditorAbstractEffect::modifySegmentByLabelmap``
(Modules/Loadable/Segmentations/EditorEffects/qSlicerSegmentEditorAbstractEffect.cxx, Slicer 5.6 and
5.8), which from Slicer 5.10 on hands the call to ``vtkSlicerSegmentEditorLogic::ModifySegmentByLabelmap``
(Modules/Loadable/Segmentations/Logic/vtkSlicerSegmentEditorLogic.cxx) with the same rules. It was
written from those sources, in Python and numpy on the labelmap's own geometry, for the two modes
an effect writes a result with ("set" and "add"):

1. the editable area: unless ``bypassMasking``, nothing is written where the editor's mask mode
   forbids it (``vtkMRMLSegmentationNode::GenerateEditMask`` with the editor's selected segment and
   mask segment, as the editor makes its mask labelmap);
2. the editable intensity range, when on: nothing is written where the source volume lies outside
   it. As there, the labelmap must lie on the aligned source volume's geometry, else nothing at all
   is written (Slicer logs "Modifier labelmap should have the same geometry as the source volume");
3. "set": the segment's own voxels outside the editable area join what is left of the labelmap, and
   the segment becomes that (with no masking: the labelmap alone); "add": what is left of the
   labelmap is added to the segment;
4. the other segments lose the voxels of that labelmap (in "set" mode also those the segment kept
   outside the editable area) as the overwrite mode ("Modify other segments") says: all of them
   (OverwriteAllSegments), the visible ones (OverwriteVisibleSegments), none (OverwriteNone: they
   then overlap); none either with ``bypassMasking``;
5. a segment whose status is "not started" becomes "in progress".

Slicer has no per-segment lock: those sources, from 5.6 to the current main branch, know only the
editor's read-only switch (which disables every effect). What keeps a segment from being
overwritten by an effect is the overwrite mode (a hidden segment under OverwriteVisibleSegments,
every segment under OverwriteNone) and the editable area.

Where slicer-core has Slicer's own ``vtkSlicerSegmentEditorLogic`` (5.10 and later),
Testing/test_editor_write.py checks that this stand-in leaves every segment as it does.

``saveStateForUndo`` keeps a ``vtkSegmentationHistory`` of the segmentation the editor shows, as the
editor does: a history starts afresh when the editor shows another segmentation. ``undo()`` is the
editor's Undo button.
"""
from __future__ import annotations

import types

import numpy as np

# qSlicerSegmentEditorAbstractEffect's ModificationMode, in its order (Set, Add, Remove, RemoveAll)
MODES = types.SimpleNamespace(ModificationModeSet=0, ModificationModeAdd=1, ModificationModeRemove=2,
                              ModificationModeRemoveAll=3)


def _image(array: np.ndarray, geometry):
    """A uint8 oriented image with `geometry`'s extent and image-to-world matrix holding `array` (z, y, x)."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    image = slicer.vtkOrientedImageData()
    image.SetExtent(geometry.GetExtent())
    matrix = vtk.vtkMatrix4x4()
    geometry.GetImageToWorldMatrix(matrix)
    image.SetGeometryFromImageToWorldMatrix(matrix)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = np.asarray(array, np.uint8).ravel()
    return image


def _array(image, geometry, pad=0) -> np.ndarray:
    """`image`'s voxels on `geometry`'s extent (same lattice: cropped or padded with `pad`), (z, y, x)."""
    import slicer
    from vtk.util import numpy_support

    i0, i1, j0, j1, k0, k1 = geometry.GetExtent()
    shape = (k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
    e = image.GetExtent() if image is not None else (0, -1, 0, -1, 0, -1)
    if e[0] > e[1] or e[2] > e[3] or e[4] > e[5] or image.GetPointData().GetScalars() is None:
        return np.full(shape, pad)
    resampled = slicer.vtkOrientedImageData()
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            image, geometry, resampled, False, True, None, pad):
        raise RuntimeError("resampling failed")
    r = resampled.GetExtent()
    data = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(
        r[5] - r[4] + 1, r[3] - r[2] + 1, r[1] - r[0] + 1)
    out = np.full(shape, pad, dtype=data.dtype)
    lo = (max(k0, r[4]), max(j0, r[2]), max(i0, r[0]))
    hi = (min(k1, r[5]), min(j1, r[3]), min(i1, r[1]))
    if all(a <= b for a, b in zip(lo, hi)):
        out[lo[0] - k0:hi[0] - k0 + 1, lo[1] - j0:hi[1] - j0 + 1, lo[2] - i0:hi[2] - i0 + 1] = \
            data[lo[0] - r[4]:hi[0] - r[4] + 1, lo[1] - r[2]:hi[1] - r[2] + 1, lo[2] - r[0]:hi[2] - r[0] + 1]
    return out


def segmentMask(segmentationNode, segmentID, geometry) -> np.ndarray:
    """A segment's voxels as a bool array (z, y, x) on `geometry`'s extent."""
    import slicer

    labelmap = slicer.vtkOrientedImageData()
    segmentationNode.GetBinaryLabelmapRepresentation(segmentID, labelmap)
    return _array(labelmap, geometry) > 0


class ScriptedEffect:
    """``self.scriptedEffect`` of an effect, with a vtkMRMLSegmentEditorNode as its parameter set node.

    Records in `log` (a list) "saveStateForUndo" and ("modifySegmentByLabelmap", segmentID), each with
    `probe()` (the cursor and status at the time), as panel_fakes.Session does."""

    def __init__(self, editorNode, name="Unsupervised CT", log=None, probe=lambda: None):
        self.editorNode, self.name = editorNode, name
        self.perSegment, self.requireSegments = True, False
        self.parameters, self.options = {}, []
        self.log, self.probe = (log if log is not None else []), probe
        self.errors = []  # what Slicer would log as errors
        self._history = self._historySegmentation = None

    # the options frame and the effect's parameters (attributes "<effect>.<name>" of the editor node in Slicer)

    def addOptionsWidget(self, widget) -> None:
        self.options.append(widget)

    def addLabeledOptionsWidget(self, label, widget) -> None:
        self.options.append((label, widget))

    def parameterSetNode(self):
        return self.editorNode

    def setParameterDefault(self, name, value) -> None:
        self.parameters.setdefault(name, str(value))

    def setParameter(self, name, value) -> None:
        self.parameters[name] = str(value)

    def parameterDefined(self, name) -> bool:
        return bool(self.parameters.get(name))

    def parameter(self, name) -> str:
        return self.parameters.get(name, "")

    def integerParameter(self, name) -> int:
        return int(self.parameters.get(name) or 0)

    # undo

    def _segmentationHistory(self):
        import slicer

        segmentationNode = self.editorNode.GetSegmentationNode()
        segmentation = segmentationNode.GetSegmentation() if segmentationNode is not None else None
        if self._history is None or segmentation is not self._historySegmentation:
            self._history = slicer.vtkSegmentationHistory()  # another segmentation: its own, empty history
            self._history.SetSegmentation(segmentation)
            self._historySegmentation = segmentation
        return self._history

    def saveStateForUndo(self) -> None:
        self.log.append(["saveStateForUndo", self.probe()])
        self._segmentationHistory().SaveState()

    def undo(self) -> bool:
        """The editor's Undo: the segmentation it shows goes back to its last saved state."""
        history = self._segmentationHistory()
        return bool(history.IsRestorePreviousStateAvailable() and history.RestorePreviousState())

    # the editor's images

    def referenceGeometry(self):
        """The segmentation's reference geometry (its "reference image geometry" conversion parameter,
        set from the source volume when missing), as an image without voxels."""
        import slicer

        segmentationNode = self.editorNode.GetSegmentationNode()
        segmentation = segmentationNode.GetSegmentation()
        name = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
        if not segmentation.GetConversionParameter(name):
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(self._sourceVolumeNode())
        geometry = slicer.vtkOrientedImageData()
        slicer.vtkSegmentationConverter.DeserializeImageGeometry(segmentation.GetConversionParameter(name), geometry,
                                                                 False)
        return geometry

    def _sourceVolumeNode(self):
        get = getattr(self.editorNode, "GetSourceVolumeNode", None) or self.editorNode.GetMasterVolumeNode
        return get()

    def sourceVolumeImageData(self):
        """The source volume resampled onto the segmentation's reference geometry (linear), through the
        transform between them: the editor's aligned source volume."""
        import slicer
        import vtk

        volumeNode, segmentationNode = self._sourceVolumeNode(), self.editorNode.GetSegmentationNode()
        source = slicer.vtkOrientedImageData()
        source.ShallowCopy(volumeNode.GetImageData())
        matrix = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(matrix)
        source.SetGeometryFromImageToWorldMatrix(matrix)
        transform = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(volumeNode.GetParentTransformNode(),
                                                             segmentationNode.GetParentTransformNode(), transform)
        aligned = slicer.vtkOrientedImageData()
        slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            source, self.referenceGeometry(), aligned, True, False, transform)
        return aligned

    masterVolumeImageData = sourceVolumeImageData

    # writing

    def modifySegmentByLabelmap(self, segmentationNode, segmentID, modifierLabelmap, modificationMode,
                                bypassMasking=False) -> None:
        import slicer

        self.log.append(["modifySegmentByLabelmap", segmentID, self.probe()])
        editor = self.editorNode
        segmentation = segmentationNode.GetSegmentation() if segmentationNode is not None else None
        segment = segmentation.GetSegment(segmentID) if segmentation is not None and segmentID else None
        if segment is None:
            self.errors.append("Invalid segment")
            return
        if modificationMode not in (MODES.ModificationModeSet, MODES.ModificationModeAdd):
            raise NotImplementedError("the stand-in writes in the set and add modes only")
        geometry = modifierLabelmap
        written = _array(modifierLabelmap, geometry) > 0
        old = segmentMask(segmentationNode, segmentID, geometry)

        masking = not bypassMasking and editor.GetMaskMode() != slicer.vtkMRMLSegmentationNode.EditAllowedEverywhere
        intensity = editor.GetSourceVolumeIntensityMask()
        forbidden = np.zeros_like(written)
        if masking:
            mask = slicer.vtkOrientedImageData()
            selected, maskSegment = editor.GetSelectedSegmentID() or "", editor.GetMaskSegmentID() or ""
            if not segmentationNode.GenerateEditMask(mask, editor.GetMaskMode(), geometry, selected, maskSegment):
                self.errors.append("Failed to update mask labelmap")
                return
            forbidden |= _array(mask, geometry) > 0
        if intensity:
            aligned = self.sourceVolumeImageData()
            if not slicer.vtkOrientedImageDataResample.DoGeometriesMatch(modifierLabelmap, aligned):
                self.errors.append("Modifier labelmap should have the same geometry as the source volume")
                return
            low, high = editor.GetSourceVolumeIntensityMaskRange()
            values = _array(aligned, aligned).astype(float)
            outside = _image((values < low) | (values > high), aligned)
            forbidden |= _array(outside, geometry) > 0  # where there is no source voxel, editing is allowed
        if masking or intensity:
            written &= ~forbidden
            if modificationMode == MODES.ModificationModeSet:
                written |= old & forbidden  # the segment's own voxels outside the editable area join the labelmap
        new = written if modificationMode == MODES.ModificationModeSet else old | written

        mode = editor.GetOverwriteMode()
        display = segmentationNode.GetDisplayNode()
        others = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
        others.remove(segmentID)
        if bypassMasking or mode == slicer.vtkMRMLSegmentEditorNode.OverwriteNone:
            overwritten = []
        elif mode == slicer.vtkMRMLSegmentEditorNode.OverwriteVisibleSegments:
            overwritten = [i for i in others if display is not None and display.GetSegmentVisibility(i)]
        else:
            overwritten = others
        shrunk = {}
        for other in overwritten:
            before = segmentMask(segmentationNode, other, geometry)
            if (before & written).any():
                shrunk[other] = before & ~written

        logic = slicer.vtkSlicerSegmentationsModuleLogic
        logic.SetBinaryLabelmapToSegment(_image(new, geometry), segmentationNode, segmentID, logic.MODE_REPLACE)
        for other, mask in shrunk.items():
            logic.SetBinaryLabelmapToSegment(_image(mask, geometry), segmentationNode, other, logic.MODE_REPLACE)
        if logic.GetSegmentStatus(segment) == logic.NotStarted:
            logic.SetSegmentStatus(segment, logic.InProgress)


class SlicerEditorEffect(ScriptedEffect):
    """The same, writing and undoing with Slicer's own vtkSlicerSegmentEditorLogic (slicer-core 5.10 and
    later), to check the stand-in against."""

    def __init__(self, scene, editorNode, **kwargs):
        import slicer

        super().__init__(editorNode, **kwargs)
        self.logic = slicer.vtkSlicerSegmentEditorLogic()
        self.logic.SetMRMLScene(scene)
        self.logic.SetSegmentEditorNode(editorNode)

    def saveStateForUndo(self) -> None:
        self.log.append(["saveStateForUndo", self.probe()])
        self.logic.SaveStateForUndo()

    def undo(self) -> bool:
        self.logic.Undo()
        return True

    def sourceVolumeImageData(self):
        self.logic.UpdateAlignedSourceVolume()
        return self.logic.GetAlignedSourceVolume()

    def modifySegmentByLabelmap(self, segmentationNode, segmentID, modifierLabelmap, modificationMode,
                                bypassMasking=False) -> None:
        self.log.append(["modifySegmentByLabelmap", segmentID, self.probe()])
        import slicer

        logic = slicer.vtkSlicerSegmentEditorLogic
        mode = (logic.ModificationModeSet, logic.ModificationModeAdd, logic.ModificationModeRemove,
                logic.ModificationModeRemoveAll)[modificationMode]  # the effect's enum, in its order
        self.logic.ModifySegmentByLabelmap(segmentationNode, segmentID, modifierLabelmap, mode, self.perSegment,
                                           bypassMasking)


def hasSlicerEditorLogic() -> bool:
    import slicer

    return hasattr(slicer, "vtkSlicerSegmentEditorLogic")
