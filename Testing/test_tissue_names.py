"""Names say what most of a label's voxels are (engine/tissues.py): the HU band of the median, or
"mixed" where the middle half of the voxels spans more than two neighbouring bands; checked on
synthetic labels and against the reference of the shared whole scan."""
import numpy as np
import pytest
from conftest import SHARED_DATA

from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.tissues import describe_band, label_quartiles, renumber_by_hu
from UnsupervisedCTSegLib.evaluation.metrics import best_match_iou
from UnsupervisedCTSegLib.evaluation.references import load_label_map, load_names
from UnsupervisedCTSegLib.io.readers import read_volume


def test_quartiles_are_exact_to_one_hu_per_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (3, 20, 30)).astype(np.uint16)
    hu = rng.normal(0, 300, labels.shape).round().astype(np.float32)
    quartiles = label_quartiles(labels, hu, 5)
    for label in range(4):
        expected = np.percentile(hu[labels == label], (25, 50, 75), method="inverted_cdf")
        assert np.all(np.abs(quartiles[label] - expected) <= 1.0), (label, quartiles[label], expected)
    assert np.isnan(quartiles[4:]).all()  # no voxel: no quartile


@pytest.mark.parametrize("quartiles,name", [((40, 50, 60), "soft tissue"), ((0, 10, 18), "fluid"),
                                            ((-120, -100, -80), "fat"), ((110, 185, 306), "contrast/cancellous bone"),
                                            ((-70, -36, -2), "mixed fat to fluid"),
                                            ((-976, -806, -263), "mixed air to lung/fat partial volume")])
def test_a_band_is_named_from_the_middle_half_of_the_voxels(quartiles, name):
    assert describe_band(quartiles)[0] == name


def test_a_partial_volume_rim_does_not_rename_a_tissue():
    """Fluid (10 HU) with a rim of gas a fifth its size: the mean is pulled to -190 HU (fat), the name stays fluid."""
    clusters = np.ones((1, 10, 10), np.int64)
    hu = np.full(clusters.shape, 10.0, np.float32)
    hu[0, :2] = -1000.0
    _, tissues = renumber_by_hu(clusters, hu)
    assert tissues[0].mean_hu < -150 and tissues[0].name == "fluid"


WHOLE = SHARED_DATA / "totalsegmentator_example"


@pytest.mark.skipif(not (WHOLE / "example_ct.nii.gz").exists(), reason="shared CT data absent")
def test_on_the_whole_scan_organs_are_named_soft_tissue_and_the_bladder_fluid():
    """The parts that best match the liver and the spleen carry a soft-tissue name, the bladder's a
    fluid name, the lungs' a lung name and the skeleton's a bone name."""
    volume = read_volume(WHOLE / "example_ct.nii.gz")
    reference = load_label_map(WHOLE / "whole_scan" / "example_seg.nii.gz", volume)
    names = {name: value for value, name in load_names(WHOLE / "whole_scan" / "example_seg_labels.json").items()}
    result = segment(volume, Settings(device="cpu"))
    named = {t.label: t.name for t in result.tissues}
    expected = {"liver": "soft tissue", "spleen": "soft tissue", "urinary_bladder": "fluid",
                "lung_lower_lobe_right": "lung", "vertebrae_L3": "bone"}
    for structure, word in expected.items():
        _, label = best_match_iou(result.labels, reference == names[structure])
        assert word in named[label], (structure, named[label])
