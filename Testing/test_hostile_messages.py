"""Messages that must be one true line: argparse's refusals, absurd --threads, paths that are no
UTF-8 text or hold line breaks, huge arguments, voxels beyond any Hounsfield unit, flags that do not
apply to the input.

Checked as in test_hostile_inputs.py: exit status 2, exactly one stderr line starting
"ctseg: error:" that holds the expected words, nothing written. Inputs are 48 x 48 x 8.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import body_volume, write_dicom_series

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.volume import Volume, as_hu_array
from UnsupervisedCTSegLib.io.writers import write_deeplesion_pngs, write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet"]
LONGEST_LINE = 1000


def ct(tmp, name="ct.nrrd"):
    (tmp / "in").mkdir(exist_ok=True)
    return write_volume(tmp / "in" / name, body_volume())


def float64_ct(tmp, value, name="big.nrrd", dtype=np.float64):
    """A CT stored as float64 (or `dtype`) with a few voxels set to `value`."""
    (tmp / "in").mkdir(exist_ok=True)
    volume = body_volume()
    hu = volume.hu.astype(dtype)
    hu[3, 20:22, 20:22] = value
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing(volume.spacing)
    sitk.WriteImage(image, str(tmp / "in" / name))
    return tmp / "in" / name


def out(tmp):
    return ["-o", str(tmp / "out" / "l.nrrd")]


# --------------------------------------------------------------------------- the refusals
# Each case returns (argv, words the one error line must hold).

def variant_x(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), "--variant", "x"], [
        "argument --variant: invalid choice: 'x'", "kmeans", "see `ctseg segment --help`"]


def output_missing(tmp):
    return ["segment", str(ct(tmp))], ["-o", "required", "see `ctseg segment --help`"]


def input_missing(tmp):
    return ["segment", *out(tmp)], ["input", "required"]


def unknown_flag(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), "--no-such-flag"], ["unrecognized", "--no-such-flag", "--help"]


def unknown_command(tmp):
    return ["segmnet", str(ct(tmp))], ["invalid choice: 'segmnet'", "see `ctseg --help`"]


def no_command(tmp):
    return [], ["required", "see `ctseg --help`"]


def int_flag_not_a_number(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), "-M", "many"], ["-M", "'many'"]


def threads_1e20(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--threads", "1e20"], ["--threads", "'1e20'"]


def threads_beyond_any_integer(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--threads", "9" * 30], ["--threads", "at most"]


def threads_above_the_bound(tmp):
    bound = (os.cpu_count() or 1) * 4
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--threads", str(bound + 1)], [
        f"--threads {bound + 1}", f"1 to {bound}"]


def threads_zero(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--threads", "0"], ["--threads 0", "1 to"]


def missing_input_with_a_newline(tmp):
    return ["segment", str(tmp / "in" / "mi\nssing.nrrd"), *out(tmp), *FAST], ["mi\\nssing.nrrd", "does not exist"]


def missing_input_with_terminal_escapes(tmp):
    return ["segment", str(tmp / "in" / "a\x1b[2J\rb.nrrd"), *out(tmp), *FAST], ["a\\x1b[2J\\rb.nrrd"]


def undecodable_missing_input(tmp):
    return ["segment", str(tmp / "in" / "ct\udcff.nrrd"), *out(tmp), *FAST], ["ct\\xff.nrrd", "UTF-8", "rename"]


def undecodable_scribbles(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--scribbles", str(tmp / "in" / "s\udcff.nrrd")], [
        "s\\xff.nrrd"]


def undecodable_dl_info(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--dl-info", str(tmp / "in" / "DL\udcff.csv"), "k"], [
        "DL\\xff.csv"]


def undecodable_reference(tmp):
    return ["evaluate-ct", str(ct(tmp)), str(tmp / "in" / "ref\udcff.nrrd"), "--names", "{}", "-o",
            str(tmp / "out")], ["ref\\xff.nrrd"]


def dicom_folder_holding_an_undecodable_name(tmp):
    folder = tmp / "in" / "dicom"
    folder.parent.mkdir(exist_ok=True)
    write_dicom_series(folder, body_volume(), "1.2.826.0.1.3680043.2.1125.7.1")
    first = sorted(folder.iterdir())[0]
    os.rename(first, os.fsencode(str(folder)) + b"/\xff.dcm")
    return ["segment", str(folder), *out(tmp), *FAST], ["\\xff.dcm", "UTF-8", "rename"]


def ten_megabyte_device(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--device", "d" * 10_000_000], ["unknown device", "…"]


def ten_megabyte_choice(tmp):
    return ["segment", str(ct(tmp)), *out(tmp), "--variant", "v" * 10_000_000], ["--variant", "…"]


def voxels_of_1e300(tmp):
    return ["segment", str(float64_ct(tmp, 1e300)), *out(tmp), *FAST], ["4 voxels", "1e+300", "Hounsfield"]


def voxels_of_3e38_in_float32(tmp):
    return ["segment", str(float64_ct(tmp, 3e38, dtype=np.float32)), *out(tmp), *FAST], ["4 voxels", "3e+38"]


def nan_voxels_in_float64(tmp):
    return ["segment", str(float64_ct(tmp, np.nan)), *out(tmp), *FAST], ["4 NaN or infinite voxels"]


def dl_info_with_nrrd(tmp):
    (tmp / "in").mkdir(exist_ok=True)
    (tmp / "in" / "DL_info.csv").write_text("File_name,Spacing_mm_px_\n")
    return ["segment", str(ct(tmp)), *out(tmp), *FAST, "--dl-info", str(tmp / "in" / "DL_info.csv"), "x"], [
        "--dl-info", "ct.nrrd", "drop --dl-info"]


REFUSALS = [
    variant_x, output_missing, input_missing, unknown_flag, unknown_command, no_command, int_flag_not_a_number,
    threads_1e20, threads_beyond_any_integer, threads_above_the_bound, threads_zero, missing_input_with_a_newline,
    missing_input_with_terminal_escapes, undecodable_missing_input, undecodable_scribbles,
    undecodable_dl_info, undecodable_reference, dicom_folder_holding_an_undecodable_name,
    ten_megabyte_device, ten_megabyte_choice, voxels_of_1e300,
    voxels_of_3e38_in_float32, nan_voxels_in_float64, dl_info_with_nrrd,
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.__name__ for c in REFUSALS])
def test_refused_in_one_true_line(tmp_path, capsys, case):
    argv, words = case(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library's warning is no message for the user
        code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2, err[:30]
    assert len(err) == 1 and err[0].startswith("ctseg: error:"), [line[:200] for line in err[:30]]
    assert len(err[0]) < LONGEST_LINE, err[0][:300]
    for word in words:
        assert word in err[0], (word, err[0])
    assert "NaN or infinite" not in err[0] or "nan" in case.__name__  # never untrue
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


JSON_REFUSALS = [variant_x, output_missing, unknown_flag, threads_1e20, ten_megabyte_choice]


@pytest.mark.parametrize("case", JSON_REFUSALS, ids=[c.__name__ for c in JSON_REFUSALS])
def test_with_progress_json_a_refusal_is_also_one_json_line(tmp_path, capsys, case):
    argv, words = case(tmp_path)
    code = main([*argv, "--progress", "json"] if argv[0] == "segment" else argv)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 2 and len(captured.err.strip().splitlines()) == 1, captured.err[:2000]
    assert len(lines) == 1 and len(lines[0]) < LONGEST_LINE, lines[:3]
    event = json.loads(lines[0])
    assert event["event"] == "error" and event["status"] == 2
    assert words[0] in event["message"] and not event["message"].startswith("error:")


def test_a_ten_megabyte_path_comes_back_shortened_on_one_line(tmp_path, capsys):
    code = main(["segment", "x" * 10_000_000, *out(tmp_path), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ctseg: error:"), err[:3]
    assert len(err[0]) < LONGEST_LINE and "xxx…xxx" in err[0] and "shorter path" in err[0], err[0][:300]


def test_help_still_prints_the_usage():
    with pytest.raises(SystemExit) as stop:
        main(["segment", "--help"])
    assert stop.value.code == 0


def test_values_beyond_float32_are_told_apart_from_nan_without_a_numpy_warning():
    hu = np.zeros((2, 8, 8))
    hu[0, 0, :3] = 1e300
    hu[1, 0, 0] = -1e39
    hu[1, 1, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as refused:
            as_hu_array(hu, "x.nrrd")
    message = str(refused.value)
    assert "4 voxels" in message and "1e+300" in message and "1 NaN or infinite" in message, message
    assert "\n" not in message


def test_plausible_extreme_values_are_kept():
    """16-bit stored values, even on a rescaled extended scale, are kept as they are."""
    hu = np.zeros((1, 4, 4))
    hu[0, 0, :3] = (-32768 * 10, 65535 * 10, 2 ** 24)
    assert np.array_equal(as_hu_array(hu), hu.astype(np.float32))


# --------------------------------------------------------------------------- files with names that are no UTF-8

@pytest.mark.parametrize("which", ["input", "output", "png in the folder"])
def test_a_path_that_is_no_utf8_is_refused_before_itk_sees_it(tmp_path, which):
    """ITK aborts the process (std::logic_error) on such a name; run as the user runs it, in a process."""
    source = ct(tmp_path)
    odd = os.fsencode(str(tmp_path / "in")) + b"/ct\xff.nrrd"
    if which == "input":
        os.rename(source, odd)
        argv = [odd, b"-o", os.fsencode(str(tmp_path / "out" / "l.nrrd"))]
    elif which == "png in the folder":
        body = body_volume()
        folder = write_deeplesion_pngs(tmp_path / "in" / "000001_01_01", Volume(body.hu, body.spacing))
        os.rename(folder / "000.png", os.fsencode(str(folder)) + b"/\xff00.png")
        argv = [os.fsencode(str(folder)), b"-o", os.fsencode(str(tmp_path / "out" / "l.nrrd"))]
    else:
        argv = [os.fsencode(str(source)), b"-o", os.fsencode(str(tmp_path / "out")) + b"/l\xff.nrrd"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "segment", *argv,
                           *map(os.fsencode, FAST)], capture_output=True, timeout=120, env=environment)
    err = done.stderr.decode("utf-8", "replace").strip().splitlines()
    assert done.returncode == 2, err[-5:]
    assert len(err) == 1 and err[0].startswith("ctseg: error:") and "\\xff" in err[0] and "rename" in err[0], err
    assert not (tmp_path / "out").exists()
