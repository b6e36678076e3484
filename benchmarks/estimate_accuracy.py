"""How close the pre-run time estimate is to real runs, and what the calibration itself costs.

Usage: python benchmarks/estimate_accuracy.py
Prints estimate vs measured wall time for small runs in each mode, and the calibration time on a
300x512x512 volume (the estimate must itself stay a few seconds long).
"""
import time

import numpy as np

from UnsupervisedCTSegLib.engine.estimate import calibrate, estimate_seconds
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.phantom import make_phantom


def main():
    volume, _, _ = make_phantom(slices=16, size=128)
    for overrides in ({}, {"mode": "slice", "iterations": 10}, {"variant": "superpixel", "superpixels": 500},
                      {"variant": "kmeans"}):
        settings = Settings(min_labels=1, device="cpu", **overrides)
        estimate = estimate_seconds(volume, settings)
        started = time.perf_counter()
        segment(volume, settings)
        wall = time.perf_counter() - started
        print(f"{str(overrides or 'default'):55s} estimate {estimate:7.2f} s  real {wall:7.2f} s  ratio {estimate / wall:5.2f}")
    big = Volume(np.full((300, 512, 512), 40, np.int16))
    started = time.perf_counter()
    calibrate(big, Settings(device="cpu"))
    print(f"calibration on 300x512x512: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
