"""Sweeps and Ray: a 2x2x2 sweep through a local Ray instance, retry-once-then-report, resume after an
interrupted run, and the figures (montage per M, the series figure)."""
import csv
import sys

import numpy as np
import pytest
from helpers import blocks_volume

from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.engine.errors import InputError
from UnsupervisedCTSegLib.evaluation import sweep, tasks
from UnsupervisedCTSegLib.io.writers import write_labelmap, write_volume

FAST = ["-p", "4", "-q", "4", "-T", "2", "--no-body-mask", "--train-size", "0", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for the module; run_tasks reuses it instead of starting its own."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this file
    yield ray
    ray.shutdown()


@pytest.fixture
def tiny_ct(tmp_path):
    volume = blocks_volume(depth=3, size=16)
    return write_volume(tmp_path / "tiny.nrrd", volume), volume


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_2x2x2_sweep_on_local_ray_writes_table_and_montages(tmp_path, tiny_ct, local_ray):
    path, _ = tiny_ct
    out = tmp_path / "sweep"
    assert main(["sweep", str(path), "--layers", "1,2", "--theta", "1,2", "--mu", "0.5,3", "-o", str(out)] + FAST) == 0
    rows = rows_of(out / "sweep.csv")
    assert sorted((r["layers"], r["theta"], r["mu"]) for r in rows) == [
        (m, t, u) for m in ("1", "2") for t in ("1", "2") for u in ("0.5", "3")]
    assert all(int(r["labels"]) >= 1 and int(r["iterations"]) >= 1 for r in rows)
    assert "1 CPU and 0 GPU per task" in (out / "sweep.md").read_text(encoding="utf-8")
    for m in (1, 2):
        assert (out / f"montage_M{m}.png").stat().st_size > 1000
    assert len(list((out / "runs").glob("*.npy"))) == 8


def fails_first_time(marker: str, value: int) -> int:
    """Fails once per marker file, then succeeds: a task that a retry rescues."""
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("failed once")
        raise RuntimeError("transient failure")
    return value


def always_fails(value: int) -> int:
    raise RuntimeError(f"task {value} is broken")


def square(value: int) -> int:
    return value * value


@pytest.mark.parametrize("use_ray", [True, False])
def test_failed_task_is_retried_once_then_reported(tmp_path, use_ray, request):
    if use_ray:
        request.getfixturevalue("local_ray")
    got = {}
    report = tasks.run_tasks(fails_first_time, {"a": dict(marker=str(tmp_path / "m"), value=3)},
                                lambda k, v: got.__setitem__(k, v), use_ray=use_ray, quiet=True)
    assert got == {"a": 3} and report.finished == ["a"] and not report.failed
    report = tasks.run_tasks(always_fails, {"bad": dict(value=1)}, lambda k, v: got.__setitem__(k, v),
                                use_ray=use_ray, quiet=True)
    assert report.failed and "task 1 is broken" in report.failed["bad"] and "bad" not in got
    report = tasks.run_tasks(square, {i: dict(value=i) for i in range(4)}, lambda k, v: got.__setitem__(k, v),
                                use_ray=use_ray, quiet=True)
    assert [got[i] for i in range(4)] == [0, 1, 4, 9]


def test_sweep_resumes_after_an_interrupted_run(tmp_path, tiny_ct, monkeypatch):
    path, _ = tiny_ct
    out = tmp_path / "sweep"
    grid = sweep.parse_grid("1", "1,2", "1,2")
    overrides = dict(channels=4, classes=4, iterations=2, body_mask=False, train_size=0, device="cpu")
    real_point = sweep.run_point
    calls = []

    def interrupted_after_two(**kwargs):
        calls.append(kwargs["settings"].theta)
        if len(calls) > 2:
            raise KeyboardInterrupt  # Ctrl-C during the third run
        return real_point(**kwargs)

    monkeypatch.setattr(sweep, "run_point", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(path, out, grid, overrides, use_ray=False, quiet=True)
    assert len(rows_of(out / "sweep.csv")) == 2  # what finished is on disk
    monkeypatch.setattr(sweep, "run_point", real_point)
    result = sweep.run_sweep(path, out, grid, overrides, use_ray=False, quiet=True)
    assert len(result["report"].finished) == 2  # only the missing two ran
    rows = rows_of(out / "sweep.csv")
    assert sorted((r["theta"], r["mu"]) for r in rows) == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    with pytest.raises(InputError, match="other settings"):
        sweep.run_sweep(path, out, grid, dict(overrides, iterations=3), use_ray=False, quiet=True)


def test_sweep_scores_against_a_reference_on_one_slice(tmp_path, tiny_ct):
    path, volume = tiny_ct
    reference = np.zeros(volume.shape, np.uint16)
    reference[:, 8:, 8:] = 1  # the bone block
    ref_path = write_labelmap(tmp_path / "ref.nrrd", reference, volume)
    names = tmp_path / "names.json"
    names.write_text('{"1": "vertebrae_L1"}')
    out = tmp_path / "scored"
    assert main(["sweep", str(path), "--layers", "2", "--theta", "1", "--mu", "1", "--slice", "1", "--reference",
                 str(ref_path), "--names", str(names), "--no-ray", "-o", str(out)] + FAST) == 0
    row = rows_of(out / "sweep.csv")[0]
    assert 0 < float(row["best_iou_bone"]) <= 1 and row["adjacent_ari"] in ("", "nan")  # one slice: no neighbours
    assert "mean best IoU" in (out / "sweep.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("args, word", [(["--layers", "2,x", "--theta", "1", "--mu", "1"], "comma list"),
                                        (["--layers", "2", "--theta", "1,1", "--mu", "1"], "repeats"),
                                        (["--layers", "0", "--theta", "1", "--mu", "1"], "layers"),
                                        (["--layers", "2", "--theta", "1", "--mu", "1", "--slice", "9"], "outside"),
                                        (["--layers", "2", "--theta", "1", "--mu", "1", "--names", "x.json"],
                                         "--reference and --names")])
def test_bad_sweep_input_one_line_exit_2(tmp_path, tiny_ct, capsys, args, word):
    path, _ = tiny_ct
    assert main(["sweep", str(path), "-o", str(tmp_path / "s"), "--no-ray"] + args + FAST) == 2
    assert word in capsys.readouterr().err
    assert not (tmp_path / "s" / "sweep.csv").exists()


def test_a_task_asks_for_a_gpu_only_where_there_is_one_and_the_settings_may_use_it():
    assert tasks.gpus_for_each_task(None, {"CPU": 16.0, "GPU": 1.0}) == 1
    assert tasks.gpus_for_each_task(None, {"CPU": 16.0, "GPU": 1.0}, "cuda:0") == 1
    assert tasks.gpus_for_each_task(None, {"CPU": 16.0, "GPU": 1.0}, "cpu") == 0
    assert tasks.gpus_for_each_task(None, {"CPU": 2.0}) == 0
    assert tasks.gpus_for_each_task(0.25, {"CPU": 2.0, "GPU": 4.0}) == 0.25


@pytest.mark.parametrize("address, word", [("127.0.0.1:1", "no Ray cluster answers"), ("nonsense", "HOST:PORT")])
def test_unreachable_ray_cluster_is_named_and_nothing_is_written(tmp_path, tiny_ct, capsys, address, word):
    path, _ = tiny_ct
    out = tmp_path / "s"
    assert main(["sweep", str(path), "--layers", "2", "--theta", "1", "--mu", "1", "--address", address,
                 "-o", str(out)] + FAST) == 2
    assert word in capsys.readouterr().err
    assert not out.exists()


def test_series_figure_keeps_one_colour_per_label(tmp_path, tiny_ct):
    from UnsupervisedCTSegLib.evaluation.figures import label_lut

    path, volume = tiny_ct
    labels = np.zeros(volume.shape, np.uint16)
    labels[:, :8] = 1
    labels[:, 8:] = 2
    labels_path = write_labelmap(tmp_path / "labels.nrrd", labels, volume)
    out = tmp_path / "series.png"
    assert main(["figure-series", str(path), "-o", str(out), "--labels", str(labels_path), "--slices", "0:3"]) == 0
    assert out.stat().st_size > 1000
    lut = label_lut(3)
    assert lut[0, 3] == 0 and len({tuple(c) for c in lut[1:, :3]}) == 3  # transparent 0, distinct colours
    assert main(["figure-series", str(path), "-o", str(tmp_path / "seg.png"), "--mode", "slice"] + FAST) == 0
    assert main(["figure-series", str(path), "-o", str(tmp_path / "x.jpg"), "--labels", str(labels_path)]) == 2
