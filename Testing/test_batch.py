"""`ctseg batch` on small series: files, two DICOM studies with several series, DeepLesion PNGs with
DL_info.csv, a manifest, a bad series among good ones, and a rerun that resumes after a crash."""
import csv
import json

import pytest
from helpers import body_volume, write_dicom_series

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.writers import write_deeplesion_pngs, write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--no-ray", "--quiet"]
UID = "1.2.826.0.1.3680043.2.1125.7."


@pytest.fixture
def cohort(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_volume(inputs / "a.nrrd", body_volume(seed=1))
    for study, seeds in (("study1", (3, 4)), ("study2", (5, 6))):
        (inputs / study).mkdir()
        for n, seed in enumerate(seeds, start=1):
            write_dicom_series(inputs / study, body_volume(seed=seed, depth=6 + n), f"{UID}{seed}")
    body = body_volume(seed=7)
    write_deeplesion_pngs(inputs / "000001_01_01", Volume(body.hu, body.spacing))
    return inputs


def table(out):
    with open(out / "cohort.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_series_is_segmented_into_its_folder_and_one_table(tmp_path, cohort, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(cohort / "a.nrrd"), str(cohort / "study1"), str(cohort / "study2"),
                 str(cohort / "000001_01_01"), "-o", str(out), *FAST]) == 0, capsys.readouterr().err
    series = {"a", "study1_s1", "study1_s2", "study2_s1", "study2_s2", "000001_01_01"}
    assert {p.name for p in out.iterdir() if p.is_dir()} == series
    rows = table(out)
    assert {r["series"] for r in rows} == series and all(r["status"] == "done" for r in rows)
    assert all(float(r["volume_ml"]) > 0 and r["tissue"] for r in rows)
    assert (out / "cohort.png").stat().st_size > 0
    assert [r["series"] for r in json.loads((out / "cohort.json").read_text())] == [r["series"] for r in rows]
    spacing = {r["series"]: r["spacing_xyz"] for r in rows}
    assert spacing["000001_01_01"] == "0.8 0.8 2.5"  # from DL_info.csv


def test_a_bad_series_is_reported_and_the_others_go_on(tmp_path, cohort, capsys):
    (cohort / "bad.nrrd").write_text("not an image")
    out = tmp_path / "out"
    assert main(["batch", str(cohort / "a.nrrd"), str(cohort / "bad.nrrd"), "-o", str(out), *FAST]) == 1
    rows = {r["series"]: r for r in table(out)}
    assert rows["bad"]["status"] == "failed" and "cannot read" in rows["bad"]["reason"]
    assert rows["a"]["status"] == "done"


def test_a_rerun_skips_what_is_done_and_redoes_what_a_crash_left_half_written(tmp_path, cohort, capsys):
    out = tmp_path / "out"
    argv = ["batch", str(cohort / "a.nrrd"), str(cohort / "study1"), "-o", str(out), *FAST]
    assert main(argv) == 0
    before = (out / "study1_s1" / "labels.nrrd").stat().st_mtime_ns
    (out / "a" / "labels.png").unlink()  # as a run killed while writing would leave it
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "1 segmented, 2 already done" in said, said
    assert (out / "a" / "labels.png").is_file() and (out / "study1_s1" / "labels.nrrd").stat().st_mtime_ns == before
    assert main([*argv, "--seed", "7"]) == 0  # other settings: everything again
    assert "3 segmented, 0 already done" in capsys.readouterr().out


def test_a_manifest_names_the_series(tmp_path, cohort, capsys):
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(f"id,path,spacing\npatient-7,{cohort / 'a.nrrd'},\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), *FAST]) == 0
    assert {r["series"] for r in table(out)} == {"patient-7"}


def test_outputs_inside_an_input_folder_are_refused(tmp_path, cohort, capsys):
    assert main(["batch", str(cohort / "study1"), "-o", str(cohort / "study1" / "out"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside the inputs" in err[0]
    assert not (cohort / "study1" / "out").exists()
