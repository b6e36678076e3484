"""The evaluation's report: markdown, CSV, JSON and a figure, written together.

The temporary files are renamed at the end, so the four appear together or not at all.
"""
from __future__ import annotations

import csv
import json
import math

import numpy as np

from ..engine.windows import SOFT_TISSUE_WINDOW
from ..io.orientation import radiological_slice
from ..io.writers import atomic_outputs, check_output_folder
from .figures import label_lut
from .scoring import Evaluation

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
    of the reference groups and of every configuration's labels, so the difference is visible. The
    slice is drawn in radiological convention for the CT's direction (io.orientation)."""
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
    hu, (sx, sy, _) = radiological_slice(evaluation.hu_preview, evaluation.direction, evaluation.spacing)
    reference = np.zeros(evaluation.hu_preview.shape, np.int64)
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
        ax.imshow(hu, cmap="gray", vmin=SOFT_TISSUE_WINDOW[0], vmax=SOFT_TISSUE_WINDOW[1], interpolation="nearest", aspect=sy / sx)
        overlay = radiological_slice(overlay, evaluation.direction)[0].copy()  # stored (y, x, RGBA), turned like hu
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
