"""The scribble run where users paint: a Segment Editor effect, offered beside Grow from seeds.

It behaves like Slicer's auto-complete effects. The visible segments of the editor's segmentation
hold the strokes (painted with Paint or Draw); Initialize runs the module's settings on the editor's
source volume in a child process, as the module panel does (slicer/childrun.py), and shows the
result as a preview over the strokes. With Auto-update on, painting more strokes (or showing or
hiding a segment) starts a new run once the strokes have been left alone for a moment; a change
during a run is queued, and the new run starts from the previous one's work. Apply writes the
preview into the segments through the editor (its editable area, intensity range and overwrite
mode apply) after saving the editor's undo state once: one Undo brings the strokes back. Cancel
drops the preview and ends any run. The module registers this file when Slicer has started
(UnsupervisedCTSeg.py, registerEditorEffect).

Only Qt wiring is here. The state and its decisions are slicer/effectsession.py, the reading and
writing of segments slicer/editorwrite.py (tested on slicer-core in Testing/test_effect_session.py
and Testing/test_editor_write.py). The effect itself runs in Testing/test_editor_effect.py (the
application stand-ins) and Testing/test_editor_preview.py (a slicer-core scene with Qt and the
Segment Editor stood in for).

The Segment Editor calls an effect's cleanup() only from Slicer 5.10 on: on 5.6 and 5.8 the effect
lives until the application ends. So it connects the scene's close, its node removals and the
application's exit itself (slicer/lifecycle.py): a run in progress is then discarded, every run
cancelled and the scribble checkpoints deleted; cleanup(), where it is called, disconnects them.
"""
import contextlib
import os

import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect
from slicer.i18n import tr as _

