"""The panel's device helpers in device.py: the device line, GPU or not, out-of-memory errors."""

import pytest
import torch
from helpers import blocks_volume, fast_settings, run_python

from UnsupervisedCTSegLib.engine import device
from UnsupervisedCTSegLib.engine import run as engine
from UnsupervisedCTSegLib.engine.errors import Cancelled, InputError
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.slicer import texts


def test_force_cpu_names_the_cpu_and_the_threads_a_run_gets():
    assert texts.device_name(True, 7) == "CPU (7 threads)"
    assert texts.device_description(True, 7) == "Will run on: CPU (7 threads)"
    assert texts.device_description(True, 7, last_device="cuda:0 (GPU)") == "Will run on: CPU (7 threads)"


def test_auto_says_gpu_or_cpu_until_a_run_has_shown_which():
    """Without importing torch the panel cannot know whether PyTorch sees a GPU: it says both."""
    assert texts.device_name(False, 7) == "CUDA GPU or CPU (7 threads)"
    assert texts.device_description(False, 7) == "Will run on: a CUDA GPU if PyTorch finds one, else the CPU (7 threads)"
    assert texts.device_name(False, 7, last_device="cuda:0 (NVIDIA H200)") == "cuda:0 (NVIDIA H200)"
    assert texts.device_description(False, 7, last_device="cpu (7 threads)") == "Will run on: cpu (7 threads)"


def test_one_thread_is_one_thread():
    assert texts.device_name(True, 1) == "CPU (1 thread)"
    assert texts.device_description(False, 1).startswith("Will run on: a CUDA GPU if PyTorch finds one, else the CPU (1 thread)")


def test_device_line_goes_through_the_translator():
    assert texts.device_description(True, 3, lambda text: "<" + text + ">").startswith("<Will run on: <CPU (")
    assert texts.device_description(False, 3, lambda text: "<" + text + ">").startswith("<Will run on: a CUDA GPU")


def test_device_line_does_not_import_torch():
    """The panel writes the line as it opens: importing torch there takes seconds, or fails when broken."""
    printed = run_python("from UnsupervisedCTSegLib.slicer import texts; "
                         "lines = [texts.device_description(f, 3) for f in (False, True)] + [texts.device_name(False, 3)]; "
                         "assert 'torch' not in sys.modules, 'torch imported'; print(lines)")
    assert "PyTorch is installed on the first run" not in printed  # torch is installed here


def test_runs_on_gpu():
    assert device.runs_on_gpu(Settings(device="cpu")) is False
    assert device.runs_on_gpu(Settings(device="auto")) is torch.cuda.is_available()
    assert device.runs_on_gpu(Settings(device="cuda")) is torch.cuda.is_available()  # never raises


def oom_message() -> str:
    return "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)"


def test_out_of_memory_errors_are_recognised():
    assert device.is_out_of_memory(torch.cuda.OutOfMemoryError(oom_message()))
    assert device.is_out_of_memory(RuntimeError(oom_message()))  # PyTorch before 1.13
    assert device.is_out_of_memory(RuntimeError("CUDA error: out of memory"))


def test_out_of_memory_is_found_behind_a_wrapping_error():
    for chain in ("cause", "context"):
        try:
            try:
                raise torch.cuda.OutOfMemoryError("allocation failed")
            except torch.cuda.OutOfMemoryError as oom:
                if chain == "cause":
                    raise InputError("could not run") from oom
                raise InputError("could not run")
        except InputError as error:
            assert device.is_out_of_memory(error), chain


def test_the_engines_input_error_for_out_of_memory_is_recognised(monkeypatch):
    """The engine re-raises CUDA out-of-memory as an InputError naming the fix; the panel must still see it."""
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError(oom_message())

    monkeypatch.setattr(engine, "segment_series", out_of_memory)
    with pytest.raises(InputError) as caught:
        engine.segment(blocks_volume(), fast_settings())
    assert device.is_out_of_memory(caught.value)


@pytest.mark.parametrize("error", [
    None, ValueError("bad value"), InputError("slices of 2x2 pixels are smaller than the network can take"),
    Cancelled("segmentation cancelled"), RuntimeError("index 3 is out of range"), MemoryError(),
], ids=repr)
def test_other_errors_are_not_out_of_memory(error):
    assert not device.is_out_of_memory(error)


def test_a_cyclic_chain_ends():
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__context__, second.__context__ = second, first
    assert not device.is_out_of_memory(first)


def test_device_helpers_work_before_pytorch_is_installed():
    """The panel shows its device line when it opens, which may be before PyTorch is installed."""
    run_python("import types; "
               "from UnsupervisedCTSegLib.engine import device; from UnsupervisedCTSegLib.slicer import texts; "
               "assert texts.device_name(False, 3) == 'CUDA GPU or CPU (3 threads)'; "
               "assert texts.device_description(False, 3).endswith('; PyTorch is installed on the first run'); "
               "assert device.runs_on_gpu(types.SimpleNamespace(device='auto')) is False; "
               "assert device.is_out_of_memory(RuntimeError('CUDA out of memory'))", without_torch=True)
