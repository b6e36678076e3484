"""Small volumes for fast engine tests: tiny images, few iterations; and a few shared test steps."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.slicer import testsettings


def blocks_volume(depth=3, size=24, seed=0) -> Volume:
    """Air, fat, soft tissue and bone blocks with noise: four obvious tissues."""
    rng = np.random.default_rng(seed)
    hu = np.full((depth, size, size), -1000.0, np.float32)
    half = size // 2
    hu[:, :half, half:] = -100.0
    hu[:, half:, :half] = 50.0
    hu[:, half:, half:] = 700.0
    hu += rng.normal(0, 10, hu.shape).astype(np.float32)
    return Volume(hu, (0.8, 0.8, 2.5), (10.0, -5.0, 3.0), np.diag([-1.0, -1.0, 1.0]), source="blocks")


def fast_settings(**overrides) -> Settings:
    """The one set of fast test settings (slicer/testsettings.py) with the body mask off: the blocks
    are not a body (the body mask has its own tests, which turn it on)."""
    return testsettings.fast_settings(**{"body_mask": False, **overrides})


def body_volume(depth=8, size=48, spacing=(0.8, 0.8, 2.5), seed=0) -> Volume:
    """A small CT-like body: an ellipse of soft tissue with a fat rim and a bone, in air, on a table.

    Big enough in mm for the body mask (a 3 mm opening) at the given spacing."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    hu = np.full((size, size), -1000.0, np.float32)
    body = ((x - 0.5) / 0.42) ** 2 + ((y - 0.45) / 0.33) ** 2 < 1
    inner = ((x - 0.5) / 0.36) ** 2 + ((y - 0.45) / 0.27) ** 2 < 1
    hu[body] = -100.0
    hu[inner] = 45.0
    hu[((x - 0.5) / 0.08) ** 2 + ((y - 0.6) / 0.08) ** 2 < 1] = 700.0
    hu[int(size * 0.85):int(size * 0.85) + 2, 2:-2] = 300.0  # the table, thin and apart from the body
    volume = np.repeat(hu[None], depth, axis=0) + rng.normal(0, 8, (depth, size, size)).astype(np.float32)
    return Volume(np.round(volume), spacing, (10.0, -5.0, 3.0), np.diag([-1.0, -1.0, 1.0]), source="body")


def write_dicom_series(folder, volume, series_uid, first_instance=1, description=None):
    """CT slices with position/orientation/rescale tags, the way a scanner exports them."""
    folder.mkdir(exist_ok=True)
    study_uid = "1.2.826.0.1.3680043.2.1125.9.1"
    for k, plane in enumerate(volume.hu.astype(np.int16)):
        image = sitk.GetImageFromArray(plane)
        image.SetSpacing(volume.spacing[:2])
        position = np.asarray(volume.origin) + volume.direction[:, 2] * volume.spacing[2] * k
        row, column = volume.direction[:, 0], volume.direction[:, 1]
        tags = {
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2", "0008|0060": "CT",
            "0008|0018": f"{series_uid}.{k + 1}", "0020|000d": study_uid, "0020|000e": series_uid,
            "0020|0013": str(first_instance + k),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "\\".join(f"{v:.6f}" for v in (*row, *column)),
            "0018|0050": f"{volume.spacing[2]:g}",
            "0028|1052": "-1024", "0028|1053": "1",  # stored = HU + 1024, as most scanners do
        }
        if description:
            tags["0008|103e"] = description
        for key, value in tags.items():
            image.SetMetaData(key, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(folder / f"{series_uid[-1]}_{k:03d}.dcm"))
        writer.Execute(image)


MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"


def run_python(code: str, without_torch: bool = False, failure: str = "") -> str:
    """Run `code` in a fresh interpreter that finds the package (and, with `without_torch`, no
    PyTorch: as in Slicer before the extension installed it); its stdout. Fails the test, with
    `failure` and the end of stderr, when the code fails."""
    prelude = ("import sys; " + ("sys.modules['torch'] = None; " if without_torch else "")
               + f"sys.path.insert(0, {str(MODULE_DIR)!r}); ")
    run = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True)
    assert run.returncode == 0, failure + run.stderr[-1500:]
    return run.stdout


def read_seg_nrrd(path):
    """A .seg.nrrd read by Slicer's own storage node into a fresh slicer-core scene: its vtkSegmentation."""
    import slicer

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1, f"Slicer cannot read {path}"
    return node.GetSegmentation()
