"""One segmentation as the commands run it: the estimate, the progress, the engine, the outputs, a summary.

`segment` and `demo` run exactly this, so the demo takes the path a user's data takes. What the
user sees comes from a reporter: ProgressBar for people (a bar and a summary) or JsonProgress for
programs (io/progresslines.py's one JSON object per line, which the Slicer module reads).
"""
from __future__ import annotations

import sys
import time
import warnings

from ..engine.settings import Settings
from ..io import progresslines


class ProgressBar:
    """tqdm bar over the run's fraction, with iteration, label count and loss in its postfix."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None  # drawn at the first progress, so that a refusal before the run is one clean line

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, unit="‰", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
        self.bar.set_description_str(p.stage, refresh=False)
        self.bar.set_postfix_str(f"it {p.iteration} labels {p.labels} loss {p.loss:.3f}", refresh=False)
        self.bar.update(int(p.fraction * 1000) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    @staticmethod
    def estimate(seconds: float, calibration: float, device: str) -> None:
        from ..slicer.texts import format_seconds

        print(f"ctseg: estimated run time on {device}: about {format_seconds(seconds)} "
              f"(from a {calibration:.1f} s calibration)", file=sys.stderr, flush=True)

    @staticmethod
    def done(result, paths: dict) -> None:
        print_summary(result, paths)


class JsonProgress:
    """The run as JSON lines on stdout (io.progresslines): the estimate, each progress, the outputs."""

    def __call__(self, p) -> None:
        print(progresslines.progress_line(p), flush=True)

    def close(self) -> None:
        pass

    @staticmethod
    def estimate(seconds: float, calibration: float, device: str) -> None:
        print(progresslines.estimate_line(seconds, device), flush=True)

    @staticmethod
    def done(result, paths: dict) -> None:
        print(progresslines.done_line(paths, len(result.tissues), result.record["device"],
                                      result.record["wall_seconds"]), flush=True)


def run_segmentation(volume, settings: Settings, output, reporter, estimate: bool = True, title: str = "",
                     kinds=None, strokes=None, inputs=()):
    """Segment `volume` and write its outputs (those of `kinds`, default all) as the command's last
    step (see stops.commit); `reporter` shows the estimate, the progress and the result.

    With `strokes` (engine.scribbles.Strokes) the run labels the structures, starts from the checkpoint
    (partition or weights) a previous scribble run left beside `output` when it fits, and leaves its own there.
    `inputs` are files the run reads besides the volume's (the strokes): no output may overwrite one.
    The caller has checked that the output place can be written (outputs.check_outputs).
    """
    from ..engine.run import check_run, segment
    from ..io.outputs import ALL, check_not_inputs, read_checkpoint, write_outputs
    from ..io.readers import show_notes

    kinds = kinds or ALL
    # An output that would overwrite an input, a volume or setting the run refuses: before hours of work.
    check_not_inputs(output, [*volume.files, *inputs], (*kinds, "checkpoint") if strokes is not None else kinds)
    check_run(volume, settings, strokes)
    show_notes(volume)
    if estimate:
        announce_estimate(volume, settings, reporter)
    resume = read_checkpoint(output) if strokes is not None else None
    with warnings.catch_warnings():
        raised = _collect_warnings()
        try:
            result = segment(volume, settings, progress=reporter, scribbles=strokes, resume=resume)
        finally:
            reporter.close()
    # Every warning the user saw goes into the run record too: the reader's (the volume's notes) and the run's.
    seen = list(dict.fromkeys([*volume.notes, *raised]))
    if seen:
        result.record["warnings"] = seen
    paths = write_outputs(output, result, title=title, final=True, kinds=kinds)
    reporter.done(result, paths)
    return result, paths


def _collect_warnings() -> list:
    """Within a warnings.catch_warnings() block: show each warning as before, and list its text."""
    raised = []
    show = warnings.showwarning

    def show_and_keep(message, category, filename, lineno, file=None, line=None):
        raised.append(" ".join(str(message).split()))
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = show_and_keep
    return raised


def announce_estimate(volume, settings: Settings, reporter) -> None:
    """On a CPU, time a few real training steps and tell the reporter how long the run will take."""
    from ..engine.device import describe, pick_device
    from ..engine.estimate import estimate_seconds, needs_estimate

    if not needs_estimate(settings):
        return
    started = time.perf_counter()
    seconds = estimate_seconds(volume, settings)
    reporter.estimate(seconds, time.perf_counter() - started, describe(pick_device(settings.device)))


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
