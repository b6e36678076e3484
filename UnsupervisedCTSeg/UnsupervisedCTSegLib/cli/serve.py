"""`ctseg serve`: one process that keeps PyTorch loaded and runs `segment` commands read from its input.

Why: a fresh child process pays Python's start and PyTorch's import (about 1.5 s on a 2-core CPU)
before any work, and the Slicer panel's *Preview current slice*, run again and again while a
clinician tunes M, θ and μ, paid it every time. The panel keeps one such process for its previews
(slicer/childrun.py, Worker).

The exchange, one line each way per event:
- in: one `segment` command per line, as a JSON list of its arguments, e.g.
  ["segment", "in.nrrd", "-o", "out.nrrd", "-M", "5"]; `--progress json` is added;
- out: that command's JSON progress lines and then its "done" or "error" line (io/progresslines.py),
  exactly what `ctseg segment --progress json` prints; then the next command is read.
Each command runs through the same main() as on the command line, so it checks, computes and writes
the same way. A line that is no segment command (not UTF-8, not JSON, nested too deep, a refused
argument, --help) gets one error line (status 2) and the process waits for the next: whatever a
line holds, every command gets exactly one "done" or "error" line, and standard output holds only
JSON lines (anything else a command prints, such as a usage, goes to standard error). Each command
starts from the same state: PyTorch's thread count, which --threads sets for the whole process, is
put back after it. Between commands it holds about 0.4 GB of memory on a CPU (after 512 x 512
previews) and returns the GPU memory PyTorch caches, so that a whole-volume run in another process
has it.
The process ends at the end of its input, when it is stopped (SIGTERM, SIGINT), or after an
unexpected failure (its state is not trusted after that: the caller starts a new one).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import traceback

from ..io import stops
from ..io.progresslines import error_line, read_line

NOT_A_COMMAND = ('a command must be one line of UTF-8 text holding a JSON list of strings that starts with '
                 '"segment", e.g. ["segment", "ct.nrrd", "-o", "labels.nrrd"]')


def serve(main, lines=None) -> int:
    """Run each command line of `lines` (default standard input) through `main`; 0 at the end of input."""
    torch = importlib.import_module("torch")  # the import this process exists to pay once
    threads = torch.get_num_threads()

    for line in (getattr(sys.stdin, "buffer", sys.stdin) if lines is None else lines):
        arguments = _command(line)
        if arguments == []:  # an empty line
            continue
        if arguments is None:
            print(error_line(NOT_A_COMMAND, 2), flush=True)
            continue
        output = _JsonLinesOnly(sys.stdout, sys.stderr)
        try:
            with contextlib.redirect_stdout(output):
                status = main(_with_json_progress(arguments))
        except SystemExit:  # --help (or -h): argparse printed the usage (to standard error, see above) and ended
            status = 2
            print(error_line("--help shows the usage and runs nothing (the usage went to standard error): send "
                             "the command without it, or run `ctseg segment --help` in a terminal", 2), flush=True)
        except Exception as error:  # noqa: BLE001 - any other failure ends the process with its message
            output.close()  # what the command printed first, then the traceback
            traceback.print_exc()
            print(error_line(f"{type(error).__name__}: {error}", 1), flush=True)
            return 1
        finally:
            output.close()
        if torch.get_num_threads() != threads:  # --threads holds for its own command only
            torch.set_num_threads(threads)
        if status >= 128:  # stopped by a signal: end here, as a one-shot command would
            return status
        if torch.cuda.is_initialized():  # give the GPU memory PyTorch keeps cached back to a whole-volume run
            torch.cuda.empty_cache()
        stops.install()  # stops count again (the final commit ignores them): waiting, or in the next command
    return 0


def _command(line):
    """The argument list of a command line (bytes or text), [] for an empty line, or None when it is
    not a `segment` command."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not line.strip():
        return []
    try:
        arguments = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or lists nested deeper than Python's stack
        return None
    if (not isinstance(arguments, list) or not arguments or arguments[0] != "segment"
            or not all(isinstance(a, str) for a in arguments)):
        return None
    return arguments


def _with_json_progress(arguments: list) -> list:
    """The command with `--progress json` last, or before a `--` (after which all is positional)."""
    at = arguments.index("--") if "--" in arguments else len(arguments)
    return [*arguments[:at], "--progress", "json", *arguments[at:]]


class _JsonLinesOnly(io.TextIOBase):
    """Standard output while a command runs: its JSON event lines pass, any other line (argparse's
    --help, a library printing) goes to standard error, so a reader of the output sees events only."""

    def __init__(self, out, other):
        self.out, self.other, self.pending = out, other, ""

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self.out, "encoding", "utf-8")

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            (self.out if read_line(line) is not None else self.other).write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()
        self.other.flush()

    def close(self) -> None:
        """The command is over: its last, unfinished line (no event) to standard error."""
        if not self.closed:
            if self.pending:
                self.other.write(self.pending + "\n")
                self.pending = ""
            super().close()  # flushes both
