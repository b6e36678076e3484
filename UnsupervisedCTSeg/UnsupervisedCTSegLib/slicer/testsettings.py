"""The one set of fast settings for the tests: the module's self-tests (in Slicer and in pytest) and
the pytest suite. Pure Python (no slicer, no vtk), so tests without Slicer can use it too.
"""
from __future__ import annotations

from ..engine.settings import Settings


def fast_settings(**overrides) -> Settings:
    """Settings that train for a fraction of a second on a tiny volume on a CPU; the same seed gives
    the same labels.

    A small network (M = 2 blocks, p = 8 filters) for T = 5 iterations, each on 2 whole slices
    (train_size 0: no crop, so a test volume of any size trains on all its pixels). Everything
    else, the body mask included, is the engine's default.
    """
    values = dict(layers=2, channels=8, iterations=5, train_size=0, batch_slices=2, device="cpu")
    values.update(overrides)
    return Settings(**values)
