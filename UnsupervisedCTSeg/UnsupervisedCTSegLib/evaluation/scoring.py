"""Score several configurations on one CT against a reference label map, in one table and one figure.

`ctseg evaluate-ct` runs our default, the paper-faithful study preset and k-means on HU over a few
seeds on the same CT and scores all of them the same way, so a claim such as "the default finds bone
better than k-means" rests on numbers made by one procedure. Reference structures (TotalSegmentator
names) are pooled into groups an unsupervised method can hope to find (lung, bone, liver, ...): our
labels are tissues, not individual ribs or vertebrae.

Scores per run: best-match IoU per group (the best single label), Hungarian IoU per group (one
distinct label per group), adjacent-slice ARI and identical fraction; per configuration:
run-to-run ARI and matched agreement across seeds. Never imports slicer or qt.
"""
from __future__ import annotations

import csv
import fnmatch
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .consistency import run_to_run_ari, run_to_run_matched_agreement, summary
from ..engine.errors import InputError
from .figures import label_lut
from .metrics import best_match_iou, hungarian_iou
from ..io.readers import ITK_SUFFIXES, read_volume
from ..engine.settings import STUDY_PRESET, Settings
from ..engine.volume import Volume
from ..io.writers import atomic_outputs, check_output_folder

MIN_GROUP_VOXELS = 200  # smaller groups are a few partial-volume voxels at the slab's edge: IoU is noise
DEFAULT_SEEDS = (0, 1, 2)
PAPER_ITERATIONS = 150  # the reference measurement of the paper configuration on this kind of CT used T = 150


@dataclass(frozen=True)
class Group:
    """One scored structure: reference labels whose names match `patterns`, or tissue mask files."""

    name: str
    patterns: tuple = ()  # fnmatch patterns on the reference's label names
    masks: tuple = ()  # tissue mask file stems in the tissue-mask folder, united; all must exist


GROUPS = (
    Group("lung", patterns=("lung_*",)),
    Group("bone", patterns=("vertebrae_*", "rib_*", "costal_cartilages", "sternum", "hip_*", "sacrum",
                            "femur_*", "scapula_*", "clavicula_*", "humerus_*")),
    Group("liver", patterns=("liver",)),
    Group("spleen", patterns=("spleen",)),
    Group("kidney", patterns=("kidney_left", "kidney_right")),
    Group("muscle", masks=("skeletal_muscle",)),
    Group("vessels", patterns=("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein")),
    Group("bowel", patterns=("small_bowel", "colon", "duodenum", "stomach")),
    Group("fat", masks=("subcutaneous_fat", "torso_fat")),
)
TISSUE_MASKS = tuple(stem for group in GROUPS for stem in group.masks)

# Configuration name -> Settings factory. Seed, device and the paper's T are applied by
# configuration_settings, so every configuration runs exactly as its factory says otherwise.
CONFIGURATIONS = {
    "default": lambda: Settings(),
    "paper": lambda: Settings(**STUDY_PRESET),
    "kmeans6": lambda: Settings(variant="kmeans", k=6, windows=("wide",), body_mask=False),
    "kmeans15": lambda: Settings(variant="kmeans", k=15, windows=("wide",), body_mask=False),
    "kmeans15-body": lambda: Settings(variant="kmeans", k=15, windows=("wide",), body_mask=True),
}
TITLES = {"default": "default", "paper": "paper (study preset)", "kmeans6": "k-means k=6",
          "kmeans15": "k-means k=15", "kmeans15-body": "k-means k=15 + body mask"}


@dataclass
class ReferenceGroups:
    """The group masks that are scored, where each came from, and why the others are not scored."""

    masks: dict  # group -> boolean (z, y, x) mask, in GROUPS order
    sources: dict  # group -> the reference label names or mask files it unites
    skipped: dict  # group -> why it is not scored

    def voxels(self) -> dict:
        return {name: int(mask.sum()) for name, mask in self.masks.items()}


