"""Freed memory is reused inside a run instead of being faulted in again (glibc only).

Page faults are counted in a fresh interpreter: the heap of the test process carries the history
of every test before (holes left by earlier runs), which changes what an allocation costs.
"""
import json
import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from UnsupervisedCTSegLib.engine import memory

BLOCK = 64 * 2 ** 20  # bytes: far above glibc's mmap threshold, like a training step's activations
PAGES = BLOCK // resource.getpagesize()
LIBRARY = Path(memory.__file__).resolve().parents[2]
GLIBC = platform.libc_ver()[0] == "glibc"  # found apart from memory.py, so its own lookup is tested too

PROBE = f"""
import json, resource, sys
sys.path.insert(0, {str(LIBRARY)!r})
import torch
from UnsupervisedCTSegLib.engine import memory

def faults(times=4):
    # steady state: the first rounds may fault in any case while the heap grows to fit the block
    for _ in range(4 * times):
        torch.ones({BLOCK} // 4)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        block = torch.ones({BLOCK} // 4)  # written in full: every page touched
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

out = {{"before": faults()}}
with memory.reuse_freed_memory():
    out["inside"] = faults()
    with memory.reuse_freed_memory():
        pass
    out["active_after_nested"] = memory.active()
    out["inside_after_nested"] = faults()
out["active_after"] = memory.active()

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()

with memory.reuse_freed_memory():
    blocks = [torch.ones({BLOCK} // 4) for _ in range(8)]
    peak = resident()
    del blocks
    out["kept_inside"] = resident() - (peak - 8 * {BLOCK})  # freed, yet still resident
out["kept_after"] = resident() - (peak - 8 * {BLOCK})  # handed back when the block ends
print(json.dumps(out))
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_blocks_freed_inside_are_reused_without_page_faults_and_defaults_come_back():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["before"] > 2 * PAGES  # glibc's default: every block is new memory
    assert probe["inside"] < PAGES // 4
    assert probe["active_after_nested"] and probe["inside_after_nested"] < PAGES // 4
    assert not probe["active_after"]
    assert probe["kept_inside"] > 6 * BLOCK  # the freed blocks stay for reuse during the run
    assert probe["kept_after"] < 2 * BLOCK  # and go back to the system when it ends


def test_an_error_inside_still_restores_the_defaults():
    with pytest.raises(RuntimeError):
        with memory.reuse_freed_memory():
            assert memory.active() == GLIBC
            raise RuntimeError("boom")
    assert not memory.active()
