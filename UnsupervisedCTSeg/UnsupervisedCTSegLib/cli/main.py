"""`ctseg`: the command line. Every subcommand reads, calls engine.segment once per volume, writes.

Bad input exits with status 2 and one line naming the problem and the fix; nothing is written.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from pathlib import Path

from .. import __version__
from ..engine.errors import Cancelled, InputError, one_line, shown
from ..engine.settings import (PAPERS, STUDY_PRESET, Settings, field_default, flag_names, knobs, preset_text,
                               shown_default)
from ..io import stops
from .running import ProgressBar, print_paths, run_segmentation

RESUMABLE = ("evaluate-bsds", "sweep", "batch")  # commands that write each result as it finishes
# The settings evaluate-bsds lets the user change for every model (the rest define the models).
BSDS_SETTING_FIELDS = ("layers", "channels", "theta", "mu", "iterations", "min_labels", "lr", "seed", "device")


class UsageError(SystemExit):
    """argparse refused the command line; `message` says why (main() prints it as one line, exit status 2)."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser (and, through add_subparsers, its subcommands' parsers) whose refusals raise
    UsageError instead of printing the whole usage: main() says them in one line."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ctseg", description="Unsupervised CT segmentation by backpropagation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment a CT volume", description=(
        "Segment a CT file or folder. OUT is the labelmap (.nrrd, .nii.gz or .nii); the Slicer .seg.nrrd, "
        "the run record (.json) and an overview picture (.png) are written beside it with the same stem."))
    seg.add_argument("input", help="a .nrrd/.nii.gz/.mha file, a DICOM series folder or a folder of DeepLesion PNGs")
    seg.add_argument("-o", "--output", required=True, help="labelmap path, .nrrd, .nii.gz or .nii")
    add_setting_flags(seg)
    add_reader_flags(seg)
    seg.add_argument("--quiet", action="store_true", help="no progress bar and no run-time estimate")
    seg.add_argument("--progress", choices=("bar", "json"), default="bar", help="bar: a progress bar on stderr and "
                     "a summary (default); json: one JSON object per line on stdout for programs: the estimate, "
                     "each iteration's progress, then the outputs, or the error")
    seg.add_argument("--outputs", choices=("all", "labelmap"), default="all", help="all: the labelmap, the "
                     ".seg.nrrd, the run record and the overview picture (default); labelmap: the labelmap and "
                     "its run record only")
    seg.add_argument("--threads", type=int, help="CPU threads for PyTorch, 1 to 4 per core (default: PyTorch's "
                     "choice, the cores)")
    seg.add_argument("--scribbles", metavar="STROKES", help="a labelmap (1..n = structures, 0 = unpainted) or a "
                     ".seg.nrrd whose segments hold a few strokes each, on the CT's grid: label every voxel in the "
                     "body as one of those structures (see --scribble-method, --scribble-output); what a rerun "
                     "needs (the partition, or the network's weights) is kept beside the output, and a rerun with "
                     "more strokes on the same CT starts from it")

    demo = sub.add_parser("demo", help="segment the built-in phantom and score it against its truth")
    demo.add_argument("-o", "--output", default="ctseg-demo", help="folder for all outputs (default ./ctseg-demo)")
    add_setting_flags(demo)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("serve", help="keep PyTorch loaded and run segment commands read from standard input, one JSON "
                   "list of arguments per line (how the Slicer panel previews quickly)", description=(
        "Run `segment` commands read from standard input, each one line holding a JSON list of its arguments "
        "(e.g. [\"segment\", \"ct.nrrd\", \"-o\", \"labels.nrrd\"]), one after another in this process, so "
        "Python's start and PyTorch's import are paid once. Each prints its --progress json lines, the last one "
        "\"done\" or \"error\". Ends at the end of the input."))

    add_batch_parser(sub)
    add_evaluate_parser(sub)
    add_bsds_parser(sub)
    add_sweep_parser(sub)
    add_series_parser(sub)
    return parser


