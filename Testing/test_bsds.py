"""BSDS500 evaluation: the TIP 2020 protocol by hand, the reader on a generated fixture, the CLI end to
end with resume, and (when the real set is beside the repository) the published blank numbers."""
import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.evaluation import bsds
from UnsupervisedCTSegLib.evaluation.metrics import segment_best_ious, split_components


def test_split_components_is_4_connected():
    diagonal = np.array([[1, 0], [0, 1]])
    assert split_components(diagonal).max() + 1 == 4  # diagonal neighbours are not connected
    labels = np.array([[0, 0, 1, 1],
                       [0, 1, 1, 0],
                       [2, 2, 2, 0]])
    segments = split_components(labels)
    assert segments.max() + 1 == 4  # the two separate 0 regions become two segments
    assert segments[0, 0] == segments[1, 0] != segments[1, 3] == segments[2, 3]
    assert len({segments[0, 2], segments[0, 3], segments[1, 1], segments[1, 2]}) == 1


def test_segment_best_iou_by_hand():
    truth = np.array([[1, 1, 2], [1, 2, 2]])
    prediction = np.array([[5, 5, 5], [5, 7, 7]])
    # segment 1 (3 px) best with 5 (4 px, 3 shared): 3/4; segment 2 (3 px) best with 7 (2 px, 2 shared): 2/3
    assert np.allclose(segment_best_ious(prediction, truth), [0.75, 2 / 3])


def test_all_fine_coarse_and_study_score_by_hand():
    fine = np.array([[1, 1, 2], [1, 2, 2]])  # two segments
    coarse = np.full((2, 3), 3)  # one segment
    scores = bsds.image_scores(np.array([[5, 5, 5], [5, 7, 7]]), [fine, coarse])
    assert scores["segments"] == 2
    assert scores["all_n"] == 3 and scores["all_sum"] == pytest.approx(0.75 + 2 / 3 + 4 / 6)
    assert scores["fine_n"] == 2 and scores["fine_sum"] == pytest.approx(0.75 + 2 / 3)
    assert scores["coarse_n"] == 1 and scores["coarse_sum"] == pytest.approx(4 / 6)
    assert scores["study"] == pytest.approx((0.75 + 2 / 3) / 2)  # the better annotation's mean


def test_all_pools_segments_not_images():
    timing = dict(clusters=4, segments=5, iterations=10, seconds=1.0)
    rows = [dict(model="proposed", image="1", all_sum=3.0, all_n=3, fine_sum=1.0, fine_n=1, coarse_sum=1.0,
                 coarse_n=1, study=1.0, **timing),
            dict(model="proposed", image="2", all_sum=0.0, all_n=1, fine_sum=0.0, fine_n=1, coarse_sum=0.0,
                 coarse_n=1, study=0.0, **timing)]
    pooled = bsds.summarise(rows, ["proposed"], ["1", "2"], blank={})["proposed"]
    assert pooled["images"] == 2
    assert pooled["all"] == pytest.approx(3 / 4)  # not the mean of the images' means (0.5)
    assert pooled["fine"] == pooled["coarse"] == pytest.approx(0.5)
    assert pooled["study_mean"] == pooled["study_median"] == pytest.approx(0.5)


def make_fixture(root: Path, split="test", count=3, size=(14, 20)) -> Path:
    """A tiny BSDS500 in its standard layout: colour images with two-region annotations."""
    rng = np.random.default_rng(0)
    images = root / "BSDS500" / "data" / "images" / split
    truth = root / "BSDS500" / "data" / "groundTruth" / split
    images.mkdir(parents=True)
    truth.mkdir(parents=True)
    h, w = size
    for i in range(count):
        split_at = 6 + i
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:, :split_at] = (200, 40, 40)
        rgb[:, split_at:] = (30, 60, 210)
        rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(images / f"{100 + i}.jpg", quality=95)
        halves = np.where(np.arange(w)[None, :] < split_at, 1, 2).repeat(h, 0).astype(np.uint16)
        quarters = halves + 2 * (np.arange(h)[:, None] >= h // 2)
        cells = np.empty((1, 2), dtype=object)
        for k, segmentation in enumerate((halves, quarters.astype(np.uint16))):
            cells[0, k] = {"Segmentation": segmentation, "Boundaries": np.zeros((h, w), np.uint8)}
        savemat(truth / f"{100 + i}.mat", {"groundTruth": cells})
    (images / "Thumbs.db").write_bytes(b"not an image")
    return root / "BSDS500"


def test_reader_on_generated_fixture(tmp_path):
    root = make_fixture(tmp_path)
    pairs = bsds.list_images(root, "test")
    assert [image_id for image_id, _, _ in pairs] == ["100", "101", "102"]
    assert bsds.list_images(tmp_path, "test", limit=2) == pairs[:2]  # the parent of BSDS500 works too
    annotations = bsds.read_ground_truth(pairs[1][2])
    assert len(annotations) == 2
    assert [len(np.unique(a)) for a in annotations] == [2, 4]
    assert annotations[0][0, 6] == 1 and annotations[0][0, 7] == 2
    photo = bsds.read_image(pairs[0][1])
    assert photo.colour.shape == (1, 14, 20, 3) and photo.colour.max() <= 1.0
    assert photo.colour[0, 0, 0, 0] > 0.6 and photo.colour[0, 0, -1, 2] > 0.6  # red left, blue right


@pytest.mark.parametrize("problem, word", [("split", "no BSDS500"), ("mat", "not a BSDS500 ground-truth"),
                                           ("limit", "--limit")])
def test_bad_bsds_input_is_named(tmp_path, problem, word):
    root = make_fixture(tmp_path)
    with pytest.raises(InputError, match=word):
        if problem == "split":
            bsds.list_images(root, "val")
        elif problem == "mat":
            bad = tmp_path / "bad.mat"
            savemat(bad, {"something": np.zeros(3)})
            bsds.read_ground_truth(bad)
        else:
            bsds.list_images(root, "test", limit=0)


def test_photo_path_through_the_engine_for_every_model():
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, 8:] = (0, 0, 255)
    photo = Volume.from_photo(rgb)
    for model in bsds.MODELS:
        settings = bsds.model_settings(model, dict(iterations=2, channels=8, device="cpu"))
        result = segment(photo, settings)
        assert result.labels.shape == (1, 12, 16)
        assert result.tissues[0].name.startswith("region")
    kmeans = segment(photo, bsds.model_settings("kmeans3", dict(device="cpu"))).labels[0]
    assert kmeans[:, :8].std() == 0 and kmeans[0, 0] != kmeans[0, -1]  # the two colours are two clusters


