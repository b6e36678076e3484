"""Wall time and peak memory of one default run on a 512x512xN CT-like volume (the built-in phantom).

Usage: python benchmarks/volume_time_memory.py [--slices 64] [--size 512] [--preset study]
                                              [--iterations T] [--set NAME=VALUE ...] [--estimate-only]
Peak RSS is the whole process's high-water mark, phantom generation included. The run time the
CLI would announce beforehand (estimate.estimate_seconds) is printed first; --estimate-only stops
there, for runs too long to wait for (the study preset's 1000 iterations per slice on a CPU).
"""
import argparse
import resource
import time

from UnsupervisedCTSegLib.engine.estimate import estimate_seconds
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import STUDY_PRESET, Settings
from UnsupervisedCTSegLib.io.phantom import make_phantom


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--preset", choices=["default", "study"], default="default")
    parser.add_argument("--iterations", type=int, default=None, help="override T (the study preset's 1000 per slice takes days on a CPU)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="override settings, e.g. --set position=0.5 split_mm=0 (numbers only)")
    parser.add_argument("--estimate-only", action="store_true", help="print the estimated run time and stop")
    args = parser.parse_args()
    volume, _, _ = make_phantom(slices=args.slices, size=args.size)
    print(f"volume {volume.shape}, peak RSS after loading {peak_rss_mb():.0f} MB", flush=True)
    values = dict(STUDY_PRESET) if args.preset == "study" else {}
    if args.iterations:
        values["iterations"] = args.iterations
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        values[name] = float(value) if "." in value or "e" in value else int(value)
    settings = Settings(**values)
    started = time.perf_counter()
    estimate = estimate_seconds(volume, settings)
    print(f"estimated run time {estimate:.0f} s ({estimate / 3600:.1f} h), from a {time.perf_counter() - started:.1f} s "
          f"calibration", flush=True)
    if args.estimate_only:
        return
    started = time.perf_counter()
    result = segment(volume, settings)
    wall = time.perf_counter() - started
    print(f"{args.preset}: {wall:.1f} s, {result.record['iterations_run']} iterations, {len(result.tissues)} labels, "
          f"device {result.record['device']}, peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