def add_batch_parser(sub) -> None:
    from ..evaluation.cohort import FILES

    ba = sub.add_parser("batch", help="segment every series of a cohort into one folder, one table and one picture",
                        description=(
        "Segment every series among INPUTS (image files, DICOM study folders with all their series, folders of "
        "DeepLesion PNG slices, CSV manifests with columns id, path and optionally spacing) into DIR/<id>/ (the "
        "usual outputs), one Ray task per series, and write " + ", ".join(FILES.values()) + ". A rerun skips "
        "the series already done with the same input and settings, and redoes the others."))
    ba.add_argument("inputs", nargs="+", help="files, folders or manifests")
    ba.add_argument("-o", "--output", required=True, help="the cohort's output folder")
    group = ba.add_argument_group("input geometry")
    group.add_argument("--spacing", nargs=3, type=float, metavar=("X", "Y", "Z"),
                       help="voxel spacing in mm for series that lack it (DeepLesion PNGs without DL_info.csv)")
    add_setting_flags(ba)
    add_scaleout_flags(ba)


def add_bsds_parser(sub) -> None:
    from ..evaluation.bsds import FILES, MODELS

    bs = sub.add_parser("evaluate-bsds", help="the papers' BSDS500 benchmark: every model on every image, scored "
                        "by the TIP 2020 protocol and the study's per-image score", description=(
        "Run each model on each image of a BSDS500 split (one Ray task per image and model) and score it: "
        "All / Fine / Coarse mIoU of the TIP 2020 protocol and the study's per-image score. Writes "
        + ", ".join(FILES.values()) + " and the label maps (labels/MODEL/ID.png) into the output folder; a rerun "
        "into the same folder skips the finished images. Settings default to the reference code's "
        f"({preset_text(PAPERS)}); flags override them for every model."))
    bs.add_argument("dir", help="the BSDS500 folder (holding data/images and data/groundTruth)")
    bs.add_argument("--split", default="test", help="train | val | test (default test)")
    bs.add_argument("--models", default=",".join(MODELS), help=f"comma list from {','.join(MODELS)} (default all)")
    bs.add_argument("--limit", type=int, help="only the first N images of the split (sorted by id)")
    bs.add_argument("-o", "--output", default="ctseg-bsds", help="output folder (default ./ctseg-bsds)")
    group = bs.add_argument_group("settings for every model (default: the reference code's)")
    for name in BSDS_SETTING_FIELDS:
        add_setting_flag(group, name, shown_default(name, PAPERS))
    add_scaleout_flags(bs)


def add_sweep_parser(sub) -> None:
    from ..evaluation.sweep import FILES

    sw = sub.add_parser("sweep", help="run a grid of M, θ and μ on one CT and tabulate and picture every run",
                        description=(
        "Segment CT once per (M, θ, μ) of the grid (one Ray task each) and write " + ", ".join(FILES.values())
        + " and, for each M, a θ x μ montage of the segmented slice. With --reference and --names every run is "
        "scored like evaluate-ct. A rerun into the same folder skips the finished runs. Other settings come from "
        "the defaults, --preset and the flags below."))
    sw.add_argument("ct", help="the CT: a .nrrd/.nii.gz/.mha file, a DICOM series folder or DeepLesion PNGs")
    sw.add_argument("--layers", "-M", dest="grid_layers", required=True, help="comma list of M, e.g. 5,6,7,8,9,10,13")
    sw.add_argument("--theta", dest="grid_theta", required=True, help="comma list of θ, e.g. 1,1.5,2,2.5,3,4,5")
    sw.add_argument("--mu", dest="grid_mu", required=True, help="comma list of μ, e.g. 1,1.5,2,2.5,3,4,5")
    sw.add_argument("--slice", type=int, help="segment only this axial slice (the study's protocol); default the "
                    "whole volume, pictured at its middle slice")
    sw.add_argument("--reference", help="reference label map on the CT's grid, to score every run")
    sw.add_argument("--names", help='with --reference: JSON mapping label values to names, e.g. {"5": "liver"}')
    sw.add_argument("-o", "--output", default="ctseg-sweep", help="output folder (default ./ctseg-sweep)")
    add_setting_flags(sw, exclude=("layers", "theta", "mu"))
    add_reader_flags(sw)
    add_scaleout_flags(sw)


def add_series_parser(sub) -> None:
    fs = sub.add_parser("figure-series", help="consecutive axial slices in a row with their segmentations beneath",
                        description=(
        "Draw consecutive axial slices of CT in a row and their labels beneath, each label one colour on every "
        "slice, so label flips between slices are visible (the study's Fig. 3). Segments CT with the settings "
        "below, or draws the labels of --labels."))
    fs.add_argument("ct", help="the CT: a .nrrd/.nii.gz/.mha file, a DICOM series folder or DeepLesion PNGs")
    fs.add_argument("-o", "--output", required=True, help="the figure, .png")
    fs.add_argument("--slices", metavar="START:STOP", help="the axial slices START..STOP-1 (default: 6 around the middle)")
    fs.add_argument("--labels", help="a label map on the CT's grid to draw instead of segmenting")
    add_setting_flags(fs)
    add_reader_flags(fs)
    fs.add_argument("--quiet", action="store_true", help="no progress bar")


