"""The Slicer logic on a real MRML scene (slicer-core): nodes in, segmentation and review nodes out.

The checks that also run inside Slicer (a segmentation equal to the engine's, a re-run into the same
output, the consistency table and chart, the slice preview, the "outside body" segment, cancelling,
bad input nodes) are the module's self-tests in slicer/selftests.py, run here by test_selftests.py.
This file keeps what only pytest can do: geometry round trips over parametrized grids, failure
injection and the like. Volumes are tiny and training is a few iterations, so the whole file runs in
seconds on a CPU.
"""
import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402
from helpers import blocks_volume, fast_settings  # noqa: E402

from UnsupervisedCTSegLib.engine import run as engine  # noqa: E402
from UnsupervisedCTSegLib.engine.errors import InputError  # noqa: E402
from UnsupervisedCTSegLib.engine.volume import Volume  # noqa: E402
from UnsupervisedCTSegLib.slicer.logic import (UnsupervisedCTSegLogic, phantomVolumeNode,  # noqa: E402
                                               volumeNodeFromVolume)
from UnsupervisedCTSegLib.slicer.selftests import (nodeGeometry, referenceGeometry, sceneNodeIDs,  # noqa: E402
                                                   voxelArray)

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
    voxelArray(node)[:] = 0
    assert np.any(volume.hu != 0)


def test_logic_without_a_scene_says_how_to_get_one():
    if hasattr(slicer, "mrmlScene"):
        pytest.skip("inside the Slicer application the default scene exists")
    with pytest.raises(RuntimeError, match="vtkMRMLScene"):
        UnsupervisedCTSegLogic()


# --------------------------------------------------------------------------- segmentation out

def test_closed_surface_is_made_for_3d(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    applied = logic.run(node, fast_settings())
    segmentation = applied.segmentationNode.GetSegmentation()
    assert segmentation.ContainsRepresentation("Closed surface")
    assert segmentation.GetSourceRepresentationName() == "Binary labelmap"


def test_no_temporary_nodes_are_left_behind(scene, logic):
    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    applied = logic.run(node, fast_settings())
    classes = sorted(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))
    assert "vtkMRMLLabelMapVolumeNode" not in classes
    assert classes.count("vtkMRMLSegmentationNode") == 1 and classes.count("vtkMRMLPlotSeriesNode") == 2
    before = sceneNodeIDs(scene)
    logic.labelsFromSegmentation(applied.segmentationNode, node)  # uses helper nodes internally
    assert sceneNodeIDs(scene) == before


def test_create_labelmap_gives_the_same_labels_with_named_colours(scene, logic):
    volume = oblique_blocks()
    node = volumeNodeFromVolume(scene, volume, "ct")
    settings = fast_settings()
    applied = logic.run(node, settings, createLabelmap=True)
    expected = engine.segment(volume, settings)
    labelmap = applied.labelmapNode
    assert labelmap.IsA("vtkMRMLLabelMapVolumeNode") and labelmap.GetName() == "ct labels"
    np.testing.assert_array_equal(voxelArray(labelmap), expected.labels)
    np.testing.assert_allclose(nodeGeometry(labelmap), nodeGeometry(node), atol=TOL)
    colors = labelmap.GetDisplayNode().GetColorNode()
    for tissue in expected.tissues:
        assert colors.GetColorName(tissue.label) == tissue.name
        rgba = [0.0] * 4
        colors.GetColor(tissue.label, rgba)
        np.testing.assert_allclose(rgba, (*tissue.color, 1.0), atol=1 / 255)  # colour tables hold 8 bits
    assert not labelmap.GetHideFromEditors()


def test_a_failure_while_applying_removes_the_nodes_it_created(scene, logic, monkeypatch):
    from UnsupervisedCTSegLib.evaluation import consistency

    node = volumeNodeFromVolume(scene, blocks_volume(), "ct")
    result = logic.segment(logic.volumeFromNode(node), fast_settings())
    ids = sceneNodeIDs(scene)

    created = []

    def broken(*args):
        created.extend(set(sceneNodeIDs(scene)) - set(ids))
        raise RuntimeError("disk full")

    monkeypatch.setattr(consistency, "slice_consistency", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        logic.applyResult(node, result, createLabelmap=True)
    assert created, "the failure came before any node was made: nothing to clean up"
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
