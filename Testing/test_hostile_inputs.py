"""`ctseg` used the way a careless or unlucky user works: inputs that are outputs, broken files, absurd
geometry, places that cannot be written, absurd parameters.

Every refusal is checked the same way: exit status 2, exactly one line on stderr naming the problem,
no output file (and no temporary file) anywhere, and every input file byte for byte as it was.
Inputs are 48 x 48 x 8 and runs have 3 iterations, so the whole file takes seconds.
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from helpers import body_volume, write_dicom_series

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.io.writers import write_deeplesion_pngs, write_labelmap, write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet"]
SERIES_A, SERIES_B = "1.2.826.0.1.3680043.2.1125.7.1", "1.2.826.0.1.3680043.2.1125.7.2"


def fingerprint(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def partials(folder):
    return [p.name for p in folder.rglob("*") if ".partial" in p.name]


def truncate(path, share=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def ct(tmp, name="ct.nrrd", **kwargs):
    (tmp / "in").mkdir(exist_ok=True)
    return write_volume(tmp / "in" / name, body_volume(**kwargs))


def itk_file(tmp, name, **kwargs):
    """Write with SimpleITK directly, for formats with a detached data file (.mhd, .nhdr)."""
    (tmp / "in").mkdir(exist_ok=True)
    volume = body_volume(**kwargs)
    image = sitk.GetImageFromArray(volume.hu.astype(np.int16))
    image.SetSpacing(volume.spacing)
    sitk.WriteImage(image, str(tmp / "in" / name))
    return tmp / "in" / name


def png_folder(tmp, keep_info=True):
    body = body_volume()
    folder = write_deeplesion_pngs(tmp / "in" / "000001_01_01", Volume(body.hu, body.spacing))  # PNGs keep no direction
    if not keep_info:
        (folder / "DL_info.csv").unlink()
    return folder


def dicom_folder(tmp, second_series=False):
    folder = tmp / "in" / "dicom"
    folder.parent.mkdir(exist_ok=True)
    write_dicom_series(folder, body_volume(), SERIES_A, description="abdomen")
    if second_series:
        write_dicom_series(folder, body_volume(depth=3), SERIES_B, description="scout")
    return folder


# --------------------------------------------------------------------------- the refusals
# Each case builds its inputs under tmp/"in" and returns (argv, words the one error line must hold).

def out_is_input_nrrd(tmp):
    source = ct(tmp)
    return ["segment", str(source), "-o", str(source)], ["would overwrite the input", "-o"]


def out_is_input_nii_gz(tmp):
    source = ct(tmp, "ct.nii.gz")
    return ["segment", str(source), "-o", str(source)], ["would overwrite the input", "ct_labels.nii.gz"]


def out_is_input_nii(tmp):
    source = ct(tmp, "ct.nii")
    return ["segment", str(source), "-o", str(source)], ["would overwrite the input"]


def out_is_input_by_another_path(tmp):
    source = ct(tmp)
    return ["segment", str(source), "-o", str(tmp / "in" / ".." / "in" / "ct.nrrd")], ["would overwrite the input"]


def out_is_input_through_a_link(tmp):
    source = ct(tmp)
    os.symlink(source, tmp / "in" / "link.nrrd")
    return ["segment", str(tmp / "in" / "link.nrrd"), "-o", str(source)], ["would overwrite the input"]


def out_is_a_hard_link_of_input(tmp):
    source = ct(tmp)
    os.link(source, tmp / "in" / "same.nrrd")
    return ["segment", str(source), "-o", str(tmp / "in" / "same.nrrd")], ["would overwrite the input"]


def segmentation_beside_out_is_input(tmp):
    source = ct(tmp, "lab.seg.nrrd")
    return ["segment", str(source), "-o", str(tmp / "in" / "lab.nrrd")], ["Slicer segmentation", "would overwrite",
                                                                          "lab_labels.nrrd"]


def overview_beside_out_is_input_png(tmp):
    folder = png_folder(tmp)
    return ["segment", str(folder / "000.png"), "-o", str(folder / "000.nrrd")], ["overview picture",
                                                                                 "would overwrite"]


def overview_lands_on_a_slice_of_the_png_folder(tmp):
    folder = png_folder(tmp)
    return ["segment", str(folder), "-o", str(folder / "000.nrrd")], ["overview picture", "000.png"]


def overview_joins_the_png_series(tmp):
    folder = png_folder(tmp)
    return ["segment", str(folder), "-o", str(folder / "labels.nrrd")], [
        "no longer read as one series", f"-o {folder.parent / 'labels.nrrd'}"]


def figure_is_the_input_png(tmp):
    folder = png_folder(tmp)
    return ["figure-series", str(folder), "-o", str(folder / "001.png"), *FAST], ["figure", "would overwrite"]


def evaluation_report_is_an_input(tmp):
    source = ct(tmp)
    reference = write_labelmap(tmp / "in" / "reference.nrrd", np.ones(body_volume().shape, np.uint16), body_volume())
    (tmp / "in" / "evaluation.json").write_text('{"1": "liver"}')
    return ["evaluate-ct", str(source), str(reference), "--names", str(tmp / "in" / "evaluation.json"),
            "-o", str(tmp / "in"), "--configs", "kmeans6", "--seeds", "0"], ["would overwrite the input",
                                                                              "evaluation.json"]


def sweep_montage_joins_the_png_series(tmp):
    folder = png_folder(tmp)
    return ["sweep", str(folder), "-M", "2", "--theta", "1", "--mu", "1", "-o", str(folder), "--no-ray",
            "--slice", "0", *FAST], ["montage", "no longer read as one series"]


def truncated_nii(tmp):
    return ["segment", str(truncate(ct(tmp, "ct.nii"))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["cut short"]


def truncated_nii_gz(tmp):
    return ["segment", str(truncate(ct(tmp, "ct.nii.gz"))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["cut short"]


def nii_cut_inside_its_header(tmp):
    return ["segment", str(truncate(ct(tmp, "ct.nii"), 0.004)), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "cannot read"]


def truncated_nrrd(tmp):
    return ["segment", str(truncate(ct(tmp, "ct.nrrd"))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["cannot read"]


def truncated_mha(tmp):
    return ["segment", str(truncate(ct(tmp, "ct.mha"))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "cannot read", "cut short"]


def metaimage_without_its_raw(tmp):
    header = itk_file(tmp, "ct.mhd")
    (tmp / "in" / "ct.raw").unlink()
    return ["segment", str(header), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["'ct.raw'", "is missing"]


def nrrd_header_without_its_data(tmp):
    header = itk_file(tmp, "ct.nhdr")
    for data in (tmp / "in").glob("ct.raw*"):
        data.unlink()
    return ["segment", str(header), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["is missing"]


def empty_file(tmp):
    (tmp / "in").mkdir()
    (tmp / "in" / "ct.nii.gz").write_bytes(b"")
    return ["segment", str(tmp / "in" / "ct.nii.gz"), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["cannot read"]


def dicom_folder_with_two_series(tmp):
    folder = dicom_folder(tmp, second_series=True)
    return ["segment", str(folder), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "2 DICOM series", '"abdomen"', "8 slices of 48 x 48", '"scout"', "3 slices", "--series"]


def dicom_series_that_is_not_there(tmp):
    folder = dicom_folder(tmp, second_series=True)
    return ["segment", str(folder), "--series", "1.2.3", "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "no DICOM series 1.2.3", SERIES_A]


def dicom_slice_without_pixel_data(tmp):
    folder = dicom_folder(tmp)
    broken = sorted(folder.glob("*.dcm"))[3]
    header = pydicom.dcmread(broken)
    del header.PixelData
    header.save_as(broken)
    return ["segment", str(folder), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [broken.name, "no pixel data"]


def dicom_slice_missing(tmp):
    folder = dicom_folder(tmp)
    sorted(folder.glob("*.dcm"))[4].unlink()
    return ["segment", str(folder), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "gap", "5 mm", "2.5 mm apart", "1 slice missing"]


def dicom_slice_twice(tmp):
    folder = dicom_folder(tmp)
    first = sorted(folder.glob("*.dcm"))[2]
    header = pydicom.dcmread(first)
    header.SOPInstanceUID = header.SOPInstanceUID + ".9"
    header.save_as(folder / "copy.dcm")
    return ["segment", str(folder), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["same position"]


def spacing_1e_minus_30(tmp):
    return ["segment", str(ct(tmp, spacing=(1e-30, 1e-30, 1e-30))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "looks wrong", "--spacing"]


def spacing_in_metres(tmp):
    return ["segment", str(ct(tmp, spacing=(0.0008, 0.0008, 0.0025))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "looks wrong", "metres"]


def spacing_of_a_metre(tmp):
    return ["segment", str(ct(tmp, spacing=(1000.0, 1000.0, 1000.0))), "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "looks wrong"]


def spacing_flag_absurd(tmp):
    return ["segment", str(ct(tmp)), "--spacing", "1e-30", "1", "1", "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "looks wrong"]


def output_under_a_file(tmp):
    source = ct(tmp)
    return ["segment", str(source), "-o", str(source / "out.nrrd"), *FAST], ["which is a file"]


def output_is_a_folder(tmp):
    source = ct(tmp)
    (tmp / "in" / "folder.nrrd").mkdir()
    return ["segment", str(source), "-o", str(tmp / "in" / "folder.nrrd"), *FAST], ["is a folder"]


def evaluate_into_a_folder_under_a_file(tmp):
    source = ct(tmp)
    return ["evaluate-ct", str(source), str(source), "--names", str(source), "-o", str(source / "report")], [
        "which is a file"]


def sweep_into_a_folder_under_a_file(tmp):
    source = ct(tmp)
    return ["sweep", str(source), "-M", "2", "--theta", "1", "--mu", "1", "-o", str(source / "sweep"), "--no-ray"], [
        "which is a file"]


def demo_into_a_folder_under_a_file(tmp):
    source = ct(tmp)
    return ["demo", "-o", str(source / "demo"), *FAST], ["which is a file"]


def demo_into_an_existing_file(tmp):
    source = ct(tmp)
    return ["demo", "-o", str(source), *FAST], ["is a file"]


def figure_under_a_file(tmp):
    source = ct(tmp)
    return ["figure-series", str(source), "-o", str(source / "series.png"), *FAST], ["which is a file"]


def bsds_into_a_folder_under_a_file(tmp):
    source = ct(tmp)
    return ["evaluate-bsds", str(tmp), "-o", str(source / "bsds"), "--no-ray"], ["which is a file"]


def output_named_like_the_segmentation(tmp):
    return ["segment", str(ct(tmp)), "-o", str(tmp / "out" / "lab.seg.nrrd"), *FAST], [
        "names the Slicer segmentation", "lab.nrrd"]


def mu_infinite(tmp):
    return ["segment", str(ct(tmp)), "--mu", "inf", "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["μ (mu) = inf", "finite"]


def theta_nan(tmp):
    return ["segment", str(ct(tmp)), "--theta", "nan", "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["θ (theta) = nan"]


def lr_infinite(tmp):
    return ["segment", str(ct(tmp)), "--lr", "inf", "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["lr = inf"]


def island_size_minus_infinite(tmp):
    return ["segment", str(ct(tmp)), "--min-island-mm3=-inf", "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "min_island_mm3 = -inf"]


def seed_too_large(tmp):
    return ["segment", str(ct(tmp)), "--seed", "99999999999999999999", "-o", str(tmp / "out" / "l.nrrd"), *FAST], [
        "seed", "0 to 2147483647"]


def seed_negative(tmp):
    return ["segment", str(ct(tmp)), "--seed", "-1", "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["seed"]


def demo_device_banana(tmp):
    return ["demo", "-o", str(tmp / "out"), *FAST, "--device", "banana"], ["unknown device 'banana'"]


def segment_device_banana(tmp):
    return ["segment", str(ct(tmp)), "-o", str(tmp / "out" / "l.nrrd"), *FAST, "--device", "banana"], [
        "unknown device"]


def demo_on_a_gpu_this_machine_lacks(tmp):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    return ["demo", "-o", str(tmp / "out"), *FAST, "--device", "cuda"], ["no CUDA GPU"]


def sweep_device_banana(tmp):
    return ["sweep", str(ct(tmp)), "-M", "2", "--theta", "1", "--mu", "1", "-o", str(tmp / "out"), "--no-ray",
            "--device", "banana"], ["unknown device"]


REFUSALS = [
    out_is_input_nrrd, out_is_input_nii_gz, out_is_input_nii, out_is_input_by_another_path, out_is_input_through_a_link,
    out_is_a_hard_link_of_input, segmentation_beside_out_is_input, overview_beside_out_is_input_png,
    overview_lands_on_a_slice_of_the_png_folder, overview_joins_the_png_series,
    figure_is_the_input_png, evaluation_report_is_an_input, sweep_montage_joins_the_png_series,
    truncated_nii, truncated_nii_gz, nii_cut_inside_its_header, truncated_nrrd, truncated_mha,
    metaimage_without_its_raw, nrrd_header_without_its_data, empty_file, dicom_folder_with_two_series,
    dicom_series_that_is_not_there, dicom_slice_without_pixel_data, dicom_slice_missing, dicom_slice_twice,
    spacing_1e_minus_30, spacing_in_metres, spacing_of_a_metre, spacing_flag_absurd,
    output_under_a_file, output_is_a_folder, evaluate_into_a_folder_under_a_file, sweep_into_a_folder_under_a_file,
    demo_into_a_folder_under_a_file, demo_into_an_existing_file, figure_under_a_file, bsds_into_a_folder_under_a_file,
    output_named_like_the_segmentation, mu_infinite, theta_nan, lr_infinite, island_size_minus_infinite,
    seed_too_large, seed_negative, demo_device_banana, segment_device_banana, demo_on_a_gpu_this_machine_lacks,
    sweep_device_banana,
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.__name__ for c in REFUSALS])
def test_refused_with_one_line_and_nothing_touched(tmp_path, capsys, case):
    argv, words = case(tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    before = fingerprint(inputs)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("ctseg: error:"), err
    for word in words:
        assert word in err[0], (word, err[0])
    assert fingerprint(inputs) == before  # nothing overwritten, nothing added among the inputs
    assert not (tmp_path / "out").exists()
    assert partials(tmp_path) == []


def test_a_refusal_comes_before_any_work(tmp_path, capsys):
    """The output check runs before the CT is read, so the user never waits for nothing."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ct.nii.gz").write_bytes(b"not read")
    (tmp_path / "file").write_text("x")
    assert main(["segment", str(tmp_path / "in" / "ct.nii.gz"), "-o", str(tmp_path / "file" / "l.nrrd"), *FAST]) == 2
    assert "which is a file" in capsys.readouterr().err  # not "cannot read": the CT was never opened


