"""The hostile-input classes through the Slicer logic on a real MRML scene (slicer-core).

A refusal raises one InputError line naming the problem, and the scene is exactly as it was: the
same nodes, the same voxels, the same segments in an earlier result. Volumes are 48 x 48 x 8 and
runs have 3 iterations.
"""
import hashlib
import math

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError  # noqa: E402
from UnsupervisedCTSegLib.slicer.parameters import settings_from_parameters  # noqa: E402
from UnsupervisedCTSegLib.engine.settings import Settings  # noqa: E402
from UnsupervisedCTSegLib.slicer.logic import volumeNodeFromVolume  # noqa: E402
from UnsupervisedCTSegLib.engine.volume import Volume  # noqa: E402

from helpers import body_volume, image_node  # noqa: E402

FAST = dict(layers=2, channels=8, iterations=3, device="cpu")


def scene_state(scene):
    """Every node's ID, class and name; a volume's voxels and grid; a segmentation's segments."""
    state = []
    for i in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(i)
        entry = [node.GetID(), node.GetClassName(), node.GetName()]
        if isinstance(node, slicer.vtkMRMLVolumeNode) and node.GetImageData() is not None:
            scalars = node.GetImageData().GetPointData().GetScalars()
            if scalars is not None:
                entry.append(hashlib.sha256(numpy_support.vtk_to_numpy(scalars).tobytes()).hexdigest())
            matrix = vtk.vtkMatrix4x4()
            node.GetIJKToRASMatrix(matrix)
            entry.append(tuple(matrix.GetElement(r, c) for r in range(4) for c in range(4)))
        if isinstance(node, slicer.vtkMRMLSegmentationNode):
            segmentation = node.GetSegmentation()
            entry.append(tuple(segmentation.GetNthSegment(k).GetName() for k in range(segmentation.GetNumberOfSegments())))
        state.append(tuple(entry))
    return state


def ct_node(scene, name="ct", **kwargs):
    return volumeNodeFromVolume(scene, body_volume(**kwargs), name)


def with_voxel(value):
    def make(scene):
        node = volumeNodeFromVolume(scene, Volume(body_volume().hu + 0.5), "ct with a bad voxel")  # float32 voxels
        numpy_support.vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())[100] = value
        return node
    return make


def zero_spacing_node(scene):
    node = ct_node(scene)
    node.SetSpacing(0.8, 0.0, 2.5)
    return node


NODES = [
    ("no volume", lambda scene: None, "select an input volume"),
    ("NaN voxel", with_voxel(np.nan), "NaN"),
    ("infinite voxel", with_voxel(np.inf), "NaN or infinite"),
    ("RGB", lambda scene: image_node(scene, "vtkMRMLVectorVolumeNode", "rgb", (48, 48, 8), vtk.VTK_UNSIGNED_CHAR, 3),
     "RGB"),
    ("labelmap", lambda scene: image_node(scene, "vtkMRMLLabelMapVolumeNode", "labels", (48, 48, 8), vtk.VTK_SHORT, 1),
     "not a labelmap"),
    ("spacing 1e-30", lambda scene: ct_node(scene, spacing=(1e-30, 1e-30, 1e-30)), "looks wrong"),
    ("spacing in metres", lambda scene: ct_node(scene, spacing=(0.0008, 0.0008, 0.0025)), "metres"),
    ("spacing of a metre", lambda scene: ct_node(scene, spacing=(1000.0, 1000.0, 1000.0)), "looks wrong"),
    ("zero spacing", zero_spacing_node, "zero-length axis"),
]


@pytest.mark.parametrize("make, message", [n[1:] for n in NODES], ids=[n[0] for n in NODES])
def test_bad_nodes_are_refused_and_the_scene_is_unchanged(scene, logic, make, message):
    earlier = logic.run(ct_node(scene, "earlier"), Settings(**FAST))  # a result the refusal must not touch
    node = make(scene)
    before = scene_state(scene)
    with pytest.raises(InputError, match=message) as error:
        logic.run(node, Settings(**FAST), segmentationNode=earlier.segmentationNode, createLabelmap=True)
    assert "\n" not in str(error.value)
    assert scene_state(scene) == before


PARAMETERS = [
    ("mu infinite", {"mu": math.inf}, r"μ \(mu\) = inf"),
    ("theta NaN", {"theta": math.nan}, r"θ \(theta\) = nan"),
    ("island size infinite", {"minIslandMm3": math.inf}, "min_island_mm3 = inf"),
    ("seed too large", {"seed": 99999999999999999999}, "seed"),
    ("negative seed", {"seed": -1}, "seed"),
    ("no layers", {"layers": 0}, r"M \(layers\) = 0"),
]


@pytest.mark.parametrize("values, message", [p[1:] for p in PARAMETERS], ids=[p[0] for p in PARAMETERS])
def test_absurd_panel_parameters_are_refused_before_the_scene_is_touched(scene, logic, values, message):
    node = ct_node(scene)
    before = scene_state(scene)
    with pytest.raises(InputError, match=message):
        logic.run(node, settings_from_parameters(values))
    assert scene_state(scene) == before


def test_an_unknown_device_is_refused(scene, logic):
    node = ct_node(scene)
    before = scene_state(scene)
    with pytest.raises(InputError, match="unknown device 'banana'"):
        logic.run(node, Settings(**dict(FAST, device="banana")))
    assert scene_state(scene) == before


def test_a_preview_outside_the_volume_is_refused(scene, logic):
    node = ct_node(scene)
    before = scene_state(scene)
    with pytest.raises(InputError, match="outside the volume"):
        logic.axialSliceVolume(node, 8)
    assert scene_state(scene) == before


def test_a_run_cancelled_in_the_body_mask_stage_leaves_the_scene_unchanged(scene, logic):
    node = ct_node(scene)
    earlier = logic.run(node, Settings(**FAST))
    before = scene_state(scene)
    with pytest.raises(Cancelled):
        logic.run(node, Settings(**FAST), segmentationNode=earlier.segmentationNode,
                  progress=lambda p: None, cancel=lambda: True)
    assert scene_state(scene) == before


@pytest.mark.parametrize("spacing, size", [((0.05, 0.05, 0.05), 48), ((0.8, 0.8, 2.5), 4)],
                         ids=["0.05 mm", "4 x 4 slices"])
def test_fine_spacing_and_tiny_slices_segment_the_body(scene, logic, spacing, size):
    volume = body_volume(spacing=spacing)
    middle = slice(22, 22 + size) if size < 48 else slice(None)
    node = volumeNodeFromVolume(scene, Volume(np.ascontiguousarray(volume.hu[:, middle, middle]), spacing), "ct")
    applied = logic.run(node, Settings(**FAST))
    labels = logic.labelsFromSegmentation(applied.segmentationNode, node)
    assert labels[:, size // 2, size // 2].all()
