"""The speed work keeps results: the cropped labelling, the written-out SGD, the OpenMP wait policy,
and the GPU benchmark script (run here on a tiny CPU case)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MODULE_DIR, fast_settings

from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.engine.device import others_computing, prefer_passive_waiting
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.training import (build_model, label_slices, labelling_box, make_optimizer,
                                                  recalibrate_batchnorm)
from UnsupervisedCTSegLib.io.phantom import make_phantom

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_labels_of_the_body_box_equal_those_of_whole_slices():
    volume, _, _ = make_phantom(slices=3, size=96)
    body = body_mask(volume.hu, volume.spacing)
    settings = Settings(layers=3, channels=16, device="cpu")
    torch.manual_seed(0)
    model = build_model(settings, torch.device("cpu"))
    recalibrate_batchnorm(model, volume.hu, settings, torch.device("cpu"), 3, None, body)
    box = labelling_box(body, 96, 96, settings.layers)
    y, x, h, w = box
    assert h * w < 96 * 96  # the phantom's body leaves air around it
    whole = label_slices(model, volume.hu, np.arange(3), settings, torch.device("cpu"), body)
    cropped = label_slices(model, volume.hu, np.arange(3), settings, torch.device("cpu"), body, box=box)
    assert np.array_equal(cropped[body[:, y:y + h, x:x + w]], whole[:, y:y + h, x:x + w][body[:, y:y + h, x:x + w]])
    assert not body[:, :y].any() and not body[:, y + h:].any() and not body[:, :, :x].any()


def test_labelling_box_is_the_body_box_widened_by_one_pixel_per_block_within_the_slice():
    body = np.zeros((2, 50, 60), bool)
    body[:, 10:20, 1:30] = True
    assert labelling_box(body, 50, 60, 3) == (7, 0, 16, 33)  # rows 7..22, columns 0..32
    assert labelling_box(None, 50, 60, 3) == (0, 0, 50, 60)


def test_the_written_out_sgd_gives_torchs_weights_bit_for_bit():
    settings = fast_settings(lr=0.1, momentum=0.9)
    x = torch.randn(2, 6, 16, 16, generator=torch.Generator().manual_seed(1))
    models = []
    for optimizer_of in (lambda m: make_optimizer(m, settings),
                         lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)):
        torch.manual_seed(0)
        model = build_model(settings, torch.device("cpu"))
        optimizer = optimizer_of(model)
        for _ in range(4):
            optimizer.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            optimizer.step()
        models.append(model)
    for ours, theirs in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(ours, theirs)


def test_passive_waiting_is_asked_for_when_others_compute_unless_the_user_chose():
    for busy, expected in ((True, {"OMP_WAIT_POLICY": "PASSIVE"}), (None, {"OMP_WAIT_POLICY": "PASSIVE"}),
                           (False, {})):
        environment = {}
        prefer_passive_waiting(environment, busy=lambda: busy)
        assert environment == expected
    chosen = {"OMP_WAIT_POLICY": "ACTIVE"}
    prefer_passive_waiting(chosen, busy=lambda: True)
    assert chosen == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_others_computing_counts_runnable_threads_less_this_processs_own_and_its_childrens(tmp_path):
    stat = tmp_path / "stat"

    def machine(running: int, own_states: str, child_states: str = "") -> None:
        stat.write_text(f"cpu  1 2 3 4\nprocs_running {running}\nprocs_blocked 0\n")
        for old in tmp_path.glob("*/task/*/stat"):
            old.unlink()
        for process, states in (("self", own_states), ("42", child_states)):
            for number, state in enumerate(states):
                (tmp_path / process / "task" / str(number)).mkdir(parents=True, exist_ok=True)
                (tmp_path / process / "task" / str(number) / "stat").write_text(f"{number} (py (x)) {state} 1 2 3\n")

    for running, own_states, expected in ((1, "R", False), (3, "RRR", False), (3, "RRS", True), (2, "S", True)):
        machine(running, own_states)
        assert others_computing(reads=3, gap=0, proc=str(tmp_path)) is expected, (running, own_states)
    machine(3, "R", "RR")  # a child importing PyTorch for this process is not another computation
    assert others_computing(reads=3, gap=0, proc=str(tmp_path)) is True
    assert others_computing(reads=3, gap=0, proc=str(tmp_path), ours=[42]) is False
    assert others_computing(reads=3, gap=0, proc=str(tmp_path), ours=[43]) is True  # an ended child: nothing
    stat.unlink()
    assert others_computing(proc=str(tmp_path)) is None
    stat.write_text("cpu  1 2 3 4\n")
    assert others_computing(reads=2, gap=0, proc=str(tmp_path)) is None


def test_others_computing_sees_a_busy_process(tmp_path):
    if others_computing() is None:
        pytest.skip("no /proc/stat on this system")
    spinner = subprocess.Popen([sys.executable, "-c", "import sys\nprint(flush=True)\nwhile True: pass"],
                               stdout=subprocess.PIPE)
    try:
        spinner.stdout.readline()
        assert others_computing(reads=9)
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.parametrize("busy", [True, False])
def test_the_command_line_decides_the_waiting_before_pytorch_loads(busy):
    probe = ("import os, sys\n"
             "from UnsupervisedCTSegLib.engine import device\n"
             f"device.others_computing = lambda: {busy}\n"
             "from UnsupervisedCTSegLib.cli import main\n"
             "seen = []\n"
             "main.main = lambda argv=None: seen.append((os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)) or 0\n"
             "main.run()\n"
             "print(seen)\n")
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environment["PYTHONPATH"] = str(MODULE_DIR)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment)
    assert done.stdout.strip() == f"[({'PASSIVE' if busy else None!r}, False)]", done.stderr


def test_the_gpu_benchmark_runs_on_a_tiny_cpu_case():
    environment = dict(os.environ, PYTHONPATH=str(MODULE_DIR))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--size", "32", "--slices", "2",
                           "--study-slices", "1", "--study-iterations", "2", "--agreement-slices", "2",
                           "--device", "cpu"], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    values = {row.split(" | ")[0][2:]: float(row.rstrip(" |").split(" | ")[-1]) for row in rows[1:]}
    assert values["default: iterations run"] == 30
    assert 0.0 <= values["bf16 vs fp32 label agreement (2 slices)"] <= 1.0
    assert values["study preset: s per iteration"] > 0
