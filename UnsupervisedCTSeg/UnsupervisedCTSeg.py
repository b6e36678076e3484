"""3D Slicer scripted module: unsupervised CT segmentation.

This file is the only one that talks to the Slicer application's GUI (slicer, qt, vtk): it declares
the module, its typed parameter node, the panel and the self-test runner. Everything else lives in
the UnsupervisedCTSegLib package next to it and is tested without the application (see
ARCHITECTURE.md): the engine, which never imports slicer or qt, and the slicer/ layer with the
parameter table the panel is built from (parameters.py), the panel's words (texts.py, modulehelp.py),
the widgets' connection to the parameter node (guibinding.py), a run's record and outcome and where
its result goes (panelrun.py), what a scene close or the application's exit ends (lifecycle.py), the
wait cursor, status line and views (views.py), installing the requirements (install.py), the Sample
Data phantom (sampledata.py), the MRML glue and the child-process run (logic.py) and the self-tests.
PyTorch is imported only when a run starts (to time a CPU run), so the module loads, and its panel
opens, before PyTorch is installed and also when its install is broken.
"""
import logging
import os

import qt

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, Default, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from UnsupervisedCTSegLib.slicer import (guibinding, install, lifecycle, modulehelp, panelrun, parameters, sampledata,
                                          texts, views)

MODULE_NAME = "UnsupervisedCTSeg"
POLL_INTERVAL_MS = 200


def _moduleDir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def installer() -> install.Installer:
    """The install flow with the application's dialogs, PyTorch extension and pip (looked up when used)."""
    return install.Installer(os.path.join(_moduleDir(), "Resources", "requirements.txt"), tr=_)


#
# UnsupervisedCTSeg
#


class UnsupervisedCTSeg(ScriptedLoadableModule):
    """Module description shown in Slicer's module list and Help & Acknowledgement panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Unsupervised CT Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["UnsupervisedCTSeg developers"]
        self.parent.helpText = modulehelp.helpText(_)
        self.parent.acknowledgementText = modulehelp.acknowledgementText(_)
        # Sample Data and the Segment Editor's effects exist only once the application has started.
        slicer.app.connect("startupCompleted()", registerSampleData)
        slicer.app.connect("startupCompleted()", registerEditorEffect)


def registerEditorEffect():
    """Offer the scribble run in the Segment Editor too (SegmentEditorUnsupervisedCTSegLib)."""
    import qSlicerSegmentationsEditorEffectsPythonQt as effects

    effect = effects.qSlicerSegmentEditorScriptedEffect(None)
    path = os.path.join(_moduleDir(), "SegmentEditorUnsupervisedCTSegLib", "SegmentEditorEffect.py")
    effect.setPythonSource(path.replace("\\", "/"))
    effect.self().register()


#
# Sample data: a synthetic CT phantom, generated rather than downloaded
#


def registerSampleData():
    """Add the generated phantom to the Sample Data module."""
    thumbnail = os.path.join(_moduleDir(), "Resources", "Icons", "UnsupervisedCTSeg.png")
    sampledata.registerPhantom(MODULE_NAME, _("Unsupervised CT Segmentation"), thumbnail, loadPhantomSample)


def loadPhantomSample(source=None):
    """Sample Data's customDownloader: build the phantom volume in the scene and show it."""
    with slicer.util.tryWithErrorDisplay(_("Failed to create the phantom."), waitCursor=True):
        volumeNode = sampledata.makePhantom(installer(), slicer.mrmlScene)
        if volumeNode is not None:
            slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        return volumeNode


#
# UnsupervisedCTSegParameterNode
#


def _makeParameterNodeClass():
    """The typed parameter node, built from parameters.PARAMETERS so the fields cannot drift.

    parameterNodeWrapper reads the class's annotations with typing.get_type_hints, so a class made
    with type() and an __annotations__ dict is the same to it as one written out by hand.
    """
    annotations = parameters.node_annotations(lambda className: getattr(slicer, className),
                                              Choice, Default, WithinRange)
    namespace = {
        "__annotations__": annotations,
        "__module__": __name__,
        "__doc__": "The panel's parameters: the input and output nodes, then one field per parameters.PARAMETERS row.",
    }
    return parameterNodeWrapper(type("UnsupervisedCTSegParameterNode", (), namespace))


