"""Where the panel and the Segment Editor effect keep what scribble reruns start from, and for how long.

Why: a checkpoint (a partition or a network's weights) is derived from a patient's images. It is
kept only while the scene holds the nodes it was made from: in one folder per Slicer process under
the system's temporary folder, named after the nodes' IDs; `forget(nodeID)` deletes a node's when
the node is removed, `forgetAll()` the folder at scene close and application exit. A folder
left by a Slicer that crashed (its process gone, on this host and boot) is deleted by the next
one; so is every folder a run left (`runFolder`). Only the standard library and io.writers'
ownership marks: no torch.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from ..io.writers import HOST, is_stale

PREFIX = "UnsupervisedCTSeg-"
# UnsupervisedCTSeg-<kind>-<pid>-<host>-<random>: a folder this module made, and whose.
OWNED = re.compile(rf"^{PREFIX}(?P<kind>weights|run)-(?P<pid>\d+)-(?P<host>[0-9a-f]{{8}})-")

_folder = None  # this process's checkpoint folder, made at the first scribble run


def folder() -> Path:
    """This process's checkpoint folder, made the first time (stale ones of crashed processes removed then)."""
    global _folder
    if _folder is None or not _folder.is_dir():
        removeStale()
        _folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}weights-{os.getpid()}-{HOST}-"))
    return _folder


def runFolder() -> Path:
    """A new temporary folder for one run's files (the volume, the strokes, the result), marked with
    this process so that a crash's leftovers are recognised and removed later."""
    removeStale()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}run-{os.getpid()}-{HOST}-"))


def path(volumeNodeID: str, scribblesNodeID: str, sliceIndex=None) -> Path:
    """Where the checkpoint of runs on this volume with these strokes (a preview: on this slice) is kept."""
    name = f"{volumeNodeID}-{scribblesNodeID}" + (f"-slice{sliceIndex}" if sliceIndex is not None else "")
    return folder() / f"{name}.weights.pt"


def forget(nodeID: str) -> list:
    """Delete the checkpoints made from node `nodeID` (a volume or a segmentation); the deleted paths."""
    if _folder is None or not _folder.is_dir() or not nodeID:
        return []
    gone = []
    for file in _folder.iterdir():
        if nodeID in file.name.split(".weights.pt")[0].split("-")[:2]:
            file.unlink(missing_ok=True)
            gone.append(file)
    return gone


def forgetAll() -> None:
    """Delete every checkpoint of this process (scene close, application exit)."""
    global _folder
    if _folder is not None:
        shutil.rmtree(_folder, ignore_errors=True)
        _folder = None


def removeStale() -> list:
    """Delete the folders of this kind that a process which is gone left (a crash): by its process
    on this host, boot and PID namespace, else when untouched for a day. Returns them."""
    removed = []
    base = Path(tempfile.gettempdir())
    for entry in base.glob(PREFIX + "*"):
        match = OWNED.match(entry.name)
        if match and entry.is_dir() and is_stale(entry, match["pid"], match["host"]):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
