"""The CT-specific inputs and loss terms: HU windows x neighbouring slices as channels, the
through-plane continuity term, the class-balanced similarity term and the ignored outside."""
import numpy as np
import pytest
import torch
from helpers import fast_settings

from UnsupervisedCTSegLib.engine.losses import edge_weights_z, similarity_loss, z_continuity_loss
from UnsupervisedCTSegLib.engine.training import (IGNORE, build_model, count_labels, in_channels, network_input,
                                                  slab_planes, warm_start_centres, warm_targets)
from UnsupervisedCTSegLib.engine.windows import AIR_HU, WINDOWS


def ramp_volume(depth=4, height=5, width=6):
    """Slice z holds the value 100*z everywhere, so a plane's source slice is readable from it."""
    return np.repeat(np.arange(depth, dtype=np.float32)[:, None, None] * 100.0, height * width).reshape(depth, height, width)


def test_slab_planes_stack_neighbours_and_repeat_the_edges():
    hu = ramp_volume()
    planes = slab_planes(hu, [0, 3], (1, 2, 3, 4), z_context=1)
    assert planes.shape == (2, 3, 3, 4)
    assert planes[0, :, 0, 0].tolist() == [0.0, 0.0, 100.0]  # slice 0: no slice below, repeated
    assert planes[1, :, 0, 0].tolist() == [200.0, 300.0, 300.0]  # slice 3: no slice above, repeated


def test_slab_planes_put_air_outside_the_body():
    hu = ramp_volume()
    body = np.zeros(hu.shape, bool)
    body[:, 2:, :] = True
    planes = slab_planes(hu, [1], (0, 0, 5, 6), z_context=0, body=body)
    assert np.all(planes[0, 0, :2] == AIR_HU)
    assert np.all(planes[0, 0, 2:] == 100.0)


@pytest.mark.parametrize("windows,z_context", [(("wide",), 0), (("wide", "soft"), 1), (("lung", "soft", "bone"), 2)])
def test_network_input_has_one_channel_per_window_and_slice(windows, z_context):
    settings = fast_settings(windows=windows, z_context=z_context)
    hu = ramp_volume()
    planes = slab_planes(hu, [1, 2], (0, 0, 5, 6), z_context)
    x = network_input(planes, settings, torch.device("cpu"))
    assert x.shape == (2, len(windows) * (2 * z_context + 1), 5, 6) and x.shape[1] == in_channels(settings)
    # window-major: channel w*(2c+1)+j is window w of neighbour j
    low, high = WINDOWS[windows[-1]]
    expected = np.clip((planes[1, -1, 0, 0] - low) / (high - low), 0, 1)
    assert float(x[1, -1, 0, 0]) == pytest.approx(expected)
    assert build_model(settings, torch.device("cpu"))(x).shape == (2, settings.q, 5, 6)


def test_z_continuity_is_the_weighted_mean_difference_between_consecutive_slices():
    response = torch.zeros(3, 2, 2, 2)
    response[1] = 1.0  # slice 0 -> 1 differs by 1 everywhere, slice 1 -> 2 by 1 too
    weights = torch.ones(2, 1, 2, 2)
    assert float(z_continuity_loss(response, weights)) == pytest.approx(1.0)
    weights[1] = 0.0  # no pull between slices 1 and 2
    assert float(z_continuity_loss(response, weights)) == pytest.approx(0.5)


def test_z_edge_weights_fall_with_the_hu_step():
    hu = torch.tensor([[[0.0]], [[0.0]], [[50.0]]])
    weights = edge_weights_z(hu, 50.0)
    assert weights.shape == (2, 1, 1, 1)
    assert float(weights[0]) == pytest.approx(1.0) and float(weights[1]) == pytest.approx(np.exp(-1.0))
    assert torch.all(edge_weights_z(hu, 0.0) == 1.0)


def test_ignored_pixels_do_not_count_in_the_loss_or_the_label_count():
    response = torch.tensor([[[[5.0, 0.0]], [[0.0, 5.0]]]])  # (1, 2, 1, 2): pixel 0 says 0, pixel 1 says 1
    target = torch.tensor([[[0, 0]]])
    both = similarity_loss(response, target, IGNORE)
    only_first = similarity_loss(response, torch.tensor([[[0, IGNORE]]]), IGNORE)
    assert float(only_first) < float(both)
    assert float(only_first) == pytest.approx(float(torch.nn.functional.cross_entropy(response[..., :1], target[..., :1])))
    assert int(count_labels(torch.tensor([0, 0, IGNORE, 3]), 4)) == 2
    assert float(similarity_loss(response, torch.full((1, 1, 2), IGNORE), IGNORE)) == 0.0


def test_balance_weighs_clusters_by_inverse_share():
    # three pixels of cluster 0, one of cluster 1, the network wrong on the cluster-1 pixel only
    response = torch.tensor([[[[4.0, 4.0, 4.0, 4.0]], [[0.0, 0.0, 0.0, 0.0]]]])
    target = torch.tensor([[[0, 0, 0, 1]]])
    per_pixel = torch.nn.functional.cross_entropy(response, target, reduction="none")[0, 0]
    plain = similarity_loss(response, target)
    balanced = similarity_loss(response, target, balance=1.0)
    assert float(plain) == pytest.approx(float(per_pixel.mean()))
    # weights (share^-1, normalised so sum(weight*share)=1): cluster 0 -> 1/2 per share 3/4 ... by hand:
    w0, w1 = (0.75 ** -1) / 2.0, (0.25 ** -1) / 2.0  # sum(w*share) = 2 before normalising
    expected = (3 * w0 * per_pixel[0] + w1 * per_pixel[3]) / (3 * w0 + w1)
    assert float(balanced) == pytest.approx(float(expected))
    assert float(balanced) > float(plain)  # the rare, misclassified cluster counts more


def test_warm_start_targets_follow_density_and_ignore_the_seed():
    rng = np.random.default_rng(0)
    hu = np.where(np.arange(40)[None, None, :] < 20, -100.0, 60.0).astype(np.float32) + rng.normal(0, 5, (2, 8, 40)).astype(np.float32)
    a = warm_start_centres(hu, None, fast_settings(classes=2, min_labels=2, seed=0), torch.device("cpu"))
    b = warm_start_centres(hu, None, fast_settings(classes=2, min_labels=2, seed=7), torch.device("cpu"))
    assert torch.allclose(a, b)
    targets = warm_targets(hu, a, fast_settings(classes=2, min_labels=2), torch.device("cpu")).numpy()
    assert targets.shape == hu.shape
    left, right = targets[..., :20], targets[..., 20:]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left.flat[0] != right.flat[0]
