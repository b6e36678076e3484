"""Quality on every shared CT in one run: our default against k-means k=15 in the same body mask.

Usage: python benchmarks/scans.py [--data ../shared/data] [--seeds 0 1 2] [--configs default,kmeans15-body]

Each scan with a reference is scored by scoring.evaluate (the code behind `ctseg evaluate-ct`) with
the same seeds: the TotalSegmentator example's whole scan (112 slices) and its 30-slice crop, and
the 3-slice DICOM CT (liver and spine). Prints one row per scan and configuration, the mean over
scans, the best-match IoU per group, and what the part that best matches each structure is named
(a part matching an organ should carry a soft-tissue name, the bladder's a fluid name). The README's
quality table comes from this output.
"""
import argparse
import time
from pathlib import Path

import numpy as np

from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.evaluation import references, scoring
from UnsupervisedCTSegLib.io.readers import read_volume

COLUMNS = ("mean_best_iou", "mean_hungarian_iou", "labels", "adjacent_ari", "identical_fraction", "run_to_run_ari",
           "seconds")
NAMED = ("liver", "spleen", "kidney", "muscle", "bowel")  # reference groups whose part should be soft tissue


def scans(data: Path) -> dict:
    """name -> (volume, ReferenceGroups, extra masks scored for naming only) of every shared CT found."""
    found = {}
    totalseg = data / "totalsegmentator_example"
    for name, ct, folder in (("TotalSegmentator whole scan", "example_ct.nii.gz", totalseg / "whole_scan"),
                             ("TotalSegmentator 30-slice crop", "example_ct_sm.nii.gz", totalseg)):
        if (totalseg / ct).is_file():
            volume = read_volume(totalseg / ct)
            groups = references.load_reference(folder / "example_seg.nii.gz", folder / "example_seg_labels.json",
                                               volume).groups
            found[name] = (volume, groups, _named_masks(folder, volume))
    dicom = data / "dcmqi_ct3slice"
    if (dicom / "liver_spine_seg.nrrd").is_file():
        volume = read_volume(dicom)
        reference = references.load_label_map(dicom / "liver_spine_seg.nrrd", volume)
        groups = references.reference_groups(reference, {1: "liver", 2: "vertebrae_spine"},
                                             {stem: None for stem in references.TISSUE_MASKS})
        found["3-slice DICOM CT"] = (volume, groups, {})
    return found


def _named_masks(folder: Path, volume) -> dict:
    """The urinary bladder's mask, when the reference has one: its part should be named fluid."""
    names = references.load_names(folder / "example_seg_labels.json")
    value = next((v for v, n in names.items() if n == "urinary_bladder"), None)
    if value is None:
        return {}
    mask = references.load_label_map(folder / "example_seg.nii.gz", volume) == value
    return {"bladder": mask} if mask.sum() >= references.MIN_GROUP_VOXELS else {}


def part_names(volume, groups, extra: dict, settings) -> dict:
    """Group -> the name of the label that best matches it, for one run of `settings`."""
    from UnsupervisedCTSegLib.evaluation.metrics import best_match_iou

    result = segment(volume, settings)
    names = {t.label: t.name for t in result.tissues}
    masks = dict(groups.masks, **extra)
    return {group: names.get(best_match_iou(result.labels, mask)[1], "-") for group, mask in masks.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(scoring.DEFAULT_SEEDS))
    parser.add_argument("--configs", default="default,kmeans15-body")
    args = parser.parse_args()
    configs = args.configs.split(",")
    found = scans(args.data)
    if not found:
        raise SystemExit(f"no shared CT with a reference under {args.data}")
    started = time.perf_counter()
    rows, groups_seen = [], []
    for scan, (volume, groups, extra) in found.items():
        evaluation = scoring.evaluate(volume, groups, configurations=configs, seeds=args.seeds)
        for configuration in evaluation.configurations:
            rows.append((scan, configuration))
        groups_seen += [g for g in groups.masks if g not in groups_seen]
        names = part_names(volume, groups, extra, scoring.configuration_settings("default", args.seeds[0]))
        print(f"{scan}: the default's best-matching parts (seed {args.seeds[0]}): "
              + "; ".join(f"{g} -> {n}" for g, n in names.items()), flush=True)
    print(f"\n{len(found)} scans, seeds {' '.join(map(str, args.seeds))}, {time.perf_counter() - started:.0f} s\n")
    print("| scan | configuration | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---:|" * len(COLUMNS))
    for scan, configuration in rows:
        values = [configuration["mean"][c] for c in COLUMNS]
        print(f"| {scan} | {configuration['title']} | " + " | ".join(_cell(v) for v in values) + " |")
    for name in configs:
        means = [np.mean([c["mean"][k] for s, c in rows if c["name"] == name]) for k in COLUMNS]
        print(f"| **mean over scans** | {scoring.TITLES.get(name, name)} | " + " | ".join(_cell(v) for v in means) + " |")
    print("\nBest-match IoU per group (seed mean)\n")
    print("| scan | configuration | " + " | ".join(groups_seen) + " |")
    print("|---|---|" + "---:|" * len(groups_seen))
    for scan, configuration in rows:
        ious = configuration["mean"]["best_iou"]
        print(f"| {scan} | {configuration['title']} | " + " | ".join(_cell(ious.get(g, float('nan')))
                                                                       for g in groups_seen) + " |")


def _cell(value) -> str:
    if isinstance(value, float) and np.isnan(value):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) and abs(value) < 10 else f"{value:.1f}"


if __name__ == "__main__":
    main()
