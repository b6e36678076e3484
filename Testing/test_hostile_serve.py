"""`ctseg serve` fed what a careless or hostile caller sends: it must answer every command with exactly
one "done" or "error" line, print nothing but JSON lines on its standard output, and go on with the
next command, whatever a line holds.

Most cases drive serve() in this process (PyTorch is imported once); one runs the real process.
Inputs are 48 x 48 x 8 and runs have 3 iterations.
"""
import json
import os
import subprocess
import sys

import pytest
from helpers import body_volume

from UnsupervisedCTSegLib.cli import serve as serve_module
from UnsupervisedCTSegLib.cli.main import main
from UnsupervisedCTSegLib.io.writers import write_volume

FAST = ["-M", "2", "-p", "8", "-T", "3", "--device", "cpu", "--quiet", "--outputs", "labelmap"]
LONGEST_LINE = 1000  # no error line repeats more than this of what it was sent


@pytest.fixture
def source(tmp_path):
    return write_volume(tmp_path / "ct.nrrd", body_volume())


@pytest.fixture(autouse=True)
def no_signal_handlers(monkeypatch):
    """serve() routes signals through io.stops after each command: not in the test process."""
    monkeypatch.setattr(serve_module.stops, "install", lambda: None)


def good(source, tmp_path, name="good", *extra):
    return ["segment", str(source), "-o", str(tmp_path / name / "l.nrrd"), *FAST, *extra]


def served(capsys, commands):
    """Run `commands` (JSON lists or raw lines) through serve(): (status, the events, stderr lines).
    Every line on standard output must be a JSON event."""
    lines = [c if isinstance(c, str) else json.dumps(c) for c in commands]
    status = serve_module.serve(main, lines=lines)
    out, err = capsys.readouterr()
    events = []
    for line in out.splitlines():
        event = json.loads(line)  # nothing but JSON on standard output
        assert isinstance(event, dict) and "event" in event, line
        events.append(event)
    return status, events, err.splitlines()


def finals(events):
    return [e for e in events if e["event"] in ("done", "error")]


def nested_json(tmp, source):
    return "[" * 100000 + "]" * 100000, []


