"""Pick the torch device: CUDA when present, else CPU, or whatever the user forces.

torch is imported inside the functions, not at load time: the Slicer panel imports this module
when it opens, before PyTorch may be installed, to show which device a run will use (the panel's
wording of it is in slicer/texts.py).
"""
from __future__ import annotations

import importlib.util
import os
import re
import time

from .errors import InputError

DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def prefer_passive_waiting(environment=os.environ, busy=None) -> None:
    """Let PyTorch's OpenMP threads sleep, not spin, while they wait for work, when something else
    computes on this machine as the run starts, unless the user chose.

    Must run before PyTorch is imported (OpenMP reads it once, when it loads): the command line does
    it first thing. With another process computing on the same cores, spinning threads of the two
    processes keep taking the cores from each other: on a 2-core CPU a one-slice run with a PyTorch
    process multiplying matrices beside it took 4.7x its idle time, the shared CT 3.3x; with passive
    waiting 1.7x and 1.9x. On an idle machine passive waiting costs 6 to 8% (benchmarks/contention.py),
    so it is asked for only when `busy()` (default: others_computing) does not say False. What
    cannot be seen is a process that starts computing after the run began: the Slicer panel's
    whole-volume runs, minutes long, therefore always ask for passive waiting (slicer/childrun.py).
    The thread count needs no help: PyTorch already takes it from the cores the process may use.
    """
    if "OMP_WAIT_POLICY" not in environment and (busy or others_computing)() is not False:
        environment["OMP_WAIT_POLICY"] = "PASSIVE"


def others_computing(reads: int = 5, gap: float = 0.002, ours=(), proc: str = "/proc"):
    """Whether threads of other processes are runnable now: the kernel's count of runnable threads
    (procs_running) less this process's own (numpy's BLAS threads still spin for a moment after its
    import) and those of the processes `ours` (ids of children that work for this one), the median
    of a few reads milliseconds apart, at least one. None where the counts cannot be read (not
    Linux). About 10 ms. `proc`: where the kernel's process files are."""
    others = []
    stat, tasks = os.path.join(proc, "stat"), os.path.join(proc, "self", "task")
    children = [os.path.join(proc, str(pid), "task") for pid in ours]
    try:
        for _ in range(reads):
            with open(stat) as lines:
                running = [int(line.split()[1]) for line in lines if line.startswith("procs_running ")]
            if not running:
                return None
            threads = [os.path.join(tasks, task) for task in os.listdir(tasks)]
            threads += [os.path.join(folder, task) for folder in children for task in _listing(folder)]
            others.append(running[0] - sum(_thread_state(os.path.join(t, "stat")) == "R" for t in threads))
            time.sleep(gap)
    except (OSError, ValueError, IndexError):
        return None
    return sorted(others)[len(others) // 2] >= 1


def _listing(folder: str) -> list:
    """A child's /proc task folder's entries; none once it has ended."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _thread_state(path: str) -> str:
    """A thread's state letter (R: running or runnable) from its /proc stat line; "" if it has ended."""
    try:
        with open(path) as line:
            return line.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def check_device_name(requested: str) -> str:
    """The device name, lower-cased, if it is one this package knows; refused before any work otherwise."""
    name = (requested or "auto").lower() if isinstance(requested, str) or requested is None else None
    if name is None or not DEVICE_NAME.fullmatch(name):
        raise InputError(f"unknown device '{requested}': use auto, cpu, cuda or cuda:N")
    return name


def pick_device(requested: str = "auto") -> "torch.device":
    import torch

    requested = check_device_name(requested)
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():  # cuda or cuda:N
        raise InputError(f"device '{requested}' asked for, but this PyTorch sees no CUDA GPU: "
                         "use --device cpu (or auto), or install a CUDA build of PyTorch")
    device = torch.device(requested)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device '{requested}' does not exist ({torch.cuda.device_count()} GPU(s)): "
                         "use cuda:0 or auto")
    return device


def describe(device: "torch.device") -> str:
    """Human-readable device name for progress lines and the run record."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def torch_installed() -> bool:
    """Whether torch can be imported, found without importing it (which takes seconds)."""
    return importlib.util.find_spec("torch") is not None


def runs_on_gpu(settings) -> bool:
    """Whether a run with these Settings would use a CUDA GPU; False while PyTorch is not installed.

    Never raises: a device the machine does not have is refused by the engine when the run starts.
    """
    if settings.device == "cpu" or not torch_installed():
        return False
    try:
        return pick_device(settings.device).type == "cuda"
    except InputError:
        return False


def is_out_of_memory(error) -> bool:
    """True for CUDA out-of-memory, also when the engine re-raised it as InputError (kept as __cause__).

    Recognised by name and message rather than by class, so it works without importing torch and
    for the RuntimeError("CUDA out of memory ...") that older PyTorch versions raise.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower():
            return True
        error = error.__cause__ or error.__context__
    return False


# How the C allocator's failure reads: PyTorch ("can't allocate memory" on Linux and macOS, "not enough
# memory" on Windows) and numpy ("Unable to allocate 1.2 GiB for an array ...").
_ALLOCATION_FAILED = re.compile(r"can't allocate memory|not enough memory|unable to allocate", re.IGNORECASE)
_ASKED = re.compile(r"allocate (\d+) bytes|allocate ([\d.]+ [KMGT]?i?B)", re.IGNORECASE)


def is_out_of_host_memory(error) -> bool:
    """True when the system refused memory to this process (a MemoryError, or PyTorch's CPU allocator)."""
    return isinstance(error, MemoryError) or (isinstance(error, RuntimeError)
                                              and bool(_ALLOCATION_FAILED.search(str(error))))


def out_of_memory_error(device, shape=(), error=None) -> InputError:
    """One line for a run that ran out of memory: where, how much one step asked for, and the fixes.

    The CPU's line does not say "out of memory": is_out_of_memory reads that as the GPU's, for which
    the panel offers a run on the CPU."""
    voxels = f" segmenting {' x '.join(str(n) for n in shape)} voxels" if shape else ""
    found = _ASKED.search(str(error or ""))
    asked = ""
    if found:
        asked = f"; one step asked for {int(found[1]) / 2 ** 20:,.0f} MiB more" if found[1] else \
            f"; one step asked for {found[2]} more"
    if getattr(device, "type", "cpu") == "cuda":
        return InputError(f"out of GPU memory on {describe(device)}{voxels}{asked}: rerun with "
                          "--device cpu, or lower p (--channels) or the training crop (--train-size)")
    available = available_memory()
    free = f" with {available / 2 ** 30:,.1f} GiB available to it" if available is not None else ""
    return InputError(f"not enough memory{voxels} on the CPU{free}{asked}: close other programs, "
                      "lower p (--channels) or the training crop (--train-size), or crop the volume")


def available_memory():
    """Bytes this process can still take: the system's available memory (psutil), or less under a
    limit on the process's address space (ulimit -v); None when neither can be known."""
    found = []
    try:
        import psutil

        found.append(int(psutil.virtual_memory().available))
    except ImportError:
        pass
    try:
        import resource  # POSIX only

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            import psutil

            found.append(max(limit - psutil.Process().memory_info().vms, 0))
    except (ImportError, OSError, ValueError):
        pass
    return min(found) if found else None
