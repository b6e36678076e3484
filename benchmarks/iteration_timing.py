"""Shared by the speed benchmarks: a phantom crop of a given size, and the seconds of one
training iteration of an engine run, read from its progress reports."""
import time

import numpy as np

from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.phantom import make_phantom

TRAINING_STAGES = ("slice", "training")  # progress stages reported once per iteration


def phantom_crop(slices: int, rows: int, columns: int, size: int = 0) -> Volume:
    """The centre rows x columns of a square built-in phantom of `slices` slices of size x size
    pixels (default: just large enough)."""
    volume, _, _ = make_phantom(slices=slices, size=size or max(rows, columns))
    y0, x0 = (volume.shape[1] - rows) // 2, (volume.shape[2] - columns) // 2
    return Volume(volume.hu[:, y0:y0 + rows, x0:x0 + columns].copy(), spacing=volume.spacing)


def median_gap(stamps: list) -> float:
    """Median seconds between consecutive stamps, after the first two iterations (warm-up)."""
    gaps = np.diff(stamps)[2:]
    if len(gaps) == 0:
        raise SystemExit("too few iterations to time: use --iterations 4 or more")
    return float(np.median(gaps))


def seconds_per_iteration(volume: Volume, settings: Settings) -> float:
    """Median gap between the per-iteration progress reports of engine.segment(volume, settings)."""
    stamps = []
    segment(volume, settings,
            progress=lambda p: stamps.append(time.perf_counter()) if p.stage.startswith(TRAINING_STAGES) else None)
    return median_gap(stamps)