# --------------------------------------------------------------------------- what must still work

def segment_ok(tmp, capsys, source, *extra, out=None):
    out = out or tmp / "out" / "l.nrrd"
    code = main(["segment", str(source), "-o", str(out), *FAST, *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return out, captured.err.strip().splitlines()


def test_sub_millimetre_spacing_and_tiny_slices_find_the_body(tmp_path, capsys):
    """The 3 mm opening used to erase a body sampled at 0.05 mm or only 4 x 4 pixels wide."""
    out, _ = segment_ok(tmp_path, capsys, ct(tmp_path, "fine.nrrd", spacing=(0.05, 0.05, 0.05)))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert labels[:, 24, 24].all() and not labels[:, 0, 0].any()  # the body labelled, the air around it not
    tiny = body_volume()
    tiny.hu = np.ascontiguousarray(tiny.hu[:, 20:24, 20:24])
    source = write_volume(tmp_path / "in" / "tiny.nrrd", tiny)
    out, _ = segment_ok(tmp_path, capsys, source, out=tmp_path / "out" / "tiny.nrrd")
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out))).all()


def test_a_dicom_series_is_chosen_by_uid_or_by_one_of_its_files(tmp_path, capsys):
    folder = dicom_folder(tmp_path, second_series=True)
    out, _ = segment_ok(tmp_path, capsys, folder, "--series", SERIES_B)
    assert sitk.ReadImage(str(out)).GetSize() == (48, 48, 3)
    out, _ = segment_ok(tmp_path, capsys, sorted(folder.glob("1_*.dcm"))[0], out=tmp_path / "out" / "a.nrrd")
    assert sitk.ReadImage(str(out)).GetSize() == (48, 48, 8)


