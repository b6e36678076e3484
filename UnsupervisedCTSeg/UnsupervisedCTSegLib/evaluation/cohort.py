"""`ctseg batch`: every series of a cohort segmented once, resumably, into one table and one picture.

Why: a researcher with hundreds of studies otherwise writes a shell loop around `ctseg segment`,
restarts it by hand after a crash and merges the run records with a script of their own. Here the
inputs are found (files, DICOM study folders with all their series, DeepLesion PNG series, or a
manifest), each series is one task on Ray or in this process (evaluation.tasks: a failed series is
retried once, then reported, and the others go on), and each writes the usual outputs into
DIR/<id>/ through the same `segment` and `write_outputs` a single run uses.

A rerun skips a series whose run record matches its input (files, sizes and modification times)
and its settings, and redoes one whose outputs are missing or half-written. DIR/cohort.csv and
cohort.json hold one row per series and label (tissue name, ml, mean and sd HU, voxels) plus the
series' geometry, device, seconds and status; DIR/cohort.png shows tissue volumes across the cohort
and the series that stand out.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional

from ..engine.errors import InputError
from ..engine.settings import Settings

FILES = {"csv": "cohort.csv", "json": "cohort.json", "picture": "cohort.png"}
COLUMNS = ("series", "status", "reason", "source", "label", "tissue", "volume_ml", "mean_hu", "sd_hu", "voxels",
           "shape_zyx", "spacing_xyz", "device", "seconds")
LABELMAP = "labels.nrrd"
FEW_LABELS = 3  # a series with fewer labels than minLabels' default stands out in the picture


def find_series(inputs, spacing=None) -> dict:
    """{stable id: {"source": path, "series": UID or None, "spacing": (x, y, z) or None}} for every
    series among `inputs`: image files, DICOM folders (each series in them and in their
    subfolders), folders of DeepLesion PNG slices, and CSV manifests (columns id, path and
    optionally spacing as "x y z")."""
    from ..io.dicomseries import series_in
    from ..io.readers import ITK_SUFFIXES, check_only_files

    found = {}

    def add(name, source, uid=None, own_spacing=None):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "series"
        key, n = base, 2
        while key in found:
            key, n = f"{base}_{n}", n + 1
        found[key] = {"source": str(source), "series": uid, "spacing": own_spacing or spacing}

    def visit(folder: Path, name: str):
        check_only_files(folder)
        series = series_in(folder)
        for number, (uid, files) in enumerate(sorted(series.items()), start=1):
            add(f"{name}_s{number}" if len(series) > 1 else name, folder, uid)
        if not series and any(p.suffix.lower() == ".png" for p in folder.iterdir()):
            add(name, folder)
        images = [] if series else sorted(p for p in folder.iterdir() if p.is_file()
                                          and p.name.lower().endswith(ITK_SUFFIXES))
        for image in images:  # image files in a folder without DICOM (beside DICOM they are its labels)
            add(image.name.split(".")[0], image)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            visit(sub, f"{name}_{sub.name}")

    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists():
            raise InputError(f"'{path}' does not exist: check the path (and that the drive is mounted)")
        if path.is_dir():
            visit(path, path.name)
        elif path.suffix.lower() == ".csv":
            for row in _manifest(path):
                add(row["id"], row["path"], None, row["spacing"])
        elif path.name.lower().endswith(ITK_SUFFIXES + (".dcm", ".png")):
            stem = path.name.split(".")[0]
            add(stem, path)
        else:
            raise InputError(f"cannot read '{path.name}': give image files, DICOM or PNG folders, or a .csv manifest")
    if not found:
        raise InputError("no series found among the inputs: give image files, DICOM study folders, DeepLesion PNG "
                         "folders or a manifest")
    return found


def _manifest(path: Path) -> list:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"id", "path"} <= set(rows[0]):
        raise InputError(f"manifest '{path}' needs the columns id and path (and optionally spacing): fix its header")
    out = []
    for row in rows:
        source = Path(row["path"])
        source = source if source.is_absolute() else path.parent / source
        spacing = tuple(float(v) for v in row["spacing"].split()) if row.get("spacing") else None
        out.append({"id": row["id"], "path": source, "spacing": spacing})
    return out


def input_fingerprint(source: str) -> str:
    """Names, sizes and modification times of the files a series is read from: what a rerun compares."""
    path = Path(source)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    text = "\n".join(f"{p.name}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in files)
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


def segment_one(source: str, series: Optional[str], spacing, output: str, overrides: dict) -> dict:
    """One series (a Ray task): read, segment, write DIR/<id>/labels.* ; the run record's summary."""
    from ..engine.run import segment
    from ..io.outputs import write_outputs
    from ..io.readers import read_volume

    volume = read_volume(source, spacing=spacing, series=series)
    result = segment(volume, Settings(**overrides))
    result.record["input"]["fingerprint"] = input_fingerprint(source)
    if volume.notes:
        result.record["warnings"] = list(volume.notes)
    write_outputs(Path(output) / LABELMAP, result, title=Path(source).name)
    return summary(result.record)


def summary(record: dict) -> dict:
    return {"shape_zyx": record["input"]["shape_zyx"], "spacing_xyz": record["input"]["spacing_xyz"],
            "device": record["device"], "seconds": record["wall_seconds"], "labels": record["labels"]}