def reference_groups(reference: np.ndarray, names: dict, tissue_masks: dict,
                     min_voxels: int = MIN_GROUP_VOXELS) -> ReferenceGroups:
    """Pool the reference's labels (value -> name in `names`) and the tissue masks into GROUPS.

    `tissue_masks` maps a mask stem (e.g. "skeletal_muscle") to a boolean array, or to None when
    the file is missing; a group needing a missing mask is skipped, as is a group matching no name
    or with fewer than `min_voxels` voxels, each with the reason.
    """
    masks, sources, skipped = {}, {}, {}
    present = set(np.unique(reference).tolist())
    for group in GROUPS:
        if group.masks:
            missing = [stem for stem in group.masks if tissue_masks.get(stem) is None]
            if missing:
                skipped[group.name] = f"tissue mask {', '.join(missing)} not found"
                continue
            mask = np.logical_or.reduce([np.asarray(tissue_masks[stem], bool) for stem in group.masks])
            members = [f"{stem} mask" for stem in group.masks]
        else:
            ids = {value: name for value, name in names.items()
                   if any(fnmatch.fnmatchcase(name, pattern) for pattern in group.patterns)}
            if not ids:
                skipped[group.name] = f"no reference label named {' or '.join(group.patterns)}"
                continue
            mask = np.isin(reference, list(ids))
            members = [ids[value] for value in sorted(ids) if value in present]
        voxels = int(mask.sum())
        if voxels < min_voxels:
            skipped[group.name] = f"only {voxels} voxels in the volume (< {min_voxels})"
            continue
        masks[group.name], sources[group.name] = mask, members
    return ReferenceGroups(masks, sources, skipped)


def load_names(path) -> dict:
    """Read the label value -> name JSON ({"1": "spleen", ...}) with a clear error for every way it fails."""
    path = Path(path).expanduser()
    fix = 'give a JSON object mapping each label value to its name, e.g. {"1": "spleen", "5": "liver"}'
    if not path.is_file():
        raise InputError(f"names file '{path}' does not exist: {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read names file '{path.name}' ({error}): {fix}") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"names file '{path.name}' holds no label names: {fix}")
    names = {}
    for key, name in data.items():
        try:
            value = int(key)
        except ValueError:
            raise InputError(f"names file '{path.name}' has the key '{key}', not a label value: {fix}") from None
        if not isinstance(name, str):
            raise InputError(f"names file '{path.name}' gives label {key} the name {name!r}, not a string: {fix}")
        names[value] = name
    return names


def check_same_grid(other: Volume, volume: Volume, what: str) -> None:
    """Refuse `other` unless it lies voxel for voxel on `volume`'s grid (shape, spacing, origin, direction)."""
    fix = "give the file made on this CT (or resample it onto the CT's grid, nearest neighbour)"
    if other.shape != volume.shape:
        raise InputError(f"the {what} has {other.shape} voxels (z, y, x) but the CT has {volume.shape}: {fix}")
    if not np.allclose(other.spacing, volume.spacing, rtol=1e-3, atol=1e-4):
        raise InputError(f"the {what} has spacing {other.spacing} mm but the CT has {volume.spacing} mm: {fix}")
    tolerance = 0.05 * min(volume.spacing)
    if not np.allclose(other.origin, volume.origin, atol=tolerance, rtol=0):
        raise InputError(f"the {what} starts at {other.origin} mm but the CT at {volume.origin} mm: {fix}")
    if not np.allclose(other.direction, volume.direction, atol=1e-3):
        raise InputError(f"the {what} has axis directions {other.direction.round(3).tolist()} but the CT has "
                         f"{volume.direction.round(3).tolist()}: {fix}")


def load_label_map(path, volume: Volume, what: str = "reference") -> np.ndarray:
    """Read an integer label map and check it lies on the CT's grid; returns int32 (z, y, x)."""
    labels = read_volume(path)
    check_same_grid(labels, volume, f"{what} '{Path(path).name}'")
    values = labels.hu
    if not np.array_equal(values, np.round(values)) or values.min() < 0:
        raise InputError(f"the {what} '{Path(path).name}' has negative or fractional values, so it is not a label "
                         "map: give the label map (integer values, 0 = background)")
    return values.astype(np.int32)