def test_png_slices_without_spacing_say_so_in_one_line_and_in_the_record(tmp_path, capsys):
    out, err = segment_ok(tmp_path, capsys, png_folder(tmp_path, keep_info=False))
    assert len(err) == 1 and err[0].startswith("ctseg: warning:") and "assuming 1 x 1 x 1 mm" in err[0], err
    record = json.loads(out.with_suffix(".json").read_text())
    assert any("assuming 1 x 1 x 1 mm" in note for note in record["input"]["notes"])


def test_nii_output_is_written(tmp_path, capsys):
    out, _ = segment_ok(tmp_path, capsys, ct(tmp_path), out=tmp_path / "out" / "l.nii")
    assert sorted(p.name for p in out.parent.iterdir()) == ["l.json", "l.nii", "l.png", "l.seg.nrrd"]


# --------------------------------------------------------------------------- places that cannot be written

@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot create files in: a read-only mode, or, for root (which ignores
    modes), a system folder that refuses new files; skipped where neither exists."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for candidate in (locked, "/sys", "/proc/sys"):
            try:
                probe = os.path.join(candidate, "probe")
                open(probe, "w").close()
                os.unlink(probe)
            except OSError:
                yield candidate
                return
        pytest.skip("no folder here refuses new files")
    finally:
        locked.chmod(0o755)


