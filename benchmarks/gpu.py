"""Everything GPU-related in one run: time, memory, CPU-GPU agreement and bf16, in one table.

Usage: python benchmarks/gpu.py [--size 512] [--slices 300] [--study-slices 4] [--study-iterations 1000]
                                [--device auto] [--agreement-slices 8]

On the phantom (`--slices` of `--size`^2):
- the default: wall time, seconds per training iteration, peak memory (GPU: max allocated; CPU:
  the process's peak RSS);
- the study preset (slice mode, M=9, p=q=100, T per slice) on `--study-slices` slices, its time
  per slice scaled to 300 slices: one network per slice, trained one slice after another;
- label agreement between the CPU and the device at the same seed on `--agreement-slices` slices
  (share of voxels with the same label; skipped when the device is the CPU);
- the default under bf16 autocast: its time and its agreement with fp32 on the device.
Run it whenever a GPU is at hand; `--size 32 --slices 2 --study-slices 1 --study-iterations 2
--device cpu` is the quick check the tests run.
"""
import argparse
import resource
import time

import numpy as np
import torch

from UnsupervisedCTSegLib.engine.device import describe, pick_device
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import STUDY_PRESET, Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.phantom import make_phantom


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(volume, settings, device, bf16: bool = False):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        result = segment(volume, settings)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - started


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--study-slices", type=int, default=4)
    parser.add_argument("--study-iterations", type=int, default=STUDY_PRESET["iterations"])
    parser.add_argument("--agreement-slices", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=0, help="override the default's T (0: keep it)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    phantom, _, _ = make_phantom(slices=args.slices, size=args.size)
    extra = {"iterations": args.iterations} if args.iterations else {}
    default = Settings(device=str(device), **extra)
    print(f"device: {describe(device)}; phantom {args.slices} x {args.size} x {args.size}\n")
    print("| measurement | value |")
    print("|---|---:|")
    result, seconds = timed(phantom, default, device)
    iterations = result.record["iterations_run"]
    print(f"| default, {args.slices} slices: wall s | {seconds:.1f} |")
    print(f"| default: iterations run | {iterations} |")
    print(f"| default: peak memory MB | {peak_memory_mb(device):.0f} |")
    _, bf16_seconds = timed(phantom, default, device, bf16=True)
    print(f"| default under bf16 autocast: wall s | {bf16_seconds:.1f} |", flush=True)

    part = Volume(phantom.hu[:args.agreement_slices].copy(), phantom.spacing, phantom.origin, phantom.direction)
    fp32, _ = timed(part, default, device)
    bf16, _ = timed(part, default, device, bf16=True)
    print(f"| bf16 vs fp32 label agreement ({len(part.hu)} slices) | {agreement(fp32.labels, bf16.labels):.4f} |")
    if device.type != "cpu":
        cpu, _ = timed(part, Settings(device="cpu", **extra), torch.device("cpu"))
        print(f"| CPU vs {device.type} label agreement, same seed | {agreement(cpu.labels, fp32.labels):.4f} |")

    study = Settings(**{**STUDY_PRESET, "iterations": args.study_iterations, "device": str(device)})
    few = Volume(phantom.hu[:args.study_slices].copy(), phantom.spacing, phantom.origin, phantom.direction)
    result, seconds = timed(few, study, device)
    run = result.record["iterations_run"]
    print(f"| study preset: s per iteration | {seconds / max(run, 1):.4f} |")
    print(f"| study preset: s per slice (T = {args.study_iterations}, minLabels may stop it earlier) | "
          f"{seconds / args.study_slices:.2f} |")
    print(f"| study preset: 300 slices one after another, s (scaled) | {seconds / args.study_slices * 300:.0f} |")
    print(f"| study preset: peak memory MB | {peak_memory_mb(device):.0f} |")


if __name__ == "__main__":
    main()
