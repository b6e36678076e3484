"""`ctseg evaluate-ct`: its metrics against hand-computed values, its groups, its input checks, end to end."""
import csv
import json
import math

import numpy as np
import pytest
from conftest import SHARED_DATA
from helpers import blocks_volume

from UnsupervisedCTSegLib.cli import slicerange
from UnsupervisedCTSegLib.cli.main import build_parser, main, settings_from
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.evaluation import references, report, scoring
from UnsupervisedCTSegLib.evaluation.consistency import matched_agreement, run_to_run_ari, summary
from UnsupervisedCTSegLib.evaluation.metrics import hungarian_iou
from UnsupervisedCTSegLib.io.writers import write_labelmap, write_volume

EXAMPLE = SHARED_DATA / "totalsegmentator_example"


# --- metrics ------------------------------------------------------------------------------------

def test_hungarian_iou_gives_each_group_its_own_label_and_never_label_0():
    labels = np.array([1, 1, 1, 1, 2, 2, 0, 0])
    masks = {"a": np.array([1, 1, 0, 0, 0, 0, 0, 0], bool),  # label 1: 2/4 = 0.5, label 2: 0
             "b": np.array([0, 0, 1, 1, 1, 0, 0, 0], bool),  # label 1: 2/5 = 0.4, label 2: 1/4 = 0.25
             "c": np.array([0, 0, 0, 0, 0, 0, 1, 1], bool)}  # only label 0 overlaps: never assigned
    # Best match would give label 1 to both a and b; one to one, a+b = 0.5 + 0.25 beats 0 + 0.4.
    assert hungarian_iou(labels, masks) == {"a": (0.5, 1), "b": (0.25, 2), "c": (0.0, 0)}
    assert hungarian_iou(labels, {}) == {}


def test_run_to_run_ari_is_the_mean_over_pairs():
    x, y = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])  # ARI(x, y) = -0.5 (test_consistency)
    assert run_to_run_ari([x, 5 - x]) == pytest.approx(1.0)  # renumbered: same partition
    assert run_to_run_ari([x, x, y]) == pytest.approx((1.0 - 0.5 - 0.5) / 3)
    assert math.isnan(run_to_run_ari([x]))


