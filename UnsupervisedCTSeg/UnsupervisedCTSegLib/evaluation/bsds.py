"""`ctseg evaluate-bsds`: the papers' natural-image benchmark (BSDS500), scored as the papers scored it.

Every model runs on every colour image through engine.segment, one Ray task per (model, image).
Two scores per image:
- the TIP 2020 protocol: predicted clusters are split into 4-connected segments; each ground-truth
  segment gets the maximum IoU over predicted segments. "All" averages over every segment of every
  annotation of every image, "Fine" over each image's annotation with the most segments, "Coarse"
  over the one with the fewest. Each row keeps the sums and counts, so the pooled means are exact.
- the CT study's per-image score: the best, over an image's annotations, of the mean segment IoU
  (on the same split segments), drawn as a box plot per model.
Never imports slicer or qt.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import InputError
from ..engine.settings import PAPERS, Settings
from ..engine.volume import Volume
from ..io.writers import check_output_folder
from .metrics import segment_best_ious, split_components
from .resultlog import ResultLog

SPLITS = ("train", "val", "test")

# Every model starts from the papers' settings (engine.settings.PAPERS) on the image's RGB / 255.
# What defines each model; applied after the user's overrides. The superpixel model is the 2018
# paper's: SLIC K=10,000 (compactness 100 on Lab, as its code) and no continuity loss.
MODELS = {
    "proposed": dict(variant="proposed"),
    "superpixel": dict(variant="superpixel", mu=0.0, superpixels=10000, compactness=100.0),
    "nobn": dict(variant="nobn"),
    "kmeans3": dict(variant="kmeans", k=3),
    "kmeans15": dict(variant="kmeans", k=15),
}
PUBLISHED = {  # Kim, Kanezaki, Tanaka, IEEE TIP 2020, BSDS500 test set: All, Fine, Coarse mIoU
    "proposed": (0.3050, 0.2592, 0.3739),
    "blank": (0.0458, 0.0249, 0.1001),
}
COLUMNS = ("model", "image", "height", "width", "clusters", "segments", "all_sum", "all_n", "fine_sum", "fine_n",
           "coarse_sum", "coarse_n", "study", "iterations", "seconds", "device")
FILES = {"csv": "bsds_per_image.csv", "markdown": "bsds_summary.md", "plot": "bsds_boxplot.png"}


def model_settings(model: str, overrides: Optional[dict] = None) -> Settings:
    if model not in MODELS:
        raise InputError(f"unknown model '{model}': choose from {', '.join(MODELS)}")
    return Settings(**{**PAPERS, **(overrides or {}), **MODELS[model]})


def parse_models(text: str) -> list:
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models or len(set(models)) != len(models):
        raise InputError(f"--models '{text}' names no model or one twice: give a comma list from {','.join(MODELS)}")
    for model in models:
        model_settings(model)
    return models


def find_split(root, split: str) -> tuple:
    """(images folder, ground-truth folder) of `split` under a BSDS500 folder in its standard layout."""
    if split not in SPLITS:
        raise InputError(f"unknown split '{split}': choose train, val or test")
    root = Path(root)
    for data in (root, root / "data", root / "BSDS500" / "data"):
        images, truth = data / "images" / split, data / "groundTruth" / split
        if images.is_dir() and truth.is_dir():
            return images, truth
    raise InputError(f"no BSDS500 '{split}' split under {root}: give the folder that holds "
                     f"data/images/{split} and data/groundTruth/{split} (the standard BSDS500 layout)")


def list_images(root, split: str, limit: Optional[int] = None) -> list:
    """[(image id, .jpg path, .mat path)] sorted by id; the first `limit` when given."""
    images, truth = find_split(root, split)
    pairs = [(p.stem, p, truth / f"{p.stem}.mat") for p in sorted(images.glob("*.jpg"))]
    pairs = [pair for pair in pairs if pair[2].exists()]
    if not pairs:
        raise InputError(f"{images} has no .jpg image with a ground-truth .mat in {truth}")
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit {limit}: give at least 1 image")
        pairs = pairs[:limit]
    return pairs


def read_image(path) -> Volume:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"cannot read the image {path}: {error}") from error
    return Volume.from_photo(rgb, source=str(path))


def read_ground_truth(path) -> list:
    """The human annotations of one image: a list of (H, W) integer segment maps."""
    from scipy.io import loadmat

    try:
        cells = loadmat(str(path))["groundTruth"]
        return [np.asarray(cells.flat[k]["Segmentation"][0, 0]).astype(np.int32) for k in range(cells.size)]
    except (OSError, KeyError, ValueError, IndexError, TypeError) as error:
        raise InputError(f"{path} is not a BSDS500 ground-truth file (a groundTruth cell array of structs with "
                         f"Segmentation): {error}") from error


def image_scores(clusters: np.ndarray, annotations: list) -> dict:
    """Both protocols' numbers for one predicted label map against one image's annotations."""
    segments = split_components(clusters)
    per_annotation = []
    for truth in annotations:
        if truth.shape != segments.shape:
            raise InputError(f"an annotation is {truth.shape}, the prediction {segments.shape}")
        per_annotation.append(segment_best_ious(segments, truth))
    sizes = [len(np.unique(truth)) for truth in annotations]
    fine, coarse = per_annotation[int(np.argmax(sizes))], per_annotation[int(np.argmin(sizes))]
    return dict(segments=int(segments.max()) + 1,
                all_sum=float(sum(s.sum() for s in per_annotation)), all_n=int(sum(s.size for s in per_annotation)),
                fine_sum=float(fine.sum()), fine_n=int(fine.size), coarse_sum=float(coarse.sum()),
                coarse_n=int(coarse.size), study=float(max(s.mean() for s in per_annotation)))


def run_image(image_path: str, truth_path: str, model: str, overrides: dict) -> dict:
    """One Ray task: segment one image with one model and score it. Returns the CSV row and the labels."""
    from ..engine.run import segment

    volume = read_image(image_path)
    annotations = read_ground_truth(truth_path)
    started = time.perf_counter()
    result = segment(volume, model_settings(model, overrides))
    seconds = time.perf_counter() - started
    labels = result.labels[0]
    row = dict(model=model, image=Path(image_path).stem, height=labels.shape[0], width=labels.shape[1],
               clusters=len(result.tissues), iterations=result.record["iterations_run"], seconds=seconds,
               device=result.record["device"], **image_scores(labels, annotations))
    return dict(row=row, labels=labels)


def evaluate_bsds(root, output, split: str = "test", models=("proposed",), limit: Optional[int] = None,
                  overrides: Optional[dict] = None, use_ray: bool = True, address: Optional[str] = None,
                  cpus_per_task: float = 1, gpus_per_task: Optional[float] = None, quiet: bool = False) -> dict:
    """Run every (model, image) not yet in OUTPUT's CSV, then write the table and the plot from all rows."""
    overrides = dict(overrides or {})
    for model in models:
        model_settings(model, overrides)  # refuse bad settings before any work
    output = check_output_folder(output, "the evaluation's tables and plot")
    images = list_images(root, split, limit)
    log = ResultLog(output / FILES["csv"], COLUMNS, ("model", "image"),
                    dict(kind="bsds", split=split, overrides=overrides))
    done = log.done()
    tasks = {(model, image_id): dict(image_path=str(image), truth_path=str(truth), model=model)
             for model in models for image_id, image, truth in images if (model, image_id) not in done}
    if not quiet:
        print(f"ctseg: {len(images)} {split} images x {len(models)} models: {len(tasks)} to run, "
              f"{len(images) * len(models) - len(tasks)} already in {log.path}", flush=True)

    def on_result(key, value):
        save_labels(output / "labels" / key[0] / f"{key[1]}.png", value["labels"])
        log.append(value["row"])

    from .tasks import run_tasks

    report = run_tasks(run_image, tasks, on_result, shared=dict(overrides=overrides), use_ray=use_ray,
                       address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                       device=overrides.get("device", "auto"), quiet=quiet, what="images")
    ids = [image_id for image_id, _, _ in images]
    blank = blank_scores([truth for _, _, truth in images])
    summary = summarise(log.rows(), models, ids, blank)
    paths = write_report(output, summary, dict(split=split, images=len(images), overrides=overrides,
                                               where=report.where, failed=report.failed))
    return dict(summary=summary, paths=paths, report=report)