POLL_INTERVAL_MS = 200


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """Initialize: a preview of the strokes grown into whole structures; Apply writes it, Cancel drops it."""

    def __init__(self, scriptedEffect):
        from UnsupervisedCTSegLib.slicer import effectsession

        scriptedEffect.name = "Unsupervised CT"
        scriptedEffect.perSegment = False
        scriptedEffect.requireSegments = True
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.session = effectsession.EffectSession()
        self.logic = None
        self.timer = None  # polls the run
        self.autoUpdateTimer = None  # waits for the strokes to rest before an update
        self.observations = []  # the observed segmentation's events (editorwrite.observeStrokes)
        self.observed = None  # the segmentation they are of
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
        return _("<html>Paint a few strokes into each segment (one segment per structure, two or more; hidden "
                 "segments are left out), then press Initialize: every voxel of the body is labelled as one of "
                 "the segments, learning from the strokes and from an unsupervised segmentation of the whole "
                 "volume, and shown as a preview. With Auto-update on, paint more strokes where the preview is "
                 "wrong and it is computed again. Apply writes the preview into the segments, within the "
                 "editable area and intensity range and as 'Modify other segments' says; Undo brings the "
                 "strokes back. Cancel drops the preview. The settings are those of the Unsupervised CT "
                 "Segmentation module.</html>")

    def setMRMLDefaults(self):
        self.scriptedEffect.setParameterDefault("AutoUpdate", "1")

    def setupOptionsFrame(self):
        from UnsupervisedCTSegLib.slicer import effectsession, lifecycle

        self.autoUpdateCheckBox = qt.QCheckBox(_("Auto-update"))
        self.autoUpdateCheckBox.toolTip = _("Compute the preview again when the strokes change")
        self.autoUpdateCheckBox.checked = True
        self.initializeButton = qt.QPushButton(_("Initialize"))
        self.initializeButton.toolTip = _("Preview the body labelled as the visible segments, from their strokes")
        previewRow = qt.QHBoxLayout()
        previewRow.addWidget(self.autoUpdateCheckBox)
        previewRow.addWidget(self.initializeButton)
        self.scriptedEffect.addLabeledOptionsWidget(_("Preview:"), previewRow)
        self.cancelButton = qt.QPushButton(_("Cancel"))
        self.cancelButton.toolTip = _("Drop the preview and end any run; the segments stay as they are")
        self.applyButton = qt.QPushButton(_("Apply"))
        self.applyButton.toolTip = _("Write the preview into the segments")
        finishRow = qt.QHBoxLayout()
        finishRow.addWidget(self.cancelButton)
        finishRow.addWidget(self.applyButton)
        self.scriptedEffect.addOptionsWidget(finishRow)
        self.progressBar = qt.QProgressBar()
        self.progressBar.hide()
        self.scriptedEffect.addOptionsWidget(self.progressBar)
        self.statusLabel = qt.QLabel()
        self.statusLabel.wordWrap = True
        self.scriptedEffect.addOptionsWidget(self.statusLabel)
        self.initializeButton.connect("clicked()", self.onInitialize)
        self.cancelButton.connect("clicked()", self.onCancel)
        self.applyButton.connect("clicked()", self.onApply)
        self.autoUpdateCheckBox.connect("toggled(bool)", self.onAutoUpdateToggled)
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.connect("timeout()", self.onPoll)
        self.autoUpdateTimer = qt.QTimer()
        self.autoUpdateTimer.setSingleShot(True)
        self.autoUpdateTimer.setInterval(effectsession.AUTO_UPDATE_DELAY_MS)
        self.autoUpdateTimer.connect("timeout()", self.onAutoUpdate)
        self.watch = lifecycle.Watch(slicer.app, slicer.mrmlScene, self.onSceneClose, self.onQuit)
        self.updateButtons()

    def updateGUIFromMRML(self):
        if self.scriptedEffect.parameterDefined("AutoUpdate"):
            self.session.autoUpdate = self.scriptedEffect.integerParameter("AutoUpdate") != 0
        self.autoUpdateCheckBox.blockSignals(True)
        self.autoUpdateCheckBox.checked = self.session.autoUpdate
        self.autoUpdateCheckBox.blockSignals(False)
        self.updateButtons()

    def updateMRMLFromGUI(self):
        self.scriptedEffect.setParameter("AutoUpdate", "1" if self.autoUpdateCheckBox.checked else "0")

    def updateButtons(self):
        from UnsupervisedCTSegLib.slicer import effectsession

        state = self.session.state
        self.initializeButton.text = _("Initialize") if state == effectsession.IDLE else _("Update")
        self.applyButton.enabled = self.session.canApply
        self.cancelButton.enabled = state != effectsession.IDLE

    def cleanup(self):
        """Called by the Segment Editor from Slicer 5.10 on, when the effect goes."""
        self.onCancel()
        for timer, slot in ((self.timer, self.onPoll), (self.autoUpdateTimer, self.onAutoUpdate)):
            if timer is not None:
                timer.stop()
                timer.disconnect("timeout()", slot)
        if self.watch is not None:
            self.watch.disconnect()
            self.watch = None
        self.closeWorker()

    def onQuit(self):
        self.onSceneClose()
        self.closeWorker()

    def closeWorker(self):
        """End the kept process of this effect's runs."""
        if self.logic is not None:
            self.logic.closeWorker()

    # --- the editor's nodes and the observed strokes

    def editorNodes(self):
        """(segmentation, source volume) the Segment Editor shows now."""
        editorNode = self.scriptedEffect.parameterSetNode()
        if editorNode is None:
            return None, None
        getSource = getattr(editorNode, "GetSourceVolumeNode", None) or editorNode.GetMasterVolumeNode
        return editorNode.GetSegmentationNode(), getSource()

    def referenceImage(self):
        """The editor's aligned source volume: the geometry it edits on."""
        get = getattr(self.scriptedEffect, "sourceVolumeImageData", None) or self.scriptedEffect.masterVolumeImageData
        return get()

    def observe(self, segmentationNode):
        from UnsupervisedCTSegLib.slicer import editorwrite

        self.unobserve()
        self.observations = editorwrite.observeStrokes(segmentationNode, self.onStrokesModified)
        self.observed = segmentationNode

    def unobserve(self):
        from UnsupervisedCTSegLib.slicer import editorwrite

        self.autoUpdateTimer.stop()
        editorwrite.unobserve(self.observations)
        self.observations, self.observed = [], None

    def onStrokesModified(self, caller=None, event=None):
        from UnsupervisedCTSegLib.slicer import editorwrite

        if self.session.segmentationNode is None:
            return
        if self.session.strokesChanged(editorwrite.strokesSignature(self.session.segmentationNode)):
            self.autoUpdateTimer.start()  # restarted at every event: the update waits for a pause

    def onAutoUpdateToggled(self, checked):
        self.session.autoUpdate = bool(checked)
        self.updateMRMLFromGUI()
        if checked:
            self.onStrokesModified()
        else:
            self.autoUpdateTimer.stop()

    def onAutoUpdate(self):
        from UnsupervisedCTSegLib.slicer import editorwrite, effectsession

        segmentationNode = self.session.segmentationNode
        if segmentationNode is None:
            return
        decision = self.session.autoUpdateDue(editorwrite.strokesSignature(segmentationNode))
        if decision == effectsession.QUEUED:
            self.statusLabel.text = effectsession.queuedText(_)
        elif decision == effectsession.START:
            self.start(interactive=False)

    # --- runs

    def onInitialize(self):
        """Initialize (or Update, once a preview shows)."""
        from UnsupervisedCTSegLib.slicer import effectsession

        segmentationNode, volumeNode = self.editorNodes()
        if segmentationNode is None or volumeNode is None:
            slicer.util.errorDisplay(_("Select a segmentation and a source volume first."))
            return
        decision = self.session.request(segmentationNode, volumeNode)
        if decision == effectsession.QUEUED:
            self.statusLabel.text = effectsession.queuedText(_)
            return
        if decision == effectsession.RESTART:  # the editor shows other nodes than the preview's
            self.end()
        self.start(interactive=True)

    @contextlib.contextmanager
    def reporting(self, message, interactive):
        """Errors in the block: a dialog after a click, the status line for an auto-update."""
        if interactive:
            with slicer.util.tryWithErrorDisplay(message, waitCursor=True):
                yield
            return
        try:
            yield
        except Exception as error:
            self.statusLabel.text = f"{message} {error}"

    def start(self, interactive):
        import UnsupervisedCTSeg
        from UnsupervisedCTSegLib.slicer import (checkpoints, editorwrite, effectsession, lifecycle, panelrun,
                                                 parameters, texts, views)

        segmentationNode, volumeNode = self.editorNodes()
        if segmentationNode is None or volumeNode is None or self.session.run is not None:
            return
        if not interactive and not self.session.shows(segmentationNode, volumeNode):
            if self.session.segmentationNode is not None:  # an update of a preview the editor does not show
                self.statusLabel.text = effectsession.notUpdatedText(self.session.segmentationNode.GetName(), _)
            return
        if self.logic is None:
            # pip processes the application's events while it installs: the buttons stay disabled meanwhile.
            with slicer.util.tryWithErrorDisplay(_("Failed to install the required Python packages.")), \
                    lifecycle.disabled(self.initializeButton, self.applyButton):
                # None, after saying why, if declined or broken
                slicerlogic = UnsupervisedCTSeg.installer().importLogic()
            if slicerlogic is None:
                self.statusLabel.text = _("Not started: the required Python packages are not installed.")
                return
            self.logic = slicerlogic.UnsupervisedCTSegLogic(slicer.mrmlScene)
        with self.reporting(_("Failed to start the segmentation."), interactive):
            settings = parameters.settings_from_parameters(
                UnsupervisedCTSeg.parameterValues(UnsupervisedCTSeg.getParameterNode()))
            job = panelrun.RunJob.forRun(volumeNode, settings, False, scribblesNode=segmentationNode)
            with views.busy(texts.writing_text(volumeNode.GetName(), _), self.statusLabel):
                structureIDs = editorwrite.visibleSegmentIDs(segmentationNode)
                strokes = editorwrite.visibleStrokes(slicer.mrmlScene, segmentationNode, volumeNode, structureIDs)
                weights = checkpoints.path(volumeNode.GetID(), segmentationNode.GetID())
                # The kept process (as the panel's previews): PyTorch is imported once, not at every update.
                run = self.logic.startRun(self.logic.nodeVoxels(volumeNode), settings, context=job, strokes=strokes,
                                          weights=weights, estimate=False, warm=True)
            self.session.started(segmentationNode, volumeNode, run, structureIDs,
                                 editorwrite.strokesSignature(segmentationNode))
            if self.observed is not segmentationNode:
                self.observe(segmentationNode)
            self.progressBar.value = 0
            self.progressBar.show()
            self.statusLabel.text = _("Running...")
            self.timer.start()
        self.updateButtons()

    def onPoll(self):
        import UnsupervisedCTSeg
        from UnsupervisedCTSegLib.slicer import effectsession, panelrun

        run = self.session.run
        if run is None:
            self.timer.stop()
            return
        progress = run.poll()
        if progress is not None:
            self.progressBar.value = int(100 * progress.fraction)
        if not run.done:
            return
        self.timer.stop()
        self.progressBar.hide()
        job, outcome = run.context, panelrun.finishedRun(run, slicer.mrmlScene, _)
        self.statusLabel.text = outcome.status
        previewNode = None
        if outcome.apply:
            if self.session.shows(*self.editorNodes()):
                previewNode = self.showPreview(run)
            else:
                self.statusLabel.text = effectsession.droppedText(self.session.segmentationNode.GetName(), _)
        due = self.session.ended(run, previewNode, discard=job.discard)
        self.updateButtons()
        interactive = False
        if outcome.offerCPU:  # a question: Yes runs again on the CPU
            if slicer.util.confirmYesNoDisplay(outcome.message, windowTitle=outcome.title):
                UnsupervisedCTSeg.getParameterNode().forceCPU = True  # as the module panel does; stays on
                due = interactive = True
        elif outcome.message:
            slicer.util.errorDisplay(outcome.message, windowTitle=outcome.title, detailedText=outcome.details)
        if due:
            self.start(interactive)  # the queued update, or the run again on the CPU
        if self.session.state == effectsession.IDLE:
            self.end()  # nothing to show and nothing running: stop observing

    def showPreview(self, run):
        """The run's result as the preview over the strokes; None if it cannot be shown (said why)."""
        from UnsupervisedCTSegLib.slicer import editorwrite, effectsession, views

        session, previewNode = self.session, None
        with slicer.util.tryWithErrorDisplay(_("Failed to show the preview."), waitCursor=True):
            with views.busy(_("Showing the preview..."), self.statusLabel):
                segmentationNode = session.segmentationNode
                previewNode = editorwrite.showPreview(
                    slicer.mrmlScene, segmentationNode, session.volumeNode, run.result, session.structureIDs,
                    self.referenceImage(), session.previewNode,
                    _("{name} preview").format(name=segmentationNode.GetName()))
                if session.opacity is None:
                    session.opacity = editorwrite.dimSegmentation(segmentationNode)
            self.statusLabel.text = effectsession.previewText(self.statusLabel.text, _)
        return previewNode

    def onApply(self):
        from UnsupervisedCTSegLib.slicer import editorwrite, effectsession, views

        session = self.session
        if not session.canApply:
            return
        if not session.shows(*self.editorNodes()):
            self.statusLabel.text = effectsession.elsewhereText(session.segmentationNode.GetName(), _)
            return
        self.unobserve()  # the writes below are no new strokes
        segmentationNode, previewNode = session.segmentationNode, session.previewNode
        written = None
        with slicer.util.tryWithErrorDisplay(_("Failed to write the segments."), waitCursor=True):
            with views.busy(_("Writing the structures into the segments..."), self.statusLabel):
                self.scriptedEffect.saveStateForUndo()  # once: one Undo brings every stroke back
                written = editorwrite.writePreview(self.modifySegment, previewNode, segmentationNode,
                                                   self.referenceImage())
        if written is None:  # said why; Undo takes back what was written, the preview stays for Cancel
            self.observe(segmentationNode)
            return
        self.end()
        self.statusLabel.text = effectsession.appliedText(len(written), _)

    def modifySegment(self, segmentationNode, segmentID, labelmap):
        """One structure into its segment, by the editor's rules (editable area, intensity range, overwrite mode)."""
        self.scriptedEffect.modifySegmentByLabelmap(segmentationNode, segmentID, labelmap,
                                                    slicer.qSlicerSegmentEditorAbstractEffect.ModificationModeSet)

    def onCancel(self):
        from UnsupervisedCTSegLib.slicer import effectsession

        if self.session.state == effectsession.IDLE:
            return
        self.end()
        self.statusLabel.text = effectsession.cancelledText(_)

    def end(self):
        """The session ends (Apply, Cancel, or a new one on other nodes): its run is cancelled without
        waiting, its preview removed and the segmentation's opacity given back."""
        from UnsupervisedCTSegLib.slicer import editorwrite

        if self.autoUpdateTimer is not None:
            self.unobserve()
        run, previewNode, segmentationNode, opacity = self.session.finish()
        if run is not None:
            self.timer.stop()
            self.progressBar.hide()
            run.cancel(wait=0)
        editorwrite.removePreview(slicer.mrmlScene, previewNode, segmentationNode, opacity)
        self.updateButtons()

    def onSceneClose(self):
        """The scene closes or the application ends: nothing of the run is applied (the Watch cancels it),
        and the preview goes with the scene."""
        if self.autoUpdateTimer is not None:
            self.unobserve()
        run = self.session.run
        if run is not None:
            run.context.discard = True  # onPoll then ends the session
        else:
            self.session.finish()
        self.updateButtons()
