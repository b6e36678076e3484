"""The two terms of the TIP 2020 loss: θ·L_sim + μ·L_con, with an optional CT edge awareness.

With `edge_hu` > 0 each neighbour difference in L_con is weighted by exp(-|ΔHU| / edge_hu): the
loss still smooths labels inside a tissue but stops pulling them across a real density edge
(fat against muscle, soft tissue against bone), which is what merged bone into soft organs.
edge_hu = 0 gives the papers' unweighted term.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def similarity_loss(response: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the response map (N, q, H, W) against its own argmax labels (N, H, W)."""
    return F.cross_entropy(response, target)


def edge_weights(hu: torch.Tensor, edge_hu: float):
    """(vertical, horizontal) weights exp(-|ΔHU|/edge_hu) for (N, H, W) HU; None when edge_hu is 0."""
    if not edge_hu:
        return None
    vertical = torch.exp(-(hu[:, 1:, :] - hu[:, :-1, :]).abs() / edge_hu).unsqueeze(1)
    horizontal = torch.exp(-(hu[:, :, 1:] - hu[:, :, :-1]).abs() / edge_hu).unsqueeze(1)
    return vertical, horizontal


def continuity_loss(response: torch.Tensor, weights=None) -> torch.Tensor:
    """Mean absolute vertical difference plus mean absolute horizontal difference of the response."""
    vertical = (response[:, :, 1:, :] - response[:, :, :-1, :]).abs()
    horizontal = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs()
    if weights is not None:
        vertical = vertical * weights[0]
        horizontal = horizontal * weights[1]
    return vertical.mean() + horizontal.mean()


def total_loss(response, target, theta: float, mu: float, weights=None) -> torch.Tensor:
    return theta * similarity_loss(response, target) + mu * continuity_loss(response, weights)
