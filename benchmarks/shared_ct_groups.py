"""Per-group best-match IoU on the shared TotalSegmentator example CT: our default against k-means.

Usage: python benchmarks/shared_ct_groups.py [--seeds 0 1 2 3] [--data ../shared/data/totalsegmentator_example]
k-means runs on HU (the `wide` window) with as many clusters as our run produced labels, the
comparison the test suite makes for fat and bone.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from UnsupervisedCTSegLib.engine import segment
from UnsupervisedCTSegLib.metrics import best_match_iou
from UnsupervisedCTSegLib.readers import read_volume
from UnsupervisedCTSegLib.settings import Settings

BONE_PREFIXES = ("vertebrae_", "rib_", "costal_cartilages", "sternum", "hip_", "sacrum", "femur_", "scapula_",
                 "clavicula_", "humerus_")


def groups(folder: Path) -> dict:
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_seg.nii.gz")))
    names = json.loads((folder / "example_seg_labels.json").read_text())
    ids = lambda test: [int(k) for k, v in names.items() if test(v)]
    tissue = lambda n: sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "tissue_types" / f"{n}.nii.gz"))) > 0
    return {"lung": np.isin(reference, ids(lambda v: v.startswith("lung_"))),
            "fat": tissue("subcutaneous_fat") | tissue("torso_fat"),
            "bone": np.isin(reference, ids(lambda v: v.startswith(BONE_PREFIXES))),
            "liver": np.isin(reference, ids(lambda v: v == "liver")),
            "muscle": tissue("skeletal_muscle")}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/totalsegmentator_example")
    args = parser.parse_args()
    volume = read_volume(args.data / "example_ct_sm.nii.gz")
    masks = groups(args.data)
    print("seed  labels  time_s  " + "  ".join(f"{g:>13s}" for g in masks) + "   (ours / k-means)")
    for seed in args.seeds:
        started = time.perf_counter()
        ours = segment(volume, Settings(seed=seed, device="cpu"))
        wall = time.perf_counter() - started
        kmeans = segment(volume, Settings(variant="kmeans", k=len(ours.tissues), windows=("wide",), seed=seed, device="cpu"))
        cells = [f"{best_match_iou(ours.labels, m)[0]:.3f}/{best_match_iou(kmeans.labels, m)[0]:.3f}" for m in masks.values()]
        print(f"{seed:4d}  {len(ours.tissues):6d}  {wall:6.1f}  " + "  ".join(f"{c:>13s}" for c in cells))


if __name__ == "__main__":
    main()
