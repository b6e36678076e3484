"""What the panel and the Segment Editor effect do as the scene and the application come and go.

Why a module of its own: a run's process and a scribble checkpoint (derived from a patient's
images) must not outlive what they were made for, and the Segment Editor gives an effect no
reliable end (it calls an effect's cleanup() only from Slicer 5.10 on). So the panel and the effect
each connect the same three things, here, and tested on a slicer-core scene:

- the scene's StartCloseEvent and the application's aboutToQuit: the owner's own handler first
  (it marks its run as discarded), then every run of this process is cancelled, the panel's and
  the effect's (childrun.cancelAll), and every checkpoint deleted (checkpoints.forgetAll);
- the scene's NodeRemovedEvent: the checkpoints made from a removed volume or segmentation node
  are deleted (checkpoints.forget).

Both are looked up only once loaded: no run and no checkpoint can exist in a process that never
imported childrun or checkpoints, and a handler must not import SimpleITK into Slicer to find
that out. `disabled` holds buttons while an install runs. Nothing here imports torch, qt or the
Slicer application at import time.
"""
from __future__ import annotations

import contextlib
import sys

VOLUME_AND_SEGMENTATION = ("vtkMRMLVolumeNode", "vtkMRMLSegmentationNode")  # what checkpoints are made from


def _loaded(name: str):
    """The slicer-layer module `name` if this process has imported it, else None."""
    return sys.modules.get(f"{__package__}.{name}")


def endAll() -> None:
    """Cancel every run of this process that has not finished, without waiting (each one's process
    tree ends in the background), and delete every scribble checkpoint of this process."""
    childrun = _loaded("childrun")
    if childrun is not None:
        childrun.cancelAll()
    checkpoints = _loaded("checkpoints")
    if checkpoints is not None:
        checkpoints.forgetAll()


def forgetNode(node) -> None:
    """Delete the checkpoints made from `node` when it is a volume or a segmentation node."""
    checkpoints = _loaded("checkpoints")
    if checkpoints is None or node is None or not any(node.IsA(name) for name in VOLUME_AND_SEGMENTATION):
        return
    checkpoints.forget(node.GetID())


class Watch:
    """The application's exit and the scene's close and node removals, connected for one owner.

    ``onClose()`` runs at the scene's StartCloseEvent and ``onQuit()`` (default: ``onClose``) at
    the application's aboutToQuit, each before endAll. `app` has an ``aboutToQuit`` signal (with
    connect and disconnect, as PythonQt gives it), `scene` is a vtkMRMLScene. disconnect() removes
    everything; a second call does nothing.
    """

    def __init__(self, app, scene, onClose, onQuit=None):
        import vtk  # the application's (or slicer-core's) VTK, only once a panel or an effect exists

        self.app, self.scene = app, scene
        self._onClose, self._onQuit = onClose, onQuit or onClose

        @vtk.calldata_type(vtk.VTK_OBJECT)
        def nodeRemoved(caller, event, node):
            forgetNode(node)

        self._quitSlot = self._quit  # one object, so that disconnect finds what connect was given
        app.aboutToQuit.connect(self._quitSlot)
        self._tags = [scene.AddObserver(scene.StartCloseEvent, self._close),
                      scene.AddObserver(scene.NodeRemovedEvent, nodeRemoved)]

    def _close(self, caller=None, event=None) -> None:
        try:
            self._onClose()
        finally:
            endAll()

    def _quit(self) -> None:
        try:
            self._onQuit()
        finally:
            endAll()
            self._unobserveScene()  # the scene is deleted later, maybe after Python: nothing may call in then

    def _unobserveScene(self) -> None:
        for tag in self._tags:
            self.scene.RemoveObserver(tag)
        self._tags = []

    def disconnect(self) -> None:
        if self._quitSlot is None:
            return
        self._unobserveScene()
        with contextlib.suppress(RuntimeError, TypeError, ValueError):  # already gone with the application
            self.app.aboutToQuit.disconnect(self._quitSlot)
        self._quitSlot = None


@contextlib.contextmanager
def disabled(*widgets):
    """The widgets disabled while the block runs, and given back their state after, also when it
    fails. For an install: slicer.util.pip_install processes the application's events at every line
    pip prints, so a second click on Apply would start a second install inside the first."""
    states = [widget.enabled for widget in widgets]
    for widget in widgets:
        widget.enabled = False
    try:
        yield
    finally:
        for widget, state in zip(widgets, states):
            widget.enabled = state