def finished(folder: Path, source: str, overrides: dict) -> Optional[dict]:
    """The summary of a complete earlier run of this series with these settings, else None."""
    from ..io.outputs import output_paths

    paths = output_paths(folder / LABELMAP)
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        record = json.loads(paths["record"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same_input = record.get("input", {}).get("fingerprint") == input_fingerprint(source)
    same_settings = record.get("settings") == Settings(**overrides).as_dict()
    return summary(record) if same_input and same_settings else None


def run_batch(inputs, output, overrides: Optional[dict] = None, spacing=None, use_ray: bool = True,
              address=None, cpus_per_task: float = 1, gpus_per_task=None, quiet: bool = False) -> dict:
    """Segment every series of `inputs` into `output`; returns {"paths", "rows", "report", "skipped"}."""
    from ..io.writers import atomic_output, check_output_folder
    from .tasks import run_tasks

    overrides = dict(overrides or {})
    Settings(**overrides).validate()  # bad settings: refused before any series is read
    output = check_output_folder(output, "the cohort's series, table and picture")
    series = find_series(inputs, spacing)
    real_output = os.path.realpath(output)
    for info in series.values():  # a folder read as a series (DICOM, PNG slices) must not gain files
        folder = os.path.realpath(info["source"])
        if not os.path.isdir(folder):
            continue
        if real_output == folder or real_output.startswith(folder + os.sep):
            raise InputError(f"the output folder '{output}' lies in the input '{info['source']}', whose folder would "
                             "then hold outputs: choose an output folder outside the inputs")
    summaries, skipped, tasks = {}, [], {}
    for key, info in series.items():
        done = finished(output / key, info["source"], overrides)
        if done is not None:
            summaries[key] = done
            skipped.append(key)
        else:
            tasks[key] = dict(source=info["source"], series=info["series"], spacing=info["spacing"],
                              output=str(output / key))
    if skipped and not quiet:
        print(f"ctseg: {len(skipped)} of {len(series)} series already done with these settings: skipped")

    def on_result(key, value):
        summaries[key] = value
        if not quiet:
            print(f"ctseg: {key}: {len(value['labels'])} labels in {value['seconds']:.1f} s", flush=True)

    report = run_tasks(segment_one, tasks, on_result, shared={"overrides": overrides}, use_ray=use_ray,
                       address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                       device=Settings(**overrides).device, quiet=quiet, what="series")
    rows = cohort_rows(series, summaries, report.failed)
    paths = {kind: output / name for kind, name in FILES.items()}
    with atomic_output(paths["csv"]) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    with atomic_output(paths["json"]) as temporary:
        Path(temporary).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    draw_cohort(paths["picture"], rows)
    return {"paths": paths, "rows": rows, "report": report, "skipped": skipped}


def cohort_rows(series: dict, summaries: dict, failed: dict) -> list:
    """One row per series and label; a failed series has one row with its reason."""
    rows = []
    for key, info in series.items():
        base = {"series": key, "source": info["source"]}
        if key not in summaries:
            rows.append({**base, "status": "failed", "reason": failed.get(key, "not run")})
            continue
        done = summaries[key]
        spacing = done["spacing_xyz"]
        voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
        geometry = {"shape_zyx": " ".join(map(str, done["shape_zyx"])),
                    "spacing_xyz": " ".join(f"{s:g}" for s in spacing), "device": done["device"],
                    "seconds": done["seconds"]}
        for label in done["labels"]:
            rows.append({**base, "status": "done", "reason": "", "label": label["label"], "tissue": label["name"],
                         "volume_ml": round(label["voxels"] * voxel_ml, 2), "mean_hu": round(label["mean_hu"], 1),
                         "sd_hu": round(label["sd_hu"], 1), "voxels": label["voxels"], **geometry})
    return rows


def draw_cohort(path, rows: list) -> None:
    """Tissue volumes (ml, log scale) across the cohort, one dot per series and tissue band (its parts
    summed), and the series that stand out: failed, or fewer than FEW_LABELS labels."""
    from .figures import draw_volumes, save_figure

    done = [r for r in rows if r["status"] == "done"]
    totals = {}  # (band, series) -> ml: the parts of one tissue in one series summed
    labels_per_series = {}
    for r in done:
        key = (_band(r["tissue"]), r["series"])
        totals[key] = totals.get(key, 0.0) + r["volume_ml"]
        labels_per_series[r["series"]] = labels_per_series.get(r["series"], 0) + 1
    failed = sorted({r["series"] for r in rows if r["status"] == "failed"})
    few = sorted(s for s, n in labels_per_series.items() if n < FEW_LABELS)
    notes = [f"{len({r['series'] for r in rows})} series"]
    if failed:
        notes.append("failed: " + ", ".join(failed[:5]) + ("..." if len(failed) > 5 else ""))
    if few:
        notes.append(f"under {FEW_LABELS} labels: " + ", ".join(few[:5]))
    bands = sorted({band for band, _ in totals})
    columns = {band: [ml for (b, _), ml in totals.items() if b == band and ml > 0] for band in bands}
    save_figure(draw_volumes(columns, "volume per series (ml)", "; ".join(notes)), path)


def _band(name: str) -> str:
    """A tissue name without its place or number ("fat 2", "soft tissue, right front" -> "fat", "soft
    tissue"), so one HU band is one column."""
    return re.sub(r"\s+\d+$", "", str(name).split(",")[0].strip())
