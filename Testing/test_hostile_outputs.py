"""Outputs all or nothing, every file a run reads protected, and only provably stale temporaries removed.

A run writes the labelmap and the files beside it as one set: when any of them cannot be put in
place, the user's previous files stay byte for byte, and the message says so truthfully. What stands
in the way (a folder, a special or immutable file, a name too long) is found before any work. The
strokes file is an input like the CT. Another run's temporary files are deleted only when they are
provably stale: a run of this host and PID namespace that is gone, or a file untouched for a day.
"""
import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import body_volume

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.io import writers
from UnsupervisedCTSegLib.io.outputs import output_paths
from UnsupervisedCTSegLib.io.writers import remove_stale_partials, temporary_path, write_labelmap, write_volume

DAY = 24 * 3600  # writers.STALE_AFTER_SECONDS

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet"]


def fingerprint(folder):
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder")
            for p in sorted(folder.rglob("*"))}


def hidden(folder):
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.fixture
def earlier_run(tmp_path):
    """A CT and an earlier run's complete set of outputs in out/."""
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "ct.nrrd", body_volume())
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(source), "-o", str(out), *FAST, "--seed", "1"]) == 0
    return source, out


def refused(capsys, argv, *words):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("ctseg: error:"), err
    for word in words:
        assert word in err[0], (word, err[0])
    return err[0]


# --------------------------------------------------------------------------- in the way, found before the run

def folder_where_the_picture_goes(out):
    output_paths(out)["overview"].unlink()
    output_paths(out)["overview"].mkdir()
    return [], "exists as a folder"


def folder_where_the_record_goes_with_labelmap_only(out):
    output_paths(out)["record"].unlink()
    output_paths(out)["record"].mkdir()
    return ["--outputs", "labelmap"], "exists as a folder"


def fifo_where_the_segmentation_goes(out):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    output_paths(out)["segmentation"].unlink()
    os.mkfifo(output_paths(out)["segmentation"])
    return [], "not a regular file"


def immutable_picture(out):
    path = output_paths(out)["overview"]
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    return [], "read-only or locked"


CASES = [folder_where_the_picture_goes, folder_where_the_record_goes_with_labelmap_only,
         fifo_where_the_segmentation_goes, immutable_picture]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_an_output_that_cannot_be_replaced_is_refused_before_the_run_and_nothing_changes(earlier_run, capsys, case):
    source, out = earlier_run
    extra, words = case(out)
    try:
        before = fingerprint(out.parent)
        refused(capsys, ["segment", str(source), "-o", str(out), *FAST, "--seed", "2", *extra], words)
        assert fingerprint(out.parent) == before
        assert hidden(out.parent) == []
    finally:
        subprocess.run(["chattr", "-i", str(output_paths(out)["overview"])], capture_output=True)


def test_when_a_rename_fails_at_the_end_the_previous_outputs_are_put_back(earlier_run, capsys, monkeypatch):
    """Something takes the picture's place during the run (after the early checks): the labelmap,
    segmentation and record already renamed are put back, and the message says nothing changed."""
    source, out = earlier_run
    before = fingerprint(out.parent)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst) == str(output_paths(out)["overview"]) and ".partial" in str(src):
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(writers.os, "replace", failing_replace)
    code = main(["segment", str(source), "-o", str(out), *FAST, "--seed", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "none of the outputs was changed" in err[0] and "l.png" in err[0] and ".partial" not in err[0], err
    assert fingerprint(out.parent) == before
    assert hidden(out.parent) == []


def test_a_replaced_set_is_complete_and_new(earlier_run, capsys):
    source, out = earlier_run
    before = fingerprint(out.parent)
    assert main(["segment", str(source), "-o", str(out), *FAST, "--seed", "2"]) == 0
    after = fingerprint(out.parent)
    assert set(after) == set(before) and all(after[k] != before[k] for k in ("l.nrrd", "l.json"))
    assert hidden(out.parent) == []


# --------------------------------------------------------------------------- names decided before the run

@pytest.mark.parametrize("name", ["l.nii.GZ", "l.NII", "l.Nii.Gz"])
def test_nifti_suffixes_no_reader_accepts_are_refused_before_the_run(tmp_path, capsys, name):
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "ct.nrrd", body_volume())
    refused(capsys, ["segment", str(source), "-o", str(tmp_path / "out" / name), *FAST], "lower-case")
    assert not (tmp_path / "out").exists()


def test_a_name_at_the_limit_is_written_and_one_past_it_refused(tmp_path, capsys):
    """The temporary names must not push a 251-character labelmap name over the limit; the
    .seg.nrrd beside a 252-character one would be 256 bytes, which no file system takes."""
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "ct.nrrd", body_volume())
    longest = tmp_path / "out" / ("a" * 246 + ".nrrd")
    assert main(["segment", str(source), "-o", str(longest), *FAST]) == 0, capsys.readouterr().err
    assert all(p.is_file() for p in output_paths(longest).values() if p.suffix != ".pt")
    capsys.readouterr()
    too_long = tmp_path / "out2" / ("a" * 247 + ".nrrd")
    refused(capsys, ["segment", str(source), "-o", str(too_long), *FAST], "256 bytes")
    assert not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- the strokes are an input