def add_evaluate_parser(sub) -> None:
    from ..evaluation.report import REPORT_FILES
    from ..evaluation.scoring import CONFIGURATIONS, DEFAULT_SEEDS, PAPER_ITERATIONS

    ev = sub.add_parser("evaluate-ct", help="score our default, the paper's configuration and k-means on a reference",
                        description=(
        "Segment CT with several configurations and seeds and score each against REFERENCE, a label map on "
        "the CT's grid whose values are named by --names, pooled into groups (lung, bone, liver, spleen, "
        "kidney, muscle, vessels, bowel, fat). Writes " + ", ".join(REPORT_FILES.values())
        + " into the output folder."))
    ev.add_argument("ct", help="the CT: a .nrrd/.nii.gz/.mha file or a DICOM series folder")
    ev.add_argument("reference", help="reference label map on the CT's grid (e.g. TotalSegmentator's)")
    ev.add_argument("--names", required=True, help='JSON mapping label values to names, e.g. {"5": "liver"}')
    ev.add_argument("--tissue-masks", help="folder with skeletal_muscle, subcutaneous_fat and torso_fat masks "
                    "(default: tissue_types beside REFERENCE, when it exists); muscle and fat are scored only "
                    "with them")
    ev.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                    help=f"seeds per configuration (default {' '.join(map(str, DEFAULT_SEEDS))})")
    ev.add_argument("-o", "--output", default="ctseg-evaluation", help="output folder (default ./ctseg-evaluation)")
    ev.add_argument("--configs", default=",".join(CONFIGURATIONS),
                    help=f"comma-separated configurations to run (default all: {','.join(CONFIGURATIONS)})")
    ev.add_argument("--paper-iterations", type=int, default=PAPER_ITERATIONS,
                    help=f"T of the paper configuration, per slice (default {PAPER_ITERATIONS}); it is the slow one")
    ev.add_argument("--slices", metavar="START:STOP", help="evaluate only axial slices START..STOP-1 (all "
                    "configurations, reference cropped alike), to afford the slow paper configuration; default all")
    ev.add_argument("--device", help="auto (CUDA when available) | cpu | cuda | cuda:N (default auto)")
    ev.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_setting_flags(parser, exclude=()) -> None:
    group = parser.add_argument_group("segmentation settings")
    group.add_argument("--preset", choices=["study"], help="study: the CT study's best settings run as in the "
                       f"papers ({preset_text(STUDY_PRESET)}); flags still override")
    for name in knobs():
        if name not in exclude:
            add_setting_flag(group, name)


def add_setting_flag(group, name: str, default_text: str = "") -> None:
    """One Settings field as a flag, made from its Knob; the value stays None when not given."""
    what = knobs()[name]
    default = field_default(name)
    options = dict(help=f"{what.help} (default {default_text or shown_default(name)})")
    if isinstance(default, bool):
        options["action"] = argparse.BooleanOptionalAction
    elif isinstance(default, tuple):
        options["type"] = comma_list
    else:
        options["type"] = type(default)
        if what.choices:
            options["choices"] = what.choices
    group.add_argument(*flag_names(name), dest=name, default=None, **options)


def comma_list(text: str) -> tuple:
    return tuple(w.strip() for w in text.split(",") if w.strip())


def add_reader_flags(parser) -> None:
    group = parser.add_argument_group("input geometry")
    group.add_argument("--spacing", nargs=3, type=float, metavar=("X", "Y", "Z"),
                       help="voxel spacing in mm, overriding the file (needed for DeepLesion PNGs without DL_info.csv)")
    group.add_argument("--dl-info", nargs=2, metavar=("CSV", "KEY"),
                       help="DeepLesion DL_info.csv and the File_name of a row, for the PNG slices' spacing")
    group.add_argument("--series", metavar="UID", help="the SeriesInstanceUID to read from a DICOM folder that "
                       "holds several series (the error message lists them)")


def settings_from(args) -> Settings:
    return Settings(**overrides_from(args))


def overrides_from(args) -> dict:
    """The settings the command line gives (the preset's, then each flag's), not the defaults."""
    values = dict(STUDY_PRESET) if getattr(args, "preset", None) == "study" else {}
    for name in knobs():
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    return values


