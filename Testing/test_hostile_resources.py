"""Memory bombs, memory running out, and inputs that would block forever.

A header that claims more voxels than its file holds, than a CT can compress into it, or than
memory can keep is refused from the header alone, before anything is allocated: these cases run
in a child process whose address space is too small for the claimed voxels, so a reader that
allocated first would fail differently. A run that does run out of memory ends in one line naming
the memory and the fixes. A FIFO never reaches open().
"""
import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import MODULE_DIR, body_volume

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.io.writers import write_labelmap, write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet"]
posix_only = pytest.mark.skipif(os.name != "posix", reason="address-space limits and FIFOs are POSIX")


def nrrd_header(path, sizes, encoding="raw", data_file=None):
    lines = ["NRRD0004", "type: short", "dimension: 3", f"sizes: {' '.join(map(str, sizes))}",
             "spacings: 0.8 0.8 2.5", f"encoding: {encoding}", "endian: little"]
    if data_file:
        lines.append(f"data file: {data_file}")
    path.write_bytes(("\n".join(lines) + "\n\n").encode())
    return path


def nifti_gz_of_zeros(path, shape_xyz):
    """A .nii.gz of int16 zeros, streamed: it inflates about a thousand times."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *shape_xyz, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 4, 16)  # datatype int16, bitpix
    struct.pack_into("<8f", header, 76, 1, 0.8, 0.8, 2.5, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    plane = bytes(2 * shape_xyz[0] * shape_xyz[1])
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(bytes(header))
        for _ in range(shape_xyz[2]):
            f.write(plane)
    return path


def in_small_address_space(argv, spare_mib=400):
    """`main(argv)` in a child whose address space may grow only `spare_mib` beyond what the
    imports took: (exit status, stderr lines)."""
    code = ("import resource, sys, psutil; sys.path.insert(0, sys.argv[1]); "
            "from UnsupervisedCTSegLib.cli.main import main; import torch, SimpleITK; "
            "limit = psutil.Process().memory_info().vms + int(sys.argv[2]) * 2**20; "
            "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
            "sys.exit(main(sys.argv[3:]))")
    run = subprocess.run([sys.executable, "-c", code, str(MODULE_DIR), str(spare_mib), *argv],
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stderr.strip().splitlines()


def one_line(status, err, *words):
    assert status == 2, err
    assert len(err) == 1 and err[0].startswith("ctseg: error:"), err
    for word in words:
        assert word in err[0], (word, err[0])


# --------------------------------------------------------------------------- bombs, from the header alone

@posix_only
def test_a_small_header_claiming_8_gb_is_refused_without_allocating(tmp_path):
    bomb = nrrd_header(tmp_path / "bomb.nrrd", (2000, 2000, 1000))
    (tmp_path / "bomb.nrrd").open("ab").write(bytes(4096))
    one_line(*in_small_address_space(["segment", str(bomb), "-o", str(tmp_path / "out" / "l.nrrd"), *FAST]),
             "claims 2000 x 2000 x 1000 voxels", "4,")
    assert not (tmp_path / "out").exists()


@posix_only
def test_a_compressed_file_that_inflates_a_thousand_times_is_refused_without_inflating(tmp_path):
    bomb = nifti_gz_of_zeros(tmp_path / "bomb.nii.gz", (512, 512, 160))
    assert bomb.stat().st_size < 200_000  # 80 MiB of voxels
    one_line(*in_small_address_space(["segment", str(bomb), "-o", str(tmp_path / "out" / "l.nrrd"), *FAST],
                                     spare_mib=60),
             "compressed", "times smaller")


def test_more_voxels_than_memory_can_hold_are_refused_from_the_header(tmp_path, capsys):
    """A sparse raw file really holds the voxels its header claims: as many int16 voxels as this
    machine's available memory has bytes (a reader that tried would need five times that)."""
    import psutil

    slices = psutil.virtual_memory().available // (4000 * 4000) + 1
    data = tmp_path / "ct.raw"
    with open(data, "wb") as f:
        f.truncate(2 * 4000 * 4000 * slices)
    header = nrrd_header(tmp_path / "ct.nhdr", (4000, 4000, slices), data_file="ct.raw")
    one_line(main(["segment", str(header), "-o", str(tmp_path / "out" / "l.nrrd"), *FAST]),
             capsys.readouterr().err.strip().splitlines(), f"4000 x 4000 x {slices}", "of memory", "available")