@pytest.fixture
def strokes(tmp_path):
    volume = body_volume()
    (tmp_path / "in").mkdir(exist_ok=True)
    source = write_volume(tmp_path / "in" / "ct.nrrd", volume)
    painted = np.zeros(volume.shape, np.uint16)
    painted[:, 20:24, 20:24] = 1
    painted[:, 2:5, 2:5] = 2
    return source, write_labelmap(tmp_path / "in" / "strokes.nrrd", painted, volume)


def test_the_strokes_file_as_output_is_refused(tmp_path, capsys, strokes):
    source, painted = strokes
    before = fingerprint(tmp_path / "in")
    refused(capsys, ["segment", str(source), "-o", str(painted), "--scribbles", str(painted), *FAST],
            "would overwrite the input", "strokes.nrrd")
    assert fingerprint(tmp_path / "in") == before


def test_a_seg_nrrd_of_strokes_beside_the_output_is_refused(tmp_path, capsys, strokes):
    """`--scribbles s.seg.nrrd -o s.nrrd`: the Slicer segmentation written beside s.nrrd is the strokes."""
    source, painted = strokes
    seg = tmp_path / "in" / "s.seg.nrrd"
    seg.write_bytes(painted.read_bytes())
    before = fingerprint(tmp_path / "in")
    refused(capsys, ["segment", str(source), "-o", str(tmp_path / "in" / "s.nrrd"), "--scribbles", str(seg),
                     *FAST], "would overwrite the input", "s.seg.nrrd")
    assert fingerprint(tmp_path / "in") == before


# --------------------------------------------------------------------------- other runs' temporary files

def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(folder, name, age_seconds=0.0):
    path = folder / name
    path.write_bytes(b"partial")
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return path


def test_a_live_run_elsewhere_keeps_its_temporary_files(tmp_path):
    """A process id from another PID namespace (a container) or host means nothing here: its files stay
    until they are a day old, whether they carry another host's mark or the older names without one."""
    pid = dead_pid()
    other_host = leftover(tmp_path, f".l.{pid}-0badc0de-0123abcd.partial.nrrd")
    unmarked = leftover(tmp_path, f".l.{pid}-0123abcd.partial.nrrd")
    assert remove_stale_partials(tmp_path) == []
    assert other_host.exists() and unmarked.exists()


def test_provably_stale_temporary_files_are_removed(tmp_path):
    ours_dead = tmp_path / temporary_path(tmp_path / "l.nrrd").name.replace(f".{os.getpid()}-", f".{dead_pid()}-")
    ours_dead.write_bytes(b"partial")
    ours_alive = temporary_path(tmp_path / "l.seg.nrrd")
    ours_alive.write_bytes(b"partial")
    old_elsewhere = leftover(tmp_path, f".l.{os.getpid()}-0badc0de-0123abcd.partial.png", DAY + 60)
    foreign = leftover(tmp_path, ".l.nrrd.partial", DAY + 60)  # not a name of ours
    assert sorted(remove_stale_partials(tmp_path)) == sorted([ours_dead, old_elsewhere])
    assert ours_alive.exists() and foreign.exists()


def test_a_file_a_killed_run_set_aside_goes_back_to_its_name(tmp_path):
    aside = tmp_path / f".l.{dead_pid()}-{writers.HOST}-0123abcd.previous.nrrd"
    aside.write_bytes(b"the user's labels")
    remove_stale_partials(tmp_path)
    assert (tmp_path / "l.nrrd").read_bytes() == b"the user's labels" and not aside.exists()


# --------------------------------------------------------------------------- the record keeps every warning

def test_the_run_record_carries_every_warning_the_user_saw(tmp_path, capsys):
    """PNG slices without spacing: the assumption is one warning line and stays in the record's warnings."""
    import json

    from UnsupervisedCTSegLib.engine.volume import Volume
    from UnsupervisedCTSegLib.io.writers import write_deeplesion_pngs

    body = body_volume()
    folder = write_deeplesion_pngs(tmp_path / "in" / "000001_01_01", Volume(body.hu, body.spacing))
    (folder / "DL_info.csv").unlink()
    out = tmp_path / "out" / "l.nrrd"
    assert main(["segment", str(folder), "-o", str(out), *FAST]) == 0
    shown = [line.removeprefix("ctseg: warning: ") for line in capsys.readouterr().err.splitlines()
             if line.startswith("ctseg: warning:")]
    assert shown and json.loads(output_paths(out)["record"].read_text())["warnings"] == shown


def test_an_empty_strokes_argument_is_refused_not_ignored(tmp_path, capsys, strokes):
    source, _ = strokes
    refused(capsys, ["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"), "--scribbles", "", *FAST],
            "--scribbles is empty")
    assert not (tmp_path / "out").exists()