def tissue_mask_folder(reference_path, folder=None) -> Optional[Path]:
    """The folder given, else `<reference's folder>/tissue_types` when it exists (TotalSegmentator's layout)."""
    if folder is not None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise InputError(f"tissue mask folder '{folder}' does not exist: give the folder holding "
                             f"{', '.join(s + '.nii.gz' for s in TISSUE_MASKS)}")
        return folder
    default = Path(reference_path).expanduser().parent / "tissue_types"
    return default if default.is_dir() else None


def load_tissue_masks(folder: Optional[Path], volume: Volume) -> dict:
    """stem -> boolean mask for each of TISSUE_MASKS found in `folder` (any ITK suffix), else None."""
    masks = {}
    for stem in TISSUE_MASKS:
        found = [folder / (stem + suffix) for suffix in ITK_SUFFIXES] if folder is not None else []
        path = next((p for p in found if p.is_file()), None)
        masks[stem] = None if path is None else load_label_map(path, volume, "tissue mask") > 0
    return masks


def parse_slices(text: Optional[str], depth: int) -> tuple:
    """'START:STOP' (either side may be empty) -> (start, stop) within 0..depth; None -> the whole volume."""
    if not text:
        return 0, depth
    fix = f"give --slices START:STOP with 0 <= START < STOP <= {depth}, e.g. --slices 10:20"
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start = int(parts[0]) if parts[0].strip() else 0
        stop = int(parts[1]) if parts[1].strip() else depth
    except ValueError:
        raise InputError(f"--slices '{text}' is not START:STOP: {fix}") from None
    if not 0 <= start < stop <= depth:
        raise InputError(f"--slices {start}:{stop} is outside the CT's {depth} axial slices: {fix}")
    return start, stop


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
                            spacing=volume.spacing)
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


# ----------------------------------------------------------------------------------------------
# The report: markdown, CSV, JSON and PNG, written together (temporary files renamed at the end).

REPORT_FILES = {"markdown": "evaluation.md", "csv": "evaluation.csv", "json": "evaluation.json",
                "figure": "evaluation.png"}
SUMMARY_COLUMNS = (("mean_best_iou", "mean best IoU"), ("mean_hungarian_iou", "mean Hungarian IoU"),
                   ("adjacent_ari", "adjacent ARI"), ("identical_fraction", "identical fraction"),
                   ("run_to_run_ari", "run-to-run ARI"), ("matched_agreement", "matched agreement"),
                   ("labels", "labels"), ("seconds", "seconds"))


