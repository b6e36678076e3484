"""The panel's progress lines, on hand-made Progress tuples (no engine run, no clock)."""
import pytest

from UnsupervisedCTSegLib.engine.run import Progress
from UnsupervisedCTSegLib.slicer.texts import (format_seconds, progress_text, run_title, seconds_left, start_text,
                                               status_text, writing_text)


def progress(fraction=0.5, iteration=100, labels=7, loss=0.12345, stage="training", elapsed=30.0) -> Progress:
    return Progress(fraction, iteration, labels, loss, stage, elapsed)


def marked(text: str) -> str:
    """A stand-in translator that shows where it was applied."""
    return "<" + text + ">"


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (-5, "0 s"), (0.4, "0 s"), (42.4, "42 s"), (89, "89 s"),
    (120, "2 min"), (150, "2 min"), (5399, "90 min"), (5400, "1.5 h"), (7200, "2.0 h"), (36000, "10.0 h"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_seconds_left_extrapolates_from_the_elapsed_fraction():
    assert seconds_left(progress(fraction=0.5, elapsed=30.0)) == pytest.approx(30.0)
    assert seconds_left(progress(fraction=0.25, elapsed=60.0)) == pytest.approx(180.0)
    assert seconds_left(progress(fraction=0.02, elapsed=1.0)) is None  # too early to tell
    assert seconds_left(progress(fraction=0.0, elapsed=0.0)) is None
    assert seconds_left(progress(fraction=1.0, elapsed=9.0)) is None  # done


def test_progress_text_names_iteration_labels_loss_and_time_left():
    assert progress_text(progress(), 200) == "iteration 100/200, 7 labels, loss 0.123, ~30 s left"
    assert progress_text(progress(fraction=0.25, iteration=50, elapsed=60.0), 200).endswith(", ~3 min left")


def test_progress_text_without_time_left_at_the_start_and_the_end():
    assert progress_text(progress(fraction=0.01, iteration=1, labels=48, loss=2.5), 100) == \
        "iteration 1/100, 48 labels, loss 2.500"
    assert progress_text(progress(fraction=1.0, iteration=100, labels=5, loss=0.0), 100) == \
        "iteration 100/100, 5 labels, loss 0.000"


def test_status_line_and_title():
    assert run_title("CT chest", preview=False) == "Segmenting CT chest"
    assert run_title("CT chest", preview=True) == "Previewing one slice of CT chest"
    assert status_text("Segmenting CT", "CPU (4 threads)", progress(stage="slice 3/12", elapsed=125.0)) == \
        "Segmenting CT on CPU (4 threads): slice 3/12, 2 min elapsed"


def test_the_estimate_made_before_a_cpu_run_stays_on_the_status_line():
    assert start_text("Segmenting CT", "CPU (2 threads)") == "Segmenting CT on CPU (2 threads)"
    assert start_text("Segmenting CT", "CPU (2 threads)", estimate=250.0) == \
        "Segmenting CT on CPU (2 threads), estimated to take about 4 min"
    assert status_text("Segmenting CT", "CPU", progress(stage="training", elapsed=30.0), estimate=250.0) == \
        "Segmenting CT on CPU: training, 30 s elapsed of about 4 min estimated"
    assert start_text("X", "CPU", marked, 42.0) == "<X on CPU><, estimated to take about <42 s>>"


def test_every_template_goes_through_the_translator():
    assert format_seconds(42, marked) == "<42 s>"
    assert progress_text(progress(), 200, marked) == "<iteration 100/200, 7 labels, loss 0.123><, ~<30 s> left>"
    assert run_title("CT", True, marked) == "<Previewing one slice of CT>"
    assert status_text("X", "GPU", progress(elapsed=3.0), marked) == "<X on GPU: training, <3 s> elapsed>"


def test_writing_text_names_the_volume_and_is_translated():
    assert writing_text("CT") == "Writing CT for the run..."
    assert writing_text("CT", marked) == "<Writing CT for the run...>"