def test_ct_settings_on_a_photo_are_refused():
    photo = Volume.from_photo(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="body mask"):
        segment(photo, Settings(iterations=1))
    with pytest.raises(InputError, match="mode slice"):
        segment(photo, Settings(iterations=1, body_mask=False, z_context=0))
    with pytest.raises(InputError, match="not RGB"):
        Volume.from_photo(np.zeros((8, 8, 2), np.uint8))


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_evaluate_bsds_cli_writes_table_plot_labels_and_resumes(tmp_path, capsys):
    root = make_fixture(tmp_path)
    out = tmp_path / "out"
    args = ["evaluate-bsds", str(root), "--models", "proposed,kmeans3", "-T", "2", "-p", "8", "--device", "cpu",
            "--no-ray", "--quiet", "-o", str(out)]
    assert main(args) == 0
    rows = read_rows(out / bsds.FILES["csv"])
    assert sorted((r["model"], r["image"]) for r in rows) == [(m, i) for m in ("kmeans3", "proposed")
                                                               for i in ("100", "101", "102")]
    assert all(0 < float(r["study"]) <= 1 for r in rows)
    table = (out / bsds.FILES["markdown"]).read_text(encoding="utf-8")
    assert "| blank | 3 |" in table and "| kmeans3 | 3 |" in table
    assert (out / bsds.FILES["plot"]).stat().st_size > 1000
    assert Image.open(out / "labels" / "kmeans3" / "101.png").size == (20, 14)
    printed = capsys.readouterr().out
    assert "| proposed | 3 |" in printed

    # a crash mid-write: one row kept, the next half written; the rerun runs only what is missing
    lines = (out / bsds.FILES["csv"]).read_text(encoding="utf-8").splitlines(keepends=True)
    (out / bsds.FILES["csv"]).write_text(lines[0] + lines[1] + lines[2][:10])
    result = bsds.evaluate_bsds(root, out, "test", ["proposed", "kmeans3"], None,
                                dict(iterations=2, channels=8, device="cpu"), use_ray=False, quiet=True)
    assert len(result["report"].finished) == 5
    again = read_rows(out / bsds.FILES["csv"])
    assert len(again) == 6 and len({(r["model"], r["image"]) for r in again}) == 6

    # other settings into the same folder are refused rather than mixed into one table
    with pytest.raises(InputError, match="other settings"):
        bsds.evaluate_bsds(root, out, "test", ["proposed"], None, dict(iterations=3, channels=8, device="cpu"),
                           use_ray=False, quiet=True)


def real_bsds500():
    for candidate in (os.environ.get("CTSEG_BSDS500"), Path(__file__).resolve().parents[2] / "shared" / "data" / "BSDS500"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.mark.skipif(real_bsds500() is None, reason="the real BSDS500 is not beside the repository "
                    "(set CTSEG_BSDS500 to its folder)")
def test_blank_prediction_reproduces_the_published_numbers():
    pairs = bsds.list_images(real_bsds500(), "test")
    assert len(pairs) == 200
    blank = bsds.blank_scores([truth for _, _, truth in pairs])
    assert [round(blank[k], 4) for k in ("all", "fine", "coarse")] == list(bsds.PUBLISHED["blank"])
