"""slicer/lifecycle.py and slicer/views.py: what a scene close, a node removal and the exit end, and
what the user sees while the GUI thread works.

The Watch runs on a slicer-core scene, whose events are the application's, with the real
checkpoints module (its files on disk) and a recording stand-in for childrun's cancelAll; the
application's aboutToQuit is a plain signal. The views' application pieces (the cursor, the status
bar, the layout manager, the Plots logic) are recording stand-ins.
"""
import contextlib
import sys
import types

import pytest
from helpers import run_python
from panel_fakes import Signal

from UnsupervisedCTSegLib.slicer import lifecycle, views

CHILDRUN = "UnsupervisedCTSegLib.slicer.childrun"


@pytest.fixture
def checkpoints():
    from UnsupervisedCTSegLib.slicer import checkpoints

    yield checkpoints
    checkpoints.forgetAll()


@pytest.fixture
def cancelled(monkeypatch):
    """childrun as loaded in a process that has runs: its cancelAll calls are counted."""
    calls = []
    monkeypatch.setitem(sys.modules, CHILDRUN, types.SimpleNamespace(cancelAll=lambda: calls.append(True)))
    return calls


@pytest.fixture
def watch():
    """lifecycle.Watch, each disconnected after the test: a scene that only the test holds is deleted by
    the garbage collector, and its deletion closes it, which must not call into a half-collected Watch."""
    made = []

    def make(*args):
        made.append(lifecycle.Watch(*args))
        return made[-1]

    yield make
    for each in made:
        each.disconnect()


def kept(checkpoints, volumeNode, strokesNode):
    """A checkpoint as a scribble run keeps it for reruns."""
    path = checkpoints.path(volumeNode.GetID(), strokesNode.GetID())
    path.write_bytes(b"weights")
    return path


