"""Every picture of CT slices is drawn in radiological convention whatever the storage of the array.

One small asymmetric CT (a bright blob at the patient's right-anterior, a bone-bright marker posterior-left
in the superior slices only) is stored several ways that are the same physical image: LPS (identity
direction), RAS (x and y flipped, as NIfTI from most tools), z flipped and x/y swapped. The overview, the
figure-series row, the sweep montage and the evaluation report must draw the same picture for each, with
the blob at the top left (anterior up, the patient's right on the image's left), and the RAS picture
must differ from drawing its array as stored (what the code did before).
"""
import numpy as np
import pytest
from PIL import Image

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.tissues import renumber_by_hu
from UnsupervisedCTSegLib.engine.volume import Volume
from UnsupervisedCTSegLib.evaluation import scoring, sweep
from UnsupervisedCTSegLib.evaluation.figures import draw_series
from UnsupervisedCTSegLib.evaluation.references import ReferenceGroups
from UnsupervisedCTSegLib.evaluation.report import draw_figure
from UnsupervisedCTSegLib.evaluation.scoring import Evaluation
from UnsupervisedCTSegLib.evaluation.sweep import montage_path, point_key, preview_path, write_report
from UnsupervisedCTSegLib.evaluation.tasks import TaskReport
from UnsupervisedCTSegLib.io.orientation import patient_axes, radiological_view
from UnsupervisedCTSegLib.io.overview import draw_overview, write_overview
from UnsupervisedCTSegLib.io.writers import write_labelmap, write_volume

SPACING = (0.8, 1.0, 2.5)  # anisotropic in-plane, so a wrong aspect after an x/y swap shows
ORIGIN = np.array([10.0, -5.0, 3.0])
BLOB, MARKER = 300.0, 900.0
STORAGES = ("RAS", "z flipped", "x/y swapped", "oblique RAS")


def lps_ct():
    """(hu, labels) stored LPS: +x to the patient's left, +y posterior, +z superior."""
    hu = np.full((6, 20, 24), -1000.0, np.float32)
    hu[:, 1:19, 1:23] = 40.0  # body
    hu[:, 2:7, 2:8] = BLOB  # patient's right (low x), anterior (low y), every slice
    hu[4:, 13:18, 15:22] = MARKER  # posterior-left, superior slices only
    truth = np.digitize(hu, [-500.0, 100.0, 500.0]).astype(np.int64)
    return hu, truth


def stored(kind: str):
    """The LPS CT stored as `kind`: (Volume, labels), the same physical image (but the oblique one)."""
    hu, labels = lps_ct()
    nz, ny, nx = hu.shape
    sx, sy, sz = SPACING
    direction, spacing, origin = np.eye(3), SPACING, ORIGIN
    if kind in ("RAS", "oblique RAS"):
        hu, labels = hu[:, ::-1, ::-1], labels[:, ::-1, ::-1]
        direction, origin = np.diag([-1.0, -1.0, 1.0]), ORIGIN + [(nx - 1) * sx, (ny - 1) * sy, 0.0]
        if kind == "oblique RAS":  # 10 degrees about S: the nearest plain orientation is still RAS
            turn = np.radians(10.0)
            rotation = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
            direction = rotation @ direction
    elif kind == "z flipped":
        hu, labels = hu[::-1], labels[::-1]
        direction, origin = np.diag([1.0, 1.0, -1.0]), ORIGIN + [0.0, 0.0, (nz - 1) * sz]
    elif kind == "x/y swapped":
        hu, labels = hu.transpose(0, 2, 1), labels.transpose(0, 2, 1)
        direction, spacing = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]]), (sy, sx, sz)
    volume = Volume(np.ascontiguousarray(hu), spacing, tuple(origin), direction, "synthetic")
    return volume, np.ascontiguousarray(labels)


def as_stored(volume: Volume) -> Volume:
    """The same array with an identity direction: how the code drew every CT before."""
    return Volume(volume.hu, volume.spacing, volume.origin, np.eye(3), volume.source)


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def pixels(figure) -> np.ndarray:
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba()).copy()


def drawn(figure) -> list:
    """The arrays handed to imshow, tile by tile, as the figure shows them (row 0 at the top)."""
    return [np.ma.getdata(image.get_array()) for ax in figure.axes for image in ax.images]


def tissues_of(labels, hu):
    return renumber_by_hu(labels, hu)[1]