def add_scaleout_flags(parser) -> None:
    group = parser.add_argument_group("scale-out (Ray)")
    group.add_argument("--address", help="an existing Ray cluster (e.g. ray://head:10001 or auto); default: start "
                       "Ray on this machine's cores")
    group.add_argument("--no-ray", action="store_true", help="run the tasks one after another in this process")
    group.add_argument("--cpus-per-task", type=float, default=1, help="CPU cores Ray gives each task (default 1)")
    group.add_argument("--gpus-per-task", type=float, help="GPUs Ray gives each task (default 1 when the cluster "
                       "has a GPU, else 0; a fraction packs several tasks on one GPU)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def scaleout_options(args) -> dict:
    if args.cpus_per_task <= 0 or (args.gpus_per_task is not None and args.gpus_per_task < 0):
        raise InputError("--cpus-per-task must be > 0 and --gpus-per-task >= 0")
    if args.no_ray and args.address:
        raise InputError("--address names a Ray cluster but --no-ray runs without Ray: give one of them")
    return dict(use_ray=not args.no_ray, address=args.address, cpus_per_task=args.cpus_per_task,
                gpus_per_task=args.gpus_per_task, quiet=args.quiet)


def command_segment(args) -> int:
    from ..engine.device import pick_device
    from ..io.outputs import ALL, LABELMAP_AND_RECORD, check_not_inputs, check_outputs
    from ..io.readers import check_input, read_volume
    from .running import JsonProgress

    settings = settings_from(args)
    if args.threads is not None:
        cores = os.cpu_count() or 1
        if not 1 <= args.threads <= 4 * cores:  # more only slows the run, and a huge count ends PyTorch's pool
            raise InputError(f"--threads {shown(args.threads)}: give 1 to {4 * cores}, at most 4 per core of "
                             f"this machine's {cores} (leave it out for PyTorch's choice, the cores)")
        import torch

        torch.set_num_threads(args.threads)  # before the first operation starts PyTorch's thread pool
    if args.scribbles == "":
        raise InputError("--scribbles is empty: give the strokes file (a labelmap or a .seg.nrrd), or leave the flag out")
    kinds = LABELMAP_AND_RECORD if args.outputs == "labelmap" else ALL
    # Can every output be written and put in place, and does none overwrite a file the run reads
    # (the CT, the strokes): before reading or computing anything.
    check_outputs(args.output, (*kinds, "checkpoint") if args.scribbles else kinds)
    inputs = [Path(p) for p in (args.input, args.scribbles) if p]
    check_not_inputs(args.output, inputs, (*kinds, "checkpoint") if args.scribbles else kinds)
    check_input(args.input)  # a missing, special or impossibly large input: before PyTorch's import
    if args.scribbles:
        check_input(args.scribbles, labels=True)
    pick_device(settings.device)  # a device this machine lacks: refused before anything is read
    volume = read_volume(args.input, spacing=args.spacing, dl_info=args.dl_info, series=args.series)
    strokes = None
    if args.scribbles:
        from ..engine.run import check_scribble_settings
        from ..io.strokes import read_strokes

        strokes = check_scribble_settings(read_strokes(args.scribbles, volume), volume, settings)
    reporter = JsonProgress() if args.progress == "json" else ProgressBar(args.quiet)
    # A scribble run is not estimated: the estimate times unsupervised steps.
    run_segmentation(volume, settings, args.output, reporter, estimate=not args.quiet and strokes is None,
                     title=Path(args.input).name, kinds=kinds, strokes=strokes, inputs=inputs)
    return 0


def command_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.output), settings_from(args), quiet=args.quiet)
    return 0


