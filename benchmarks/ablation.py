"""What each CT addition is worth: the default with one thing changed at a time, on real CT.

Usage: python benchmarks/ablation.py [--data ../shared/data/totalsegmentator_example] [--seeds 0 1 2]
       [--only NAME ...]

Every variant runs through scoring.evaluate (the code behind `ctseg evaluate-ct`) with the same
seeds and is scored against the TotalSegmentator reference groups; the printed markdown table is
the one in the README's "Quality on real CT" section.
"""
import argparse
from pathlib import Path

from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.evaluation import references, scoring
from UnsupervisedCTSegLib.io.readers import read_volume

# name -> Settings overrides of the default
VARIANTS = {
    "default": {},
    "windows: wide only": dict(windows=("wide",)),
    "windows: wide, soft, lung": dict(windows=("wide", "soft", "lung")),
    "windows: lung, soft, bone": dict(windows=("lung", "soft", "bone")),
    "windows: wide, fat, soft, bone": dict(windows=("wide", "fat", "soft", "bone")),
    "no through-plane context (z_context 0, mu_z 0)": dict(z_context=0, mu_z=0.0),
    "neighbour channels only (mu_z 0)": dict(mu_z=0.0),
    "z continuity only (z_context 0)": dict(z_context=0),
    "no balance (plain cross-entropy)": dict(balance=0.0),
    "no warm start": dict(warm_start=0.0),
    "warm start for all of T (no self-training)": dict(warm_start=1.0),
    "no body mask": dict(body_mask=False),
    "q = p = 48": dict(classes=0),
    "clean-up: islands < 200 mm³, holes filled": dict(min_island_mm3=200.0, fill_holes=True),
    "k-means k=15 + body mask (the yardstick)": dict(variant="kmeans", k=15, windows=("wide",), body_mask=True,
                                                     split_mm=0.0),
    "k-means k=15 + body mask + organ split": dict(variant="kmeans", k=15, windows=("wide",), body_mask=True),
    "no organ split (split_mm 0: density classes)": dict(split_mm=0.0),
    "organ split at 6 mm": dict(split_mm=6.0),
    "organ split at 9 mm": dict(split_mm=9.0),
    "organ split at 15 mm": dict(split_mm=15.0),
    "organ split, parts from 5 ml": dict(split_ml=5.0),
    "organ split, parts from 50 ml": dict(split_ml=50.0),
    "position 0.2": dict(position=0.2),
    "position 0.3": dict(position=0.3),
    "position 0.5": dict(position=0.5),
    "position 0.3, q = 12": dict(position=0.3, classes=12),
}
COLUMNS = ("mean_best_iou", "mean_hungarian_iou", "adjacent_ari", "identical_fraction", "run_to_run_ari",
           "matched_agreement", "labels", "seconds")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/totalsegmentator_example")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(scoring.DEFAULT_SEEDS))
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run only these variants")
    args = parser.parse_args()
    volume = read_volume(args.data / "example_ct_sm.nii.gz")
    groups = references.load_reference(args.data / "example_seg.nii.gz", args.data / "example_seg_labels.json",
                                       volume).groups
    print("| variant | " + " | ".join(groups.masks) + " | " + " | ".join(COLUMNS) + " |")
    print("|---" * (1 + len(groups.masks) + len(COLUMNS)) + "|")
    for name in args.only or VARIANTS:
        scoring.CONFIGURATIONS[name] = lambda overrides=VARIANTS[name]: Settings(**overrides)
        result = scoring.evaluate(volume, groups, (name,), args.seeds, device="cpu")
        mean = result.configurations[0]["mean"]
        cells = [f"{mean['best_iou'][g]:.2f}" for g in groups.masks]
        cells += [f"{mean[c]:.3f}" if c not in ("labels", "seconds") else f"{mean[c]:.1f}" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
