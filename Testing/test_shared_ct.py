"""The default run on real CT separates fat and bone at least as well as k-means on HU."""
import json

import numpy as np
import pytest
import SimpleITK as sitk

from UnsupervisedCTSegLib.engine import segment
from UnsupervisedCTSegLib.metrics import best_match_iou
from UnsupervisedCTSegLib.readers import read_volume
from UnsupervisedCTSegLib.settings import Settings

from conftest import SHARED_DATA

EXAMPLE = SHARED_DATA / "totalsegmentator_example"
pytestmark = pytest.mark.skipif(not (EXAMPLE / "example_ct_sm.nii.gz").exists(), reason="shared CT data absent")
BONE_PREFIXES = ("vertebrae_", "rib_")


def mask(name):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(EXAMPLE / "tissue_types" / f"{name}.nii.gz"))) > 0


@pytest.fixture(scope="module")
def runs():
    volume = read_volume(EXAMPLE / "example_ct_sm.nii.gz")
    ours = segment(volume, Settings(device="cpu"))
    kmeans = segment(volume, Settings(variant="kmeans", k=len(ours.tissues), windows=("wide",), device="cpu"))
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(EXAMPLE / "example_seg.nii.gz")))
    names = json.loads((EXAMPLE / "example_seg_labels.json").read_text())
    bone_ids = [int(k) for k, v in names.items() if v.startswith(BONE_PREFIXES)]
    groups = {"fat": mask("subcutaneous_fat") | mask("torso_fat"), "bone": np.isin(reference, bone_ids)}
    return ours, kmeans, groups


@pytest.mark.parametrize("group", ["fat", "bone"])
def test_default_separates_group_at_least_as_well_as_kmeans(runs, group):
    ours, kmeans, groups = runs
    assert groups[group].sum() > 200
    ours_iou = best_match_iou(ours.labels, groups[group])[0]
    kmeans_iou = best_match_iou(kmeans.labels, groups[group])[0]
    assert ours_iou >= kmeans_iou, (group, ours_iou, kmeans_iou)