def test_strokes_that_compress_far_more_than_ct_are_still_read(tmp_path, capsys):
    """A label map is mostly zeros; the compression bound is for CT only."""
    volume = body_volume(depth=40, size=96)
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "ct.nrrd", volume)
    painted = np.zeros(volume.shape, np.uint16)
    painted[20, 40:44, 40:44] = 1
    painted[20, 3:6, 3:6] = 2
    strokes = write_labelmap(tmp_path / "in" / "strokes.nrrd", painted, volume)
    assert 2 * painted.size / strokes.stat().st_size > 100
    code = main(["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"), "--scribbles", str(strokes), *FAST])
    assert code == 0, capsys.readouterr().err


# --------------------------------------------------------------------------- running out of memory

@posix_only
def test_running_out_of_memory_is_one_line_naming_the_memory_and_the_fixes(tmp_path):
    """The 512 x 512 x 64 case: BatchNorm recalibration used to end in a 56-line traceback."""
    rng = np.random.default_rng(0)
    hu = np.full((16, 512, 512), -1000, np.int16)
    y, x = np.mgrid[:512, :512]
    hu[:, ((y - 256) / 200) ** 2 + ((x - 256) / 230) ** 2 < 1] = 40
    hu += rng.normal(0, 10, hu.shape).astype(np.int16)
    from UnsupervisedCTSegLib.engine.volume import Volume

    source = write_volume(tmp_path / "ct.nrrd", Volume(hu, (0.8, 0.8, 2.5)), compress=False)
    status, err = in_small_address_space(["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"),
                                          "-T", "2", "--device", "cpu", "--quiet"], spare_mib=300)
    one_line(status, err, "not enough memory", "MiB", "--channels")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- what would block forever

@posix_only
@pytest.mark.parametrize("where", ["input", "in_a_dicom_folder", "data_file", "strokes"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path, capsys, where):
    (tmp_path / "in").mkdir()
    source = write_volume(tmp_path / "in" / "ct.nrrd", body_volume())
    argv = ["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"), *FAST]
    if where == "input":
        os.mkfifo(tmp_path / "in" / "fifo.nrrd")
        argv[1] = str(tmp_path / "in" / "fifo.nrrd")
    elif where == "in_a_dicom_folder":
        from helpers import write_dicom_series

        write_dicom_series(tmp_path / "in" / "dicom", body_volume(), "1.2.826.0.1.3680043.2.1125.7.1")
        os.mkfifo(tmp_path / "in" / "dicom" / "x.dcm")
        argv[1] = str(tmp_path / "in" / "dicom")
    elif where == "data_file":
        os.mkfifo(tmp_path / "in" / "ct.raw")
        argv[1] = str(nrrd_header(tmp_path / "in" / "ct.nhdr", (48, 48, 8), data_file="ct.raw"))
    else:
        os.mkfifo(tmp_path / "in" / "strokes.nrrd")
        argv += ["--scribbles", str(tmp_path / "in" / "strokes.nrrd")]
    run = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "from UnsupervisedCTSegLib.cli.main import main; sys.exit(main(sys.argv[2:]))",
                          str(MODULE_DIR), *argv], capture_output=True, text=True, timeout=60)
    one_line(run.returncode, run.stderr.strip().splitlines(), "FIFO")
    assert not (tmp_path / "out").exists()


def test_a_small_image_that_compresses_well_is_read_whatever_it_holds(tmp_path):
    """A few mostly-empty slices (a label map opened as an image) compress over a hundred times; a
    claim that small is no bomb, and the reader does not refuse it."""
    from UnsupervisedCTSegLib.engine.volume import Volume
    from UnsupervisedCTSegLib.io.readers import read_volume

    labels = np.zeros((3, 512, 512), np.int16)
    labels[1, 200:220, 200:220] = 1
    path = write_volume(tmp_path / "mostly_empty.nrrd", Volume(labels, (0.7, 0.7, 5.0)))
    assert 2 * labels.size / path.stat().st_size > 100
    assert read_volume(path).shape == (3, 512, 512)