def nul_in_a_path(tmp, source):
    return ["segment", str(tmp / "ct\x00.nrrd"), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["NUL"]


def nul_in_the_output(tmp, source):
    return ["segment", str(source), "-o", str(tmp / "out" / "l\x00.nrrd"), *FAST], ["NUL"]


def lone_surrogate_in_a_path(tmp, source):
    return '["segment", "ct\\ud800.nrrd", "-o", "' + str(tmp / "out" / "l.nrrd") + '"]', ["\\ud800", "rename"]


def threads_1e20(tmp, source):
    return ["segment", str(source), "-o", str(tmp / "out" / "l.nrrd"), *FAST, "--threads", "1e20"], [
        "--threads", "1e20"]


def threads_beyond_any_integer(tmp, source):
    return ["segment", str(source), "-o", str(tmp / "out" / "l.nrrd"), *FAST, "--threads", "9" * 30], [
        "--threads"]


def threads_above_the_bound(tmp, source):
    many = str((os.cpu_count() or 1) * 4 + 1)
    return ["segment", str(source), "-o", str(tmp / "out" / "l.nrrd"), *FAST, "--threads", many], [
        "--threads", many]


def help_asked(tmp, source):
    return ["segment", "--help"], ["help"]


def version_asked(tmp, source):
    return ["segment", "--version"], []


def unknown_flag(tmp, source):
    return ["segment", str(source), "-o", str(tmp / "out" / "l.nrrd"), "--no-such-flag"], ["--no-such-flag"]


def ten_megabyte_path(tmp, source):
    return ["segment", "x" * 10_000_000, "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["…"]


def ten_megabyte_flag(tmp, source):
    return ["segment", str(source), "-o", str(tmp / "out" / "l.nrrd"), "--" + "y" * 10_000_000], ["…"]


def newline_in_a_path(tmp, source):
    return ["segment", str(tmp / "mi\nssing.nrrd"), "-o", str(tmp / "out" / "l.nrrd"), *FAST], ["mi\\nssing"]


BAD = [nested_json, nul_in_a_path, nul_in_the_output, lone_surrogate_in_a_path, threads_1e20,
       threads_beyond_any_integer, threads_above_the_bound, help_asked, version_asked, unknown_flag,
       ten_megabyte_path, ten_megabyte_flag, newline_in_a_path]


@pytest.mark.parametrize("case", BAD, ids=[c.__name__ for c in BAD])
def test_a_bad_command_gets_one_error_line_and_the_next_is_answered(tmp_path, source, capsys, case):
    bad, words = case(tmp_path, source)
    status, events, err = served(capsys, [bad, good(source, tmp_path)])
    assert status == 0, err[-3:]
    assert [(e["event"], e.get("status")) for e in finals(events)] == [("error", 2), ("done", None)], finals(events)
    message = finals(events)[0]["message"]
    for word in words:
        assert word in message, (word, message[:300])
    assert all(len(json.dumps(e, ensure_ascii=False)) < LONGEST_LINE for e in events), "an error line repeats too much"
    assert not any("Traceback" in line for line in err), err[-5:]
    if case is not help_asked:  # the usage asked for goes to stderr; else at most the one error line
        assert len(err) <= 1, err[:5]
    assert all(len(line) < LONGEST_LINE for line in err)
    assert not (tmp_path / "out").exists()


def test_threads_given_to_one_command_do_not_stick_to_the_next(tmp_path, source, capsys):
    import torch

    before = torch.get_num_threads()
    try:
        other = str(before + 1)
        status, events, _ = served(capsys, [good(source, tmp_path, "a", "--threads", other),
                                            good(source, tmp_path, "b")])
        done = finals(events)
        assert status == 0 and [e["event"] for e in done] == ["done", "done"], done
        assert done[0]["device"] == f"cpu ({other} threads)"
        assert done[1]["device"] == f"cpu ({before} threads)", "the first command's --threads stuck"
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_the_real_process_survives_every_bad_line_and_answers_the_last(tmp_path, source):
    """Bytes that are no UTF-8 text, a deeply nested list, NUL, a surrogate, --help, a huge argument:
    one error line each, JSON only on standard output, and the good command at the end is done."""
    lines = [b"\xff\xfe not text\n",
             ("[" * 100000 + "]" * 100000 + "\n").encode(),
             (json.dumps(["segment", "ct\x00.nrrd", "-o", str(tmp_path / "out" / "l.nrrd")]) + "\n").encode(),
             b'["segment", "ct\\udcff.nrrd", "-o", "x.nrrd"]\n',
             (json.dumps(["segment", "--help"]) + "\n").encode(),
             (json.dumps(["segment", str(source), "-o", str(tmp_path / "out" / "l.nrrd"), "--threads", "1e20"])
              + "\n").encode(),
             (json.dumps(["segment", "z" * 1_000_000, "-o", str(tmp_path / "out" / "l.nrrd")]) + "\n").encode(),
             (json.dumps(good(source, tmp_path)) + "\n").encode()]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    environment.pop("PYTHONIOENCODING", None)
    done = subprocess.run([sys.executable, "-m", "UnsupervisedCTSegLib", "serve"], input=b"".join(lines),
                          capture_output=True, timeout=300, env=environment)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err[-2000:]
    events = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]  # JSON only
    ends = [(e["event"], e.get("status")) for e in events if e["event"] in ("done", "error")]
    assert ends == [("error", 2)] * 7 + [("done", None)], ends
    assert "Traceback" not in err and max(map(len, done.stdout.splitlines())) < LONGEST_LINE
    assert not (tmp_path / "out").exists()
