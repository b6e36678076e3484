"""The Slicer logic on a real MRML scene (slicer-core): nodes in, segmentation and review nodes out.

Volumes are tiny and training is a few iterations, so the whole file runs in seconds on a CPU.
"""
import threading

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from UnsupervisedCTSegLib.engine import run as engine  # noqa: E402
from UnsupervisedCTSegLib.evaluation import consistency  # noqa: E402
from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError  # noqa: E402
from UnsupervisedCTSegLib.slicer.selftests import imageGeometry, nodeGeometry, referenceGeometry, sceneNodeIDs  # noqa: E402
from UnsupervisedCTSegLib.slicer.logic import (RUN_RECORD_ATTRIBUTE, UnsupervisedCTSegLogic,  # noqa: E402
                                              phantomVolumeNode, volumeNodeFromVolume)
from UnsupervisedCTSegLib.engine.volume import Volume  # noqa: E402

from helpers import blocks_volume, fast_settings, image_node  # noqa: E402

TOL = 1e-5
FLIPPED = np.diag([-1.0, -1.0, 1.0])  # a typical CT in LPS: identity in RAS


def oblique_direction():
    """FLIPPED turned 30 degrees about z and 10 about x: no axis aligned, so a transposed or
    un-flipped matrix cannot pass."""
    a, b = np.radians(30), np.radians(10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx @ FLIPPED


def oblique_blocks(depth=3, size=24):
    base = blocks_volume(depth=depth, size=size)
    return Volume(base.hu, (0.7, 0.8, 2.5), (-10.5, 20.25, -30.0), oblique_direction(), source="oblique blocks")


def ijk_to_ras(volume):
    """IJKToRAS written out by hand from the LPS geometry (independent of Volume.ijk_to_ras)."""
    m = np.eye(4)
    flip = np.diag([-1.0, -1.0, 1.0])
    m[:3, :3] = flip @ volume.direction @ np.diag(volume.spacing)
    m[:3, 3] = flip @ np.asarray(volume.origin)
    return m


def segments_by_name(segmentation_node):
    segmentation = segmentation_node.GetSegmentation()
    return {segmentation.GetNthSegment(i).GetName(): segmentation.GetNthSegment(i)
            for i in range(segmentation.GetNumberOfSegments())}


def node_array(node):
    image = node.GetImageData()
    nx, ny, nz = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)


# --------------------------------------------------------------------------- volume nodes in

@pytest.mark.parametrize("direction", [FLIPPED, oblique_direction()], ids=["flipped", "oblique"])
def test_volume_node_round_trip_keeps_voxels_and_geometry(scene, logic, direction):
    volume = Volume(blocks_volume().hu, (0.7, 0.8, 2.5), (-10.5, 20.25, -30.0), direction)
    node = volumeNodeFromVolume(scene, volume, "ct")
    np.testing.assert_allclose(nodeGeometry(node), ijk_to_ras(volume), atol=TOL)
    read = logic.volumeFromNode(node)
    np.testing.assert_array_equal(read.hu, volume.hu)
    np.testing.assert_allclose(read.spacing, volume.spacing, atol=TOL)
    np.testing.assert_allclose(read.origin, volume.origin, atol=TOL)
    np.testing.assert_allclose(read.direction, volume.direction, atol=TOL)
    assert read.source == "ct"


