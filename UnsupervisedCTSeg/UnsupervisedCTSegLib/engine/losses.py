"""The two terms of the TIP 2020 loss: θ·L_sim + μ·L_con, with an optional CT edge awareness.

With `edge_hu` > 0 each neighbour difference in L_con is weighted by exp(-|ΔHU| / edge_hu): the
loss still smooths labels inside a tissue but stops pulling them across a real density edge
(fat against muscle, soft tissue against bone), which is what merged bone into soft organs.
edge_hu = 0 gives the papers' unweighted term.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def similarity_loss(response: torch.Tensor, target: torch.Tensor, ignore_index: int = -100,
                    balance: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the response map (N, q, H, W) against its own argmax labels (N, H, W);
    pixels whose target is `ignore_index` (outside the body) do not count.

    With balance > 0 each cluster's pixels are weighted by (its share of the batch)^-balance, so
    a small tissue (bone, vessels) is not absorbed by a big one as self-training goes on.
    """
    valid = target != ignore_index
    if not bool(valid.any()):
        return response.sum() * 0.0  # a batch with no body pixel: nothing to learn, no NaN
    weight = None
    if balance:
        counts = torch.bincount(target[valid], minlength=response.shape[1]).to(response.dtype)
        share = counts / counts.sum()
        weight = torch.where(counts > 0, share.clamp(min=1e-6) ** -balance, torch.zeros_like(share))
        weight = weight / (weight * share).sum()  # keep the loss on the unweighted scale
    return F.cross_entropy(response, target, weight=weight, ignore_index=ignore_index)


def edge_weights(hu: torch.Tensor, edge_hu: float):
    """(vertical, horizontal) weights exp(-|ΔHU|/edge_hu) for (N, H, W) HU; None when edge_hu is 0."""
    if not edge_hu:
        return None
    vertical = torch.exp(-(hu[:, 1:, :] - hu[:, :-1, :]).abs() / edge_hu).unsqueeze(1)
    horizontal = torch.exp(-(hu[:, :, 1:] - hu[:, :, :-1]).abs() / edge_hu).unsqueeze(1)
    return vertical, horizontal


def edge_weights_z(hu: torch.Tensor, edge_hu: float) -> torch.Tensor:
    """(N-1, 1, H, W) weights between consecutive slices of (N, H, W) HU; ones when edge_hu is 0."""
    difference = (hu[1:] - hu[:-1]).abs().unsqueeze(1)
    return torch.exp(-difference / edge_hu) if edge_hu else torch.ones_like(difference)


def z_continuity_loss(response: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean weighted absolute difference of the responses of consecutive slices (N, q, H, W):
    the papers' continuity term taken through the plane."""
    return ((response[1:] - response[:-1]).abs() * weights).mean()


def continuity_loss(response: torch.Tensor, weights=None) -> torch.Tensor:
    """Mean absolute vertical difference plus mean absolute horizontal difference of the response."""
    vertical = (response[:, :, 1:, :] - response[:, :, :-1, :]).abs()
    horizontal = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs()
    if weights is not None:
        vertical = vertical * weights[0]
        horizontal = horizontal * weights[1]
    return vertical.mean() + horizontal.mean()


def total_loss(response, target, theta: float, mu: float, weights=None, ignore_index: int = -100,
               balance: float = 0.0) -> torch.Tensor:
    return theta * similarity_loss(response, target, ignore_index, balance) + mu * continuity_loss(response, weights)
