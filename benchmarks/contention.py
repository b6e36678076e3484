"""How a run's time holds up while another process computes on the same cores.

Usage: python benchmarks/contention.py [--data ../shared/data] [--repeats 2] [--env NAME=VALUE ...]

Each case is a fresh `python -m UnsupervisedCTSegLib segment` process, as the command line and the
Slicer panel's child process run it; the table gives the run's own time (the run record's wall
time: segment() alone) and the whole process's (start, imports, reading, writing), idle and while
a competing PyTorch process multiplies 1024 x 1024 matrices with PyTorch's default threads and
OpenMP settings (it is started for each measurement and killed after it), and the ratios. Cases:
- one 512 x 512 slice (the phantom's middle slice), default settings;
- the shared TotalSegmentator CT (30 x 101 x 122), default settings;
- the panel's preview: one 512 x 512 slice at M = 5, p = 64 through the child's command line
  (--outputs labelmap --progress json, the panel's preview thread count), whole-process time.
Then the preview as the panel runs it, which is what a clinician waits for: the logic's startRun
with warm=True until the result is read back, the first one (which starts the process kept for
previews) and the next ones (on that process), idle and while the competing process runs (the
logic replaces the kept process when the load calls for the other wait policy: that first
competing preview is the one that pays it).
Last, the panel's whole-volume run (a ChildRun of the shared CT, default settings, at least 2
threads: the panel gives all cores but one, so 2 or more from 3 cores up) idle and with the
competitor starting 1 s after the run, when the run's wait policy is already set: as shipped
(passive waiting) and with OpenMP's default waiting (OMP_WAIT_POLICY set empty), best of the repeats.
`--env` runs ours with extra environment variables (e.g. OMP_WAIT_POLICY=ACTIVE, OMP_NUM_THREADS=1)
to show what a setting does.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPETITOR = ("import time, torch\n"
              "a = torch.randn(1024, 1024)\n"
              "print('ready', flush=True)\n"
              "while True:\n"
              "    a @ a\n")


def prepare(folder: Path, data: Path) -> dict:
    """The inputs of the cases, written once: name -> (input path, extra flags)."""
    from UnsupervisedCTSegLib.io.writers import write_volume
    from UnsupervisedCTSegLib.slicer.panelrun import previewThreads

    slice_path = write_volume(folder / "slice.nrrd", preview_slice(), compress=False)
    cases = {"one 512 x 512 slice, default": (slice_path, []),
             "preview: one 512 x 512 slice, M = 5, p = 64": (slice_path, [*PREVIEW_FLAGS, "--outputs", "labelmap",
                                                                           "--progress", "json", "--threads",
                                                                           str(previewThreads())])}
    shared = data / "totalsegmentator_example" / "example_ct_sm.nii.gz"
    if shared.is_file():
        cases["shared CT 30 x 101 x 122, default"] = (shared, [])
    return cases


PREVIEW_FLAGS = ["-M", "5", "-p", "64"]


def preview_slice():
    """The phantom's middle 512 x 512 slice."""
    from UnsupervisedCTSegLib.engine.volume import Volume
    from UnsupervisedCTSegLib.io.phantom import make_phantom

    phantom, _, _ = make_phantom(slices=3, size=512)
    return Volume(phantom.hu[1:2].copy(), phantom.spacing, phantom.origin, phantom.direction)


def panel_previews(logic, volume, settings, count: int) -> list:
    """Seconds of `count` previews one after another as the panel starts them (logic.startRun with
    warm=True, the panel's preview threads, no estimate), each until its result is read back."""
    from UnsupervisedCTSegLib.slicer.panelrun import previewThreads

    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        run = logic.startRun(volume, settings, threads=previewThreads(), estimate=False, warm=True)
        if not run.join(600) or run.error is not None:
            raise SystemExit(f"the preview failed: {run.error}\n{run.details}")
        seconds.append(time.perf_counter() - started)
    return seconds


def preview_table(repeats: int, env: dict) -> None:
    """The panel's previews, idle and competing: the first (starting the kept process) and the best
    of the next `repeats`."""
    import slicer

    from UnsupervisedCTSegLib.cli.main import build_parser, settings_from
    from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic

    os.environ.update({k: v for k, v in env.items() if k.startswith("OMP_")})  # the kept process inherits them
    settings = settings_from(build_parser().parse_args(["segment", "x", "-o", "y", *PREVIEW_FLAGS]))
    volume = preview_slice()
    print("\n| the panel's preview, M = 5, p = 64, one 512 x 512 slice | first s | next s (best) |")
    print("|---|---:|---:|")
    logic = UnsupervisedCTSegLogic(slicer.vtkMRMLScene())
    try:
        for name, measure in (("idle", lambda f: f()), ("competing", with_competitor)):
            times = measure(lambda: panel_previews(logic, volume, settings, repeats + 1))
            print(f"| {name} | {times[0]:.2f} | {min(times[1:]):.2f} |", flush=True)
            logic.closeWorker()  # the next condition starts from no kept process, as a new session does
    finally:
        logic.closeWorker()


