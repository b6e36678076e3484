"""Scribbles (engine/scribbles.py, io/strokes.py, evaluation/strokes.py): strokes in, whole structures out."""
import json

import numpy as np
import pytest

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.scribbles import RERUN_SHARE, make_strokes, structure_labels
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.tissues import Tissue
from UnsupervisedCTSegLib.evaluation.strokes import OTHER, simulate_strokes, structure_masks
from UnsupervisedCTSegLib.io.phantom import make_phantom
from UnsupervisedCTSegLib.io.readers import read_volume
from UnsupervisedCTSegLib.io.strokes import read_strokes
from UnsupervisedCTSegLib.io.writers import write_labelmap, write_segmentation, write_volume

PHANTOM_VALUES = {"liver": 6, "kidney": 8, "bone": 10}  # io.phantom's truth values


@pytest.fixture(scope="module")
def phantom():
    volume, truth, _ = make_phantom(slices=12, size=128)
    body = body_mask(volume.hu, volume.spacing)
    masks = structure_masks({name: truth == value for name, value in PHANTOM_VALUES.items()}, body)
    return volume, masks, simulate_strokes(masks, 3, seed=0)


def settings(**overrides):
    return Settings(**{"iterations": 60, "channels": 16, "device": "cpu", **overrides})


def iou(labels, value, mask):
    return np.count_nonzero((labels == value) & mask) / np.count_nonzero((labels == value) | mask)


def test_propagation_gives_whole_structures_from_three_strokes_each(phantom):
    volume, masks, strokes = phantom
    assert strokes.names == ("liver", "kidney", "bone", OTHER)
    result = segment(volume, settings(), scribbles=strokes)
    scores = {name: iou(result.labels, value, masks[name]) for value, name in enumerate(strokes.names, start=1)}
    stroke_only = {name: np.count_nonzero(strokes.labels == value) / np.count_nonzero(masks[name])
                   for value, name in enumerate(strokes.names, start=1)}
    # Measured 0.64 / 0.93 / 0.61 / 0.88 (the strokes alone cover about 1%): the kidney, of the
    # liver's density, is kept apart by the partition, which the network method cannot do (below).
    assert scores["liver"] > 0.5 and scores["kidney"] > 0.7 and scores["bone"] > 0.55 and scores[OTHER] > 0.75
    assert all(stroke_only[name] < 0.02 for name in ("liver", "kidney", "bone"))
    assert [t.name for t in result.tissues] == list(strokes.names)
    assert set(np.unique(result.labels[body_mask(volume.hu, volume.spacing)])) <= set(range(1, 5))  # strict
    assert result.record["scribbles"]["method"] == "propagate"


def test_the_network_method_learns_structures_from_three_strokes_each(phantom):
    volume, masks, strokes = phantom
    result = segment(volume, settings(scribble_method="network"), scribbles=strokes)
    scores = {name: iou(result.labels, value, masks[name]) for value, name in enumerate(strokes.names, start=1)}
    # Measured 0.56 / 0.01 / 0.63 / 0.88: the kidney, 14 stroked voxels beside a liver of the same
    # density, is lost: see "Scribbles against Grow from seeds" in docs/quality.md.
    assert scores["liver"] > 0.4 and scores["bone"] > 0.45 and scores[OTHER] > 0.6
    assert set(np.unique(result.labels[body_mask(volume.hu, volume.spacing)])) <= set(range(1, 5))


def test_propagation_follows_hu_edges_and_the_partition_and_labels_unreached_pieces_by_look():
    from UnsupervisedCTSegLib.engine.propagation import propagate
    hu = np.zeros((3, 20, 40), np.float32)
    strokes = np.zeros(hu.shape, np.uint16)
    strokes[1, 10, 2:4], strokes[1, 10, 24:26] = 1, 2  # one stroke far left, one at x = 24, of equal HU
    partition = np.where(np.arange(40) < 20, 1, 2)[None, None].repeat(3, 0).repeat(20, 1)
    body = np.ones(hu.shape, bool)
    body[:, :, 28:30] = False  # x = 30.. is a piece of its own
    nearest = propagate(hu, strokes, 2, partition, body)
    assert (nearest[:, :, 28:30] == -1).all()
    # The same HU everywhere: the two structures meet at the partition's boundary (x = 20), not
    # midway between the strokes (x = 13) as Grow from seeds would have them.
    assert (nearest[:, :, :20] == 0).all() and (nearest[:, :, 20:28] == 1).all()
    hu[:, :, 30:] = 300.0
    hu[strokes == 2] = 300.0  # structure 2 is the dense one
    nearest = propagate(hu, strokes, 2, partition, body)
    assert (nearest[:, :, 30:] == 1).all()  # no stroke reaches the piece: the structure it looks like
    assert (nearest[strokes > 0] == strokes[strokes > 0] - 1).all()