def save_labels(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    from ..io.writers import atomic_output

    with atomic_output(path) as tmp:
        Image.fromarray(labels.astype(np.uint8 if labels.max() < 256 else np.uint16)).save(tmp, format="PNG")


def blank_scores(truth_paths) -> dict:
    """The scores of a one-label prediction on these images: the floor every model must clear."""
    rows = []
    for path in truth_paths:
        annotations = read_ground_truth(path)
        rows.append(image_scores(np.zeros(annotations[0].shape, np.int32), annotations))
    return _pooled(rows)


def _pooled(rows) -> dict:
    total = {k: sum(float(r[k]) for r in rows) for k in ("all_sum", "all_n", "fine_sum", "fine_n", "coarse_sum",
                                                         "coarse_n")}
    study = np.array([float(r["study"]) for r in rows]) if rows else np.array([np.nan])
    return dict(images=len(rows), all=total["all_sum"] / max(total["all_n"], 1),
                fine=total["fine_sum"] / max(total["fine_n"], 1), coarse=total["coarse_sum"] / max(total["coarse_n"], 1),
                study_mean=float(np.mean(study)), study_median=float(np.median(study)), study=study.tolist())


def summarise(rows, models, image_ids, blank: dict) -> dict:
    """Pooled scores per model over the requested images that have a row, plus the blank floor."""
    wanted = set(image_ids)
    summary = {}
    for model in models:
        mine = [r for r in rows if r["model"] == model and r["image"] in wanted]
        pooled = _pooled(mine)
        for key in ("clusters", "segments", "iterations", "seconds"):
            pooled[key] = float(np.mean([float(r[key]) for r in mine])) if mine else float("nan")
        summary[model] = pooled
    summary["blank"] = blank
    return summary


def markdown(summary: dict, info: dict) -> str:
    lines = [f"# BSDS500 {info['split']}: {info['images']} images", "",
             "TIP 2020 protocol (predictions split into 4-connected segments; max IoU per ground-truth segment) "
             "and the CT study's per-image score (best annotation's mean segment IoU).", "",
             "| model | images | All | Fine | Coarse | published All / Fine / Coarse | per-image mean | per-image "
             "median | clusters | segments | iterations | s/image |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for model, s in summary.items():
        published = " / ".join(f"{v:.4f}" for v in PUBLISHED[model]) if model in PUBLISHED else ""
        extra = ("| | | |" if model == "blank" else
                 f"| {s['clusters']:.1f} | {s['segments']:.0f} | {s['iterations']:.0f} | {s['seconds']:.1f} |")
        lines.append(f"| {model} | {s['images']} | {s['all']:.4f} | {s['fine']:.4f} | {s['coarse']:.4f} | {published} "
                     f"| {s['study_mean']:.4f} | {s['study_median']:.4f} {extra}")
    lines += ["", "The published numbers (Kim, Kanezaki, Tanaka 2020) are for all 200 test images (the proposed method "
              "at T=1000); the blank row is computed here on the same images as the models.",
              "", f"Settings: the reference code's defaults for natural images ({_settings_text(info['overrides'])}).",
              f"Ran on {info['where'] or 'nothing (all results were already there)'}."]
    if info["failed"]:
        lines += ["", "Failed after one retry (rerun to try them again):", ""]
        lines += [f"- {model} {image}: {error}" for (model, image), error in info["failed"].items()]
    return "\n".join(lines) + "\n"


def _settings_text(overrides: dict) -> str:
    base = dict(PAPERS, **overrides)
    text = (f"M={base['layers']}, p=q={base['channels']}, θ={base['theta']:g}, μ={base['mu']:g}, lr {base['lr']:g}, "
            f"T={base['iterations']}, minLabels {base['min_labels']}")
    return text + (f"; overridden: {', '.join(f'{k}={v}' for k, v in overrides.items())}" if overrides else "")


def write_report(output: Path, summary: dict, info: dict) -> dict:
    from ..io.writers import atomic_output
    from .figures import draw_boxplot, save_figure

    paths = {"csv": output / FILES["csv"], "markdown": output / FILES["markdown"], "plot": output / FILES["plot"]}
    with atomic_output(paths["markdown"]) as tmp:
        tmp.write_text(markdown(summary, info), encoding="utf-8")
    scores = {model: s["study"] for model, s in summary.items() if s["images"]}
    save_figure(draw_boxplot(scores, f"BSDS500 {info['split']}, {info['images']} images: the study's per-image "
                                     "score (x = mean, line = median)"), paths["plot"])
    return paths