def write_report(folder, evaluation: Evaluation, final: bool = False) -> dict:
    """Write evaluation.md/.csv/.json/.png into `folder`; they appear together or not at all.

    `final`: these are the command's last outputs (see stops.commit).
    """
    folder = check_output_folder(folder, "the evaluation's tables and figure")
    paths = {kind: folder / name for kind, name in REPORT_FILES.items()}
    with atomic_outputs(paths, final) as temporary:
        temporary["markdown"].write_text(markdown_report(evaluation), encoding="utf-8")
        with open(temporary["csv"], "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerows(csv_rows(evaluation))
        temporary["json"].write_text(json.dumps(_jsonable(json_report(evaluation)), indent=1), encoding="utf-8")
        figure = draw_figure(evaluation)
        figure.savefig(temporary["figure"], format="png", dpi=100)
    return paths


def csv_rows(evaluation: Evaluation) -> list:
    """Header plus one row per configuration: seed means of every number (empty cell = not defined)."""
    groups = list(evaluation.groups.masks)
    header = (["configuration", "title", "seeds"] + [f"best_iou_{g}" for g in groups]
              + [f"hungarian_iou_{g}" for g in groups] + [key for key, _ in SUMMARY_COLUMNS])
    rows = [header]
    for config in evaluation.configurations:
        mean = config["mean"]
        values = ([mean["best_iou"][g] for g in groups] + [mean["hungarian_iou"][g] for g in groups]
                  + [mean[key] for key, _ in SUMMARY_COLUMNS])
        rows.append([config["name"], config["title"], " ".join(map(str, evaluation.seeds))]
                    + ["" if math.isnan(v) else f"{v:.4f}" for v in values])
    return rows


def markdown_report(evaluation: Evaluation) -> str:
    """The two tables (best-match + consistency, Hungarian per group), the groups, and what each number means."""
    groups = evaluation.groups
    names = list(groups.masks)
    inputs = evaluation.inputs
    lines = ["# Unsupervised CT segmentation against a reference", ""]
    for key in ("ct", "reference", "names", "tissue_masks"):
        if key in inputs:
            lines.append(f"- {key.replace('_', ' ')}: `{inputs[key]}`")
    if "shape" in inputs:
        lines.append(f"- voxels (z, y, x): {inputs['shape']}, spacing (x, y, z) mm: {inputs.get('spacing')}, "
                     f"axial slices {inputs.get('slices', 'all')}")
    lines.append(f"- seeds: {', '.join(map(str, evaluation.seeds))}; numbers are means over the seeds")
    lines += ["", "Groups scored:", ""]
    voxels = groups.voxels()
    for name in names:
        members = groups.sources[name]
        shown = ", ".join(members[:6]) + (f" and {len(members) - 6} more" if len(members) > 6 else "")
        lines.append(f"- {name}: {voxels[name]} voxels ({shown})")
    for name, why in groups.skipped.items():
        lines.append(f"- {name}: not scored, {why}")

    lines += ["", "## Best-match IoU per group, agreement and cost", ""]
    header = ["configuration"] + names + [title for _, title in SUMMARY_COLUMNS]
    lines += _markdown_table(header, [[c["title"]] + [c["mean"]["best_iou"][g] for g in names]
                                      + [c["mean"][key] for key, _ in SUMMARY_COLUMNS]
                                      for c in evaluation.configurations])
    lines += ["", "## Hungarian (one-to-one) IoU per group", ""]
    lines += _markdown_table(["configuration"] + names + ["mean"],
                             [[c["title"]] + [c["mean"]["hungarian_iou"][g] for g in names]
                              + [c["mean"]["mean_hungarian_iou"]] for c in evaluation.configurations])
    lines += ["", "## Definitions", "",
              "- best-match IoU: the highest IoU of any one of our labels (label 0 excluded) with the group, "
              "on the whole volume; several groups may pick the same label.",
              "- Hungarian IoU: IoU when each group gets its own distinct label, the assignment maximising the "
              "total IoU; a group left without a label scores 0. Means are over the groups scored.",
              "- adjacent ARI / identical fraction: adjusted Rand index of each axial slice with the previous one, "
              "and the fraction of pixels keeping their label, averaged over slices (all pixels, background "
              "included).",
              "- run-to-run ARI: mean pairwise ARI over all voxels between the seeds' labelings; matched "
              "agreement: mean pairwise fraction of voxels with the same label after matching labels between "
              "runs one to one (Hungarian matching on the overlap counts).",
              "- labels: distinct non-zero labels; seconds: wall time of one run (engine.segment)."]
    return "\n".join(lines) + "\n"


def _markdown_table(header: list, rows: list) -> list:
    """Rows of text and numbers as a markdown table: scores with 3 decimals, counts and seconds with 1."""
    def cell(value, column):
        if isinstance(value, str):
            return value
        if math.isnan(value):
            return "n/a"
        return f"{value:.1f}" if header[column] in ("labels", "seconds") else f"{value:.3f}"

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(cell(v, i) for i, v in enumerate(row)) + " |" for row in rows]


def json_report(evaluation: Evaluation) -> dict:
    groups = evaluation.groups
    return {"inputs": evaluation.inputs, "seeds": evaluation.seeds,
            "groups": {name: {"voxels": voxels, "sources": groups.sources[name]}
                       for name, voxels in groups.voxels().items()},
            "skipped_groups": groups.skipped, "configurations": evaluation.configurations}


