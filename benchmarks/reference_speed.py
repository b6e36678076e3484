"""Seconds per training iteration: ours against the public reference code, side by side, one run.

Usage:
    python benchmarks/reference_speed.py [--tip DIR] [--original DIR] [--iterations 20] [--repeats 3]
                                         [--device cpu|cuda]

--tip and --original are local checkouts of kanezaki/pytorch-unsupervised-segmentation-tip (the
TIP 2020 code: continuity loss, no superpixels) and kanezaki/pytorch-unsupervised-segmentation
(the 2018 code: SLIC superpixels, a per-superpixel Python loop). They are run unmodified, as
their own processes (`python -u demo.py ...`), and never copied here. They need opencv
(`pip install -e ".[bench]"`); their unused `torchvision` import is met by an empty stand-in
module when torchvision is not installed. Without a checkout only our side is timed.

Both sides get the same 481 x 321 image (the size of a BSDS500 image): a slice of the built-in
CT phantom whose three channels are its wide, soft-tissue and bone windows. Ours reads the HU
slice and windows it itself; the reference reads the same windows as an 8-bit PNG. Settings are
the reference's defaults on both sides: M=2 (nConv), p=q=100, lr 0.1, momentum 0.9, θ=μ=1 for
the proposed method; K=10,000 superpixels and no continuity term for the superpixel method;
minLabels 1 so that no side stops early. Ours runs through engine.segment in slice mode, the
papers' protocol. The time of an iteration is the gap between two consecutive progress reports
(ours) or two consecutive printed iteration lines (theirs); the median over iterations 3..T is
taken, then the median over repeats, which alternate between the two sides.

It also times the superpixel refinement alone: the device bincount against the per-superpixel
Python loop it replaces, on the same labels and superpixels.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from iteration_timing import median_gap, phantom_crop, seconds_per_iteration
from PIL import Image

from UnsupervisedCTSegLib.engine.settings import STUDY_PRESET, Settings
from UnsupervisedCTSegLib.engine.superpixels import majority_vote, majority_vote_loop, slic_slices
from UnsupervisedCTSegLib.engine.windows import window_channels

HEIGHT, WIDTH = 321, 481
WINDOWS = ("wide", "soft", "bone")
ITERATION_LINE = re.compile(rb"^\d+ / \d+")
REFERENCE_COMPACTNESS = 100.0  # the 2018 code's SLIC compactness on 0..255 pixel values


def write_png(hu: np.ndarray, path: Path) -> None:
    """The three windows as an 8-bit image, stored so that OpenCV (BGR) reads them in our order."""
    rgb = (window_channels(hu[0], WINDOWS).numpy() * 255).round().astype(np.uint8)  # (3, H, W)
    Image.fromarray(np.moveaxis(rgb[::-1], 0, -1)).save(path)


def our_settings(variant: str, iterations: int, device: str) -> Settings:
    values = dict(STUDY_PRESET, layers=2, channels=100, classes=0, theta=1.0, mu=1.0, lr=0.1, windows=WINDOWS,
                  iterations=iterations, min_labels=1, device=device)
    if variant == "superpixel":
        values.update(variant="superpixel", mu=0.0, superpixels=10000, compactness=REFERENCE_COMPACTNESS / 255)
    return Settings(**values)


def stand_in_modules(folder: Path) -> dict:
    """Environment for the reference process: an empty torchvision if the real one is missing."""
    env = dict(os.environ)
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or built for another torch
        package = folder / "torchvision"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("datasets = transforms = None  # imported, never used\n")
        env["PYTHONPATH"] = os.pathsep.join([str(folder)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def time_reference(demo: Path, png: Path, iterations: int, device: str, workdir: Path, env: dict) -> float:
    """Run the reference demo.py unmodified and time the gaps between its per-iteration lines."""
    args = [sys.executable, "-u", str(demo), "--input", str(png), "--maxIter", str(iterations),
            "--minLabels", "1", "--nChannel", "100", "--nConv", "2", "--lr", "0.1", "--visualize", "0"]
    env = dict(env, CUDA_VISIBLE_DEVICES="") if device == "cpu" else env
    stamps = []
    with subprocess.Popen(args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        for line in proc.stdout:
            if ITERATION_LINE.match(line):
                stamps.append(time.perf_counter())
        err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{demo} failed (exit {proc.returncode}):\n{err[-2000:]}")
    return median_gap(stamps)


def reference_superpixel_count(png: Path, compactness: float = REFERENCE_COMPACTNESS) -> int:
    """SLIC segments the 2018 code gets: OpenCV's BGR pixels, skimage's defaults (Lab conversion)."""
    from skimage.segmentation import slic

    bgr = np.asarray(Image.open(png))[..., ::-1]
    return len(np.unique(slic(bgr, compactness=compactness, n_segments=10000)))


def refinement_speed(hu: np.ndarray, settings: Settings, device: str) -> tuple:
    """(seconds of the Python loop, seconds of majority_vote) on one image's superpixels."""
    segments = slic_slices(window_channels(hu, settings.windows).numpy(), settings.superpixels, settings.compactness)[0]
    labels = np.random.default_rng(0).integers(0, 100, segments.shape)
    started = time.perf_counter()
    expected = majority_vote_loop(labels, segments)
    loop = time.perf_counter() - started
    dev = torch.device(device)
    seg_t, lab_t = torch.from_numpy(segments).to(dev), torch.from_numpy(labels).to(dev)
    majority_vote(lab_t, seg_t, 100)  # warm-up
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        got = majority_vote(lab_t, seg_t, 100).cpu().numpy()
        runs.append(time.perf_counter() - started)
    if not np.array_equal(got, expected):
        raise SystemExit("majority_vote disagrees with the per-superpixel loop")
    return loop, statistics.median(runs), int(segments.max()) + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tip", type=Path, help="checkout of kanezaki/pytorch-unsupervised-segmentation-tip")
    parser.add_argument("--original", type=Path, help="checkout of kanezaki/pytorch-unsupervised-segmentation")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no GPU; use --device cpu")
    for name in ("tip", "original"):
        folder = getattr(args, name)
        if folder is not None and not (folder / "demo.py").is_file():
            raise SystemExit(f"--{name} {folder}: no demo.py there; give the folder of a checkout")

    volume = phantom_crop(1, HEIGHT, WIDTH, size=512)  # the centre of a 512 x 512 phantom slice
    hu = volume.hu
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"image {WIDTH}x{HEIGHT}, 3 channels; {device_name}; torch {torch.__version__}; "
          f"{args.iterations} iterations x {args.repeats} repeats", flush=True)
    pairs = [("proposed", args.tip), ("superpixel", args.original)]
    times = {key: [] for key in ("proposed", "superpixel", "ref proposed", "ref superpixel")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        png = tmp / "slice.png"
        write_png(hu, png)
        theirs = f" (the 2018 code gets {reference_superpixel_count(png)})" if args.original else ""
        env = stand_in_modules(tmp)
        for repeat in range(args.repeats):
            for variant, reference in pairs:
                settings = our_settings(variant, args.iterations, args.device)
                if reference is not None:
                    times[f"ref {variant}"].append(time_reference(reference / "demo.py", png, args.iterations,
                                                                   args.device, tmp, env))
                times[variant].append(seconds_per_iteration(volume, settings))
                line = f"  repeat {repeat + 1} {variant}: ours {times[variant][-1]:.3f} s/iteration"
                if reference is not None:
                    line += f", reference {times['ref ' + variant][-1]:.3f} s/iteration"
                print(line, flush=True)

    print("\n| method | reference s/iteration | ours s/iteration | ours faster by |\n|---|---:|---:|---:|")
    for variant, reference in pairs:
        ours = statistics.median(times[variant])
        if reference is None:
            print(f"| {variant} | (no checkout given) | {ours:.3f} | |")
        else:
            ref = statistics.median(times[f"ref {variant}"])
            print(f"| {variant} | {ref:.3f} | {ours:.3f} | {ref / ours:.2f}x |")

    loop, vote, count = refinement_speed(hu, our_settings("superpixel", 1, args.device), args.device)
    print(f"\nsuperpixel refinement, {count} superpixels{theirs}: Python loop {loop * 1e3:.0f} ms, "
          f"majority_vote {vote * 1e3:.1f} ms, {loop / vote:.0f}x faster")


if __name__ == "__main__":
    main()