def test_same_seed_same_labels_and_stroked_voxels_keep_their_structure(phantom):
    volume, _, strokes = phantom
    first = segment(volume, settings(iterations=10), scribbles=strokes)
    again = segment(volume, settings(iterations=10), scribbles=strokes)
    assert np.array_equal(first.labels, again.labels)
    stroked = strokes.labels > 0
    assert np.array_equal(first.labels[stroked], strokes.labels[stroked])


def test_open_output_keeps_unlike_voxels_as_hu_named_labels_after_the_structures(phantom):
    volume, _, strokes = phantom
    result = segment(volume, settings(iterations=10, scribble_output="open"), scribbles=strokes)
    extra = [t for t in result.tissues if t.label > strokes.count]
    assert [t.name for t in result.tissues[:strokes.count]] == list(strokes.names)
    assert extra and all(t.name.split(" ")[0] in ("air", "lung", "lung/fat", "fat", "fat/fluid", "fluid", "soft",
                                                  "enhanced", "contrast/cancellous", "bone", "mixed") for t in extra)
    assert int(result.labels.max()) == strokes.count + len(extra)


def test_open_output_never_names_an_extra_label_as_a_structure():
    hu = np.full((1, 8, 8), 40.0, np.float32)
    hu[0, :, 4:] = -100.0  # fat on the right
    clusters = np.zeros(hu.shape, np.int64)
    clusters[0, :, 4:] = 2  # not a structure: an extra label of fat
    clusters[0, :4, :4] = 1
    names = ("fat", "muscle")  # the user called the left half's top "fat"
    strokes = make_strokes(np.where(hu > 0, clusters + 1, 0).astype(np.uint16), names)  # the left half stroked
    plain = Settings(scribble_output="open")
    _, tissues = structure_labels(clusters, strokes, plain, hu, None)
    assert [t.name for t in tissues] == ["fat", "muscle", "fat (not stroked)"]
    _, tissues = structure_labels(clusters, make_strokes(strokes.labels, ("liver", "muscle")), plain, hu, None)
    assert [t.name for t in tissues] == ["liver", "muscle", "fat"]


def test_a_rerun_reuses_the_partition_whatever_the_strokes(phantom):
    volume, _, strokes = phantom
    first = segment(volume, settings(iterations=12), scribbles=strokes)
    more = strokes.labels.copy()
    more[6][strokes.labels[3] > 0] = strokes.labels[3][strokes.labels[3] > 0]  # the same strokes on another slice
    rerun = segment(volume, settings(iterations=12), scribbles=make_strokes(more, ("a", "b", "c", "d")),
                    resume=first.checkpoint)
    assert rerun.record["scribbles"]["resumed_from_previous_run"] and rerun.record["iterations_run"] == 0
    assert np.array_equal(rerun.checkpoint.state["partition"], first.checkpoint.state["partition"])
    assert first.checkpoint.state["partition"].element_size() == 1  # a few dozen labels: one byte each
    same = segment(volume, settings(iterations=12), scribbles=strokes, resume=first.checkpoint)
    assert np.array_equal(same.labels, first.labels)
    other = segment(volume, settings(iterations=12, mu=2.0), scribbles=strokes, resume=first.checkpoint)
    assert not other.record["scribbles"]["resumed_from_previous_run"] and other.record["iterations_run"] > 0


def test_a_network_rerun_on_the_same_ct_and_structures_starts_from_the_weights_and_trains_a_third(phantom):
    volume, _, strokes = phantom
    first = segment(volume, settings(iterations=12, scribble_method="network"), scribbles=strokes)
    more = strokes.labels.copy()
    more[6][strokes.labels[3] > 0] = strokes.labels[3][strokes.labels[3] > 0]  # the same strokes on another slice
    rerun = segment(volume, settings(iterations=12, scribble_method="network"),
                    scribbles=make_strokes(more, strokes.names), resume=first.checkpoint)
    assert rerun.record["scribbles"]["resumed_from_previous_run"]
    assert rerun.record["iterations_run"] == int(np.ceil(12 * RERUN_SHARE))
    renamed = make_strokes(strokes.labels, ("a", "b", "c", "d"))
    other = segment(volume, settings(iterations=12, scribble_method="network"), scribbles=renamed,
                    resume=first.checkpoint)
    assert not other.record["scribbles"]["resumed_from_previous_run"]
    assert other.record["iterations_run"] == 12


@pytest.mark.parametrize("labels, message", [
    (np.zeros((12, 128, 128), np.uint16), "empty"),
    (np.zeros((3, 4, 4), np.uint16) + 1, "voxels"),
    (np.where(np.arange(12)[:, None, None] == 2, 3, 0) * np.ones((12, 128, 128), np.uint16), "no stroke in"),
    (np.ones((12, 128, 128), np.uint16), "one structure"),
    (-np.ones((12, 128, 128), np.int16), "negative"),
])
def test_unusable_strokes_are_refused_with_the_fix(phantom, labels, message):
    volume = phantom[0]
    with pytest.raises(InputError, match=message):
        segment(volume, settings(), scribbles=labels)


