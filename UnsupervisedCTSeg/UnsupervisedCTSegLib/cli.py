"""`ctseg`: the command line. Every subcommand reads, calls engine.segment once per volume, writes.

Bad input exits with status 2 and one line naming the problem and the fix; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .errors import Cancelled, InputError
from .settings import MODES, STUDY_PRESET, VARIANTS, Settings
from .preprocessing import WINDOWS

# Settings field -> (CLI flag, argparse options). The "(default ...)" of each help text is added
# from Settings() by add_setting_flags, so the help cannot drift from the engine's defaults.
SETTING_FLAGS = {
    "variant": ("--variant", dict(choices=VARIANTS, help="proposed | superpixel | nobn | kmeans")),
    "mode": ("--mode", dict(choices=MODES, help="volume: one network for the whole series; slice: one per slice, as in the papers")),
    "layers": ("--layers", dict(type=int, help="M, conv blocks")),
    "channels": ("--channels", dict(type=int, help="p, filters per block")),
    "classes": ("--classes", dict(type=int, help="q, response channels = maximum labels; 0 means q = p")),
    "theta": ("--theta", dict(type=float, help="θ, weight of the similarity loss")),
    "mu": ("--mu", dict(type=float, help="μ, weight of the continuity loss")),
    "edge_hu": ("--edge-hu", dict(type=float, help="continuity weighted by exp(-|ΔHU|/edge_hu); 0 = the papers' plain term")),
    "iterations": ("--iterations", dict(type=int, help="T, maximum iterations")),
    "min_labels": ("--min-labels", dict(type=int, help="stop when the label count falls to this")),
    "lr": ("--lr", dict(type=float, help="SGD learning rate; the papers use 0.1")),
    "momentum": ("--momentum", dict(type=float, help="SGD momentum")),
    "windows": ("--windows", dict(help=f"comma-separated HU windows as input channels, from {','.join(WINDOWS)}")),
    "batch_slices": ("--batch-slices", dict(type=int, help="volume mode: slices per training batch")),
    "train_size": ("--train-size", dict(type=int, help="volume mode: training crop side in pixels, 0 = whole slices")),
    "superpixels": ("--superpixels", dict(type=int, help="K, SLIC superpixels per slice for the superpixel variant")),
    "compactness": ("--compactness", dict(type=float, help="SLIC compactness")),
    "k": ("-k", dict(type=int, help="clusters of the kmeans variant")),
    "seed": ("--seed", dict(type=int, help="random seed; the same seed gives the same labels on CPU")),
    "device": ("--device", dict(help="auto (CUDA when available) | cpu | cuda | cuda:N")),
}
SHORT_FLAGS = {"layers": "-M", "channels": "-p", "iterations": "-T", "classes": "-q"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctseg", description="Unsupervised CT segmentation by backpropagation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment a CT volume", description=(
        "Segment a CT file or folder. OUT is the labelmap (.nrrd or .nii.gz); the Slicer .seg.nrrd, "
        "the run record (.json) and an overview picture (.png) are written beside it with the same stem."))
    seg.add_argument("input", help="a .nrrd/.nii.gz/.mha file, a DICOM series folder or a folder of DeepLesion PNGs")
    seg.add_argument("-o", "--output", required=True, help="labelmap path, .nrrd or .nii.gz")
    add_setting_flags(seg)
    add_reader_flags(seg)
    seg.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="segment the built-in phantom and score it against its truth")
    demo.add_argument("-o", "--output", default="ctseg-demo", help="folder for all outputs (default ./ctseg-demo)")
    add_setting_flags(demo)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def add_setting_flags(parser) -> None:
    group = parser.add_argument_group("segmentation settings")
    group.add_argument("--preset", choices=["study"], help="study: the CT study's best settings run as in the "
                       "papers (slice mode, M=9, θ=1.5, μ=1, p=100, one wide window, T=1000, lr 0.1, plain continuity); flags still override")
    defaults = Settings()
    for field, (flag, options) in SETTING_FLAGS.items():
        flags = [SHORT_FLAGS[field], flag] if field in SHORT_FLAGS else [flag]
        default = getattr(defaults, field)
        shown = ",".join(default) if isinstance(default, tuple) else default
        options = dict(options, help=f"{options['help']} (default {shown})")
        group.add_argument(*flags, dest=field, default=None, **options)


def add_reader_flags(parser) -> None:
    group = parser.add_argument_group("input geometry")
    group.add_argument("--spacing", nargs=3, type=float, metavar=("X", "Y", "Z"),
                       help="voxel spacing in mm, overriding the file (needed for DeepLesion PNGs without DL_info.csv)")
    group.add_argument("--dl-info", nargs=2, metavar=("CSV", "KEY"),
                       help="DeepLesion DL_info.csv and the File_name of a row, for the PNG slices' spacing")


def settings_from(args) -> Settings:
    values = dict(STUDY_PRESET) if getattr(args, "preset", None) == "study" else {}
    for field in SETTING_FLAGS:
        value = getattr(args, field, None)
        if value is not None:
            values[field] = tuple(w.strip() for w in value.split(",") if w.strip()) if field == "windows" else value
    return Settings(**values)


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
    from .engine import segment
    from .outputs import output_paths, write_outputs

    output_paths(output)  # refuse a bad output name before hours of work
    bar = ProgressBar(quiet)
    try:
        result = segment(volume, settings, progress=bar)
    finally:
        bar.close()
    paths = write_outputs(output, result, title=title)
    return result, paths


def command_segment(args) -> int:
    from .readers import read_volume

    settings = settings_from(args)
    volume = read_volume(args.input, spacing=args.spacing, dl_info=args.dl_info)
    result, paths = run_segmentation(volume, settings, args.output, args.quiet, title=Path(args.input).name)
    print_summary(result, paths)
    return 0


def command_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.output), settings_from(args), quiet=args.quiet)
    return 0


def print_summary(result, paths) -> None:
    record = result.record
    print(f"{len(result.tissues)} labels in {record['wall_seconds']:.1f} s on {record['device']}, "
          f"{record['iterations_run']} iterations ({record['stop_reason']})")
    for t in result.tissues:
        print(f"  {t.label:3d}  {t.name:28s} {t.mean_hu:8.1f} ± {t.sd_hu:6.1f} HU  {t.voxels:10d} voxels")
    for kind, path in paths.items():
        print(f"{kind:>12}: {path}")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"segment": command_segment, "demo": command_demo}
    try:
        return commands[args.command](args)
    except InputError as error:
        print(f"ctseg: error: {error}", file=sys.stderr)
        return 2
    except Cancelled:
        print("ctseg: cancelled; nothing was written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("ctseg: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
