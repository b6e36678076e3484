"""The Segment Editor effect's reading and writing of segments (slicer/editorwrite.py) on a slicer-core
scene: the strokes of the visible segments, the preview, and Apply through the editor's
modifySegmentByLabelmap, whose rules (editable area, intensity range, overwrite mode) decide what is
written. Each rule is checked with the stand-in for Slicer's implementation
(segment_editor_standin.py) and, where slicer-core has it (5.10 and later), with Slicer's own
vtkSlicerSegmentEditorLogic: both must leave every segment as the rule says.
"""
import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402  (slicer-core's)

import segment_editor_standin as standin  # noqa: E402
from editor_scene import COLOURS, HIDDEN, HU, NAMES, REGION, REGIONS, SHAPE, STROKES, Scene, box  # noqa: E402
from UnsupervisedCTSegLib.engine.errors import InputError  # noqa: E402
from UnsupervisedCTSegLib.slicer import editorwrite  # noqa: E402

EDITORS = ["stand-in", pytest.param("Slicer", marks=pytest.mark.skipif(
    not standin.hasSlicerEditorLogic(), reason="slicer-core without vtkSlicerSegmentEditorLogic (before 5.10)"))]


def assert_masks(seen: dict, expected: dict) -> None:
    for name, mask in expected.items():
        assert np.array_equal(seen[name], mask), (name, int(seen[name].sum()), int(mask.sum()))


# --- the strokes -------------------------------------------------------------------------------------


def test_the_strokes_are_the_visible_segments_in_their_order():
    s = Scene()
    ids = s.visibleIDs()
    assert ids == [s.ids["liver"], s.ids["bone"], s.ids["fat"]]
    strokes = editorwrite.visibleStrokes(s.scene, s.segmentationNode, s.volumeNode, ids)
    assert strokes.names == NAMES and np.allclose(strokes.colors, COLOURS)
    expected = np.zeros(SHAPE, np.uint16)
    for label, name in enumerate(NAMES, start=1):
        expected[STROKES[name]] = label
    assert np.array_equal(strokes.labels, expected)  # the hidden segments are no strokes
    assert s.scene.GetNumberOfNodesByClass("vtkMRMLLabelMapVolumeNode") == 0  # the export's helper is gone


def test_fewer_than_two_visible_segments_are_refused_with_the_fix():
    s = Scene()
    for name in ("bone", "fat"):
        s.segmentationNode.GetDisplayNode().SetSegmentVisibility(s.ids[name], False)
    with pytest.raises(InputError, match="at least two visible segments"):
        editorwrite.visibleStrokes(s.scene, s.segmentationNode, s.volumeNode, s.visibleIDs())


def test_painting_and_showing_or_hiding_change_the_strokes_and_opacity_does_not():
    s = Scene()
    seen = []
    observations = editorwrite.observeStrokes(s.segmentationNode, lambda caller, event: seen.append(event))
    before = editorwrite.strokesSignature(s.segmentationNode)
    display = s.segmentationNode.GetDisplayNode()
    display.SetOpacity(0.4)
    assert editorwrite.strokesSignature(s.segmentationNode) == before
    s.paint("liver", STROKES["liver"] | box(z=2, y=3, x=1))
    assert seen and editorwrite.strokesSignature(s.segmentationNode) != before
    painted, count = editorwrite.strokesSignature(s.segmentationNode), len(seen)
    display.SetSegmentVisibility(s.ids["hidden"], True)
    assert len(seen) > count and editorwrite.strokesSignature(s.segmentationNode) != painted
    editorwrite.unobserve(observations)
    count = len(seen)
    s.paint("bone", STROKES["bone"] | box(z=2, y=3, x=14))
    assert len(seen) == count


# --- the preview ---------------------------------------------------------------------------------------


def test_the_preview_is_its_own_hidden_node_with_the_segments_ids_and_leaves_the_segmentation_alone():
    s = Scene()
    before = s.masks()
    previewNode = s.preview(s.result(extra=box(z=2, y=slice(8, 11), x=slice(0, 3))))
    assert previewNode.GetHideFromEditors() and not previewNode.GetSaveWithScene()
    assert previewNode.GetAttribute(editorwrite.PREVIEW_ATTRIBUTE) == "1"
    assert previewNode.GetName() == "strokes preview"
    assert previewNode.GetDisplayNode().GetOpacity() == pytest.approx(0.6)
    preview = previewNode.GetSegmentation()
    ids = [preview.GetNthSegmentID(i) for i in range(preview.GetNumberOfSegments())]
    assert ids[:3] == [s.ids["liver"], s.ids["bone"], s.ids["fat"]] and len(ids) == 4  # no outside, no hidden
    assert [preview.GetSegment(i).GetName() for i in ids] == ["liver", "bone", "fat", "fluid 5"]
    assert np.allclose([preview.GetSegment(i).GetColor() for i in ids[:3]], [COLOURS[0], COLOURS[1], COLOURS[2]])
    geometry = s.geometry()
    for name in NAMES:
        expected = REGIONS[name] & ~box(z=2, y=slice(8, 11), x=slice(0, 3))
        assert np.array_equal(standin.segmentMask(previewNode, s.ids[name], geometry), expected), name
    assert_masks(s.masks(), before)
    assert editorwrite.dimSegmentation(s.segmentationNode) == pytest.approx(1.0)
    assert s.segmentationNode.GetDisplayNode().GetOpacity() == pytest.approx(0.4)
    editorwrite.removePreview(s.scene, previewNode, s.segmentationNode, 1.0)
    assert not s.scene.IsNodePresent(previewNode)
    assert s.segmentationNode.GetDisplayNode().GetOpacity() == pytest.approx(1.0)


def test_a_preview_is_refused_when_the_run_learned_other_structures():
    s = Scene()
    result = s.result()
    result.record["scribbles"]["structures"] = ["liver", "bone"]
    with pytest.raises(InputError, match="learned 2 structures but 3 segments"):
        s.preview(result)


# --- Apply through the editor's rules ----------------------------------------------------------------------


@pytest.mark.parametrize("editor", EDITORS)
def test_apply_writes_each_structure_into_its_segment_and_one_undo_brings_the_strokes_back(editor):
    s = Scene(editor)
    before = s.masks()
    written = s.apply()
    assert written == [s.ids["liver"], s.ids["bone"], s.ids["fat"]]
    assert s.effect.log.count(s.effect.log[0]) == 1 and s.effect.log[0][0] == "saveStateForUndo"
    body = box(y=slice(0, 11))
    # Overwrite all segments (the default): the hidden one loses what the structures took, keeps the rest
    assert_masks(s.masks(), {**REGIONS, "hidden": HIDDEN & ~body, "region": REGION & ~body})
    assert s.effect.undo()
    assert_masks(s.masks(), before)


@pytest.mark.parametrize("editor", EDITORS)
@pytest.mark.parametrize("mode", ["OverwriteVisibleSegments", "OverwriteNone"])
def test_a_hidden_segment_is_neither_written_nor_overwritten_unless_the_editor_overwrites_all(editor, mode):
    """Slicer has no per-segment lock: what keeps a segment from an effect's writes is the overwrite
    mode (here the hidden ones, under "visible segments" or "allow overlap")."""
    s = Scene(editor)
    s.editorNode.SetOverwriteMode(getattr(slicer.vtkMRMLSegmentEditorNode, mode))
    s.apply()
    assert_masks(s.masks(), {**REGIONS, "hidden": HIDDEN, "region": REGION})


@pytest.mark.parametrize("editor", EDITORS)
def test_the_editable_area_limits_what_is_written_and_each_segment_keeps_its_voxels_outside_it(editor):
    s = Scene(editor)
    s.editorNode.SetMaskMode(slicer.vtkMRMLSegmentationNode.EditAllowedInsideSingleSegment)
    s.editorNode.SetMaskSegmentID(s.ids["region"])
    s.editorNode.SetOverwriteMode(slicer.vtkMRMLSegmentEditorNode.OverwriteVisibleSegments)
    s.apply()
    expected = {name: (REGIONS[name] & REGION) | (STROKES[name] & ~REGION) for name in NAMES}
    assert_masks(s.masks(), {**expected, "hidden": HIDDEN, "region": REGION})


@pytest.mark.parametrize("editor", EDITORS)
def test_the_editable_intensity_range_limits_what_is_written(editor):
    s = Scene(editor)
    s.editorNode.SetSourceVolumeIntensityMask(True)
    s.editorNode.SetSourceVolumeIntensityMaskRange(-50.0, 100.0)
    s.apply()
    inRange = (HU >= -50) & (HU <= 100)
    expected = {name: (REGIONS[name] & inRange) | (STROKES[name] & ~inRange) for name in NAMES}
    # the other segments lose what the structures now hold: also the strokes they kept outside the range
    taken = np.logical_or.reduce(list(expected.values()))
    assert_masks(s.masks(), {**expected, "hidden": HIDDEN & ~taken, "region": REGION & ~taken})


@pytest.mark.parametrize("editor", EDITORS)
def test_clusters_of_open_output_become_new_segments_and_undo_removes_them(editor):
    s = Scene(editor)
    cluster = box(z=2, y=slice(8, 11), x=slice(0, 3))
    written = s.apply(s.result(extra=cluster))
    segmentation = s.segmentationNode.GetSegmentation()
    assert len(written) == 4 and segmentation.GetSegment(written[3]).GetName() == "fluid 5"
    assert np.array_equal(standin.segmentMask(s.segmentationNode, written[3], s.geometry()), cluster)
    assert s.effect.undo()
    assert segmentation.GetSegment(written[3]) is None and segmentation.GetNumberOfSegments() == 5


def test_a_segment_removed_since_the_run_is_skipped():
    s = Scene()
    previewNode = s.preview()
    s.segmentationNode.GetSegmentation().RemoveSegment(s.ids["fat"])
    seen = []
    written = editorwrite.writePreview(lambda node, segmentID, labelmap: seen.append(segmentID), previewNode,
                                       s.segmentationNode)
    assert written == seen == [s.ids["liver"], s.ids["bone"]]


def test_labels_go_onto_the_editors_geometry_through_the_transform_between_volume_and_segmentation():
    s = Scene()
    transformNode = s.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(2, 3, 2.5)  # one slice up
    transformNode.SetMatrixTransformToParent(shift)
    s.volumeNode.SetAndObserveTransformNodeID(transformNode.GetID())
    transform = editorwrite.volumeToSegmentation(s.volumeNode, s.segmentationNode)
    assert transform is not None and editorwrite.volumeToSegmentation(s.volumeNode, s.volumeNode) is None
    labels = REGIONS["liver"].astype(np.uint8)
    moved = editorwrite.onReference(editorwrite.labelImage(labels, s.volume), s.geometry(), transform)
    array = standin._array(moved, s.geometry())
    assert np.array_equal(array[1:], labels[:-1]) and not array[0].any()