def command_evaluate(args) -> int:
    from ..engine.device import pick_device
    from ..evaluation import report, scoring
    from ..evaluation.references import load_reference
    from ..io.readers import read_volume, show_notes
    from ..io.writers import check_no_clash, check_output_folder, check_replaceable
    from .slicerange import parse_slices

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not configs or len(set(configs)) != len(configs):
        raise InputError(f"--configs '{args.configs}' names no configuration or one twice: "
                         f"give a comma list from {','.join(scoring.CONFIGURATIONS)}")
    if len(set(args.seeds)) != len(args.seeds):
        raise InputError(f"--seeds {' '.join(map(str, args.seeds))} repeats a seed: give distinct seeds")
    for name in configs:  # refuse unknown names and bad seeds before reading anything
        for seed in args.seeds:
            scoring.configuration_settings(name, seed, args.device, args.paper_iterations)
    output = check_output_folder(args.output, "the evaluation's tables and figure")
    pick_device(args.device)

    volume = read_volume(args.ct)
    start, stop = parse_slices(args.slices, volume.shape[0])
    reference = load_reference(args.reference, args.names, volume, args.tissue_masks, (start, stop))
    report_paths = {f"evaluation's {kind}": output / name for kind, name in report.REPORT_FILES.items()}
    check_no_clash(report_paths, [*volume.files, *reference.files], "choose another output folder with -o")
    check_replaceable(report_paths, "remove it or choose another output folder with -o")
    show_notes(volume)
    volume = volume.slab(start, stop)
    inputs = {"title": Path(args.ct).name, "ct": str(args.ct), "reference": str(args.reference),
              "names": str(args.names),
              "tissue_masks": str(reference.mask_folder) if reference.mask_folder else "none found",
              "shape": list(volume.shape), "spacing": list(volume.spacing), "slices": f"{start}:{stop}",
              "device": args.device or "auto", "paper_iterations": args.paper_iterations}
    progress = _EvaluationProgress(args.quiet)
    try:
        result = scoring.evaluate(volume, reference.groups, configs, args.seeds, args.device, args.paper_iterations,
                                  progress=progress, on_run=progress.on_run, inputs=inputs)
    finally:
        progress.close()
    paths = report.write_report(output, result, final=True)
    print(report.markdown_report(result).split("## Definitions")[0].rstrip())
    print_paths(paths)
    return 0


class _EvaluationProgress:
    """A tqdm bar per run (it restarts with each run) and one line per finished run, on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.name = ""

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.bar is None:
            self.bar = ProgressBar(False)
        self.bar(p._replace(stage=f"{self.name}: {p.stage}"))

    def on_run(self, index, total, name, seed, scores) -> None:
        self.name = f"[{index}/{total}] {name} seed {seed}"
        if scores is None or self.quiet:
            return
        self.close()
        print(f"{self.name}: {scores['labels']} labels, mean best IoU {scores['mean_best_iou']:.3f}, "
              f"Hungarian {scores['mean_hungarian_iou']:.3f}, adjacent ARI {scores['adjacent_ari']:.3f}, "
              f"{scores['seconds']:.1f} s", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def command_serve(args) -> int:
    from .serve import serve

    return serve(main)


def command_bsds(args) -> int:
    from ..evaluation.bsds import evaluate_bsds, parse_models

    result = evaluate_bsds(args.dir, args.output, args.split, parse_models(args.models), args.limit,
                           overrides_from(args), **scaleout_options(args))
    print(Path(result["paths"]["markdown"]).read_text(encoding="utf-8").rstrip())
    print_paths(result["paths"])
    return 1 if result["report"].failed else 0


def command_sweep(args) -> int:
    from ..evaluation.sweep import parse_grid, run_sweep

    grid = parse_grid(args.grid_layers, args.grid_theta, args.grid_mu)
    if bool(args.reference) != bool(args.names):
        raise InputError("--reference and --names go together: give both to score the runs, or neither")
    result = run_sweep(args.ct, args.output, grid, overrides_from(args), slice_index=args.slice,
                       reference=args.reference, names=args.names, spacing=args.spacing, dl_info=args.dl_info,
                       series=args.series, **scaleout_options(args))
    print(Path(result["paths"]["markdown"]).read_text(encoding="utf-8").rstrip())
    print_paths(result["paths"])
    return 1 if result["report"].failed else 0


def command_batch(args) -> int:
    from ..evaluation.cohort import run_batch

    result = run_batch(args.inputs, args.output, overrides_from(args), spacing=args.spacing, **scaleout_options(args))
    report = result["report"]
    series = len({row["series"] for row in result["rows"]})
    print(f"{series} series: {len(report.finished)} segmented, {len(result['skipped'])} already done, "
          f"{len(report.failed)} failed")
    print_paths(result["paths"])
    return 1 if report.failed else 0


def command_series(args) -> int:
    from .figureseries import series_figure

    bar = ProgressBar(args.quiet or args.labels is not None)
    try:
        path = series_figure(args.ct, args.output, settings_from(args), slices=args.slices, labels=args.labels,
                             spacing=args.spacing, dl_info=args.dl_info, series=args.series, progress=bar)
    finally:
        bar.close()
    print(f"    figure: {path}")
    return 0


def main(argv=None) -> int:
    """Run one command; every failure the user can fix is one line on stderr and exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"segment": command_segment, "demo": command_demo, "evaluate-ct": command_evaluate,
                "evaluate-bsds": command_bsds, "sweep": command_sweep, "figure-series": command_series,
                "serve": command_serve, "batch": command_batch}
    try:
        check_arguments(argv)  # before argparse, which would repeat such an argument in its message
        args = build_parser().parse_args(argv)
    except (InputError, UsageError) as error:  # one line, and one JSON line where --progress json was asked
        refused = argparse.Namespace(progress="json" if asks_for_json(argv) else None)
        if isinstance(error, InputError):
            return _failed(refused, f"error: {error}", 2)
        usage = f"ctseg {argv[0]} --help" if argv and argv[0] in commands else "ctseg --help"
        return _failed(refused, f"error: {error.message}: see `{usage}`", 2)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            return commands[args.command](args)
        except InputError as error:
            return _failed(args, f"error: {error}", 2)
        except Cancelled:
            return _failed(args, "cancelled; nothing was written", 130)
        except KeyboardInterrupt as stop:
            how = f"stopped ({stop.name})" if isinstance(stop, stops.Stopped) else "interrupted"
            status = stop.exit_code if isinstance(stop, stops.Stopped) else 130
            if args.command in RESUMABLE:
                return _failed(args, f"{how}; the finished results are kept in {args.output}: rerun the same "
                               "command to resume", status)
            return _failed(args, f"{how}; nothing was written", status)
        except (MemoryError, RuntimeError) as error:  # outside a run (the engine words its own)
            from ..engine.device import is_out_of_host_memory, out_of_memory_error

            if not is_out_of_host_memory(error):
                raise
            return _failed(args, f"error: {out_of_memory_error('cpu', error=error)}", 2)
        except OSError as error:  # the checks before the run passed, then the system refused
            where = f" '{shown(error.filename)}'" if error.filename else ""
            if error.errno == errno.ENAMETOOLONG:  # a path the user gave, too long for the file system
                return _failed(args, f"error:{where} {error.strerror}: give a shorter path (file names of at most "
                               "255 bytes)", 2)
            return _failed(args, f"error:{where} {error.strerror or error}: check the paths, permissions and free "
                           "disk space", 1)


