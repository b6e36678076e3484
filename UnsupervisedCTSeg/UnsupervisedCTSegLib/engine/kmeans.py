"""The k-means baseline of the papers: cluster the input channels of each voxel, no network."""
from __future__ import annotations

import torch

FIT_SAMPLE = 200_000  # points the centres are fitted on, at most
FIT_ITERATIONS = 50  # Lloyd iterations, at most


def kmeans(points: torch.Tensor, k: int, generator: torch.Generator, iterations: int = FIT_ITERATIONS,
           sample: int = FIT_SAMPLE) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding on (N, D) points; returns the (k, D) centres.

    Fitting uses at most `sample` points drawn with `generator`, so the result is reproducible
    for a seed and the cost does not grow with volume size.
    """
    if points.shape[0] > sample:
        points = points[torch.randperm(points.shape[0], generator=generator, device="cpu")[:sample].to(points.device)]
    centres = _kmeans_pp(points, k, generator)
    for _ in range(iterations):
        assign = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(points.dtype)
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
        if torch.allclose(updated, centres):
            break
        centres = updated
    return centres


def _kmeans_pp(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    first = torch.randint(points.shape[0], (1,), generator=generator).item()
    centres = [points[first]]
    nearest = ((points - centres[0]) ** 2).sum(dim=1)
    for _ in range(1, k):
        weights = nearest.cpu().double()
        if weights.sum() <= 0:  # fewer distinct points than k: repeat a centre, it stays empty
            choice = 0
        else:
            choice = torch.multinomial(weights / weights.sum(), 1, generator=generator).item()
        centres.append(points[choice])
        nearest = torch.minimum(nearest, ((points - points[choice]) ** 2).sum(dim=1))
    return torch.stack(centres)


def assign(points: torch.Tensor, centres: torch.Tensor, chunk: int = 1_000_000) -> torch.Tensor:
    """Nearest-centre index of every point, in chunks so memory stays flat."""
    return torch.cat([torch.cdist(points[i:i + chunk], centres).argmin(dim=1)
                      for i in range(0, points.shape[0], chunk)])
