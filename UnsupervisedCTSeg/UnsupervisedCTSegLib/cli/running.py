"""One segmentation as the commands run it: the estimate, a progress bar, the engine, the outputs, a summary.

`segment` and `demo` run exactly this, so the demo takes the path a user's data takes.
"""
from __future__ import annotations

import sys
import time

from ..engine.settings import Settings


class ProgressBar:
    """tqdm bar over the run's fraction, with iteration, label count and loss in its postfix."""

    def __init__(self, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm import tqdm
            self.bar = tqdm(total=1000, unit="‰", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, p) -> None:
        if self.bar is None:
            return
        self.bar.set_description_str(p.stage, refresh=False)
        self.bar.set_postfix_str(f"it {p.iteration} labels {p.labels} loss {p.loss:.3f}", refresh=False)
        self.bar.update(int(p.fraction * 1000) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_segmentation(volume, settings: Settings, output, quiet: bool, title: str = ""):
    """Segment `volume` and write its outputs as the command's last step (see stops.commit).

    The caller has checked that the output place can be written (outputs.check_outputs).
    """
    from ..engine.run import segment
    from ..io.outputs import check_not_inputs, write_outputs

    check_not_inputs(output, volume.files)  # an output that would overwrite an input: before hours of work
    if not quiet:
        announce_estimate(volume, settings)
    bar = ProgressBar(quiet)
    try:
        result = segment(volume, settings, progress=bar)
    finally:
        bar.close()
    paths = write_outputs(output, result, title=title, final=True)
    return result, paths


def announce_estimate(volume, settings: Settings) -> None:
    """On a CPU, time a few real training steps and say on stderr how long the run will take."""
    from ..engine.device import describe, pick_device
    from ..engine.estimate import estimate_seconds, needs_estimate
    from ..slicer.texts import format_seconds

    if not needs_estimate(settings):
        return
    started = time.perf_counter()
    seconds = estimate_seconds(volume, settings)
    print(f"ctseg: estimated run time on {describe(pick_device(settings.device))}: about {format_seconds(seconds)} "
          f"(from a {time.perf_counter() - started:.1f} s calibration)", file=sys.stderr, flush=True)


def print_summary(result, paths) -> None:
    record = result.record
    print(f"{len(result.tissues)} labels in {record['wall_seconds']:.1f} s on {record['device']}, "
          f"{record['iterations_run']} iterations ({record['stop_reason']})")
    for t in result.tissues:
        print(f"  {t.label:3d}  {t.name:28s} {t.mean_hu:8.1f} ± {t.sd_hu:6.1f} HU  {t.voxels:10d} voxels")
    print_paths(paths, width=12)


def print_paths(paths: dict, width: int = 10) -> None:
    for kind, path in paths.items():
        print(f"{kind:>{width}}: {path}")
