import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import blocks_volume

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.io.readers import read_volume
from UnsupervisedCTSegLib.io.writers import write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--train-size", "0", "--no-body-mask", "--device", "cpu", "--quiet"]


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_segment_writes_labelmap_segmentation_record_and_overview(tmp_path, capsys):
    volume = blocks_volume()
    source = write_volume(tmp_path / "ct.nrrd", volume)
    out = tmp_path / "out" / "ct_labels.nii.gz"
    assert main(["segment", str(source), "-o", str(out), *FAST, "--seed", "3"]) == 0
    names = files_in(out.parent)
    assert names == ["ct_labels.json", "ct_labels.nii.gz", "ct_labels.png", "ct_labels.seg.nrrd"]
    labels = read_volume(out)
    assert labels.spacing == pytest.approx(volume.spacing)
    assert labels.origin == pytest.approx(volume.origin)
    assert np.allclose(labels.direction, volume.direction)
    record = json.loads((out.parent / "ct_labels.json").read_text())
    assert record["seed"] == 3 and record["settings"]["layers"] == 2
    assert record["outputs"]["labelmap"] == str(out)
    assert len(record["labels"]) == int(labels.hu.max())
    assert "labels in" in capsys.readouterr().out


def test_module_entry_point_runs(tmp_path):
    import subprocess
    import sys

    source = write_volume(tmp_path / "ct.nrrd", blocks_volume(depth=1, size=12))
    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", str(source), "-o",
                           str(tmp_path / "l.nrrd"), *FAST], capture_output=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "l.seg.nrrd").exists()


