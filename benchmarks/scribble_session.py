"""A stroke session replayed: strokes added one slice per structure at a time, ours and Grow from seeds.

The project's phantom at 512 x 512 x SLICES (default 130) with its true tissues; at step k every
structure has strokes on k axial slices (evaluation.strokes.simulate_strokes, the union of steps 1..k,
as a user adds strokes). Each step is timed as the user lives it:

- ours: the panel's path with the kept process (`ctseg serve`, childrun.Worker): the CT and the
  strokes written, the scribble run, the result read back. The first step computes the
  unsupervised partition; every later one starts from the checkpoint the previous step left.
- Grow from seeds: Slicer's engine (vtkImageGrowCutSegment) on the same strokes and body, a fresh
  filter per step (an upper bound: Slicer's effect keeps its filter between updates).

Prints one row per step: seconds and mean IoU (over the stroked structures) for each. With --busy, a
process spinning on one core runs beside.

    cd UnsupervisedCTSeg && python ../benchmarks/scribble_session.py [--slices 130] [--steps 4] [--busy]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"))

from scribbles import grow_from_seeds  # noqa: E402

from UnsupervisedCTSegLib.engine.scribbles import make_strokes  # noqa: E402
from UnsupervisedCTSegLib.engine.settings import Settings  # noqa: E402
from UnsupervisedCTSegLib.evaluation.strokes import simulate_strokes  # noqa: E402
from UnsupervisedCTSegLib.io.phantom import make_phantom  # noqa: E402
from UnsupervisedCTSegLib.slicer.childrun import ChildRun, Worker  # noqa: E402

NOT_BODY = ("outside air", "table", "clothing", "table cushion")


def mean_iou(labels: np.ndarray, masks: dict, names: tuple) -> float:
    scores = []
    for value, name in enumerate(names, start=1):
        predicted, truth = labels == value, masks[name]
        union = np.count_nonzero(predicted | truth)
        scores.append(np.count_nonzero(predicted & truth) / union if union else 0.0)
    return float(np.mean(scores))


def session_strokes(masks: dict, steps: int) -> list:
    """The strokes at each step: those of step k-1 and a new stroked slice per structure."""
    names = tuple(masks)
    sessions, painted = [], np.zeros(next(iter(masks.values())).shape, np.uint16)
    for k in range(1, steps + 1):
        new = simulate_strokes(masks, k, seed=0)
        order = {name: i + 1 for i, name in enumerate(names)}
        for value, name in enumerate(new.names, start=1):
            painted[(new.labels == value) & (painted == 0)] = order[name]
        present = tuple(n for n in names if (painted == order[n]).any())
        relabel = np.zeros(len(names) + 1, np.uint16)
        for i, name in enumerate(present, start=1):
            relabel[order[name]] = i
        sessions.append(make_strokes(relabel[painted], present))
    return sessions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=130)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--busy", action="store_true", help="a process spinning on one core beside")
    parser.add_argument("--no-grow", action="store_true", help="ours only")
    args = parser.parse_args()

    volume, truth, names = make_phantom(slices=args.slices, size=512)
    body = ~np.isin(truth, [i for i, n in names.items() if n in NOT_BODY])
    masks = {n: truth == i for i, n in names.items() if n not in NOT_BODY and (truth == i).any()}
    sessions = session_strokes(masks, args.steps)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    worker = Worker(threads=2, passive=True)
    weights = Path(tempfile.mkdtemp(prefix="scribble-session-")) / "session.weights.pt"
    print(f"phantom {volume.shape[0]} x 512 x 512, {len(masks)} structures{', one core busy' if args.busy else ''}")
    print("| step (stroked slices per structure) | ours: seconds | ours: mean IoU | Grow from seeds: seconds "
          "| Grow from seeds: mean IoU |\n|---:|---:|---:|---:|---:|")
    try:
        for step, strokes in enumerate(sessions, start=1):
            started = time.perf_counter()
            run = ChildRun(volume, Settings(device="cpu"), estimate=False, strokes=strokes, weights=weights,
                           worker=worker)
            if not run.join(3600) or run.error is not None:
                print(f"step {step} failed: {run.error}\n{run.details}", file=sys.stderr)
                return 1
            ours_s = time.perf_counter() - started
            ours = mean_iou(run.result.labels, masks, strokes.names)
            grow_s = grow = float("nan")
            if not args.no_grow:
                started = time.perf_counter()
                grown = grow_from_seeds(volume.hu, strokes.labels, body, volume.spacing)
                grow_s = time.perf_counter() - started
                grow = mean_iou(grown, masks, strokes.names)
            print(f"| {step} | {ours_s:.1f} | {ours:.3f} | {grow_s:.1f} | {grow:.3f} |", flush=True)
    finally:
        worker.close()
        if spinner is not None:
            spinner.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
