"""The scribble run where users paint: a Segment Editor effect, offered beside Grow from seeds.

The segments of the editor's segmentation hold the strokes (painted with Paint or Draw); Apply runs
the module's settings on the editor's source volume in a child process, as the module panel does
(slicer/childrun.py), and writes each structure into the segment that held its strokes, in place,
after saving the editor's undo state: the editor's Undo brings the strokes back. The module
registers this file when Slicer has started (UnsupervisedCTSeg.py, registerEditorEffect).

Only Qt wiring is here. What it calls is tested on slicer-core: panelrun.runInputs (the strokes
and the volume out of the scene), logic.startRun, panelrun.finishedRun and
logic.fillStrokeSegments (Testing/test_slicer_scribbles.py). The effect itself runs in
Testing/test_editor_effect.py against stand-ins for Qt and the Segment Editor.

The Segment Editor calls an effect's cleanup() only from Slicer 5.10 on: on 5.6 and 5.8 the effect
lives until the application ends. So it connects the scene's close, its node removals and the
application's exit itself (slicer/lifecycle.py): a run in progress is then discarded, every run
cancelled and the scribble checkpoints deleted; cleanup(), where it is called, disconnects them.
"""
import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect
from slicer.i18n import tr as _

POLL_INTERVAL_MS = 200


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """Apply: the strokes in the segments become whole structures; Cancel ends the run."""

    def __init__(self, scriptedEffect):
        scriptedEffect.name = "Unsupervised CT"
        scriptedEffect.perSegment = False
        scriptedEffect.requireSegments = True
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.run = None
        self.logic = None
        self.timer = None
        self.watch = None  # the scene's close and node removals, the application's exit (lifecycle.Watch)

    def clone(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as effects

        clonedEffect = effects.qSlicerSegmentEditorScriptedEffect(None)
        clonedEffect.setPythonSource(__file__.replace("\\", "/"))
        return clonedEffect

    def icon(self):
        path = os.path.join(os.path.dirname(__file__), "..", "Resources", "Icons", "UnsupervisedCTSeg.png")
        return qt.QIcon(path) if os.path.exists(path) else qt.QIcon()

    def helpText(self):
        return _("<html>Paint a few strokes into each segment (one segment per structure, two or more), "
                 "then press Apply: every voxel of the body is labelled as one of the segments, learning "
                 "from the strokes and from an unsupervised segmentation of the whole volume. The settings "
                 "are those of the Unsupervised CT Segmentation module. Undo brings the strokes back; "
                 "another Apply after more strokes reuses the first run's work.</html>")

    def setupOptionsFrame(self):
        self.applyButton = qt.QPushButton(_("Apply"))
        self.applyButton.toolTip = _("Label the body as the segments, from their strokes")
        self.cancelButton = qt.QPushButton(_("Cancel"))
        self.cancelButton.enabled = False
        buttons = qt.QHBoxLayout()
        buttons.addWidget(self.applyButton)
        buttons.addWidget(self.cancelButton)
        self.scriptedEffect.addOptionsWidget(buttons)
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        self.scriptedEffect.addOptionsWidget(self.progressBar)
        self.statusLabel = qt.QLabel()
        self.statusLabel.wordWrap = True
        self.scriptedEffect.addOptionsWidget(self.statusLabel)
        self.applyButton.connect("clicked()", self.onApply)
        self.cancelButton.connect("clicked()", self.onCancel)
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.connect("timeout()", self.onPoll)
        from UnsupervisedCTSegLib.slicer import lifecycle

        self.watch = lifecycle.Watch(slicer.app, slicer.mrmlScene, self.onSceneClose)

    def cleanup(self):
        """Called by the Segment Editor from Slicer 5.10 on, when the effect goes."""
        self.onCancel()
        if self.timer is not None:
            self.timer.stop()
            self.timer.disconnect("timeout()", self.onPoll)
        if self.watch is not None:
            self.watch.disconnect()
            self.watch = None

    def onSceneClose(self):
        """The scene closes or the application ends: nothing of the run is applied (the Watch cancels it)."""
        if self.run is not None:
            self.run.context.discard = True

    def onApply(self):
        import UnsupervisedCTSeg
        from UnsupervisedCTSegLib.slicer import lifecycle, panelrun, parameters, texts, views

        if self.run is not None:
            return
        editorNode = self.scriptedEffect.parameterSetNode()
        segmentationNode = editorNode.GetSegmentationNode()
        getSource = getattr(editorNode, "GetSourceVolumeNode", None) or editorNode.GetMasterVolumeNode
        volumeNode = getSource()
        if segmentationNode is None or volumeNode is None:
            slicer.util.errorDisplay(_("Select a segmentation and a source volume first."))
            return
        # pip processes the application's events while it installs: Apply stays disabled meanwhile.
        with slicer.util.tryWithErrorDisplay(_("Failed to install the required Python packages.")), \
                lifecycle.disabled(self.applyButton):
            slicerlogic = UnsupervisedCTSeg.installer().importLogic()  # None, after saying why, if declined or broken
        if slicerlogic is None:
            self.statusLabel.text = _("Not started: the required Python packages are not installed.")
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the segmentation."), waitCursor=True):
            self.logic = slicerlogic.UnsupervisedCTSegLogic(slicer.mrmlScene)
            settings = parameters.settings_from_parameters(
                UnsupervisedCTSeg.parameterValues(UnsupervisedCTSeg.getParameterNode()))
            job = panelrun.RunJob.forRun(volumeNode, settings, False, segmentationNode, scribblesNode=segmentationNode)
            with views.busy(texts.writing_text(volumeNode.GetName(), _), self.statusLabel):
                volume, strokes, weights = panelrun.runInputs(self.logic, volumeNode, False, slicer.mrmlScene,
                                                              scribblesNode=segmentationNode,
                                                              outputNode=segmentationNode)
                self.run = self.logic.startRun(volume, settings, context=job, strokes=strokes, weights=weights)
            self.applyButton.enabled, self.cancelButton.enabled = False, True
            self.progressBar.value = 0
            self.progressBar.show()
            self.statusLabel.text = _("Running...")
            self.timer.start()

    def onCancel(self):
        if self.run is not None:
            self.run.cancel()

    def onPoll(self):
        from UnsupervisedCTSegLib.slicer import panelrun, views

        run = self.run
        if run is None:
            self.timer.stop()
            return
        progress = run.poll()
        if progress is not None:
            self.progressBar.value = int(100 * progress.fraction)
        if not run.done:
            return
        self.timer.stop()
        self.run = None
        self.progressBar.hide()
        self.applyButton.enabled, self.cancelButton.enabled = True, False
        job, outcome = run.context, panelrun.finishedRun(run, slicer.mrmlScene, _)
        self.statusLabel.text = outcome.status
        if outcome.message:
            slicer.util.errorDisplay(outcome.message, windowTitle=outcome.title, detailedText=outcome.details)
        elif outcome.apply:
            with slicer.util.tryWithErrorDisplay(_("Failed to write the segments."), waitCursor=True):
                with views.busy(_("Writing the structures into the segments..."), self.statusLabel):
                    self.scriptedEffect.saveStateForUndo()
                    self.logic.fillStrokeSegments(job.outputNode, job.volumeNode, run.result)
                self.statusLabel.text = outcome.status
