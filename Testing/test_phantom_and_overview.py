import numpy as np
from PIL import Image

from UnsupervisedCTSegLib.engine.tissues import renumber_by_hu
from UnsupervisedCTSegLib.io.overview import write_overview
from UnsupervisedCTSegLib.io.phantom import BONE, FAT, LIVER, LUNG, TABLE, make_phantom


def test_phantom_is_deterministic_with_realistic_hu():
    a, truth, names = make_phantom(slices=4, size=96)
    b, truth_b, _ = make_phantom(slices=4, size=96)
    assert np.array_equal(a.hu, b.hu) and np.array_equal(truth, truth_b)
    assert a.shape == (4, 96, 96) and a.spacing == (0.8, 0.8, 5.0)
    mean = lambda label: float(a.hu[truth == label].mean())
    assert -130 < mean(FAT) < -60
    assert 80 < mean(LIVER) < 140
    assert mean(BONE) > 300
    assert mean(LUNG) < -600
    assert (truth == TABLE).any()
    assert set(names) >= {FAT, LIVER, BONE, LUNG, TABLE}
    other = make_phantom(slices=4, size=96, seed=1)[0]
    assert not np.array_equal(a.hu, other.hu)


def test_overview_png_has_one_tile_per_slice_and_legend(tmp_path):
    volume, truth, _ = make_phantom(slices=3, size=64)
    labels, tissues = renumber_by_hu(truth.astype(np.int64), volume.hu)
    path = write_overview(tmp_path / "o.png", volume, labels, tissues)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 100 and image.shape[1] > 200
    # label colours must appear: the overlay is not a plain grey image
    assert (np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)) > 40).mean() > 0.01
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
