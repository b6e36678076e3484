"""Re-make the README's pictures (Resources/*.png) with the current code, each by the command that made it.

Why: a picture made once by hand goes stale with the next change to the engine or the drawing. Each
entry below is the command a user could run; this script runs the chosen ones into a temporary
folder and copies the picture into Resources/. Pictures whose data is not here are skipped with a
line saying what is missing (BSDS500 lives outside the repository: set BSDS500 to its folder).

    python tools/make_pictures.py [NAME ...]     # default: every picture whose data is present
    python tools/make_pictures.py --list
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CT = DATA / "totalsegmentator_example"
CTSEG = [sys.executable, "-m", "UnsupervisedCTSegLib"]
BSDS = Path(os.environ.get("BSDS500", ROOT.parent / "BSDS500"))  # the BSDS500 folder, downloaded by the user

# The README's cohort: every shared CT, two 24-slice phantoms and a broken file, by ctseg batch.
COHORT = """import sys
from pathlib import Path
from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.io.phantom import make_phantom
from UnsupervisedCTSegLib.io.writers import write_volume
*shared, out = sys.argv[1:]
for seed in (0, 1):
    write_volume(Path(out) / f"phantom{seed}.nrrd", make_phantom(slices=24, size=256, seed=seed)[0])
(Path(out) / "bad.nrrd").write_text("not an image")
inputs = [*shared, *(str(Path(out) / n) for n in ("phantom0.nrrd", "phantom1.nrrd", "bad.nrrd"))]
main(["batch", *inputs, "-o", str(Path(out) / "cohort"), "--no-ray", "--quiet"])
"""

# name -> (what it needs, the command (run in UnsupervisedCTSeg/ with OUT a temporary folder), the file it makes)
PICTURES = {
    "overview": ((), [*CTSEG, "demo", "-o", "{out}", "--quiet"], "phantom_labels.png"),
    "evaluation": ((CT / "example_ct.nii.gz",),
                   [*CTSEG, "evaluate-ct", str(CT / "example_ct.nii.gz"), str(CT / "whole_scan" / "example_seg.nii.gz"),
                    "--names", str(CT / "whole_scan" / "example_seg_labels.json"), "--configs",
                    "default,density,kmeans15-body", "--device", "cpu", "-o", "{out}", "--quiet"],
                   "evaluation.png"),
    "scribbles": ((CT,), [sys.executable, str(ROOT / "benchmarks" / "scribbles.py"), "--strokes-per-structure", "3",
                          "--picture", "{out}/scribbles.png"], "scribbles.png"),
    "series_default": ((CT / "example_ct_sm.nii.gz",),
                       [*CTSEG, "figure-series", str(CT / "example_ct_sm.nii.gz"), "-o", "{out}/series.png",
                        "--slices", "12:18", "--quiet"], "series.png"),
    "series_study": ((CT / "example_ct_sm.nii.gz",),
                     [*CTSEG, "figure-series", str(CT / "example_ct_sm.nii.gz"), "-o", "{out}/series.png",
                      "--slices", "12:18", "--preset", "study", "-T", "50", "--quiet"], "series.png"),
    "sweep_M9": ((CT / "example_ct_sm.nii.gz",),
                 [*CTSEG, "sweep", str(CT / "example_ct_sm.nii.gz"), "--layers", "9", "--theta",
                  "1,1.5,2,2.5,3,4,5", "--mu", "1,1.5,2,2.5,3,4,5", "--slice", "15", "--no-ray", "--quiet",
                  "-o", "{out}"], "montage_M9.png"),
    "cohort": ((CT, DATA / "dcmqi_ct3slice"),
               [sys.executable, "-c", COHORT, str(CT / "example_ct.nii.gz"), str(CT / "example_ct_sm.nii.gz"),
                str(DATA / "dcmqi_ct3slice"), "{out}"], "cohort/cohort.png"),
    "bsds_boxplot": ((BSDS,), [*CTSEG, "evaluate-bsds", str(BSDS), "--split", "test", "--limit", "20", "-T", "50",
                              "-o", "{out}", "--quiet"],
                     "bsds_boxplot.png"),
    "panel": ((), [sys.executable, str(ROOT / "tools" / "render_panel.py"), "-o", "{out}/panel.png"], "panel.png"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"pictures to re-make (default all): {', '.join(PICTURES)}")
    parser.add_argument("--list", action="store_true", help="list the pictures and their commands")
    args = parser.parse_args()
    names = args.names or list(PICTURES)
    unknown = [n for n in names if n not in PICTURES]
    if unknown:
        parser.error(f"unknown picture(s) {', '.join(unknown)}: choose from {', '.join(PICTURES)}")
    failed = 0
    for name in names:
        needs, command, made = PICTURES[name]
        if args.list:
            print(f"{name}: {' '.join(command)}")
            continue
        missing = [str(p) for p in needs if not Path(p).exists()]
        if missing:
            print(f"{name}: skipped, missing {', '.join(missing)}")
            continue
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run([part.replace("{out}", out) for part in command], cwd=ROOT / "UnsupervisedCTSeg")
            produced = Path(out) / made
            if run.returncode not in (0,) or not produced.is_file():
                print(f"{name}: the command failed (exit {run.returncode}); Resources/{name}.png kept as it was")
                failed += 1
                continue
            shutil.copyfile(produced, ROOT / "Resources" / f"{name}.png")
            print(f"{name}: Resources/{name}.png re-made")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
