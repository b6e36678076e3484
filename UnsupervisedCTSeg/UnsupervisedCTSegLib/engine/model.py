"""The network of Kanezaki (2018) / Kim, Kanezaki, Tanaka (2020), written out plainly.

M blocks of 3x3 conv -> ReLU -> BatchNorm with p filters, a 1x1 conv "linear classifier" to q
response channels, BatchNorm of that response map (dropped in the `nobn` variant); the label of a
pixel is the argmax over the q channels.
"""
from __future__ import annotations

import torch
from torch import nn


class FeatureClusteringNet(nn.Module):
    def __init__(self, in_channels: int, layers: int, channels: int, classes: int, response_bn: bool = True):
        super().__init__()
        blocks = []
        width = in_channels
        for _ in range(layers):
            blocks += [nn.Conv2d(width, channels, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(channels)]
            width = channels
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Conv2d(channels, classes, 1)
        self.response_bn = nn.BatchNorm2d(classes) if response_bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> response map (N, q, H, W)."""
        return self.response_bn(self.classifier(self.features(x)))


def expected_parameter_count(in_channels: int, layers: int, channels: int, classes: int, response_bn: bool = True) -> int:
    """Trainable parameters by the formula: conv weights + biases, BatchNorm scale + shift."""
    first = in_channels * channels * 9 + channels + 2 * channels
    rest = (layers - 1) * (channels * channels * 9 + channels + 2 * channels)
    head = channels * classes + classes + (2 * classes if response_bn else 0)
    return first + rest + head
