"""`ctseg sweep`: the study's parameter grid (M x θ x μ) on one CT, one Ray task per grid point.

Each point is one engine.segment call with the other settings fixed. Every finished run adds a row
(label count, final loss, iterations, time; with a reference, the evaluate-ct scores) and saves the
labels of the pictured slice, so the table and the θ x μ montage of each M can be drawn again from
the folder at any time, and a rerun computes only the missing points.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import InputError
from ..engine.settings import Settings
from ..io.writers import check_no_clash, check_output_folder
from .references import MIN_GROUP_VOXELS, load_reference
from .resultlog import ResultLog

FILES = {"csv": "sweep.csv", "markdown": "sweep.md"}
BASE_COLUMNS = ("layers", "theta", "mu", "labels", "final_loss", "iterations", "seconds", "device")
SCORE_COLUMNS = ("mean_best_iou", "mean_hungarian_iou", "adjacent_ari", "identical_fraction")


def parse_grid(layers: str, thetas: str, mus: str) -> dict:
    """{"layers": [ints], "theta": [floats], "mu": [floats]} from comma lists, refusing bad values early."""
    def numbers(text, kind, name):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--{name} '{text}' is not a comma list of numbers, e.g. 1,1.5,2") from None
        if not values or len(set(values)) != len(values):
            raise InputError(f"--{name} '{text}' is empty or repeats a value: give distinct values, e.g. 1,1.5,2")
        return values

    grid = {"layers": numbers(layers, int, "layers"), "theta": numbers(thetas, float, "theta"),
            "mu": numbers(mus, float, "mu")}
    for m in grid["layers"]:  # Settings names the problem and the fix for each value
        for theta in grid["theta"]:
            for mu in grid["mu"]:
                Settings(layers=m, theta=theta, mu=mu)
    return grid


def point_key(layers, theta, mu) -> tuple:
    return (str(int(layers)), f"{float(theta):g}", f"{float(mu):g}")


def run_point(volume, settings: Settings, masks: Optional[dict], preview: int) -> dict:
    """One Ray task: segment with one grid point's settings; return the row and the pictured slice."""
    from ..engine.run import segment
    from .scoring import score_run

    started = time.perf_counter()
    result = segment(volume, settings)
    row = dict(layers=settings.layers, theta=settings.theta, mu=settings.mu, labels=len(result.tissues),
               final_loss=result.record["history"]["loss"][-1] if result.record["history"]["loss"] else float("nan"),
               iterations=result.record["iterations_run"], seconds=time.perf_counter() - started,
               device=result.record["device"])
    if masks:
        scores = score_run(result.labels, masks)
        row.update({key: scores[key] for key in SCORE_COLUMNS})
        row.update({f"best_iou_{group}": iou for group, iou in scores["best_iou"].items()})
    return dict(row=row, preview=result.labels[preview].copy())


def run_sweep(ct, output, grid: dict, overrides: Optional[dict] = None, slice_index: Optional[int] = None,
              reference=None, names=None, spacing=None, dl_info=None, series=None, use_ray: bool = True,
              address: Optional[str] = None, cpus_per_task: float = 1, gpus_per_task: Optional[float] = None,
              quiet: bool = False) -> dict:
    from ..io.readers import read_volume, show_notes
    from .tasks import run_tasks

    overrides = {k: v for k, v in (overrides or {}).items() if k not in ("layers", "theta", "mu")}
    base = Settings(**overrides)
    output = check_output_folder(output, "the sweep's table and montages")
    volume = read_volume(ct, spacing=spacing, dl_info=dl_info, series=series)
    depth = volume.shape[0]
    if slice_index is not None and not 0 <= slice_index < depth:
        raise InputError(f"--slice {slice_index} is outside the CT's {depth} axial slices: give 0 to {depth - 1}")
    masks, inputs = None, list(volume.files)
    if reference is not None:
        one_slice = None if slice_index is None else (slice_index, slice_index + 1)
        loaded = load_reference(reference, names, volume, slices=one_slice,
                                min_voxels=1 if slice_index is not None else MIN_GROUP_VOXELS)
        masks, inputs = loaded.groups.masks, inputs + loaded.files
    written = {**{f"sweep's {k}": output / f for k, f in FILES.items()},
               **{f"sweep's montage for M={m}": montage_path(output, m) for m in grid["layers"]}}
    check_no_clash(written, inputs, "choose another output folder with -o")
    show_notes(volume)
    if slice_index is not None:
        volume = volume.slab(slice_index, slice_index + 1)
    preview = 0 if slice_index is not None else volume.shape[0] // 2
    columns = BASE_COLUMNS + ((SCORE_COLUMNS + tuple(f"best_iou_{g}" for g in masks)) if masks else ())
    manifest = dict(kind="sweep", ct=str(Path(ct).resolve()), slice=slice_index,
                    reference=str(Path(reference).resolve()) if reference else None,
                    settings={k: v for k, v in base.as_dict().items() if k not in ("layers", "theta", "mu")})
    log = ResultLog(output / FILES["csv"], columns, ("layers", "theta", "mu"), manifest)
    done = log.done()
    points = [point_key(m, t, u) for m in grid["layers"] for t in grid["theta"] for u in grid["mu"]]
    tasks = {key: dict(settings=replace(base, layers=int(key[0]), theta=float(key[1]), mu=float(key[2])))
             for key in points if key not in done}
    if not quiet:
        print(f"ctseg: {len(points)} grid points: {len(tasks)} to run, {len(points) - len(tasks)} already in "
              f"{log.path}", flush=True)

    def on_result(key, value):
        preview_path(output, key).parent.mkdir(parents=True, exist_ok=True)
        np.save(preview_path(output, key), value["preview"])
        log.append(value["row"])

    report = run_tasks(run_point, tasks, on_result, shared=dict(volume=volume, masks=masks, preview=preview),
                       use_ray=use_ray, address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                       device=base.device, quiet=quiet, what="grid points")
    title = f"{Path(ct).name}, axial slice {slice_index if slice_index is not None else preview}"
    paths = write_report(output, log.rows(), grid, volume.hu[preview], volume.spacing, title, base, report,
                         volume.direction)
    return dict(paths=paths, report=report, rows=log.rows())