@pytest.mark.parametrize("kind", STORAGES[:3])
def test_the_storages_are_one_physical_image(kind):
    """Guard for the tests below: each storage puts the blob and the marker at the same LPS place."""
    def centre(volume, value):
        k, j, i = np.nonzero(volume.hu == value)
        return (volume.ijk_to_lps() @ np.array([i.mean(), j.mean(), k.mean(), 1.0]))[:3]

    reference, volume = stored("LPS")[0], stored(kind)[0]
    for value in (BLOB, MARKER):
        assert np.allclose(centre(volume, value), centre(reference, value))


def test_nearest_axes_of_plain_and_oblique_directions():
    assert patient_axes(np.eye(3)) == ((0, 1), (1, 1), (2, 1))
    assert patient_axes(np.diag([-1.0, -1.0, 1.0])) == ((0, -1), (1, -1), (2, 1))
    assert patient_axes(stored("oblique RAS")[0].direction) == ((0, -1), (1, -1), (2, 1))
    assert patient_axes(np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])) == ((1, 1), (2, 1), (0, 1))  # sagittal
    view = radiological_view(np.zeros((2, 3, 4)), np.diag([1.0, -1.0, -1.0]), (0.5, 0.7, 3.0))
    assert view.array.shape == (2, 3, 4) and view.spacing == (0.5, 0.7, 3.0) and list(view.stored) == [1, 0]


@pytest.mark.parametrize("kind", ["RAS", "x/y swapped", "oblique RAS"])
def test_overview_png_is_the_same_however_the_ct_is_stored(tmp_path, kind):
    reference, labels = stored("LPS")
    expected = png(write_overview(tmp_path / "lps.png", reference, labels, tissues_of(labels, reference.hu), title="t"))
    volume, labels = stored(kind)
    tissues = tissues_of(labels, volume.hu)
    assert np.array_equal(png(write_overview(tmp_path / "other.png", volume, labels, tissues, title="t")), expected)
    if kind == "RAS":  # drawn as stored, the spine would be at the top: the old picture differs
        old = png(write_overview(tmp_path / "old.png", as_stored(volume), labels, tissues, title="t"))
        assert old.shape != expected.shape or not np.array_equal(old, expected)


@pytest.mark.parametrize("kind", ["LPS", *STORAGES])
def test_overview_tiles_are_radiological_and_run_inferior_to_superior(kind):
    volume, labels = stored(kind)
    figure = draw_overview(volume, labels, tissues_of(labels, volume.hu), max_slices=6)
    reference, reference_labels = stored("LPS")
    expected = drawn(draw_overview(reference, reference_labels, tissues_of(reference_labels, reference.hu),
                                   max_slices=6))
    tiles = drawn(figure)
    assert len(tiles) == len(expected) and all(np.array_equal(a, b) for a, b in zip(tiles, expected))
    tiles = drawn(figure)[::2]  # HU under each tile's labels
    rows, columns = np.nonzero(tiles[0] == BLOB)
    assert rows.mean() < tiles[0].shape[0] / 2 and columns.mean() < tiles[0].shape[1] / 2  # anterior, right
    assert not (tiles[0] == MARKER).any() and (tiles[-1] == MARKER).any()  # inferior first, superior last
    names = [text.get_text() for ax in figure.axes for text in ax.texts if text.get_text().startswith("slice")]
    assert names == [f"slice {z}" for z in (range(5, -1, -1) if kind == "z flipped" else range(6))]


def test_real_ras_ct_overview_is_flipped_in_x_and_y():
    """The stored RAS array drawn radiologically is its flip in x and y, slice for slice."""
    volume, labels = stored("RAS")
    tiles = drawn(draw_overview(volume, labels, tissues_of(labels, volume.hu), max_slices=6))[::2]
    assert np.array_equal(tiles[0], volume.hu[0, ::-1, ::-1])


@pytest.mark.parametrize("kind", ["RAS", "z flipped", "x/y swapped"])
def test_series_figure_is_the_same_however_the_ct_is_stored(kind):
    reference, reference_labels = stored("LPS")
    expected = draw_series(reference.hu[1:5], reference_labels[1:5], 1, reference.spacing, "t", reference.direction)
    volume, labels = stored(kind)  # stored slices 1..4 of 6 are the same four slices however z runs
    figure = draw_series(volume.hu[1:5], labels[1:5], 1, volume.spacing, "t", volume.direction)
    tiles, expected_tiles = drawn(figure), drawn(expected)
    assert len(tiles) == len(expected_tiles) and all(np.array_equal(a, b) for a, b in zip(tiles, expected_tiles))
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ([f"slice {z}" for z in (4, 3, 2, 1)] if kind == "z flipped" else
                      [f"slice {z}" for z in (1, 2, 3, 4)])
    if kind == "RAS":
        assert np.array_equal(pixels(figure), pixels(expected))
        old = draw_series(volume.hu[1:5], labels[1:5], 1, volume.spacing, "t")
        assert not np.array_equal(pixels(old), pixels(expected))


