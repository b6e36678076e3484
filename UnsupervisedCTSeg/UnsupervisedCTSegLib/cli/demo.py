"""`ctseg demo`: the built-in phantom end to end, scored against its known tissues.

The phantom is written both as a volume and as DeepLesion PNG slices and then read back from the
PNGs, so the demo runs the same reader -> engine -> writers path a user's data takes.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..engine.device import pick_device
from ..engine.settings import Settings
from ..evaluation.metrics import best_match_iou
from ..io.phantom import AIR, CLOTHING, CUSHION, TABLE, make_phantom
from ..io.readers import read_volume
from ..io.writers import check_output_folder, write_deeplesion_pngs, write_labelmap, write_volume
from .running import ProgressBar, run_segmentation


def prepare_sample(folder: Path) -> tuple:
    """Write the phantom (volume, DeepLesion PNGs, truth) into `folder`; return (png folder, truth, names)."""
    volume, truth, names = make_phantom()
    folder.mkdir(parents=True, exist_ok=True)
    write_volume(folder / "phantom.nrrd", volume)
    write_labelmap(folder / "phantom_truth.nrrd", truth, volume)
    png_folder = folder / "phantom_deeplesion"
    if png_folder.exists():
        for old in png_folder.glob("*.png"):
            old.unlink()
    write_deeplesion_pngs(png_folder, volume)
    return png_folder, truth, names


NOT_ANATOMY = (AIR, TABLE, CLOTHING, CUSHION)  # what the body mask should leave unlabelled


def score(labels: np.ndarray, truth: np.ndarray, names: dict) -> list:
    """Best-match IoU of our labels with every true body tissue present (air, table, cushion and
    clothing are not anatomy: `outside_kept` says how much of them got a label)."""
    rows = []
    for tissue_id, name in names.items():
        mask = truth == tissue_id
        if tissue_id in NOT_ANATOMY or not mask.any():
            continue
        iou, label = best_match_iou(labels, mask)
        rows.append((name, iou, label, int(mask.sum())))
    return rows


def run_demo(folder: Path, settings: Settings, quiet: bool = False) -> dict:

    started = time.perf_counter()
    folder = check_output_folder(folder, "the demo's sample and results")
    pick_device(settings.device)  # everything is checked before the sample is written
    png_folder, truth, names = prepare_sample(folder)
    volume = read_volume(png_folder)
    result, paths = run_segmentation(volume, settings, folder / "phantom_labels.nrrd", ProgressBar(quiet),
                                     estimate=not quiet, title="UnsupervisedCTSeg phantom")
    rows = score(result.labels, truth, names)
    print("\nHow well the labels match the phantom's true tissues (best-match IoU, 1 = perfect):")
    for name, iou, label, voxels in sorted(rows, key=lambda r: -r[1]):
        print(f"  {name:18s} {iou:5.2f}  (label {label}: {result.tissue(label).name})")
    mean = float(np.mean([r[1] for r in rows]))
    outside = np.isin(truth, NOT_ANATOMY[1:])
    labelled_outside = float(np.mean(result.labels[outside] > 0)) if outside.any() else 0.0
    wall = time.perf_counter() - started
    print(f"  {'mean':18s} {mean:5.2f}\nTable, cushion and clothing voxels given a label: {100 * labelled_outside:.1f}%"
          f"\nDemo finished in {wall:.1f} s; outputs in {folder.resolve()}")
    return {"rows": rows, "mean_iou": mean, "labelled_outside": labelled_outside, "wall_seconds": wall,
            "paths": paths}