@pytest.mark.parametrize("overrides, message", [
    (dict(variant="kmeans"), "network variant"),
    (dict(mode="slice"), "mode volume"),
    (dict(scribble_output="open", classes=4), "raise q"),
])
def test_settings_that_cannot_learn_from_strokes_are_refused(phantom, overrides, message):
    volume, _, strokes = phantom
    with pytest.raises(InputError, match=message):
        segment(volume, settings(scribble_method="network", **overrides), scribbles=strokes)


def test_the_stroke_simulator_is_deterministic_for_a_seed(phantom):
    _, masks, strokes = phantom
    assert np.array_equal(simulate_strokes(masks, 3, seed=0).labels, strokes.labels)
    assert not np.array_equal(simulate_strokes(masks, 3, seed=1).labels, strokes.labels)
    for value, name in enumerate(strokes.names, start=1):  # inside the structure, on 3 slices
        assert masks[name][strokes.labels == value].all()
        assert len(np.unique(np.nonzero(strokes.labels == value)[0])) <= 3


def test_a_careful_user_strokes_every_piece_of_a_structure():
    """Two kidneys on one slice: the default stroke reaches one, every_piece strokes both."""
    kidneys = np.zeros((1, 40, 60), bool)
    kidneys[0, 10:30, 5:20] = kidneys[0, 10:30, 40:55] = True
    masks = {"kidney": kidneys, "other body": np.zeros_like(kidneys)}
    masks["other body"][0, 32:39, 5:55] = True

    def pieces_stroked(strokes):
        painted = strokes.labels[0] == 1
        return int(painted[:, :30].any()) + int(painted[:, 30:].any())

    assert pieces_stroked(simulate_strokes(masks, 1, seed=0)) == 1
    careful = simulate_strokes(masks, 1, seed=0, every_piece=True)
    assert pieces_stroked(careful) == 2 and kidneys[careful.labels == 1].all()
    assert np.array_equal(simulate_strokes(masks, 1, seed=0, every_piece=True).labels, careful.labels)


def test_cli_reads_a_seg_nrrd_and_keeps_names_colours_and_values(tmp_path, phantom):
    volume, _, strokes = phantom
    ct = write_volume(tmp_path / "ct.nrrd", volume)
    colours = [(0.8, 0.1, 0.1), (0.1, 0.8, 0.1), (0.9, 0.9, 0.8), (0.3, 0.3, 0.9)]
    painted = tmp_path / "strokes.seg.nrrd"
    write_segmentation(painted, strokes.labels * 2, volume,  # Slicer's label values need not be 1..n
                       [Tissue(2 * i, name, colours[i - 1], 0.0, 0.0, 1) for i, name in enumerate(strokes.names, 1)])
    assert read_strokes(painted, volume).names == strokes.names
    out = tmp_path / "out" / "labels.nrrd"
    assert main(["segment", str(ct), "-o", str(out), "--scribbles", str(painted), "-T", "8", "-p", "16",
                 "--quiet", "--device", "cpu"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [t["name"] for t in record["labels"]] == list(strokes.names)
    assert [tuple(t["color"]) for t in record["labels"]] == colours
    labels = read_volume(out).hu
    assert np.array_equal(labels[strokes.labels > 0], strokes.labels[strokes.labels > 0])
    assert (tmp_path / "out" / "labels.weights.pt").is_file()
    assert main(["segment", str(ct), "-o", str(out), "--scribbles", str(painted), "-T", "8", "-p", "16",
                 "--quiet", "--device", "cpu"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["scribbles"]["resumed_from_previous_run"]


def test_cli_refuses_strokes_on_another_grid_and_writes_nothing(tmp_path, phantom, capsys):
    volume, _, strokes = phantom
    ct = write_volume(tmp_path / "ct.nrrd", volume)
    small, _, _ = make_phantom(slices=4, size=64)
    wrong = write_labelmap(tmp_path / "wrong.nrrd", np.ones(small.shape, np.uint16), small)
    out = tmp_path / "out" / "labels.nrrd"
    assert main(["segment", str(ct), "-o", str(out), "--scribbles", str(wrong), "--quiet"]) == 2
    assert "voxels" in capsys.readouterr().err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_a_large_volume_is_propagated_on_a_coarser_grid_without_losing_a_stroke(phantom, monkeypatch):
    from UnsupervisedCTSegLib.engine import propagation
    volume, masks, strokes = phantom
    body = body_mask(volume.hu, volume.spacing)
    partition = segment(volume, settings(iterations=10)).labels
    fine = propagation.propagate(volume.hu, strokes.labels, strokes.count, partition, body)
    monkeypatch.setattr(propagation, "MAX_GRAPH_VOXELS", np.count_nonzero(body) // 5)
    coarse = propagation.propagate(volume.hu, strokes.labels, strokes.count, partition, body)
    assert propagation._coarsening(body)[1] > 1
    assert (coarse[body] >= 0).all() and (coarse[~body] == -1).all()
    assert np.array_equal(coarse[strokes.labels > 0], strokes.labels[strokes.labels > 0] - 1)
    assert np.mean(coarse[body] == fine[body]) > 0.85