def test_read_only_location_is_refused_before_the_run(tmp_path, capsys, read_only_folder):
    source = ct(tmp_path)
    before = fingerprint(tmp_path / "in")
    assert main(["segment", str(source), "-o", os.path.join(read_only_folder, "out", "l.nrrd"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write in" in err[0] and "writable folder" in err[0], err
    assert fingerprint(tmp_path / "in") == before


def test_disk_filling_while_writing_is_one_line_and_no_partial_files(tmp_path):
    """A file-size limit makes every write past it fail as a full disk does (EFBIG instead of ENOSPC)."""
    import matplotlib.font_manager  # noqa: F401  the child must find matplotlib's cache, not write it

    source = ct(tmp_path)
    out = tmp_path / "out" / "l.nrrd"

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", str(source), "-o", str(out),
                           *FAST], capture_output=True, encoding="utf-8", errors="replace", preexec_fn=limit,
                          timeout=300)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(err) == 1 and "cannot write" in err[0] and "File too large" in err[0], err
    assert not out.parent.exists()
    assert partials(tmp_path) == []


# --------------------------------------------------------------------------- stops

def start(tmp, source, out, preexec_fn=None):
    return subprocess.Popen([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", str(source), "-o", str(out),
                             *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
                            preexec_fn=preexec_fn)


def wait_for(condition, process, timeout=120.0):
    """Poll every millisecond until `condition()`; False if the process ended first."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.001)
    raise AssertionError("timed out")


OUTPUT_NAMES = ["l.json", "l.nrrd", "l.png", "l.seg.nrrd"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_while_writing_removes_every_temporary_file(tmp_path, signame):
    import signal

    source = ct(tmp_path)
    before = fingerprint(tmp_path / "in")
    out = tmp_path / "out" / "l.nrrd"
    process = start(tmp_path, source, out)
    writing = wait_for(lambda: out.parent.exists() and partials(out.parent), process)
    process.send_signal(getattr(signal, signame))
    _, err = process.communicate(timeout=120)
    names = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []
    if writing and process.returncode != 0:
        assert process.returncode == 128 + getattr(signal, signame), err
        assert f"stopped ({signame}); nothing was written" in err
        assert names == []
    else:  # the outputs were complete before the signal landed: then they must all be there
        assert process.returncode == 0 and names == OUTPUT_NAMES, err
    assert partials(tmp_path) == []
    assert fingerprint(tmp_path / "in") == before


def test_stops_after_the_outputs_are_complete_exit_0_with_all_of_them(tmp_path):
    """Ctrl-C and SIGTERM, again and again from the moment the last output is in place until the
    process has ended (printing, interpreter shutdown), never turn a finished run into a failure."""
    import signal
    import time

    source = ct(tmp_path)
    out = tmp_path / "out" / "l.nrrd"
    process = start(tmp_path, source, out)
    wait_for(lambda: out.with_suffix(".png").exists(), process)  # the overview is renamed last
    sent = 0
    while process.poll() is None:
        process.send_signal((signal.SIGINT, signal.SIGTERM)[sent % 2])
        sent += 1
        time.sleep(0.02)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, (sent, err)
    assert sorted(p.name for p in out.parent.iterdir()) == OUTPUT_NAMES


def test_a_run_started_under_nohup_keeps_running_through_a_hangup(tmp_path):
    import signal

    source = ct(tmp_path)
    out = tmp_path / "out" / "l.nrrd"
    process = start(tmp_path, source, out, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for(lambda: out.parent.exists() and partials(out.parent), process)
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert sorted(p.name for p in out.parent.iterdir()) == OUTPUT_NAMES


def test_a_killed_run_leaves_temporary_files_that_the_next_run_removes(tmp_path, capsys):
    import signal

    source = ct(tmp_path)
    out = tmp_path / "out" / "l.nrrd"
    process = start(tmp_path, source, out)
    if not wait_for(lambda: out.parent.exists() and partials(out.parent), process):
        pytest.skip("the run finished before it could be killed")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    left = partials(out.parent)
    assert left  # SIGKILL cannot be handled
    someone_writing = out.parent / f".other.{os.getpid()}-0123abcd.partial.nrrd"  # a live process's file
    someone_writing.write_bytes(b"")
    main(["segment", str(source), "-o", str(out), *FAST])
    assert partials(out.parent) == [someone_writing.name]
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith(".")) == OUTPUT_NAMES
