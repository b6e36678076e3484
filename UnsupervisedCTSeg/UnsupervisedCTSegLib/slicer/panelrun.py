"""What the panel keeps about a run, what a finished run leads to, and where its result goes.

Why a module of its own: these are the panel's decisions that need no Qt (how many CPU threads a
run gets, which slice a preview takes, when a CPU run is timed and asked about first, what the
Apply button says, what an ended run shows or asks, which node a preview or a whole-volume run
writes to and what is hidden afterwards), so they are
tested on a slicer-core scene and on hand-made runs, and the module file keeps only the widgets
and the dialogs. A RunJob is the context a run carries from its start in the GUI thread to its end
there; the run itself never reads it. A run is anything with the interface of ChildRun (context,
cancelled, elapsed, error, details, result).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..engine.device import is_out_of_memory
from ..engine.errors import Cancelled, InputError
from ..engine.scribbles import make_strokes
from ..engine.settings import Settings
from .texts import format_seconds

LONG_CPU_RUN_SECONDS = 60.0  # ask before a CPU run estimated to take longer than this


def _untranslated(text: str) -> str:
    return text


def availableCores() -> int:
    """The CPU cores this process may run on (its affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def runThreads(cores: Optional[int] = None) -> int:
    """CPU threads for a run: all cores but one, left to the application; at least one."""
    return max(1, (availableCores() if cores is None else cores) - 1)


def previewThreads(cores: Optional[int] = None) -> int:
    """CPU threads for a preview: all cores. The user waits those few seconds with the application
    idle, and on a 2-core CPU one thread took 4.1 s where two took 2.3 s."""
    return availableCores() if cores is None else cores


@dataclass
class RunJob:
    """What the GUI thread needs while a run goes and when it ends."""

    volumeNode: object  # the input volume node; the run works on a copy of its voxels
    settings: Settings
    preview: bool  # one slice into "<input> preview", or the whole volume
    outputNode: object = None  # the segmentation a whole-volume run replaces; None: create one
    createLabelmap: bool = False
    device: str = ""  # where the run goes, for the status line
    estimate: Optional[float] = None  # seconds the child estimated for a CPU run, shown while it runs
    discard: bool = False  # set when the scene is closed under the run: nothing is applied
    scribblesNode: object = None  # the strokes' segmentation; when it is also the output, a copy keeps them

    @classmethod
    def forRun(cls, volumeNode, settings: Settings, preview: bool, outputNode=None, createLabelmap=False,
               device: str = "", scribblesNode=None) -> "RunJob":
        """A preview never writes to the output segmentation nor makes a labelmap."""
        return cls(volumeNode, settings, preview, None if preview else outputNode,
                   False if preview else bool(createLabelmap), device, scribblesNode=scribblesNode)


def previewName(volumeName: str, tr=_untranslated) -> str:
    return tr("{name} preview").format(name=volumeName)


def findPreviewNode(scene, volumeNode, tr=_untranslated):
    """The "<input> preview" segmentation of earlier previews of this volume, or None."""
    node = scene.GetFirstNodeByName(previewName(volumeNode.GetName(), tr))
    return node if node is not None and node.IsA("vtkMRMLSegmentationNode") else None


def applyJob(logic, scene, job: RunJob, result, tr=_untranslated):
    """Put a finished run's result into the scene and return the logic's AppliedNodes.

    A preview replaces the segments of "<input> preview" (made the first time). A whole-volume run
    writes to the job's output segmentation, or a new one when there is none or it was removed
    during the run, and hides the preview, which it supersedes. When that output is the strokes'
    own segmentation, its segments are first copied to "<name> strokes", so the strokes are never
    lost (the copy is removed again if the result cannot be applied).
    """
    volumeNode = job.volumeNode
    previewNode = findPreviewNode(scene, volumeNode, tr)
    if job.preview:
        return logic.applyResult(volumeNode, result, segmentationNode=previewNode, createLabelmap=False,
                                 name=previewName(volumeNode.GetName(), tr))
    outputNode = job.outputNode
    if outputNode is not None and not scene.IsNodePresent(outputNode):
        outputNode = None
    replacing = outputNode is not None and outputNode is job.scribblesNode  # the strokes' own segmentation
    applied = logic.applyResult(volumeNode, result, segmentationNode=outputNode, createLabelmap=job.createLabelmap,
                                keepPreviousAs=tr("{name} strokes").format(name=outputNode.GetName()) if replacing
                                else "")
    if previewNode is not None and previewNode.GetDisplayNode() is not None:
        previewNode.GetDisplayNode().SetVisibility(False)
    return applied


def redSliceCenterRAS(scene, layoutManager=None, tr=_untranslated) -> list:
    """A RAS point on the Red slice plane, the slice a preview takes: its SliceToRAS translation."""
    sliceNode = None
    if layoutManager is not None and layoutManager.sliceWidget("Red") is not None:
        sliceNode = layoutManager.sliceWidget("Red").mrmlSliceNode()
    if sliceNode is None:
        sliceNode = scene.GetNodeByID("vtkMRMLSliceNodeRed")
    if sliceNode is None:
        raise RuntimeError(tr("There is no Red slice view to take the current slice from."))
    sliceToRAS = sliceNode.GetSliceToRAS()
    return [sliceToRAS.GetElement(row, 3) for row in range(3)]


def runInputs(logic, volumeNode, preview: bool, scene, layoutManager=None, tr=_untranslated, scribblesNode=None,
              outputNode=None):
    """(volume, strokes, weights file) of a run, copied out of the scene: the volume is the axial slice
    the Red view shows for a preview, else the whole volume; with a segmentation of strokes, the
    strokes on the same grid (a preview's slice of them: every structure needs a stroke on that
    slice) and where the run keeps its checkpoint (partition or weights) for the next rerun with more
    strokes (slicer.checkpoints: deleted with the nodes, at scene close and at exit). The output may
    be the strokes' own segmentation: applyJob then keeps a copy of them."""
    if preview:
        index = logic.sliceIndexFromRAS(volumeNode, redSliceCenterRAS(scene, layoutManager, tr))
        volume = logic.axialSliceVolume(volumeNode, index)
    else:
        index, volume = None, logic.nodeVoxels(volumeNode)  # the node's own voxels: no float32 copy
    if scribblesNode is None:
        return volume, None, None
    strokes = logic.strokesFromSegmentation(scribblesNode, volumeNode)
    if preview:
        strokes = make_strokes(strokes.labels[index:index + 1], strokes.names, strokes.colors, strokes.terminologies)
    from . import checkpoints

    return volume, strokes, checkpoints.path(volumeNode.GetID(), scribblesNode.GetID(), index)


def longRunQuestion(seconds: float, tr=_untranslated):
    """(question, title) to ask once the child process has estimated a run at more than
    LONG_CPU_RUN_SECONDS, else None. The child times a few real steps of its own before it trains
    (a CPU run; GPU and k-means runs take seconds and send no estimate), so Slicer's process never
    loads PyTorch for it; the run goes on while the user decides, and No cancels it."""
    if seconds <= LONG_CPU_RUN_SECONDS:
        return None
    return (tr("This run uses the CPU and is estimated to take about {duration}.\n\n"
               "You can keep working while it runs and cancel it at any time. A CUDA GPU, fewer "
               "iterations, fewer filters (p) or 'Preview current slice' are faster. Go on with it?").format(
                   duration=format_seconds(seconds, tr)),
            tr("Long run on the CPU"))


def applyButtonState(hasInput: bool, running: bool, cancelling: bool, tr=_untranslated) -> tuple:
    """(text, tooltip, enabled) of the Apply button, which cancels while a run goes."""
    if running:
        return (tr("Cancelling...") if cancelling else tr("Cancel"),
                tr("End the run's process; the scene is left as it was."), not cancelling)
    return (tr("Apply"), tr("Segment the whole input volume. While it runs this button cancels the run.")
            if hasInput else tr("Select an input CT volume."), hasInput)


@dataclass
class Outcome:
    """What the panel does with a run that has ended."""

    status: str  # the status line; with `apply`, once the result is in the scene
    apply: bool = False  # put the result into the scene (applyJob)
    message: str = ""  # an error dialog's text, or the question when `offerCPU`
    title: str = ""  # that dialog's window title
    details: str = ""  # the error's details (the run's last output lines)
    offerCPU: bool = False  # the GPU ran out of memory: ask whether to run again on the CPU
    device: str = ""  # where the run ran, from its run record


def finishedRun(run, scene, tr=_untranslated) -> Outcome:
    """What an ended run leads to: nothing after a scene close or a cancel, a dialog after an error
    (for a GPU out of memory, the offer to run again on the CPU), else its result into the scene
    unless the input volume was removed meanwhile."""
    job, seconds = run.context, format_seconds(run.elapsed, tr)
    if job.discard:
        return Outcome(tr("Stopped: the scene was closed."))
    if run.cancelled or isinstance(run.error, Cancelled):
        return Outcome(tr("Cancelled after {seconds}; the scene was left as it was.").format(seconds=seconds))
    error = run.error
    if error is not None:
        status = tr("Failed: {error}").format(error=error)
        if is_out_of_memory(error) and job.settings.device != "cpu":
            return Outcome(status, offerCPU=True, title=tr("Out of GPU memory"), message=tr(
                "The GPU ran out of memory:\n\n{error}\n\nRun again on the CPU? It is slower; "
                "'Force CPU' under Advanced stays on for later runs.").format(error=error))
        if isinstance(error, InputError):
            return Outcome(status, message=str(error), title=tr("Cannot segment this input"))
        return Outcome(status, message=tr("Segmentation failed.\n\n{error}").format(error=error),
                       title=tr("Segmentation failed"), details=run.details or "")
    if not scene.IsNodePresent(job.volumeNode):
        return Outcome(tr("Finished, but the input volume was removed meanwhile: nothing was added."))
    device = str((run.result.record or {}).get("device") or "")
    labels = len(run.result.tissues)
    if device:
        status = tr("Done in {seconds} on {device}: {labels} labels.").format(seconds=seconds, device=device, labels=labels)
    else:
        status = tr("Done in {seconds}: {labels} labels.").format(seconds=seconds, labels=labels)
    return Outcome(status, apply=True, device=device)


def showSegmentation(segmentationNode, preview: bool) -> None:
    """Show an applied result in the slice views, and for a whole-volume run as 3D surfaces too."""
    segmentationNode.CreateDefaultDisplayNodes()
    displayNode = segmentationNode.GetDisplayNode()
    displayNode.SetVisibility(True)
    displayNode.SetVisibility2D(True)
    if not preview:
        segmentationNode.CreateClosedSurfaceRepresentation()
        displayNode.SetVisibility3D(True)


def firstScalarVolume(volumeNodes):
    """The first of `volumeNodes` that is not a labelmap (the input the panel preselects), or None."""
    return next((node for node in volumeNodes if not node.IsA("vtkMRMLLabelMapVolumeNode")), None)


def rememberOutputs(parameterNode, job: RunJob, applied) -> None:
    """After a whole-volume run is applied: the next run replaces its segmentation, and where the run
    replaced the strokes (applyResult's keepPreviousAs), more strokes go to their copy."""
    if job.preview or not parameterNode:
        return
    parameterNode.outputSegmentation = applied.segmentationNode
    if applied.previousNode is not None:
        parameterNode.scribbles = applied.previousNode