@pytest.mark.parametrize("case,word", [
    ("missing", "does not exist"), ("unreadable", "cannot read"), ("rgb", "RGB"), ("4d", "4D"),
    ("nan", "NaN"), ("tiny", "smaller than the network"), ("M0", "M (layers)"), ("p1", "p (channels)"),
    ("theta", "θ"), ("mu", "μ"), ("T0", "iterations"), ("minlabels", "minLabels"), ("badout", "must end in"),
])
def test_bad_input_one_line_exit_2_no_files(tmp_path, capsys, case, word):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = write_volume(inputs / "ct.nrrd", blocks_volume(depth=1, size=12))
    source, extra = good, []
    if case == "missing":
        source = inputs / "nothing.nrrd"
    elif case == "unreadable":
        source = inputs / "junk.nrrd"
        source.write_bytes(os.urandom(300))
    elif case == "rgb":
        source = inputs / "rgb.mha"
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((6, 6, 6, 3), np.uint8), isVector=True), str(source))
    elif case == "4d":
        source = inputs / "t.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 6, 6), np.int16), isVector=False), str(source))
    elif case == "nan":
        source = inputs / "nan.nrrd"
        array = np.zeros((2, 8, 8), np.float32)
        array[0, 0, 0] = np.nan
        sitk.WriteImage(sitk.GetImageFromArray(array), str(source))
    elif case == "tiny":
        source = inputs / "tiny.nrrd"
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 2, 2), np.int16)), str(source))
    else:
        extra = {"M0": ["-M", "0"], "p1": ["-p", "1"], "theta": ["--theta", "-1"], "mu": ["--mu", "-2"],
                 "T0": ["-T", "0"], "minlabels": ["--min-labels", "11"], "badout": []}[case]
    out = tmp_path / "out" / ("labels.png" if case == "badout" else "labels.nrrd")
    before = files_in(inputs)
    code = main(["segment", str(source), "-o", str(out), *FAST, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("ctseg: error:") and word in err[0], err
    assert not out.parent.exists() or files_in(out.parent) == []
    assert files_in(inputs) == before


def test_failed_write_leaves_no_partial_outputs(tmp_path, monkeypatch, capsys):
    import errno

    import UnsupervisedCTSegLib.io.overview as overview

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(overview, "write_overview", broken)  # the last of the four outputs fails
    source = write_volume(tmp_path / "ct.nrrd", blocks_volume(depth=1, size=12))
    out = tmp_path / "out" / "labels.nrrd"
    assert main(["segment", str(source), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "none of the outputs was changed" in err[0], err
    assert not out.parent.exists()  # not even the folder the run made for its outputs


def test_study_preset_sets_the_papers_configuration():
    from UnsupervisedCTSegLib.cli.main import build_parser, settings_from

    settings = settings_from(build_parser().parse_args(["segment", "x", "-o", "y.nrrd", "--preset", "study", "-T", "7"]))
    assert (settings.mode, settings.layers, settings.theta, settings.mu, settings.channels) == ("slice", 9, 1.5, 1.0, 100)
    assert settings.windows == ("wide",) and settings.iterations == 7


def test_help_shows_every_setting_with_its_help_and_the_engines_default(capsys):
    from UnsupervisedCTSegLib.engine.settings import flag_names, knobs, shown_default

    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 48)" in text and "(default wide,soft)" in text and "(default on)" in text
    for name, what in knobs().items():
        assert f"{what.help} (default {shown_default(name)})" in text, name
        assert all(flag in text for flag in flag_names(name)), name


def test_no_body_is_one_clear_line_and_no_files(tmp_path, capsys):
    air = blocks_volume(depth=2, size=12)
    air.hu[:] = -1000.0
    source = write_volume(tmp_path / "air.nrrd", air)
    out = tmp_path / "out" / "labels.nrrd"
    code = main(["segment", str(source), "-o", str(out), *[f for f in FAST if f != "--no-body-mask"], "--body-mask"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "no body found" in err[0] and "--no-body-mask" in err[0], err
    assert not out.parent.exists() or files_in(out.parent) == []


def test_cpu_run_announces_its_estimated_time_first(tmp_path, capsys):
    source = write_volume(tmp_path / "ct.nrrd", blocks_volume())
    loud = [flag for flag in FAST if flag != "--quiet"]
    assert main(["segment", str(source), "-o", str(tmp_path / "a.nrrd"), *loud]) == 0
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if "estimated run time" in l)
    assert "cpu" in line and "calibration" in line
    assert err.index("estimated run time") < err.rindex("done")  # before the run's last progress
    assert main(["segment", str(source), "-o", str(tmp_path / "b.nrrd"), *FAST]) == 0
    assert "estimated run time" not in capsys.readouterr().err  # --quiet: no calibration, no line


def test_readme_parameter_table_has_every_setting_with_its_flag_and_default():
    """The parameter table (docs/parameters.md, linked from the README) is checked against the Settings fields' Knobs."""
    import re
    from pathlib import Path

    from UnsupervisedCTSegLib.engine.settings import flag_names, knobs, shown_default

    text = (Path(__file__).resolve().parents[1] / "docs" / "parameters.md").read_text(encoding="utf-8")
    table = text.split("# Parameters", 1)[1].split("\n\n", 2)[1]
    field_of = {flag: name for name in knobs() for flag in flag_names(name)}
    seen = {}
    for row in table.splitlines()[2:]:
        flags_cell, default_cell = [cell.strip() for cell in row.strip("|").split("|")[:2]]
        names = list(dict.fromkeys(field_of[f] for f in re.findall(r"`(-[-\w]+)", flags_cell) if f in field_of))
        defaults = [d.strip(" `") for d in default_cell.split(", ")] if default_cell else []
        if names:
            assert len(defaults) == len(names), row
            seen.update(zip(names, defaults))
    assert set(seen) == set(knobs()), f"settings missing from docs/parameters.md's table: {sorted(set(knobs()) - set(seen))}"
    for name, default in seen.items():
        assert default == shown_default(name), f"docs/parameters.md gives {name} the default {default}"


@pytest.fixture
def torch_threads_restored():
    """--threads sets PyTorch's thread count for the whole process: give the other tests theirs back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_progress_json_is_one_event_per_line_ending_with_the_outputs(tmp_path, capsys, torch_threads_restored):
    source = write_volume(tmp_path / "ct.nrrd", blocks_volume())
    out = tmp_path / "out" / "labels.nrrd"
    flags = [f for f in FAST if f != "--quiet"]  # with the estimate
    code = main(["segment", str(source), "-o", str(out), *flags, "--progress", "json", "--outputs", "labelmap",
                 "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = [json.loads(line) for line in captured.out.splitlines()]  # nothing else on stdout
    kinds = [e["event"] for e in events]
    assert kinds[0] == "estimate" and kinds[-1] == "done" and set(kinds[1:-1]) == {"progress"}, kinds
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    done = events[-1]
    assert set(done["outputs"]) == {"labelmap", "record"} and done["labels"] >= 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["labels.json", "labels.nrrd"]  # no picture, no .seg.nrrd


def test_progress_json_reports_bad_input_as_one_error_event(tmp_path, capsys):
    code = main(["segment", str(tmp_path / "missing.nrrd"), "-o", str(tmp_path / "l.nrrd"), "--progress", "json"])
    captured = capsys.readouterr()
    assert code == 2
    (event,) = [json.loads(line) for line in captured.out.splitlines()]
    assert event["event"] == "error" and event["status"] == 2 and "missing.nrrd" in event["message"]
    assert captured.err.startswith("ctseg: error:")
    assert main(["segment", str(tmp_path / "x.nrrd"), "-o", str(tmp_path / "l.nrrd"), "--threads", "0"]) == 2


def test_settings_as_command_line_flags_read_back_as_the_same_settings():
    """What the Slicer module passes to its child process (engine.settings.command_line) is what the
    command line reads: every field, the booleans and the window list included."""
    from UnsupervisedCTSegLib.cli.main import build_parser, settings_from
    from UnsupervisedCTSegLib.engine.settings import Settings, command_line

    for settings in (Settings(), Settings(theta=1.7, windows=("wide", "lung"), body_mask=False, outside_segment=True,
                                          k=7, min_island_mm3=12.5, fill_holes=True, lr=1e-5, device="cpu"),
                     Settings(variant="superpixel", mode="slice", classes=0, seed=2 ** 31 - 1)):
        args = build_parser().parse_args(["segment", "in.nrrd", "-o", "out.nrrd", *command_line(settings)])
        assert settings_from(args) == settings
