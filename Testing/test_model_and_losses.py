import math

import numpy as np
import pytest
import torch

from UnsupervisedCTSegLib.engine.losses import continuity_loss, edge_weights, similarity_loss, total_loss
from UnsupervisedCTSegLib.engine.model import FeatureClusteringNet, expected_parameter_count


@pytest.mark.parametrize("in_ch,layers,p,q", [(1, 1, 4, 4), (2, 3, 8, 5), (1, 9, 100, 100)])
def test_network_shape_and_parameter_count(in_ch, layers, p, q):
    net = FeatureClusteringNet(in_ch, layers, p, q)
    out = net(torch.zeros(2, in_ch, 7, 9))
    assert out.shape == (2, q, 7, 9)
    count = sum(t.numel() for t in net.parameters() if t.requires_grad)
    assert count == expected_parameter_count(in_ch, layers, p, q)
    # by hand for the smallest: conv 1*4*9+4, BN 8, classifier 4*4+4, response BN 8
    if (in_ch, layers, p, q) == (1, 1, 4, 4):
        assert count == 40 + 8 + 20 + 8


def test_network_is_conv_relu_bn_blocks_then_classifier_then_bn():
    net = FeatureClusteringNet(1, 2, 6, 6)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d"] * 2
    assert all(m.kernel_size == (3, 3) for m in net.features if isinstance(m, torch.nn.Conv2d))
    assert net.classifier.kernel_size == (1, 1)
    assert isinstance(net.response_bn, torch.nn.BatchNorm2d)


def test_nobn_differs_only_in_response_batchnorm():
    torch.manual_seed(3)
    full = FeatureClusteringNet(2, 2, 6, 5, response_bn=True)
    torch.manual_seed(3)
    nobn = FeatureClusteringNet(2, 2, 6, 5, response_bn=False)
    assert isinstance(nobn.response_bn, torch.nn.Identity)
    full_state = {k: v for k, v in full.state_dict().items() if not k.startswith("response_bn")}
    assert full_state.keys() == nobn.state_dict().keys()
    for key, value in full_state.items():
        assert torch.equal(value, nobn.state_dict()[key]), key
    x = torch.randn(2, 2, 5, 5)
    full.train(), nobn.train()
    raw = full.classifier(full.features(x))
    assert torch.allclose(nobn(x), raw)
    assert not torch.allclose(full(x), raw)


def test_similarity_loss_by_hand():
    # one pixel, two classes, response (2, 0): target = argmax = 0
    response = torch.tensor([2.0, 0.0]).reshape(1, 2, 1, 1)
    target = response.argmax(1)
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert similarity_loss(response, target).item() == pytest.approx(expected, rel=1e-6)


def test_continuity_loss_by_hand():
    # one channel 2x2 [[0, 1], [3, 5]]: vertical |3-0|,|5-1| mean 3.5; horizontal |1-0|,|5-3| mean 1.5
    response = torch.tensor([[0.0, 1.0], [3.0, 5.0]]).reshape(1, 1, 2, 2)
    assert continuity_loss(response).item() == pytest.approx(5.0)
    weights = edge_weights(torch.tensor([[[0.0, 0.0], [100.0, 0.0]]]), edge_hu=100.0)
    # vertical weights exp(-1), 1; horizontal 1, exp(-1)
    expected = (3 * math.exp(-1) + 4) / 2 + (1 + 2 * math.exp(-1)) / 2
    assert continuity_loss(response, weights).item() == pytest.approx(expected, rel=1e-6)
    assert edge_weights(torch.zeros(1, 2, 2), 0.0) is None


def test_total_loss_weights_terms():
    response = torch.tensor([[0.0, 1.0], [3.0, 5.0]]).reshape(1, 1, 2, 2).repeat(1, 2, 1, 1)
    response[:, 1] *= -1
    target = response.argmax(1)
    sim, con = similarity_loss(response, target).item(), continuity_loss(response).item()
    assert total_loss(response, target, 1.5, 0.25).item() == pytest.approx(1.5 * sim + 0.25 * con, rel=1e-6)


def test_cluster_labels_is_the_argmax_over_channels_in_either_layout():
    from UnsupervisedCTSegLib.engine.training import cluster_labels

    response = torch.randn(2, 7, 5, 6)
    expected = response.argmax(dim=1)
    assert torch.equal(cluster_labels(response), expected)
    assert torch.equal(cluster_labels(response.contiguous(memory_format=torch.channels_last)), expected)


def test_cpu_runs_in_nchw_and_a_gpu_in_channels_last():
    from UnsupervisedCTSegLib.engine.settings import Settings
    from UnsupervisedCTSegLib.engine.training import build_model, memory_format, network_input

    cpu = torch.device("cpu")
    assert memory_format(cpu) == torch.contiguous_format
    assert memory_format(torch.device("cuda")) == torch.channels_last
    settings = Settings(layers=1, channels=4, classes=3)
    model = build_model(settings, cpu)
    assert model.classifier.weight.is_contiguous()
    x = network_input(np.zeros((2, 3, 8, 9), np.float32), settings, cpu)
    assert x.shape == (2, 6, 8, 9) and x.is_contiguous()
