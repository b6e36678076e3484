"""What each rule of the organ split is worth on every shared CT: the default with one rule undone.

Usage: python benchmarks/split_ablation.py [--data ../shared/data] [--seeds 0 1 2]

The rules are constants of engine/regions.py, so each variant sets one of them for its runs and
puts it back: dense labels kept whole (DENSE_HU), the remainder beyond every core's reach (REACH),
and the joining of parts named air, lung, fat or mixed (JOINED_BANDS, the mixed rule). Scored like
benchmarks/scans.py (scoring.evaluate, the code behind `ctseg evaluate-ct`); prints the mean
best-match IoU per scan, the mean over scans, the label count and the run-to-run ARI.
"""
import argparse
import contextlib
from pathlib import Path

import numpy as np
from scans import scans

from UnsupervisedCTSegLib.engine import regions
from UnsupervisedCTSegLib.evaluation import scoring

# name -> (configuration, {regions constant: value}) of each variant
VARIANTS = {
    "default": ("default", {}),
    "dense labels split too": ("default", dict(DENSE_HU=float("inf"))),
    "no remainder (every voxel to its nearest core)": ("default", dict(REACH=float("inf"))),
    "no joining (lungs, fat, gas, mixed parts stay apart)": ("default", dict(JOINED_BANDS=(), MIXED="\0")),
    "organ split off (density classes)": ("density", {}),
    "k-means k=15 + body mask": ("kmeans15-body", {}),
}


@contextlib.contextmanager
def patched(values: dict):
    """regions' constants set to `values` inside the block, restored after it."""
    saved = {name: getattr(regions, name) for name in values}
    for name, value in values.items():
        setattr(regions, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(regions, name, value)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(scoring.DEFAULT_SEEDS))
    args = parser.parse_args()
    found = scans(args.data)
    names = list(found)
    print("| variant | " + " | ".join(names) + " | mean over scans | labels (whole scan) | run-to-run ARI (whole scan) |")
    print("|---|" + "---:|" * (len(names) + 3))
    for variant, (configuration, values) in VARIANTS.items():
        means, whole = [], None
        with patched(values):
            for scan, (volume, groups, _) in found.items():
                result = scoring.evaluate(volume, groups, configurations=[configuration], seeds=args.seeds)
                mean = result.configurations[0]["mean"]
                means.append(mean["mean_best_iou"])
                whole = whole or mean
        cells = [f"{m:.3f}" for m in means] + [f"{np.mean(means):.3f}", f"{whole['labels']:.1f}",
                                                f"{whole['run_to_run_ari']:.3f}"]
        print(f"| {variant} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
