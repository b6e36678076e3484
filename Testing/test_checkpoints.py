"""Patient-derived files on disk: scribble checkpoints live as long as their nodes, a crash's leftovers go.

Real files in the system's temporary folder (the module's own place), real child processes for the
crash case, and a whole-volume run through the panel's path (runInputs -> startRun) to check that
nothing of a run is left once the run and its checkpoints are forgotten.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import MODULE_DIR, fast_settings

from UnsupervisedCTSegLib.slicer import checkpoints


@pytest.fixture(autouse=True)
def fresh():
    checkpoints.forgetAll()
    yield
    checkpoints.forgetAll()


def ours():
    """This process's folders of the kind checkpoints makes, in the temporary folder."""
    mark = f"-{os.getpid()}-"
    return sorted(p for p in Path(tempfile.gettempdir()).glob(checkpoints.PREFIX + "*") if mark in p.name)


def test_checkpoints_lie_in_the_temporary_folder_and_are_forgotten_by_node():
    a = checkpoints.path("vtkMRMLScalarVolumeNode1", "vtkMRMLSegmentationNode1")
    b = checkpoints.path("vtkMRMLScalarVolumeNode2", "vtkMRMLSegmentationNode1", 7)
    c = checkpoints.path("vtkMRMLScalarVolumeNode2", "vtkMRMLSegmentationNode3")
    for path in (a, b, c):
        path.write_bytes(b"weights")
    assert Path(tempfile.gettempdir()) in a.parents and a.parent == b.parent == c.parent
    assert checkpoints.forget("vtkMRMLScalarVolumeNode1") == [a]
    assert sorted(checkpoints.forget("vtkMRMLSegmentationNode1")) == [b]
    assert c.exists() and checkpoints.forget("vtkMRMLScalarVolumeNode21") == []  # no prefix matches
    checkpoints.forgetAll()
    assert not c.parent.exists() and ours() == []


def test_the_folders_a_crashed_process_left_are_removed_and_a_live_ones_kept(tmp_path):
    """A child makes a checkpoint folder and a run folder and dies without cleaning up (as Slicer
    crashing would); another process's live folder stays."""
    code = ("import sys, os; sys.path.insert(0, sys.argv[1]); from UnsupervisedCTSegLib.slicer import checkpoints; "
            "checkpoints.path('a', 'b').write_bytes(b'w'); print(checkpoints.folder()); print(checkpoints.runFolder()); "
            "sys.stdout.flush(); os._exit(0)")
    dead = subprocess.run([sys.executable, "-c", code, str(MODULE_DIR)], capture_output=True, text=True, check=True)
    left = [Path(line) for line in dead.stdout.split()]
    assert all(p.is_dir() for p in left)
    alive = subprocess.Popen([sys.executable, "-c", code.replace("os._exit(0)", "sys.stdin.read()"),
                              str(MODULE_DIR)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    kept = [Path(alive.stdout.readline().strip()) for _ in range(2)]
    try:
        checkpoints.removeStale()  # (the live process's first checkpoint already did)
        assert not any(p.exists() for p in left)
        assert all(p.is_dir() for p in kept)
    finally:
        alive.stdin.close()
        alive.wait()
        checkpoints.removeStale()


def test_after_a_run_and_forgetting_its_nodes_nothing_of_it_is_left(scene):
    """A whole-volume scribble run through the panel's path: the run's folder goes when it ends, the
    checkpoint when its nodes are forgotten (as at scene close)."""
    import numpy as np
    from helpers import body_volume

    from UnsupervisedCTSegLib.slicer import panelrun
    from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic, volumeNodeFromVolume

    logic = UnsupervisedCTSegLogic(scene)
    volume = body_volume()
    node = volumeNodeFromVolume(scene, volume, "ct")
    strokes = np.zeros(volume.shape, np.uint16)
    strokes[:, 20:24, 20:24] = 1
    strokes[:, 2:5, 2:5] = 2
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "strokes")
    from UnsupervisedCTSegLib.engine.scribbles import make_strokes

    inputs, painted = panelrun.runInputs(logic, node, False, scene)[0], make_strokes(strokes)
    weights = checkpoints.path(node.GetID(), segmentation.GetID())
    run = logic.startRun(inputs, fast_settings(scribble_method="network", iterations=2), estimate=False,
                         strokes=painted, weights=weights)
    assert run.join(120) and run.error is None, (run.error, run.details)
    assert weights.is_file() and not run.folder.exists()
    checkpoints.forget(segmentation.GetID())
    assert not weights.exists()
    checkpoints.forgetAll()
    assert ours() == []