def test_a_removed_volume_or_segmentation_takes_its_checkpoints_along(scene, checkpoints, cancelled, watch):
    app = types.SimpleNamespace(aboutToQuit=Signal())
    watch(app, scene, lambda: None)
    volume, other = (scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode") for _ in range(2))
    strokes = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    first, second = kept(checkpoints, volume, strokes), kept(checkpoints, other, strokes)
    scene.RemoveNode(table)
    assert first.exists() and second.exists()
    scene.RemoveNode(volume)
    assert not first.exists() and second.exists()
    scene.RemoveNode(strokes)
    assert not second.exists()
    assert cancelled == []  # removing a node cancels nothing


@pytest.mark.parametrize("how", ["scene close", "exit"])
def test_a_scene_close_and_the_exit_cancel_every_run_and_forget_every_checkpoint(scene, checkpoints, cancelled, watch,
                                                                               how):
    app = types.SimpleNamespace(aboutToQuit=Signal())
    owner = []
    watched = watch(app, scene, lambda: owner.append("close"), lambda: owner.append("quit"))
    path = kept(checkpoints, scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode"),
                scene.AddNewNodeByClass("vtkMRMLSegmentationNode"))
    if how == "exit":
        app.aboutToQuit.emit()
    else:
        scene.Clear(0)
    assert owner == ["quit" if how == "exit" else "close"]  # the owner's handler first
    assert cancelled == [True]
    assert not path.parent.exists()  # the whole folder of this process
    if how == "exit":
        assert watched._tags == []  # the scene, deleted later, calls nothing in any more


def test_after_the_exit_the_scene_is_no_longer_observed(scene, cancelled, watch):
    app = types.SimpleNamespace(aboutToQuit=Signal())
    owner = []
    watch(app, scene, lambda: owner.append("close"))
    app.aboutToQuit.emit()
    scene.Clear(0)  # as deleting the scene does
    assert owner == ["close"] and cancelled == [True]


def test_the_owners_failure_still_ends_every_run(scene, cancelled, watch):
    def broken():
        raise RuntimeError("the panel's handler failed")

    watched = watch(types.SimpleNamespace(aboutToQuit=Signal()), scene, broken)
    with pytest.raises(RuntimeError):
        watched._close()
    assert cancelled == [True]


def test_disconnect_removes_every_connection(scene, cancelled, watch):
    app = types.SimpleNamespace(aboutToQuit=Signal())
    owner = []
    watched = watch(app, scene, lambda: owner.append("close"))
    assert app.aboutToQuit.listeners == 1
    watched.disconnect()
    watched.disconnect()  # a second time does nothing
    scene.Clear(0)
    assert app.aboutToQuit.listeners == 0 and owner == [] and cancelled == []


def test_in_a_process_without_runs_nothing_is_imported_to_find_that_out():
    """A scene close or a removed node before any run must not load SimpleITK into the application."""
    run_python("import sys, types\n"
               "from UnsupervisedCTSegLib.slicer import lifecycle\n"
               "node = types.SimpleNamespace(IsA=lambda name: True, GetID=lambda: 'vtkMRMLScalarVolumeNode1')\n"
               "lifecycle.endAll(); lifecycle.forgetNode(node)\n"
               "loaded = [m for m in ('SimpleITK', 'UnsupervisedCTSegLib.slicer.childrun',\n"
               "                      'UnsupervisedCTSegLib.slicer.checkpoints') if m in sys.modules]\n"
               "assert not loaded, loaded", without_torch=True)


@pytest.mark.parametrize("fails", [False, True], ids=["done", "failed"])
def test_disabled_gives_the_widgets_their_state_back(fails):
    apply, preview = types.SimpleNamespace(enabled=True), types.SimpleNamespace(enabled=False)
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with lifecycle.disabled(apply, preview):
            assert (apply.enabled, preview.enabled) == (False, False)
            if fails:
                raise RuntimeError("pip failed")
    assert (apply.enabled, preview.enabled) == (True, False)


# --- views ----------------------------------------------------------------------------------------


class Application:
    def __init__(self, plotViews=0):
        self.cursors, self.layout = [], types.SimpleNamespace(plotViewCount=plotViews, threeDViewCount=0)

    def setOverrideCursor(self, cursor):
        self.cursors.append(cursor)

    def restoreOverrideCursor(self):
        self.cursors.pop()

    def layoutManager(self):
        return self.layout


@pytest.fixture
def application(monkeypatch):
    """slicer and qt as the views use them: the override cursor, the status bar and the Plots logic."""
    app, messages, charts = Application(), [], []
    slicer = types.SimpleNamespace(
        app=app, util=types.SimpleNamespace(showStatusMessage=lambda message, duration=0: messages.append(message),
                                            setSliceViewerLayers=lambda **layers: None),
        modules=types.SimpleNamespace(plots=types.SimpleNamespace(
            logic=lambda: types.SimpleNamespace(ShowChartInLayout=charts.append))))
    monkeypatch.setitem(sys.modules, "slicer", slicer)
    monkeypatch.setitem(sys.modules, "qt", types.SimpleNamespace(Qt=types.SimpleNamespace(WaitCursor="wait")))
    monkeypatch.setattr(views, "_layoutSwitched", False)  # a new session
    return types.SimpleNamespace(app=app, messages=messages, charts=charts)


class Label:
    def __init__(self):
        self.text, self.repainted = "", []

    def repaint(self):
        self.repainted.append(self.text)


@pytest.mark.parametrize("fails", [False, True], ids=["done", "failed"])
def test_busy_shows_a_wait_cursor_and_the_message_until_the_work_ends(application, fails):
    label = Label()
    label.text = "Done in 5 s: 7 labels."
    with pytest.raises(OSError) if fails else contextlib.nullcontext():
        with views.busy("Writing CT for the run...", label):
            assert application.app.cursors == ["wait"]
            assert application.messages == ["Writing CT for the run..."]
            assert label.repainted == ["Writing CT for the run..."]  # painted now: no event is processed
            if fails:
                raise OSError("disk full")
    assert application.app.cursors == [] and application.messages[-1] == ""
    assert label.text == "Done in 5 s: 7 labels."  # not a "Writing" that is over


def test_the_layout_switches_once_per_session_and_then_only_fills_a_plot_view(application):
    assert views.showChart("chart 1") is True  # the first run: switches to a layout with a plot view
    application.app.layout.plotViewCount = 0  # the user went back to a layout without one
    assert views.showChart("chart 2") is False
    application.app.layout.plotViewCount = 1  # and later to one with a plot view
    assert views.showChart("chart 3") is True
    assert application.charts == ["chart 1", "chart 3"]


def test_a_preview_shows_no_chart(application, monkeypatch):
    from UnsupervisedCTSegLib.slicer import panelrun

    shown = []
    monkeypatch.setattr(panelrun, "showSegmentation", lambda node, preview: shown.append((node, preview)))
    applied = types.SimpleNamespace(segmentationNode="segmentation", plotChartNode="chart")
    views.showResult("volume", applied, preview=True)
    assert application.charts == []
    views.showResult("volume", applied, preview=False)
    assert application.charts == ["chart"] and shown == [("segmentation", True), ("segmentation", False)]
