"""Achieved FLOP/s of a training iteration as a share of this machine's matrix-multiply peak.

Usage: python benchmarks/flops.py [--device cpu|cuda] [--only NAME ...] [--iterations 6]

The peak is measured in the same run: square float32 torch.mm of a few sizes, the best median.
The work of one iteration is counted by torch's FlopCounterMode around two engine runs, with T=2
and T=1 iterations (minLabels 1, so neither stops early): everything else in a run (the body
mask, k-means, the labelling pass) is the same in both, so the difference is one iteration's
convolutions and matrix products, forward and backward. The time of an iteration is the median
gap between consecutive progress reports of a run with --iterations iterations, the first two
left out. Element-wise work (BatchNorm, ReLU, the losses) costs time but is not counted as FLOPs,
so the share is what the whole iteration achieves, not the convolutions alone.
"""
import argparse
import statistics
import time

import torch
from iteration_timing import phantom_crop, seconds_per_iteration
from torch.utils.flop_counter import FlopCounterMode

from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import STUDY_PRESET, Settings
from UnsupervisedCTSegLib.engine.volume import Volume

PAPER_2D = dict(STUDY_PRESET, layers=2, classes=0, theta=1.0, mu=1.0, windows=("wide", "soft", "bone"))
CONFIGURATIONS = {  # name -> (settings overrides, slices, rows, columns)
    "reference image: M=2, p=q=100, one 481x321 slice": (PAPER_2D, 1, 321, 481),
    "study: M=9, p=q=100, θ=1.5, μ=1, one 512x512 slice": (STUDY_PRESET, 1, 512, 512),
    "default: volume mode, 4 slices x 128x128 crops": ({}, 8, 512, 512),
}


def matmul_peak(device: torch.device) -> tuple:
    """(best FLOP/s, size) of square float32 matrix products on `device`."""
    best = (0.0, 0)
    for n in (1024, 2048, 3072, 4096):
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        torch.mm(a, b)
        runs = []
        for _ in range(5):
            _sync(device)
            started = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            runs.append(time.perf_counter() - started)
        best = max(best, (2 * n ** 3 / statistics.median(runs), n))
    return best


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def iteration_flops(volume: Volume, values: dict) -> float:
    counts = []
    for iterations in (1, 2):
        counter = FlopCounterMode(display=False)
        with counter:
            segment(volume, Settings(**dict(values, iterations=iterations, min_labels=1)))
        counts.append(counter.get_total_flops())
    return float(counts[1] - counts[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--only", nargs="*", help="configurations whose name starts with one of these words")
    parser.add_argument("--iterations", type=int, default=6)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no GPU; use --device cpu")
    if args.iterations < 4:
        raise SystemExit("--iterations: use at least 4 (the first two are not timed)")
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    peak, size = matmul_peak(device)
    print(f"{name}; torch {torch.__version__}; float32 matmul peak {peak / 1e9:.1f} GFLOP/s (n={size})\n", flush=True)
    print("| configuration | GFLOP per iteration | s per iteration | GFLOP/s | share of matmul peak |\n|---|---:|---:|---:|---:|")
    for label, (overrides, slices, rows, columns) in CONFIGURATIONS.items():
        if args.only and not any(label.startswith(word) for word in args.only):
            continue
        values = dict(overrides, device=args.device)
        volume = phantom_crop(slices, rows, columns)
        flops = iteration_flops(volume, values)
        seconds = seconds_per_iteration(volume, Settings(**dict(values, iterations=args.iterations, min_labels=1)))
        print(f"| {label} | {flops / 1e9:.1f} | {seconds:.3f} | {flops / seconds / 1e9:.1f} | "
              f"{flops / seconds / peak:.0%} |", flush=True)


if __name__ == "__main__":
    main()