def test_volume_from_a_node_set_up_the_slicer_way(scene, logic):
    """Geometry given in RAS as Slicer does it and voxels addressed by (i, j, k): checked by hand."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "by hand")
    image = vtk.vtkImageData()
    image.SetDimensions(4, 3, 2)  # i, j, k
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    for k in range(2):
        for j in range(3):
            for i in range(4):
                image.SetScalarComponentFromDouble(i, j, k, 0, 100 * k + 10 * j + i)
    node.SetAndObserveImageData(image)
    node.SetSpacing(0.5, 0.6, 3.0)
    node.SetOrigin(10.0, 20.0, 30.0)  # RAS
    node.SetIJKToRASDirections(0, 1, 0, -1, 0, 0, 0, 0, 1)  # row-major: i -> posterior, j -> right (a rotated axial scan)
    volume = logic.volumeFromNode(node)
    assert volume.shape == (2, 3, 4) and volume.hu.dtype == np.float32
    assert volume.hu[1, 2, 3] == 123 and volume.hu[0, 1, 0] == 10
    np.testing.assert_allclose(volume.spacing, (0.5, 0.6, 3.0))
    np.testing.assert_allclose(volume.origin, (-10.0, -20.0, 30.0))  # LPS
    # Columns: i = RAS (0, -1, 0) = LPS (0, 1, 0); j = RAS (1, 0, 0) = LPS (-1, 0, 0); k unchanged.
    np.testing.assert_allclose(volume.direction, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=TOL)
    np.testing.assert_allclose(Volume(volume.hu, volume.spacing, volume.origin, volume.direction).ijk_to_ras(),
                               nodeGeometry(node), atol=TOL)


def test_volume_copy_does_not_share_memory_with_the_node(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "float ct")  # float32 voxels: no type conversion
    volume = logic.volumeFromNode(node)
    node_array(node)[:] = 0
    assert np.any(volume.hu != 0)


def make_vector_node(scene):
    return image_node(scene, "vtkMRMLVectorVolumeNode", "rgb", (5, 4, 3), vtk.VTK_UNSIGNED_CHAR, 3)


def make_rgb_scalar_node(scene):
    return image_node(scene, "vtkMRMLScalarVolumeNode", "rgb in a scalar node", (5, 4, 3), vtk.VTK_UNSIGNED_CHAR, 3)


def make_labelmap_node(scene):
    return image_node(scene, "vtkMRMLLabelMapVolumeNode", "labels", (5, 4, 3), vtk.VTK_SHORT, 1)


def make_node_without_image(scene):
    return scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "no voxels")


def make_empty_image_node(scene):
    return image_node(scene, "vtkMRMLScalarVolumeNode", "empty", (0, 0, 0), vtk.VTK_SHORT, 1)


def make_sequence_node(scene):
    return scene.AddNewNodeByClass("vtkMRMLSequenceNode", "4D")


def make_model_node(scene):
    return scene.AddNewNodeByClass("vtkMRMLModelNode", "surface")


@pytest.mark.parametrize("make, message", [
    (lambda scene: None, "select an input volume"),
    (make_vector_node, "3 components.*RGB"),
    (make_rgb_scalar_node, "3 components.*single-component"),
    (make_labelmap_node, "choose a scalar CT volume, not a labelmap"),
    (make_node_without_image, "no image data"),
    (make_empty_image_node, "empty image"),
    (make_sequence_node, "4D sequence.*one time point"),
    (make_model_node, "not a volume"),
], ids=["none", "vector", "rgb-scalar", "labelmap", "no-image", "empty", "sequence", "model"])
def test_bad_nodes_raise_input_error_naming_the_problem(scene, logic, make, message):
    node = make(scene)
    with pytest.raises(InputError, match=message) as error:
        logic.volumeFromNode(node)
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match=message):
        logic.run(node, fast_settings())


def test_logic_without_a_scene_says_how_to_get_one():
    if hasattr(slicer, "mrmlScene"):
        pytest.skip("inside the Slicer application the default scene exists")
    with pytest.raises(RuntimeError, match="vtkMRMLScene"):
        UnsupervisedCTSegLogic()


# --------------------------------------------------------------------------- segmentation out

def test_segmentation_matches_engine_voxels_names_colours_and_geometry(scene, logic):
    volume = oblique_blocks()
    node = volumeNodeFromVolume(scene, volume, "ct")
    settings = fast_settings()
    applied = logic.run(node, settings)
    expected = engine.segment(volume, settings)  # independent run: the same seed gives the same labels

    seg_node = applied.segmentationNode
    assert seg_node.GetName() == "ct segmentation"
    assert seg_node.GetDisplayNode() is not None
    segments = segments_by_name(seg_node)
    assert len(segments) == len(expected.tissues) >= 3
    for tissue in expected.tissues:
        segment = segments[tissue.name]
        np.testing.assert_allclose(segment.GetColor(), tissue.color, atol=1e-6)
    np.testing.assert_array_equal(logic.labelsFromSegmentation(seg_node, node), expected.labels)

    # Each segment's own voxels, read straight from its labelmap, equal labels == tissue.label.
    for tissue in expected.tissues:
        image = segments[tissue.name].GetRepresentation("Binary labelmap")
        i0, i1, j0, j1, k0, k1 = image.GetExtent()
        voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
        mask = np.zeros(volume.shape, bool)
        mask[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = voxels == segments[tissue.name].GetLabelValue()
        np.testing.assert_array_equal(mask, expected.labels == tissue.label)
        np.testing.assert_allclose(imageGeometry(image), ijk_to_ras(volume), atol=TOL)

    matrix, extent = referenceGeometry(seg_node)
    np.testing.assert_allclose(matrix, ijk_to_ras(volume), atol=TOL)
    assert extent == (0, 23, 0, 23, 0, 2)
    record = seg_node.GetAttribute(RUN_RECORD_ATTRIBUTE)
    assert '"seed": 0' in record and '"iterations_run": 5' in record
    assert applied.labelmapNode is None


def test_closed_surface_is_made_for_3d(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    applied = logic.run(node, fast_settings())
    segmentation = applied.segmentationNode.GetSegmentation()
    assert segmentation.ContainsRepresentation("Closed surface")
    assert segmentation.GetSourceRepresentationName() == "Binary labelmap"


def test_outside_body_segment_is_one_more_segment_shown_in_the_slice_views_only(scene, logic):
    volume = blocks_volume(depth=3)  # the air block lies outside the body
    node = volumeNodeFromVolume(scene, volume, "ct")
    settings = fast_settings(outside_segment=True, body_mask=True)
    applied = logic.run(node, settings, createLabelmap=True)
    expected = engine.segment(volume, settings)
    outside = [t for t in expected.tissues if t.name == "outside body"]
    assert len(outside) == 1 and outside[0].label == len(expected.tissues)
    assert np.count_nonzero(expected.labels == outside[0].label) == outside[0].voxels > 0
    assert expected.labels.all()  # every voxel has a segment, the table and air included

    seg_node = applied.segmentationNode
    segments = segments_by_name(seg_node)
    assert set(segments) == {t.name for t in expected.tissues}
    np.testing.assert_allclose(segments["outside body"].GetColor(), outside[0].color, atol=1e-6)
    np.testing.assert_array_equal(logic.labelsFromSegmentation(seg_node, node), expected.labels)
    np.testing.assert_array_equal(node_array(applied.labelmapNode), expected.labels)
    assert applied.labelmapNode.GetDisplayNode().GetColorNode().GetColorName(outside[0].label) == "outside body"
    # Its 3D surface would be a box around the body: shown in 2D only, every tissue in 3D as well.
    segmentation, display = seg_node.GetSegmentation(), seg_node.GetDisplayNode()
    assert segmentation.ContainsRepresentation("Closed surface")
    for i in range(segmentation.GetNumberOfSegments()):
        segment_id, name = segmentation.GetNthSegmentID(i), segmentation.GetNthSegment(i).GetName()
        assert display.GetSegmentVisibility3D(segment_id) == (name != "outside body"), name
        assert display.GetSegmentVisibility2DFill(segment_id) and display.GetSegmentVisibility(segment_id), name

    # A re-run without it into the same node leaves the outside unlabelled and shows every segment in 3D.
    plain = fast_settings(body_mask=True)
    again = logic.run(node, plain, segmentationNode=seg_node)
    expected = engine.segment(volume, plain)
    assert "outside body" not in segments_by_name(again.segmentationNode)
    assert not expected.labels.all()
    np.testing.assert_array_equal(logic.labelsFromSegmentation(seg_node, node), expected.labels)
    assert all(display.GetSegmentVisibility3D(segmentation.GetNthSegmentID(i))
               for i in range(segmentation.GetNumberOfSegments()))


def test_no_temporary_nodes_are_left_behind(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    applied = logic.run(node, fast_settings())
    classes = sorted(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))
    assert "vtkMRMLLabelMapVolumeNode" not in classes
    assert classes.count("vtkMRMLSegmentationNode") == 1 and classes.count("vtkMRMLPlotSeriesNode") == 2
    before = sceneNodeIDs(scene)
    logic.labelsFromSegmentation(applied.segmentationNode, node)  # uses helper nodes internally
    assert sceneNodeIDs(scene) == before


def test_consistency_table_and_chart(scene, logic):
    volume = blocks_volume(depth=5)
    node = volumeNodeFromVolume(scene, volume, "ct")
    settings = fast_settings()
    applied = logic.run(node, settings)
    expected = consistency.slice_consistency(engine.segment(volume, settings).labels)

    table = applied.tableNode
    assert table.GetName() == "ct slice consistency" and table.GetNumberOfRows() == 5
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == list(expected)
    for column, values in expected.items():
        array = table.GetTable().GetColumnByName(column)
        got = np.array([array.GetTuple1(i) for i in range(array.GetNumberOfTuples())])
        np.testing.assert_allclose(got, values, equal_nan=True)

    chart = applied.plotChartNode
    assert chart.GetName() == "ct slice consistency"
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    series = [chart.GetNthPlotSeriesNode(i) for i in range(2)]
    assert sorted(s.GetYColumnName() for s in series) == ["ari_previous", "identical_fraction"]
    for s in series:
        assert s.GetTableNodeID() == table.GetID() and s.GetXColumnName() == "slice"
        assert s.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter
    assert chart.GetXAxisTitle() == "slice"
    assert not chart.GetYAxisRangeAuto() and tuple(chart.GetYAxisRange()) == (0.0, 1.0)
    seg_node = applied.segmentationNode
    assert seg_node.GetNodeReference("unsupervisedCTSegConsistencyTable") is table
    assert seg_node.GetNodeReference("unsupervisedCTSegConsistencyChart") is chart


def test_create_labelmap_gives_the_same_labels_with_named_colours(scene, logic):
    volume = oblique_blocks()
    node = volumeNodeFromVolume(scene, volume, "ct")
    settings = fast_settings()
    applied = logic.run(node, settings, createLabelmap=True)
    expected = engine.segment(volume, settings)
    labelmap = applied.labelmapNode
    assert labelmap.IsA("vtkMRMLLabelMapVolumeNode") and labelmap.GetName() == "ct labels"
    np.testing.assert_array_equal(node_array(labelmap), expected.labels)
    np.testing.assert_allclose(nodeGeometry(labelmap), nodeGeometry(node), atol=TOL)
    colors = labelmap.GetDisplayNode().GetColorNode()
    for tissue in expected.tissues:
        assert colors.GetColorName(tissue.label) == tissue.name
        rgba = [0.0] * 4
        colors.GetColor(tissue.label, rgba)
        np.testing.assert_allclose(rgba, (*tissue.color, 1.0), atol=1 / 255)  # colour tables hold 8 bits
    assert not labelmap.GetHideFromEditors()


def test_rerun_into_the_same_output_replaces_segments_and_reuses_nodes(scene, logic):
    volume = blocks_volume(depth=4)
    node = volumeNodeFromVolume(scene, volume, "ct")
    first = logic.run(node, fast_settings(iterations=2, channels=16, min_labels=1), createLabelmap=True)
    ids = sceneNodeIDs(scene)
    settings = fast_settings(seed=3, iterations=8)
    second = logic.run(node, settings, segmentationNode=first.segmentationNode, createLabelmap=True)
    assert sceneNodeIDs(scene) == ids
    for name in ("segmentationNode", "labelmapNode", "tableNode", "plotChartNode"):
        assert getattr(second, name) is getattr(first, name), name
    expected = engine.segment(volume, settings)
    assert len(segments_by_name(second.segmentationNode)) == len(expected.tissues)
    assert set(segments_by_name(second.segmentationNode)) == {t.name for t in expected.tissues}
    np.testing.assert_array_equal(logic.labelsFromSegmentation(second.segmentationNode, node), expected.labels)
    np.testing.assert_array_equal(node_array(second.labelmapNode), expected.labels)


def test_cancelled_run_leaves_the_scene_unchanged(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    earlier = logic.run(node, fast_settings())
    ids = sceneNodeIDs(scene)
    segment_ids = list(earlier.segmentationNode.GetSegmentation().GetSegmentIDs())
    with pytest.raises(Cancelled):
        logic.run(node, fast_settings(), cancel=lambda: True)

    stop = threading.Event()

    def progress(p):
        if p.iteration >= 2:
            stop.set()

    with pytest.raises(Cancelled):
        logic.run(node, fast_settings(iterations=50, min_labels=1), segmentationNode=earlier.segmentationNode,
                  createLabelmap=True, progress=progress, cancel=stop)
    assert stop.is_set()
    assert sceneNodeIDs(scene) == ids
    assert list(earlier.segmentationNode.GetSegmentation().GetSegmentIDs()) == segment_ids


def test_a_failure_while_applying_removes_the_nodes_it_created(scene, logic, monkeypatch):
    from UnsupervisedCTSegLib.slicer import logic as slicerlogic

    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    result = logic.segment(logic.volumeFromNode(node), fast_settings())
    ids = sceneNodeIDs(scene)

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(slicerlogic, "_fillConsistencyChart", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        logic.applyResult(node, result, createLabelmap=True)
    assert sceneNodeIDs(scene) == ids


def test_single_slice_volume_is_segmented_as_one_slice(scene, logic):
    volume = blocks_volume(depth=1)
    node = volumeNodeFromVolume(scene, volume, "one slice")
    assert logic.volumeFromNode(node).shape == (1, 24, 24)
    settings = fast_settings()
    applied = logic.run(node, settings)
    expected = engine.segment(volume, settings)
    np.testing.assert_array_equal(logic.labelsFromSegmentation(applied.segmentationNode, node), expected.labels)
    assert applied.tableNode is None and applied.plotChartNode is None  # no neighbour to compare with
    classes = [scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes())]
    assert "vtkMRMLTableNode" not in classes and "vtkMRMLPlotChartNode" not in classes


def test_outputs_go_under_the_input_parent_transform(scene, logic):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, 50.0)
    matrix.SetElement(2, 3, -7.0)
    transform.SetMatrixTransformToParent(matrix)
    volume = blocks_volume()
    node = volumeNodeFromVolume(scene, volume, "moved ct")
    node.SetAndObserveTransformNodeID(transform.GetID())
    read = logic.volumeFromNode(node)
    np.testing.assert_allclose(read.origin, volume.origin, atol=TOL)  # not hardened
    settings = fast_settings()
    applied = logic.run(node, settings, createLabelmap=True)
    assert applied.segmentationNode.GetTransformNodeID() == transform.GetID()
    assert applied.labelmapNode.GetTransformNodeID() == transform.GetID()
    np.testing.assert_allclose(referenceGeometry(applied.segmentationNode)[0], nodeGeometry(node), atol=TOL)
    np.testing.assert_array_equal(logic.labelsFromSegmentation(applied.segmentationNode, node),
                                  engine.segment(volume, settings).labels)
    # The world position of slice 1 maps back to slice 1 through the transform.
    world = (nodeGeometry(node) @ np.array([5, 5, 1, 1.0]))[:3] + np.array([50.0, 0.0, -7.0])
    assert logic.sliceIndexFromRAS(node, world) == 1


# --------------------------------------------------------------------------- preview of one slice

def test_axial_slice_volume_is_the_slab_of_the_volume(scene, logic):
    volume = oblique_blocks(depth=4)
    node = volumeNodeFromVolume(scene, volume, "ct")
    for k in (0, 2, 3):
        got = logic.axialSliceVolume(node, k)
        expected = volume.slab(k, k + 1)
        np.testing.assert_array_equal(got.hu, expected.hu)
        np.testing.assert_allclose(got.origin, expected.origin, atol=TOL)
        np.testing.assert_allclose(got.direction, expected.direction, atol=TOL)
    for k in (-1, 4):
        with pytest.raises(InputError, match=r"outside the volume \(slices 0\.\.3\)"):
            logic.axialSliceVolume(node, k)


def test_preview_gives_a_one_slice_segmentation_on_that_slice(scene, logic):
    volume = oblique_blocks(depth=4)
    node = volumeNodeFromVolume(scene, volume, "ct")
    k = 2
    slab = logic.axialSliceVolume(node, k)
    result = logic.segment(slab, fast_settings())
    applied = logic.applyResult(node, result, name="ct preview")
    seg_node = applied.segmentationNode
    assert seg_node.GetName() == "ct preview"
    slice_ras = (ijk_to_ras(volume) @ np.array([0, 0, k, 1.0]))[:3]
    matrix, extent = referenceGeometry(seg_node)
    assert extent == (0, 23, 0, 23, 0, 0)
    np.testing.assert_allclose(matrix[:3, 3], slice_ras, atol=TOL)
    np.testing.assert_allclose(matrix[:3, :3], ijk_to_ras(volume)[:3, :3], atol=TOL)
    segmentation = seg_node.GetSegmentation()
    for i in range(segmentation.GetNumberOfSegments()):
        image = segmentation.GetNthSegment(i).GetRepresentation("Binary labelmap")
        np.testing.assert_allclose(imageGeometry(image)[:3, 3], slice_ras, atol=TOL)
    labels = logic.labelsFromSegmentation(seg_node, node)
    np.testing.assert_array_equal(labels[k], result.labels[0])
    assert not labels[[0, 1, 3]].any()
    assert applied.tableNode is None
    assert not seg_node.GetSegmentation().ContainsRepresentation("Closed surface")  # 2D only


@pytest.mark.parametrize("direction", [FLIPPED, oblique_direction()], ids=["flipped", "oblique"])
def test_slice_index_from_ras_maps_slice_centres_and_clamps(scene, logic, direction):
    volume = Volume(blocks_volume(depth=5).hu, (0.7, 0.8, 2.5), (-10.5, 20.25, -30.0), direction)
    node = volumeNodeFromVolume(scene, volume, "ct")
    m = ijk_to_ras(volume)
    for k in range(5):
        for offset in (-0.4, 0.0, 0.4):  # within the slice's thickness
            ras = (m @ np.array([3.0, 11.0, k + offset, 1.0]))[:3]
            assert logic.sliceIndexFromRAS(node, ras) == k
    assert logic.sliceIndexFromRAS(node, (m @ np.array([0, 0, -3.0, 1]))[:3]) == 0
    assert logic.sliceIndexFromRAS(node, (m @ np.array([0, 0, 40.0, 1]))[:3]) == 4


# --------------------------------------------------------------------------- sample data

def test_phantom_volume_node_has_the_phantom_geometry_and_a_ct_window(scene, logic):
    node = phantomVolumeNode(scene, slices=3, size=48)
    assert node.GetName() == "UnsupervisedCTSeg phantom"
    volume = logic.volumeFromNode(node)
    assert volume.shape == (3, 48, 48)
    np.testing.assert_allclose(volume.spacing, (0.8, 0.8, 5.0))
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=TOL)
    np.testing.assert_allclose(node.GetSpacing(), (0.8, 0.8, 5.0))
    assert node.GetImageData().GetScalarType() == vtk.VTK_SHORT  # whole HU stored like a scanner's
    display = node.GetDisplayNode()
    assert not display.GetAutoWindowLevel()
    assert (display.GetWindow(), display.GetLevel()) == (400.0, 40.0)
