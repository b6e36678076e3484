"""Run many independent engine calls (sweeps, dataset evaluations) on Ray, or in this process.

Why Ray: a sweep or a benchmark is hundreds of independent segmentations; Ray spreads them over
this machine's cores by default (`ray.init()`), or over a cluster given by `address`, with a GPU per
task where the cluster has GPUs. Each result is handed to `on_result` on the driver as soon as its
task finishes, so the caller writes it at once: a crash loses only the tasks still running, and a
rerun that skips the written keys resumes. A failed task is retried once and then reported, and the
other tasks go on. The in-process mode (`use_ray=False`) runs the same tasks one after another with
the same retry and reporting, for debugging and for machines without Ray.
"""
from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..engine.errors import InputError

RETRIES = 1  # a failed task runs once more before it is reported


@dataclass
class TaskReport:
    """What run_tasks did: keys finished, keys failed (with their last error) and where it ran."""

    finished: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)  # key -> one-line error
    where: str = ""


def run_tasks(function: Callable, tasks: dict, on_result: Callable, shared: Optional[dict] = None,
              use_ray: bool = True, address: Optional[str] = None, cpus_per_task: float = 1,
              gpus_per_task: Optional[float] = None, device: str = "auto", quiet: bool = False,
              what: str = "tasks") -> TaskReport:
    """Call `function(**shared, **tasks[key])` for every key and `on_result(key, value)` for each result.

    `function` must be a module-level function (Ray ships it by reference). `shared` arguments are
    put in Ray's object store once instead of being copied into every task. `gpus_per_task` None
    means one GPU per task when the cluster (or this machine) has a GPU and `device` (the tasks'
    settings) is not the CPU, none otherwise.
    """
    shared = dict(shared or {})
    report = TaskReport()
    if not tasks:
        return report
    if use_ray:
        _run_on_ray(function, tasks, on_result, shared, address, cpus_per_task, gpus_per_task, device, report,
                    lambda: _bar(len(tasks), quiet, what))
    else:
        report.where = "this process"
        bar = _bar(len(tasks), quiet, what)
        try:
            for key, kwargs in tasks.items():
                _run_here(function, key, kwargs, shared, on_result, report, bar)
        finally:
            if bar is not None:
                bar.close()
    for key, error in report.failed.items():
        print(f"ctseg: task {key} failed twice, not retried again: {error}", file=sys.stderr)
    return report


def _run_here(function, key, kwargs, shared, on_result, report: TaskReport, bar) -> None:
    for attempt in range(RETRIES + 1):
        try:
            value = function(**shared, **kwargs)
        except Exception as error:  # noqa: BLE001 - any task failure is retried once, then reported, as on Ray
            if attempt == RETRIES:
                report.failed[key] = _one_line(error)
            continue
        on_result(key, value)
        report.finished.append(key)
        break
    _advance(bar, report)


def _run_on_ray(function, tasks, on_result, shared, address, cpus_per_task, gpus_per_task, device, report,
                make_bar) -> None:
    ray = import_ray()
    check_reachable(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InputError(f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                             f"{_one_line(error)}; check --address, or run without Ray (--no-ray)") from error
    resources = ray.cluster_resources()
    gpus_per_task = gpus_for_each_task(gpus_per_task, resources, device)
    report.where = (f"Ray {'at ' + address if address else 'on this machine'}: {resources.get('CPU', 0):g} CPUs, "
                    f"{resources.get('GPU', 0):g} GPUs; {cpus_per_task:g} CPU and {gpus_per_task:g} GPU per task")
    bar = None
    try:
        bar = make_bar()
        remote = ray.remote(function).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task,
                                              max_retries=RETRIES, retry_exceptions=True)
        shared_refs = {name: ray.put(value) for name, value in shared.items()}
        pending = {remote.remote(**shared_refs, **kwargs): key for key, kwargs in tasks.items()}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                key = pending.pop(done[0])
                try:
                    value = ray.get(done[0])
                except Exception as error:  # noqa: BLE001 - RayTaskError wraps the task's own error
                    report.failed[key] = _one_line(getattr(error, "cause", None) or error)
                else:
                    on_result(key, value)
                    report.finished.append(key)
                _advance(bar, report)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if bar is not None:
            bar.close()
        if started_here:
            ray.shutdown()


def gpus_for_each_task(requested: Optional[float], resources: dict, device: str = "auto") -> float:
    """The GPUs Ray reserves per task: as requested, else one where the cluster has a GPU and the
    settings may use it (device auto or cuda), else none."""
    if requested is not None:
        return float(requested)
    if str(device).startswith("cpu"):
        return 0.0
    return 1.0 if resources.get("GPU", 0) >= 1 else 0.0


def check_reachable(address: Optional[str], seconds: float = 10.0) -> None:
    """Refuse a cluster address nobody answers at within `seconds`, before Ray waits minutes on it."""
    if not address or address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address '{address}' is not HOST:PORT (or ray://HOST:PORT, or auto): "
                         "give the Ray head node's address")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as error:
        raise InputError(f"no Ray cluster answers at {address} ({error}): start one there (ray start --head), "
                         "fix --address, or leave it out to run on this machine") from error


def import_ray():
    try:
        import ray
    except ImportError as error:
        raise InputError("Ray is not installed: pip install 'ray>=2.9' (or the project's [scale] extra), "
                         "or run without Ray (--no-ray)") from error
    return ray


def _bar(total: int, quiet: bool, what: str):
    if quiet or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="task", desc=what, file=sys.stderr, dynamic_ncols=True)


def _advance(bar, report: TaskReport) -> None:
    if bar is not None:
        if report.failed:
            bar.set_postfix_str(f"{len(report.failed)} failed", refresh=False)
        bar.update(1)


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return text[0] if text else type(error).__name__