def late_competitor_table(shared: Path, repeats: int) -> None:
    """The panel's whole-volume child on the shared CT, idle and with the competitor starting 1 s in."""
    from UnsupervisedCTSegLib.engine.settings import Settings
    from UnsupervisedCTSegLib.io.readers import read_volume
    from UnsupervisedCTSegLib.slicer.childrun import ChildRun
    from UnsupervisedCTSegLib.slicer.panelrun import runThreads

    volume = read_volume(shared)
    threads = max(2, runThreads())
    plain = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # the competitor's: OpenMP's defaults

    def whole_run(late):
        started = time.perf_counter()
        run = ChildRun(volume, Settings(), threads=threads, estimate=False)
        competitor = None
        if late:
            time.sleep(1.0)
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.DEVNULL, env=plain)
        try:
            if not run.join(600) or run.error is not None:
                raise SystemExit(f"the run failed: {run.error}\n{run.details}")
        finally:
            if competitor is not None:
                competitor.kill()
                competitor.wait()
        return time.perf_counter() - started

    print(f"\n| the panel's whole-volume run, shared CT, {threads} threads | idle s | competitor from 1 s in: s | "
          "ratio |")
    print("|---|---:|---:|---:|")
    chosen = os.environ.pop("OMP_WAIT_POLICY", None)
    try:
        for name, policy in (("as shipped (passive waiting)", None), ("OpenMP's default waiting", "")):
            if policy is not None:
                os.environ["OMP_WAIT_POLICY"] = policy  # set, so the run leaves it; empty: OpenMP's default
            idle = min(whole_run(False) for _ in range(repeats))
            late = min(whole_run(True) for _ in range(repeats))
            print(f"| {name} | {idle:.2f} | {late:.2f} | {late / idle:.1f}x |", flush=True)
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)
        if chosen is not None:
            os.environ["OMP_WAIT_POLICY"] = chosen


def run_once(source: Path, flags: list, output: Path, env: dict) -> tuple:
    """(segment() seconds from the run record, whole-process seconds)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", str(source), "-o", str(output),
                           "--quiet", *flags], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the run failed: {done.stderr.strip() or done.stdout.strip()}")
    record = json.loads(output.with_suffix(".json").read_text())
    return record["wall_seconds"], wall


def with_competitor(measure):
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.PIPE, text=True)
    try:
        competitor.stdout.readline()  # torch imported, the products begin
        time.sleep(0.5)
        return measure()
    finally:
        competitor.kill()
        competitor.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--env", nargs="+", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    env = dict(os.environ)
    env.update(item.partition("=")[::2] for item in args.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"),
                                                    env.get("PYTHONPATH")) if p)
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; extra environment: {' '.join(args.env) or 'none'}")
    print("\n| case | idle: run s | idle: process s | competing: run s | competing: process s | run ratio | "
          "process ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name, (source, flags) in prepare(folder, args.data).items():
            output = folder / "out" / "labels.nrrd"
            run_once(source, flags, output, env)  # warm the file cache
            idle = [run_once(source, flags, output, env) for _ in range(args.repeats)]
            busy = [with_competitor(lambda: run_once(source, flags, output, env)) for _ in range(args.repeats)]
            idle_run, idle_wall = (min(x[i] for x in idle) for i in (0, 1))
            busy_run, busy_wall = (min(x[i] for x in busy) for i in (0, 1))
            print(f"| {name} | {idle_run:.2f} | {idle_wall:.2f} | {busy_run:.2f} | {busy_wall:.2f} | "
                  f"{busy_run / idle_run:.1f}x | {busy_wall / idle_wall:.1f}x |", flush=True)
    print(f"\nbest of {args.repeats} runs each")
    preview_table(args.repeats, env)
    shared = args.data / "totalsegmentator_example" / "example_ct_sm.nii.gz"
    if shared.is_file():
        late_competitor_table(shared, args.repeats)


if __name__ == "__main__":
    main()
