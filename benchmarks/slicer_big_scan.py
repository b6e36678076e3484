"""What a whole-volume run of a big scan costs Slicer's own process: memory and main-thread blocking.

The panel's path on slicer-core: a 512 x 512 x 600 int16 volume node in a real vtkMRMLScene,
panelrun.runInputs -> logic.startRun (the child process segments) -> poll until done -> the result
read back -> logic.applyResult. Measured in this process, which plays Slicer's:

- the memory the runner holds while the child runs (resident set size above the scene's, sampled
  every 10 ms), at its peak while the run starts, and while the child computes;
- each stretch the main thread is blocked: starting the run (writing the volume for the child),
  reading the result back, and putting it into the scene (segments, 3D surfaces).

The child runs k-means (the fastest variant) so that the measurement takes a minute, not an hour;
what is measured here does not depend on the variant.

    cd UnsupervisedCTSeg && python ../benchmarks/slicer_big_scan.py [--slices 600] [--skip-apply]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"))

MIB = 1 << 20


class Sampler:
    """Resident set size of this process every 10 ms, its peak since the last reset."""

    def __init__(self):
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def reset(self) -> int:
        now = self.process.memory_info().rss
        self.peak = now
        return now

    def stop(self):
        self.running = False


def ct_node(scene, slices: int):
    """The project's synthetic abdominal CT (io.phantom) at 512 x 512 x `slices`, int16 as a scanner stores it."""
    from UnsupervisedCTSegLib.slicer.logic import phantomVolumeNode

    return phantomVolumeNode(scene, "big CT", slices=slices, size=512)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--skip-apply", action="store_true", help="stop after reading the result back")
    args = parser.parse_args()

    import slicer

    from UnsupervisedCTSegLib.engine.settings import Settings
    from UnsupervisedCTSegLib.slicer import panelrun
    from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic

    scene = slicer.vtkMRMLScene()
    logic = UnsupervisedCTSegLogic(scene)
    node = ct_node(scene, args.slices)
    input_mib = node.GetImageData().GetPointData().GetScalars().GetNumberOfValues() * 2 / MIB
    sampler = Sampler()
    settings = Settings(variant="kmeans", device="cpu")
    base = sampler.reset()

    started = time.perf_counter()
    volume, _, _ = panelrun.runInputs(logic, node, False, scene)
    run = logic.startRun(volume, settings, estimate=False)
    del volume
    start_s = time.perf_counter() - started
    start_peak = sampler.peak - base

    held = []
    while run.reader.is_alive():
        held.append(sampler.process.memory_info().rss - base)
        time.sleep(0.2)
    child_s = time.perf_counter() - started - start_s
    started = time.perf_counter()
    result = run.result
    read_s = time.perf_counter() - started
    if result is None:
        print(f"the run failed: {run.error}\n{run.details}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    if not args.skip_apply:
        logic.applyResult(node, result)
    apply_s = time.perf_counter() - started
    sampler.stop()

    print(f"input: {args.slices} x 512 x 512 int16 volume node, {input_mib:.0f} MiB; child (k-means) {child_s:.1f} s")
    print("| what | figure |\n|---|---:|")
    print(f"| memory held by the runner while the child runs (median) | {np.median(held) / MIB:.0f} MiB "
          f"({np.median(held) / MIB / input_mib:.2f} x the input) |")
    print(f"| memory peak while the run starts | {start_peak / MIB:.0f} MiB ({start_peak / MIB / input_mib:.2f} x) |")
    print(f"| main thread blocked: starting the run (volume written for the child) | {start_s:.2f} s |")
    print(f"| main thread blocked: reading the result back | {read_s:.2f} s |")
    if not args.skip_apply:
        print(f"| main thread blocked: putting it into the scene (segments, 3D surfaces) | {apply_s:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