def montage_path(output: Path, layers) -> Path:
    return output / f"montage_M{layers}.png"


def preview_path(output: Path, key: tuple) -> Path:
    return output / "runs" / f"M{key[0]}_theta{key[1]}_mu{key[2]}.npy"


def write_report(output: Path, rows: list, grid: dict, hu: np.ndarray, spacing, title: str, base: Settings,
                 report, direction=None) -> dict:
    """The sweep's markdown table and one montage per M of the stored slice `hu` (drawn in radiological
    convention for the CT's `direction`, io.orientation) with every grid point's labels."""
    from ..io.writers import atomic_output
    from .figures import draw_montage, save_figure

    wanted = {point_key(m, t, u) for m in grid["layers"] for t in grid["theta"] for u in grid["mu"]}
    rows = sorted((r for r in rows if (r["layers"], r["theta"], r["mu"]) in wanted),
                  key=lambda r: (int(r["layers"]), float(r["theta"]), float(r["mu"])))
    paths = {"csv": output / FILES["csv"], "markdown": output / FILES["markdown"]}
    with atomic_output(paths["markdown"]) as tmp:
        tmp.write_text(markdown(rows, title, base, report), encoding="utf-8")
    for m in grid["layers"]:
        panels = {}
        for theta in grid["theta"]:
            for mu in grid["mu"]:
                path = preview_path(output, point_key(m, theta, mu))
                panels[(theta, mu)] = np.load(path) if path.exists() else None
        figure = draw_montage(hu, panels, grid["theta"], grid["mu"], spacing, f"{title}\nM = {m}; θ in rows, μ in "
                              f"columns; T = {base.iterations}, {base.variant}, {base.mode} mode", direction)
        paths[f"montage M={m}"] = save_figure(figure, montage_path(output, m))
    return paths


def markdown(rows: list, title: str, base: Settings, report) -> str:
    scored = bool(rows) and "mean_best_iou" in rows[0]
    header = ["M", "θ", "μ", "labels", "final loss", "iterations", "s"]
    if scored:
        header += ["mean best IoU", "Hungarian IoU", "adjacent ARI", "identical fraction"]
    lines = [f"# Sweep: {title}", "", f"{len(rows)} runs; other settings: {base.variant}, {base.mode} mode, "
             f"p={base.channels}, q={base.q}, T={base.iterations}, lr {base.lr:g}, seed {base.seed}. "
             f"Ran on {report.where or 'nothing new'}.", "",
             "| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for r in rows:
        cells = [r["layers"], r["theta"], r["mu"], r["labels"], f"{float(r['final_loss']):.4f}", r["iterations"],
                 f"{float(r['seconds']):.1f}"]
        if scored:
            cells += [f"{float(r[k]):.3f}" if r[k] not in ("", "nan") else "n/a" for k in SCORE_COLUMNS]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if scored and rows:
        best = max(rows, key=lambda r: float(r["mean_best_iou"]))
        lines += ["", f"Best mean best-match IoU: {float(best['mean_best_iou']):.3f} at M={best['layers']}, "
                      f"θ={best['theta']}, μ={best['mu']}."]
    if report.failed:
        lines += ["", "Failed after one retry (rerun to try them again):", ""]
        lines += [f"- M={k[0]}, θ={k[1]}, μ={k[2]}: {error}" for k, error in report.failed.items()]
    return "\n".join(lines) + "\n"