def test_matched_agreement_by_hand():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, (4, 10, 10))
    permuted = np.array([3, 0, 5, 1, 4, 2])[a]
    assert matched_agreement(a, permuted) == 1.0
    # Overlaps: (1,5)=2 (1,6)=1 (2,6)=2 (3,6)=1; one to one: 1<->5 and 2<->6 keep 4 of 6 voxels.
    assert matched_agreement([1, 1, 1, 2, 2, 3], [5, 5, 6, 6, 6, 6]) == pytest.approx(4 / 6)
    assert matched_agreement([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        matched_agreement([1, 2], [1, 2, 3])


# --- groups -------------------------------------------------------------------------------------

def rows(depth, first, last, size=30):
    """Boolean (depth, size, size) mask of rows first..last-1: depth * (last - first) * size voxels."""
    mask = np.zeros((depth, size, size), bool)
    mask[:, first:last] = True
    return mask


def synthetic_reference():
    """3x30x30 label map (90 voxels per row band) with TotalSegmentator names, and two tissue masks."""
    names = {1: "lung_upper_lobe_left", 2: "lung_lower_lobe_right", 3: "vertebrae_L1", 4: "rib_left_7",
             5: "liver", 6: "spleen", 7: "kidney_left", 8: "gallbladder", 9: "aorta"}
    bands = {1: (0, 2), 2: (2, 4), 3: (4, 6), 4: (6, 7), 5: (7, 12), 6: (12, 13), 7: (13, 16), 8: (16, 18), 9: (18, 21)}
    reference = np.zeros((3, 30, 30), np.int32)
    for value, (first, last) in bands.items():
        reference[rows(3, first, last)] = value
    tissue = {"skeletal_muscle": rows(3, 21, 25), "subcutaneous_fat": rows(3, 25, 30), "torso_fat": None}
    return reference, names, tissue


def test_groups_pool_names_skip_small_and_maskless_groups():
    reference, names, tissue = synthetic_reference()
    groups = references.reference_groups(reference, names, tissue)
    assert list(groups.masks) == ["lung", "bone", "liver", "kidney", "muscle", "vessels"]
    assert groups.voxels() == {"lung": 360, "bone": 270, "liver": 450, "kidney": 270, "muscle": 360, "vessels": 270}
    assert np.array_equal(groups.masks["lung"], np.isin(reference, [1, 2]))
    assert np.array_equal(groups.masks["muscle"], tissue["skeletal_muscle"])
    assert groups.sources["bone"] == ["vertebrae_L1", "rib_left_7"]
    assert "90 voxels" in groups.skipped["spleen"] and "200" in groups.skipped["spleen"]
    assert "torso_fat not found" in groups.skipped["fat"]  # one of its two masks is missing
    assert "no reference label named" in groups.skipped["bowel"]
    # The threshold is "fewer than": a group of exactly min_voxels is kept.
    assert "kidney" in references.reference_groups(reference, names, tissue, min_voxels=270).masks
    assert "kidney" not in references.reference_groups(reference, names, tissue, min_voxels=271).masks


# --- input checks -------------------------------------------------------------------------------

def test_reference_off_the_ct_grid_is_refused(tmp_path):
    ct = blocks_volume()
    other = {"shape": Volume(np.zeros((3, 24, 20)), ct.spacing, ct.origin, ct.direction),
             "spacing": Volume(np.zeros(ct.shape), (1.0, 0.8, 2.5), ct.origin, ct.direction),
             "origin": Volume(np.zeros(ct.shape), ct.spacing, (10.0, -5.0, 9.0), ct.direction),
             "direction": Volume(np.zeros(ct.shape), ct.spacing, ct.origin, np.eye(3))}
    for word, volume in other.items():
        path = write_volume(tmp_path / f"{word}.nrrd", volume)
        with pytest.raises(InputError, match=word if word != "shape" else "voxels") as error:
            references.load_label_map(path, ct)
        assert "resample" in str(error.value)
    fractional = write_volume(tmp_path / "f.nrrd", ct.with_array(np.full(ct.shape, 0.5)))
    with pytest.raises(InputError, match="not a label map"):
        references.load_label_map(fractional, ct)


@pytest.mark.parametrize("text, word", [
    (None, "does not exist"), ("{not json", "cannot read"), ("[1, 2]", "no label names"),
    ('{"liver": 5}', "not a label value"), ('{"5": 7}', "not a string"),
])
def test_bad_names_file_is_refused(tmp_path, text, word):
    path = tmp_path / "names.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=word):
        references.load_names(path)


def test_slices_and_configurations_are_checked():
    assert slicerange.parse_slices(None, 30) == (0, 30)
    assert slicerange.parse_slices("10:", 30) == (10, 30) and slicerange.parse_slices(":5", 30) == (0, 5)
    for bad in ("5", "a:b", "20:10", "0:31"):
        with pytest.raises(InputError, match="--slices"):
            slicerange.parse_slices(bad, 30)
    paper = scoring.configuration_settings("paper", 2, "cpu", paper_iterations=7)
    assert (paper.mode, paper.layers, paper.channels, paper.iterations, paper.seed) == ("slice", 9, 100, 7, 2)
    default = scoring.configuration_settings("default", 1)
    assert default.iterations == scoring.CONFIGURATIONS["default"]().iterations and default.seed == 1
    body = scoring.configuration_settings("kmeans15-body", 0)
    assert (body.variant, body.k, body.windows, body.body_mask) == ("kmeans", 15, ("wide",), True)
    with pytest.raises(InputError, match="unknown configuration"):
        scoring.configuration_settings("best", 0)


def test_new_boolean_setting_flags_default_to_the_settings():
    parse = lambda *flags: settings_from(build_parser().parse_args(["segment", "x", "-o", "y.nrrd", *flags]))
    assert parse().body_mask is True and parse().fill_holes is False
    assert parse("--no-body-mask").body_mask is False
    changed = parse("--fill-holes", "--outside-segment", "--min-island-mm3", "50")
    assert (changed.fill_holes, changed.outside_segment, changed.min_island_mm3) == (True, True, 50.0)
    assert parse("--preset", "study", "--body-mask").body_mask is True  # the preset turns it off, the flag back on


# --- end to end ---------------------------------------------------------------------------------

def write_case(folder):
    """blocks_volume (air | fat / soft tissue | bone quadrants) with a reference naming three of them."""
    volume = blocks_volume()
    ct = write_volume(folder / "ct.nrrd", volume)
    reference = np.zeros(volume.shape, np.uint16)
    reference[:, :12, :12] = 1  # air quadrant: 432 voxels
    reference[:, 12:, :12] = 2  # soft tissue
    reference[:, 12:, 12:] = 3  # bone
    ref = write_labelmap(folder / "ref.nrrd", reference, volume)
    names = folder / "names.json"
    names.write_text(json.dumps({"1": "lung_upper_lobe_left", "2": "liver", "3": "vertebrae_L1"}))
    fat = np.zeros(volume.shape, np.uint16)
    fat[:, :12, 12:] = 1
    (folder / "tissue_types").mkdir()
    write_labelmap(folder / "tissue_types" / "subcutaneous_fat.nii.gz", fat, volume)
    write_labelmap(folder / "tissue_types" / "torso_fat.nii.gz", np.zeros_like(fat), volume)
    return ct, ref, names


def test_evaluate_ct_writes_tables_csv_json_and_figure(tmp_path, capsys):
    ct, ref, names = write_case(tmp_path)
    out = tmp_path / "report"
    code = main(["evaluate-ct", str(ct), str(ref), "--names", str(names), "--seeds", "0", "1",
                 "--paper-iterations", "2", "-o", str(out), "--device", "cpu", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(report.REPORT_FILES.values())
    assert (out / "evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(out / "evaluation.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["configuration"] for row in table] == list(scoring.CONFIGURATIONS)
    groups = ["lung", "bone", "liver", "fat"]
    assert list(table[0]) == (["configuration", "title", "seeds"] + [f"best_iou_{g}" for g in groups]
                              + [f"hungarian_iou_{g}" for g in groups]
                              + ["mean_best_iou", "mean_hungarian_iou", "adjacent_ari", "identical_fraction",
                                 "run_to_run_ari", "matched_agreement", "labels", "seconds"])
    for row in table:
        assert row["seeds"] == "0 1" and 0 <= float(row["mean_best_iou"]) <= 1 and float(row["labels"]) >= 1
        for g in groups:  # one to one can only lose against the best single label
            assert float(row[f"hungarian_iou_{g}"]) <= float(row[f"best_iou_{g}"]) + 1e-4
    assert float(next(row for row in table if row["configuration"] == "kmeans6")["labels"]) == 6

    written = json.loads((out / "evaluation.json").read_text())
    paper = next(c for c in written["configurations"] if c["name"] == "paper")
    assert [run["seed"] for run in paper["runs"]] == [0, 1] and paper["settings"]["iterations"] == 2
    assert set(paper["runs"][0]["best_iou"]) == set(groups)
    assert "skeletal_muscle not found" in written["skipped_groups"]["muscle"]
    text = (out / "evaluation.md").read_text()
    assert "Hungarian (one-to-one) IoU per group" in text and "muscle: not scored" in text
    assert "k-means k=15 + body mask" in text and "n/a" not in text


@pytest.mark.parametrize("extra, word", [
    (["--configs", "kmeans6,best"], "unknown configuration"), (["--slices", "2:9"], "--slices"),
    (["--reference-off-grid"], "voxels"),
])
def test_evaluate_ct_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, extra, word):
    ct, ref, names = write_case(tmp_path)
    if extra == ["--reference-off-grid"]:
        extra = []
        ref = write_volume(tmp_path / "small.nrrd", Volume(np.ones((3, 24, 20))))
    out = tmp_path / "report"
    code = main(["evaluate-ct", str(ct), str(ref), "--names", str(names), "--configs", "kmeans6", "-o", str(out),
                 "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and word in err[0], err
    assert not out.exists()


# --- the real reference -------------------------------------------------------------------------

@pytest.mark.skipif(not (EXAMPLE / "example_seg.nii.gz").exists(), reason="shared CT data absent")
def test_reference_slice_consistency_matches_the_protocol():
    """The evaluation protocol quotes the reference's own adjacent-slice ARI 0.88 and identical fraction 0.95 at 3 mm:
    consistency.summary (all pixels, background included) reproduces them, so our definitions are the protocol's."""
    ct = references.read_volume(EXAMPLE / "example_ct_sm.nii.gz")
    reference = references.load_label_map(EXAMPLE / "example_seg.nii.gz", ct)
    numbers = summary(reference)
    assert numbers["mean_ari_previous"] == pytest.approx(0.88, abs=0.01)
    assert numbers["mean_identical_fraction"] == pytest.approx(0.95, abs=0.01)
    groups = references.reference_groups(reference, references.load_names(EXAMPLE / "example_seg_labels.json"),
                                         references.load_tissue_masks(EXAMPLE / "tissue_types", ct))
    assert list(groups.masks) == [g.name for g in references.GROUPS] and not groups.skipped
