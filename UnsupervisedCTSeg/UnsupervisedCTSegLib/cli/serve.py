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
the same way. A line that is no segment command gets an error line (status 2) and the process waits
for the next. Between commands it holds about 0.4 GB of memory on a CPU (after 512 x 512 previews)
and returns the GPU memory PyTorch caches, so that a whole-volume run in another process has it.
The process ends at the end of its input, when it is stopped (SIGTERM, SIGINT), or after an
unexpected failure (its state is not trusted after that: the caller starts a new one).
"""
from __future__ import annotations

import importlib
import json
import sys
import traceback

from ..io import stops
from ..io.progresslines import error_line


def serve(main, lines=None) -> int:
    """Run each command line of `lines` (default standard input) through `main`; 0 at the end of input."""
    torch = importlib.import_module("torch")  # the import this process exists to pay once

    for line in (sys.stdin if lines is None else lines):
        if not line.strip():
            continue
        arguments = _command(line)
        if arguments is None:
            print(error_line("a command must be one line holding a JSON list of strings that starts with "
                             '"segment", e.g. ["segment", "ct.nrrd", "-o", "labels.nrrd"]', 2), flush=True)
            continue
        try:
            status = main([*arguments, "--progress", "json"])
        except SystemExit:  # argparse refused the arguments (its usage went to stderr) or printed --help
            status = 2
            print(error_line(f"the command's arguments were refused ({' '.join(arguments[1:])}): see the usage "
                             "above", 2), flush=True)
        except Exception as error:  # noqa: BLE001 - any other failure ends the process with its message
            traceback.print_exc()
            print(error_line(f"{type(error).__name__}: {error}", 1), flush=True)
            return 1
        if status >= 128:  # stopped by a signal: end here, as a one-shot command would
            return status
        if torch.cuda.is_initialized():  # give the GPU memory PyTorch keeps cached back to a whole-volume run
            torch.cuda.empty_cache()
        stops.install()  # stops count again (the final commit ignores them): waiting, or in the next command
    return 0


def _command(line: str):
    """The argument list of a command line, or None when it is not a `segment` command."""
    try:
        arguments = json.loads(line)
    except ValueError:
        return None
    if (not isinstance(arguments, list) or not arguments or arguments[0] != "segment"
            or not all(isinstance(a, str) for a in arguments)):
        return None
    return arguments