def _jsonable(value):
    """NaN -> null (JSON has no NaN) and numpy scalars -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def draw_figure(evaluation: Evaluation):
    """Bars of best-match IoU per group and of the agreement numbers, over one mid-volume axial slice
    of the reference groups and of every configuration's labels, so the difference is visible."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    configs = evaluation.configurations
    names = list(evaluation.groups.masks)
    colours = [colormaps["tab10"](i % 10) for i in range(len(configs))]
    panels = len(configs) + 1
    figure = Figure(figsize=(max(12.0, 2.6 * panels), 8.5))
    FigureCanvasAgg(figure)
    outer = figure.add_gridspec(2, 1, height_ratios=[1.0, 1.0], hspace=0.3, left=0.05, right=0.99, top=0.88,
                                bottom=0.08)
    top = outer[0].subgridspec(1, 2, width_ratios=[len(names) + 1, 5], wspace=0.15)

    bars = figure.add_subplot(top[0])
    width = 0.8 / max(len(configs), 1)
    for i, (config, colour) in enumerate(zip(configs, colours)):
        x = np.arange(len(names) + 1) + (i - (len(configs) - 1) / 2) * width
        values = [config["mean"]["best_iou"][g] for g in names] + [config["mean"]["mean_best_iou"]]
        bars.bar(x, values, width, color=colour, label=config["title"])
    bars.set_xticks(np.arange(len(names) + 1), names + ["mean"])
    bars.set_ylim(0, 1)
    bars.set_ylabel("best-match IoU (mean over seeds)")
    bars.grid(axis="y", alpha=0.3)

    agreement = figure.add_subplot(top[1])
    keys = [("mean_hungarian_iou", "Hungarian\nIoU"), ("adjacent_ari", "adjacent\nARI"),
            ("identical_fraction", "identical\nfraction"), ("run_to_run_ari", "run-to-run\nARI"),
            ("matched_agreement", "matched\nagreement")]
    for i, (config, colour) in enumerate(zip(configs, colours)):
        x = np.arange(len(keys)) + (i - (len(configs) - 1) / 2) * width
        agreement.bar(x, [np.nan_to_num(config["mean"][k]) for k, _ in keys], width, color=colour)
    agreement.set_xticks(np.arange(len(keys)), [label for _, label in keys], fontsize=8)
    agreement.set_ylim(0, 1)
    agreement.grid(axis="y", alpha=0.3)

    row = outer[1].subgridspec(1, panels, wspace=0.04)
    hu = evaluation.hu_preview
    sx, sy = evaluation.spacing[0], evaluation.spacing[1]
    reference = np.zeros(hu.shape, np.int64)
    for i, name in enumerate(names, start=1):
        reference[evaluation.groups.masks[name][evaluation.preview_slice]] = i
    group_lut = np.array([(0, 0, 0, 0)] + [colormaps["tab10"](i % 10) for i in range(len(names))])
    images = [("reference groups", group_lut[reference])]
    for config in configs:
        labels = evaluation.label_previews[config["name"]].astype(np.int64)
        lut = label_lut(int(labels.max()), alpha=1.0)
        images.append((config["title"], lut[labels]))
    axes = [figure.add_subplot(row[i]) for i in range(panels)]
    for ax, (title, overlay) in zip(axes, images):
        ax.imshow(hu, cmap="gray", vmin=-160, vmax=240, interpolation="nearest", aspect=sy / sx)
        overlay = overlay.copy()
        overlay[..., 3] *= 0.75
        ax.imshow(overlay, interpolation="nearest", aspect=sy / sx)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    axes[0].legend(handles=[Patch(color=group_lut[i + 1], label=n) for i, n in enumerate(names)],
                   loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=min(len(names), 5), fontsize=7,
                   frameon=False, handlelength=1.0, columnspacing=0.8)
    figure.legend(*bars.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.955),
                  ncol=len(configs), fontsize=9, frameon=False)
    figure.suptitle(f"{evaluation.inputs.get('title', 'evaluation')}: seeds {', '.join(map(str, evaluation.seeds))}; "
                    f"pictures: axial slice {evaluation.preview_slice} of the evaluated slices, seed "
                    f"{evaluation.seeds[0]}", fontsize=11)
    return figure
