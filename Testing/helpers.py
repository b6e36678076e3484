"""Small volumes for fast engine tests: tiny images, few iterations."""
import numpy as np

from UnsupervisedCTSegLib.settings import Settings
from UnsupervisedCTSegLib.volume import Volume


def blocks_volume(depth=3, size=24, seed=0) -> Volume:
    """Air, fat, soft tissue and bone blocks with noise: four obvious tissues."""
    rng = np.random.default_rng(seed)
    hu = np.full((depth, size, size), -1000.0, np.float32)
    half = size // 2
    hu[:, :half, half:] = -100.0
    hu[:, half:, :half] = 50.0
    hu[:, half:, half:] = 700.0
    hu += rng.normal(0, 10, hu.shape).astype(np.float32)
    return Volume(hu, (0.8, 0.8, 2.5), (10.0, -5.0, 3.0), np.diag([-1.0, -1.0, 1.0]), source="blocks")


def fast_settings(**overrides) -> Settings:
    values = dict(layers=2, channels=8, iterations=5, train_size=0, batch_slices=2, device="cpu",
                  body_mask=False)  # blocks are not a body; the body mask has its own tests
    values.update(overrides)
    return Settings(**values)
