"""The hostile-input classes through the Slicer logic on a real MRML scene (slicer-core).

A refusal raises one InputError line naming the problem, and the scene is exactly as it was: the
same nodes, the same voxels, the same segments in an earlier result (selftests.sceneState). The
kinds of node that are not a CT volume at all (none, RGB, labelmap, model, ...) are refused by the
module's self-test test_bad_inputs_are_refused, which runs inside Slicer too; here are the CT
volumes with bad voxels or spacing and the bad settings. Volumes are 48 x 48 x 8 and the settings
are the fast test settings.
"""
import math

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
from helpers import body_volume  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError  # noqa: E402
from UnsupervisedCTSegLib.engine.volume import Volume  # noqa: E402
from UnsupervisedCTSegLib.slicer.logic import volumeNodeFromVolume  # noqa: E402
from UnsupervisedCTSegLib.slicer.parameters import settings_from_parameters  # noqa: E402
from UnsupervisedCTSegLib.slicer.selftests import sceneState  # noqa: E402
from UnsupervisedCTSegLib.slicer.testsettings import fast_settings  # noqa: E402


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
    ("NaN voxel", with_voxel(np.nan), "NaN"),
    ("infinite voxel", with_voxel(np.inf), "NaN or infinite"),
    ("spacing 1e-30", lambda scene: ct_node(scene, spacing=(1e-30, 1e-30, 1e-30)), "looks wrong"),
    ("spacing in metres", lambda scene: ct_node(scene, spacing=(0.0008, 0.0008, 0.0025)), "metres"),
    ("spacing of a metre", lambda scene: ct_node(scene, spacing=(1000.0, 1000.0, 1000.0)), "looks wrong"),
    ("zero spacing", zero_spacing_node, "zero-length axis"),
]


@pytest.mark.parametrize("make, message", [n[1:] for n in NODES], ids=[n[0] for n in NODES])
def test_bad_nodes_are_refused_and_the_scene_is_unchanged(scene, logic, make, message):
    earlier = logic.run(ct_node(scene, "earlier"), fast_settings())  # a result the refusal must not touch
    node = make(scene)
    before = sceneState(scene)
    with pytest.raises(InputError, match=message) as error:
        logic.run(node, fast_settings(), segmentationNode=earlier.segmentationNode, createLabelmap=True)
    assert "\n" not in str(error.value)
    assert sceneState(scene) == before


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
    before = sceneState(scene)
    with pytest.raises(InputError, match=message):
        logic.run(node, settings_from_parameters(values))
    assert sceneState(scene) == before


def test_an_unknown_device_is_refused(scene, logic):
    node = ct_node(scene)
    before = sceneState(scene)
    with pytest.raises(InputError, match="unknown device 'banana'"):
        logic.run(node, fast_settings(device="banana"))
    assert sceneState(scene) == before


def test_a_preview_outside_the_volume_is_refused(scene, logic):
    node = ct_node(scene)
    before = sceneState(scene)
    with pytest.raises(InputError, match="outside the volume"):
        logic.axialSliceVolume(node, 8)
    assert sceneState(scene) == before


def test_a_run_cancelled_in_the_body_mask_stage_leaves_the_scene_unchanged(scene, logic):
    node = ct_node(scene)
    earlier = logic.run(node, fast_settings())
    before = sceneState(scene)
    with pytest.raises(Cancelled):
        logic.run(node, fast_settings(), segmentationNode=earlier.segmentationNode,
                  progress=lambda p: None, cancel=lambda: True)
    assert sceneState(scene) == before


@pytest.mark.parametrize("spacing, size", [((0.05, 0.05, 0.05), 48), ((0.8, 0.8, 2.5), 4)],
                         ids=["0.05 mm", "4 x 4 slices"])
def test_fine_spacing_and_tiny_slices_segment_the_body(scene, logic, spacing, size):
    volume = body_volume(spacing=spacing)
    middle = slice(22, 22 + size) if size < 48 else slice(None)
    node = volumeNodeFromVolume(scene, Volume(np.ascontiguousarray(volume.hu[:, middle, middle]), spacing), "ct")
    applied = logic.run(node, fast_settings())
    labels = logic.labelsFromSegmentation(applied.segmentationNode, node)
    assert labels[:, size // 2, size // 2].all()