def check_arguments(argv) -> None:
    """Refuse an argument holding a NUL or bytes that are no UTF-8 text (on Linux a file name in
    another encoding arrives as surrogate escapes), before any library sees it: ITK aborts the
    whole process on such a path, and no message could print it."""
    for argument in argv:
        if "\x00" in argument:
            raise InputError(f"the argument '{shown(argument)}' holds a NUL character, which no path or value can "
                             "hold: remove it")
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"the argument '{shown(argument)}' is no UTF-8 text (a name in another encoding; each "
                             "byte that is no UTF-8 shows as \\xNN): rename the file or folder to a UTF-8 name "
                             "and give the new path") from None


def asks_for_json(argv) -> bool:
    """Whether a `segment` command line that could not be parsed asked for --progress json (its last
    --progress, or an abbreviation argparse accepts, before any `--`)."""
    if not argv or argv[0] != "segment":
        return False
    wanted = False
    for at, argument in enumerate(argv):
        if argument == "--":
            break
        name, equals, value = argument.partition("=")
        if len(name) >= len("--pro") and "--progress".startswith(name):
            wanted = (value if equals else (argv[at + 1] if at + 1 < len(argv) else "")) == "json"
    return wanted


def _failed(args, message: str, status: int) -> int:
    """Say why the command failed: one line on stderr, and one JSON line on stdout for --progress json.
    The message is made one line of bounded length (engine.errors.one_line), whatever text it quotes."""
    message = one_line(message)
    print(f"ctseg: {message}", file=sys.stderr, flush=True)
    if getattr(args, "progress", None) == "json":
        from ..io.progresslines import error_line

        print(error_line(message.removeprefix("error: "), status), flush=True)
    return status


def run() -> int:
    """The `ctseg` program: main() with SIGTERM and SIGHUP stopping as cleanly as Ctrl-C, and no stop
    after the work is done turning a finished run into a failed one."""
    from ..engine.device import prefer_passive_waiting

    prefer_passive_waiting()  # before anything imports PyTorch
    stops.install()
    try:
        return main()
    finally:
        stops.finish()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one 'ctseg: warning:' line on stderr, without Python's source line."""
    print(f"ctseg: warning: {one_line(message)}", file=sys.stderr if file is None else file)


if __name__ == "__main__":
    sys.exit(run())