UnsupervisedCTSegParameterNode = _makeParameterNodeClass()


def getParameterNode() -> UnsupervisedCTSegParameterNode:
    """The module's singleton parameter node in the scene, wrapped (created when missing)."""
    store = ScriptedLoadableModuleLogic()
    store.moduleName = MODULE_NAME
    return UnsupervisedCTSegParameterNode(store.getParameterNode())


def parameterValues(node) -> dict:
    """The settings' values of a wrapped parameter node, for parameters.settings_from_parameters."""
    return {p.name: node.getValue(p.name) for p in parameters.PARAMETERS}


#
# UnsupervisedCTSegWidget
#


class UnsupervisedCTSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: pick a CT volume, preview one slice, segment the volume in a child process."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None  # UnsupervisedCTSegLogic, made on the first run once its requirements are in
        self._binding = None  # the widgets' connection to the parameter node (guibinding.py)
        self._run = None  # the run in progress; its context, a panelrun.RunJob, says where its result goes
        self._pollTimer = None
        self._watch = None  # the scene's close and node removals, the application's exit (lifecycle.py)
        self._threads = panelrun.runThreads()  # CPU threads a run gets: all cores but one
        self._lastDevice = None  # where the last run without Force CPU ran (its run record's device)

    @property
    def _parameterNode(self):
        return self._binding.parameterNode if self._binding is not None else None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/UnsupervisedCTSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        # The .ui connects the top-level qMRMLWidget's mrmlSceneChanged(vtkMRMLScene*) signal to
        # each node combo box's setMRMLScene(vtkMRMLScene*) slot.
        uiWidget.setMRMLScene(slicer.mrmlScene)
        # Widgets are bound by their "SlicerParameterName" dynamic property set in the .ui file.
        self._binding = guibinding.ParameterNodeBinding(self.ui, self._onParameterNodeModified)

        self.ui.studyPresetButton.text = texts.study_preset_text(_)
        self.ui.ourDefaultsButton.toolTip = texts.our_defaults_tooltip(_)
        self.ui.progressBar.hide()

        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(POLL_INTERVAL_MS)
        self._pollTimer.connect("timeout()", self._poll)

        self._watch = lifecycle.Watch(slicer.app, slicer.mrmlScene, self.onSceneStartClose, self._onQuit)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.ourDefaultsButton.connect("clicked(bool)", lambda checked: self._setValues(parameters.OUR_VALUES))
        self.ui.studyPresetButton.connect("clicked(bool)", lambda checked: self._setValues(parameters.STUDY_VALUES))
        self.ui.previewButton.connect("clicked(bool)", lambda checked: self._start(preview=True))
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

        self.initializeParameterNode()  # also writes the device line, without importing torch

    def cleanup(self) -> None:
        """Called when the application closes or the module is reloaded."""
        if self._discardRun():
            self._run.cancel()
            self._run.join(timeout=5.0)
            self._run = None
        if self._watch is not None:
            self._watch.disconnect()
        if self._pollTimer is not None:
            self._pollTimer.stop()
        if self.logic is not None:
            self.logic.closeWorker()
        if self._binding is not None:
            self._binding.unbind()
        self.removeObservers()

    def enter(self) -> None:
        # Connects the widgets only if the parameter node is another one: see guibinding.py. They
        # stay connected while the module is hidden (no exit()), so entering never reconnects them.
        self.initializeParameterNode()

    def onSceneStartClose(self, caller=None, event=None) -> None:
        self._discardRun()  # the nodes it would write to are going away; the Watch then cancels every run
        self._binding.bind(None)

    def _onQuit(self) -> None:
        self._discardRun()
        if self.logic is not None:
            self.logic.closeWorker()

    def _discardRun(self) -> bool:
        """Mark the run in progress, if any, so that nothing of it is applied (lifecycle.endAll cancels it)."""
        if self._run is not None:
            self._run.context.discard = True
        return self._run is not None

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # Parameter node

    def initializeParameterNode(self) -> None:
        node = self._binding.bind(getParameterNode())
        first = None if node.inputVolume else panelrun.firstScalarVolume(
            slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode"))
        if first is not None:
            node.inputVolume = first

    def _onParameterNodeModified(self) -> None:
        node = self._parameterNode
        self._updateButtons()
        for name, enabled in guibinding.enabledWidgets(node).items():  # settings that matter only with others
            getattr(self.ui, name).enabled = enabled
        if node:
            self.ui.deviceLabel.text = texts.device_description(node.forceCPU, self._threads, _, self._lastDevice)

    def _parameterValues(self) -> dict:
        return parameterValues(self._parameterNode)

    def _setValues(self, values: dict) -> None:
        if not self._parameterNode:
            return
        with slicer.util.NodeModify(self._parameterNode):
            for name, value in values.items():
                self._parameterNode.setValue(name, parameters.BY_NAME[name].kind(value))

    # Display

    def _updateButtons(self) -> None:
        running = self._run is not None
        hasInput = bool(self._parameterNode and self._parameterNode.inputVolume)
        # The parameters stay editable during a run: the job took its own copy when it started.
        self.ui.previewButton.enabled = hasInput and not running
        button = self.ui.applyButton
        button.text, button.toolTip, button.enabled = panelrun.applyButtonState(
            hasInput, running, running and self._run.cancelled, _)

    def _showProgress(self, progress, job) -> None:
        self.ui.progressBar.value = int(round(1000 * progress.fraction))
        text = texts.progress_text(progress, job.settings.iterations, _)
        self.ui.progressBar.setFormat(text.replace("%", "%%"))  # QProgressBar reads %p, %v, %m
        self.ui.statusLabel.text = texts.status_text(self._runTitle(job), job.device, progress, _, job.estimate)

    @staticmethod
    def _runTitle(job) -> str:
        return texts.run_title(job.volumeNode.GetName() if job.volumeNode else "", job.preview, _)

    # Runs

    def onApplyButton(self) -> None:
        if self._run is None:
            self._start(preview=False)
            return
        self._run.cancel()
        self.ui.statusLabel.text = _("Cancelling: the run's process is ended.")
        self._updateButtons()

    def _ensureLogic(self) -> bool:
        """Make the logic on the first run, once the requirements are installed (asking first)."""
        if self.logic is None:
            with lifecycle.disabled(self.ui.applyButton, self.ui.previewButton):  # pip processes events
                slicerlogic = installer().importLogic()  # None, after saying why, if declined or broken
            if slicerlogic is not None:
                self.logic = slicerlogic.UnsupervisedCTSegLogic(slicer.mrmlScene)
        return self.logic is not None

    def _start(self, preview: bool) -> None:
        if self._run is not None or not self._parameterNode:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the segmentation.")):
            node = self._parameterNode
            volumeNode = node.inputVolume
            if volumeNode is None:
                slicer.util.errorDisplay(_("Select an input CT volume first."))
                return
            if not self._ensureLogic():
                self.ui.statusLabel.text = _("Not started: the required Python packages are not installed.")
                return
            settings = parameters.settings_from_parameters(self._parameterValues())
            threads = panelrun.previewThreads() if preview else self._threads
            deviceName = texts.device_name(settings.device == "cpu", threads, _, self._lastDevice)
            job = panelrun.RunJob.forRun(volumeNode, settings, preview, node.outputSegmentation,
                                         node.createLabelmap, deviceName, node.scribbles)
            # The voxels (the whole volume or the Red view's slice) and the strokes are written for a child
            # process, which runs the engine on them (a preview: the one kept for previews, without timing
            # itself first); the scene is changed in _finish.
            with views.busy(texts.writing_text(volumeNode.GetName(), _), self.ui.statusLabel):
                volume, strokes, weights = panelrun.runInputs(self.logic, volumeNode, preview, slicer.mrmlScene,
                                                              slicer.app.layoutManager(), _, node.scribbles,
                                                              node.outputSegmentation)
                self._run = self.logic.startRun(volume, settings, context=job, threads=threads,
                                                estimate=not preview, strokes=strokes, weights=weights, warm=preview)
            self.ui.progressBar.value = 0
            self.ui.progressBar.setFormat(_("starting"))
            self.ui.progressBar.show()
            self.ui.statusLabel.text = texts.start_text(self._runTitle(job), job.device, _, job.estimate)
            self._updateButtons()
            self._pollTimer.start()

    def _poll(self) -> None:
        """QTimer slot in the GUI thread: show the newest progress; apply the result when the run ends."""
        run = self._run
        if run is None:
            self._pollTimer.stop()
            return
        progress = run.poll()
        if progress is not None and not run.cancelled:
            self._showProgress(progress, run.context)
        if run.estimate is not None and run.context.estimate is None:  # the child timed itself: ask once
            run.context.estimate = run.estimate
            question = panelrun.longRunQuestion(run.estimate, _)
            declined = question and not slicer.util.confirmOkCancelDisplay(question[0], windowTitle=question[1])
            if self._run is not run:  # the timer kept polling during the dialog and the run has ended
                return
            if declined:
                self.onApplyButton()  # cancels
        if not run.done:
            return
        self._pollTimer.stop()
        self._run = None
        self.ui.progressBar.hide()
        self._updateButtons()
        self._finish(run)

    def _finish(self, run) -> None:
        job, outcome = run.context, panelrun.finishedRun(run, slicer.mrmlScene, _)
        if job.preview:  # the next preview finds PyTorch imported, also after a cancel
            self.logic.previewWorker(panelrun.previewThreads())
        self.ui.statusLabel.text = "" if outcome.apply else outcome.status
        if outcome.offerCPU:
            if slicer.util.confirmOkCancelDisplay(outcome.message, windowTitle=outcome.title):
                self._parameterNode.forceCPU = True
                self._start(job.preview)
        elif outcome.message:
            slicer.util.errorDisplay(outcome.message, windowTitle=outcome.title, detailedText=outcome.details)
        elif outcome.apply:
            with slicer.util.tryWithErrorDisplay(_("Failed to add the segmentation to the scene."), waitCursor=True):
                with views.busy(_("Adding the segmentation to the scene..."), self.ui.statusLabel):
                    applied = panelrun.applyJob(self.logic, slicer.mrmlScene, job, run.result, _)
                    panelrun.rememberOutputs(self._parameterNode, job, applied)  # where the next run writes
                    views.showResult(job.volumeNode, applied, job.preview)  # also 3D surfaces, the chart
                self.ui.statusLabel.text = outcome.status
            if outcome.device and job.settings.device != "cpu":
                self._lastDevice = outcome.device
                self._onParameterNodeModified()  # the device line names it now


#
# UnsupervisedCTSegTest
#


class UnsupervisedCTSegTest(ScriptedLoadableModuleTest):
    """Runs the self-tests written once in UnsupervisedCTSegLib.slicer.selftests (also run by ctest)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        # Under ctest (--testing) every confirmation answers yes by itself: nothing is installed then.
        skipped = installer().selfTestSkipReason(testing=slicer.app.testingEnabled())
        if skipped:
            logging.warning(skipped)
            self.delayDisplay(skipped)
            return
        from UnsupervisedCTSegLib.slicer.selftests import ALL_TESTS

        for test in ALL_TESTS:
            self.setUp()
            test(slicer.mrmlScene, self.delayDisplay)
        self.delayDisplay("All UnsupervisedCTSeg self-tests passed")
