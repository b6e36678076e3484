"""Score several configurations on one CT against a reference, by one procedure.

`ctseg evaluate-ct` runs our default, the paper-faithful study preset and k-means on HU over a few
seeds on the same CT and scores all of them the same way, so a claim such as "the default finds bone
better than k-means" rests on numbers made by one procedure.

Scores per run: best-match IoU per group (the best single label), Hungarian IoU per group (one
distinct label per group), adjacent-slice ARI and identical fraction; per configuration:
run-to-run ARI and matched agreement across seeds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np

from ..engine.errors import InputError
from ..engine.settings import STUDY_PRESET, Settings
from ..engine.volume import Volume
from .consistency import run_to_run_ari, run_to_run_matched_agreement, summary
from .metrics import best_match_iou, hungarian_iou
from .references import ReferenceGroups

DEFAULT_SEEDS = (0, 1, 2)
PAPER_ITERATIONS = 150  # the reference measurement of the paper configuration on this kind of CT used T = 150

# Configuration name -> Settings factory. Seed, device and the paper's T are applied by
# configuration_settings, so every configuration runs exactly as its factory says otherwise.
CONFIGURATIONS = {
    "default": lambda: Settings(),
    "density": lambda: Settings(split_mm=0.0),
    "paper": lambda: Settings(**STUDY_PRESET),
    "kmeans6": lambda: Settings(variant="kmeans", k=6, windows=("wide",), body_mask=False, split_mm=0.0),
    "kmeans15": lambda: Settings(variant="kmeans", k=15, windows=("wide",), body_mask=False, split_mm=0.0),
    "kmeans15-body": lambda: Settings(variant="kmeans", k=15, windows=("wide",), body_mask=True, split_mm=0.0),
}
TITLES = {"default": "default", "density": "density classes (organ split off)", "paper": "paper (study preset)",
          "kmeans6": "k-means k=6",
          "kmeans15": "k-means k=15", "kmeans15-body": "k-means k=15 + body mask"}


def configuration_settings(name: str, seed: int, device: Optional[str] = None,
                           paper_iterations: int = PAPER_ITERATIONS) -> Settings:
    """The Settings of configuration `name` for one seed; the paper configuration runs T = paper_iterations."""
    if name not in CONFIGURATIONS:
        raise InputError(f"unknown configuration '{name}': choose from {', '.join(CONFIGURATIONS)}")
    changes = dict(seed=int(seed))
    if device:
        changes["device"] = device
    if name == "paper":
        changes["iterations"] = int(paper_iterations)
    return replace(CONFIGURATIONS[name](), **changes)


def score_run(labels: np.ndarray, masks: dict) -> dict:
    """Every per-run number: IoUs per group (best match and one-to-one), their means, slice consistency, labels."""
    best = {name: best_match_iou(labels, mask) for name, mask in masks.items()}
    hungarian = hungarian_iou(labels, masks)
    consistency = summary(labels)
    return {
        "best_iou": {name: iou for name, (iou, _) in best.items()},
        "best_label": {name: label for name, (_, label) in best.items()},
        "hungarian_iou": {name: iou for name, (iou, _) in hungarian.items()},
        "hungarian_label": {name: label for name, (_, label) in hungarian.items()},
        "mean_best_iou": _mean(iou for iou, _ in best.values()),
        "mean_hungarian_iou": _mean(iou for iou, _ in hungarian.values()),
        "adjacent_ari": consistency["mean_ari_previous"],
        "identical_fraction": consistency["mean_identical_fraction"],
        "labels": int(np.count_nonzero(np.bincount(labels.reshape(-1).astype(np.int64))[1:])),
    }


@dataclass
class Evaluation:
    """Everything the report needs: per-configuration results, the groups, and the pictures' slices."""

    configurations: list  # one dict per configuration: name, title, settings, runs, mean, run_to_run_*
    groups: ReferenceGroups
    seeds: list
    inputs: dict  # paths, shape, spacing, slab: for the report's header
    preview_slice: int = 0
    hu_preview: Optional[np.ndarray] = None  # (y, x) HU of the preview slice
    label_previews: dict = field(default_factory=dict)  # configuration -> (y, x) labels of the first seed
    spacing: tuple = (1.0, 1.0, 1.0)
    direction: Optional[np.ndarray] = None  # the CT's, so the pictures are drawn radiologically (io.orientation)


def evaluate(volume: Volume, groups: ReferenceGroups, configurations=tuple(CONFIGURATIONS),
             seeds=DEFAULT_SEEDS, device: Optional[str] = None, paper_iterations: int = PAPER_ITERATIONS,
             progress: Optional[Callable] = None, on_run: Optional[Callable] = None, cancel=None,
             inputs: Optional[dict] = None) -> Evaluation:
    """Segment `volume` with every configuration and seed through engine.segment and score each run.

    `progress` goes to every segment call (its fraction restarts at 0 for each run); `on_run(index,
    total, name, seed, scores)` is called before each run with scores None and after it with the
    run's scores, so a caller can show one line per run. All settings are checked before the first run.
    """
    from ..engine.run import segment

    seeds = [int(s) for s in seeds]
    plan = {name: [configuration_settings(name, s, device, paper_iterations) for s in seeds] for name in configurations}
    middle = volume.shape[0] // 2
    evaluation = Evaluation([], groups, seeds, dict(inputs or {}), middle, volume.hu[middle].copy(),
                            spacing=volume.spacing, direction=volume.direction)
    total, index = len(plan) * len(seeds), 0
    for name, settings_per_seed in plan.items():
        runs, labelings = [], []
        for settings in settings_per_seed:
            index += 1
            if on_run:
                on_run(index, total, name, settings.seed, None)
            started = time.perf_counter()
            result = segment(volume, settings, progress=progress, cancel=cancel)
            scores = dict(seed=settings.seed, **score_run(result.labels, groups.masks),
                          seconds=time.perf_counter() - started, iterations_run=result.record["iterations_run"],
                          stop_reason=result.record["stop_reason"])
            runs.append(scores)
            labelings.append(result.labels)
            evaluation.label_previews.setdefault(name, result.labels[middle].copy())
            if on_run:
                on_run(index, total, name, settings.seed, scores)
        evaluation.configurations.append(_summarise(name, settings_per_seed[0], runs, labelings, paper_iterations))
    return evaluation


def _summarise(name: str, settings: Settings, runs: list, labelings: list, paper_iterations: int) -> dict:
    """Seed means of every per-run number plus the run-to-run agreement of the seeds' labelings."""
    keys = ("mean_best_iou", "mean_hungarian_iou", "adjacent_ari", "identical_fraction", "labels", "seconds")
    mean = {key: _mean(run[key] for run in runs) for key in keys}
    for key in ("best_iou", "hungarian_iou"):
        mean[key] = {group: _mean(run[key][group] for run in runs) for group in runs[0][key]}
    mean["run_to_run_ari"] = run_to_run_ari(labelings)
    mean["matched_agreement"] = run_to_run_matched_agreement(labelings)
    title = TITLES.get(name, name) + (f", T={paper_iterations}" if name == "paper" else "")
    settings = dict(settings.as_dict(), seed=None)  # the seed differs per run: see runs
    return {"name": name, "title": title, "settings": settings, "mean": mean, "runs": runs}


def _mean(values) -> float:
    values = [float(v) for v in values]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")