def test_figure_series_command_draws_ras_and_lps_files_alike(tmp_path):
    pictures = {}
    for kind in ("LPS", "RAS", "as stored"):
        volume, labels = stored("RAS" if kind == "as stored" else kind)
        volume = as_stored(volume) if kind == "as stored" else volume
        folder = tmp_path / kind.replace(" ", "_")
        folder.mkdir()
        ct = write_volume(folder / "ct.nrrd", volume)  # one name: the title shows it
        label_path = write_labelmap(folder / "labels.nrrd", labels, volume)
        out = folder / "series.png"
        assert main(["figure-series", str(ct), "-o", str(out), "--labels", str(label_path), "--slices", "2:5"]) == 0
        pictures[kind] = png(out)
    assert np.array_equal(pictures["LPS"], pictures["RAS"])
    assert not np.array_equal(pictures["as stored"], pictures["RAS"])


@pytest.mark.parametrize("kind", ["RAS", "x/y swapped"])
def test_sweep_montage_is_the_same_however_the_ct_is_stored(tmp_path, kind):
    grid = {"layers": [2], "theta": [1.0], "mu": [0.5, 3.0]}
    montages = {}
    for name in ("LPS", kind, "as stored"):
        volume, labels = stored("LPS" if name == "LPS" else kind)
        output = tmp_path / name.replace("/", "")
        for mu, shift in ((0.5, 0), (3.0, 1)):
            path = preview_path(output, point_key(2, 1.0, mu))
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, labels[3] + shift)
        direction = None if name == "as stored" else volume.direction
        write_report(output, [], grid, volume.hu[3], volume.spacing, "t", Settings(), TaskReport(), direction)
        montages[name] = png(montage_path(output, 2))
    assert np.array_equal(montages[kind], montages["LPS"])
    if kind == "RAS":
        assert not np.array_equal(montages["as stored"], montages["LPS"])


def evaluation_of(volume: Volume, labels: np.ndarray, direction) -> Evaluation:
    """A finished evaluation of one configuration, enough for draw_figure."""
    mean = {"best_iou": {"blob": 0.5}, "mean_best_iou": 0.5, "mean_hungarian_iou": 0.4, "adjacent_ari": 0.9,
            "identical_fraction": 0.8, "run_to_run_ari": 0.7, "matched_agreement": 0.6}
    groups = ReferenceGroups({"blob": volume.hu == BLOB}, {"blob": ["blob"]}, {})
    return Evaluation([{"name": "ours", "title": "ours", "mean": mean}], groups, [0], {"title": "t"}, 3,
                      volume.hu[3].copy(), {"ours": labels[3].copy()}, volume.spacing, direction)


@pytest.mark.parametrize("kind", ["RAS", "x/y swapped"])
def test_evaluation_figure_is_the_same_however_the_ct_is_stored(kind):
    reference, reference_labels = stored("LPS")
    expected = pixels(draw_figure(evaluation_of(reference, reference_labels, reference.direction)))
    volume, labels = stored(kind)
    assert np.array_equal(pixels(draw_figure(evaluation_of(volume, labels, volume.direction))), expected)
    if kind == "RAS":
        assert not np.array_equal(pixels(draw_figure(evaluation_of(volume, labels, None))), expected)


def test_sweep_and_evaluation_hand_the_ct_direction_to_their_pictures(tmp_path, monkeypatch):
    volume, labels = stored("RAS")
    ct = write_volume(tmp_path / "ct.nrrd", volume)
    seen = {}
    monkeypatch.setattr(sweep, "write_report", lambda *args: seen.setdefault("direction", args[-1]))
    overrides = dict(channels=4, iterations=2, train_size=0, body_mask=False, device="cpu")
    sweep.run_sweep(ct, tmp_path / "sweep", {"layers": [1], "theta": [1.0], "mu": [1.0]}, overrides,
                    slice_index=2, use_ray=False, quiet=True)
    assert np.allclose(seen["direction"], volume.direction)
    groups = ReferenceGroups({"blob": volume.hu == BLOB}, {"blob": ["blob"]}, {})
    assert np.allclose(scoring.evaluate(volume, groups, ("kmeans6",), seeds=(0,), device="cpu").direction,
                       volume.direction)
