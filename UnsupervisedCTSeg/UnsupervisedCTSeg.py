"""3D Slicer scripted module: unsupervised CT segmentation.

This file is the only one that talks to the Slicer application's GUI (slicer, qt, vtk): it declares
the module, its typed parameter node, the panel and the self-test runner. Everything else lives in
the UnsupervisedCTSegLib package next to it and is tested without the application (see
ARCHITECTURE.md): the engine, which never imports slicer or qt, and the slicer/ layer with the
parameter table the panel is built from (parameters.py), the panel's words (texts.py), the
background run (backgroundrun.py), the requirements check (requirements.py), the MRML glue
(logic.py) and the self-tests (selftests.py). Modules that need PyTorch are imported only when a
run starts, so the module loads, and its panel opens, before PyTorch is installed.
"""
import functools
import importlib
import logging
import os
import types
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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

from UnsupervisedCTSegLib.engine import device
from UnsupervisedCTSegLib.slicer import parameters, requirements, texts
from UnsupervisedCTSegLib.slicer.backgroundrun import BackgroundRun

MODULE_NAME = "UnsupervisedCTSeg"
PHANTOM_SAMPLE_NAME = "UnsupervisedCTSeg phantom"
TORCH_REQUIREMENT = ">=2.0"  # as in pyproject.toml
LONG_CPU_RUN_SECONDS = 60.0  # ask before a CPU run estimated to take longer than this
POLL_INTERVAL_MS = 200


def _moduleDir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


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
        self.parent.helpText = _("""
Segments a CT volume into tissue classes without any labels or training data. A small
convolutional network is trained on the volume itself so that its output clusters are both
similar in Hounsfield units and spatially smooth; the clusters are then numbered by mean HU, named
after the HU range they fall in and returned as a segmentation with one coloured segment per label,
3D surfaces, a table of the labels and a chart of how the loss and the label count evolved.
<p><b>Preview current slice</b> segments only the axial slice shown in the Red view into a separate
"&lt;input&gt; preview" segmentation, to try parameters in seconds. <b>Apply</b> segments the whole
volume in the background; press it again (it reads <b>Cancel</b> while running) to stop within
about one training iteration, leaving the scene as it was. <b>Study CT preset</b> sets M, θ and μ
to the CT study's best configuration, <b>Our defaults</b> sets them back.</p>
<p>Parameters:</p>
""") + texts.parameter_help(_) + _("""
<p>See the <a href="https://github.com/UnsupervisedCTSeg/SlicerUnsupervisedCTSeg">project page</a>
for documentation, the command-line tool and batch use from the Python console.</p>
""")
        self.parent.acknowledgementText = _("""
The method follows A. Kanezaki, "Unsupervised image segmentation by backpropagation",
IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP), 2018, and
W. Kim, A. Kanezaki, M. Tanaka, "Unsupervised learning of image segmentation based on
differentiable feature clustering", IEEE Transactions on Image Processing 29, 2020.
""")

        # Sample Data exists only once the application has started.
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: a synthetic CT phantom, generated rather than downloaded
#


def registerSampleData():
    """Add the generated phantom to the Sample Data module."""
    import SampleData

    logic = SampleData.SampleDataLogic
    if hasattr(logic, "registerCustomSampleDataCategory"):  # Slicer 5.10 and later
        logic.registerCustomSampleDataCategory(MODULE_NAME, title=_("Unsupervised CT Segmentation"))
    logic.registerCustomSampleDataSource(
        category=MODULE_NAME,
        sampleName=PHANTOM_SAMPLE_NAME,
        thumbnailFileName=os.path.join(_moduleDir(), "Resources", "Icons", "UnsupervisedCTSeg.png"),
        # Nothing is downloaded: the Sample Data button calls customDownloader instead. A source
        # still needs one uri/file name; the placeholder is never fetched from the button.
        uris="generated:UnsupervisedCTSegPhantom",
        fileNames="UnsupervisedCTSegPhantom.nrrd",
        nodeNames=PHANTOM_SAMPLE_NAME,
        customDownloader=loadPhantomSample,
    )


def loadPhantomSample(source=None):
    """Sample Data's customDownloader: build the phantom volume in the scene and show it."""
    with slicer.util.tryWithErrorDisplay(_("Failed to create the phantom."), waitCursor=True):
        slicerlogic = importSlicerLogic()
        if slicerlogic is None:
            return None
        volumeNode = slicerlogic.phantomVolumeNode(slicer.mrmlScene, name=PHANTOM_SAMPLE_NAME)
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        return volumeNode


#
# Python requirements: PyTorch through the PyTorch extension, the rest through pip
#


def ensureTorch() -> bool:
    """True when torch imports; otherwise offer to install it with the PyTorch extension."""
    if device.torch_installed():
        return True
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay(_(
            "This module needs PyTorch, which is installed by the 'PyTorch' extension. Install that "
            "extension from the Extensions Manager, restart the application and try again."))
        return False
    torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)
    importlib.invalidate_caches()
    return torch is not None


def ensureRequirements() -> bool:
    """True when PyTorch and Resources/requirements.txt are installed, installing them if the user agrees."""
    if not ensureTorch():
        return False
    missing = requirements.missing_requirements(
        requirements.read_requirements(os.path.join(_moduleDir(), "Resources", "requirements.txt")))
    if not missing:
        return True
    if not slicer.util.confirmOkCancelDisplay(
            _("Unsupervised CT Segmentation needs these Python packages, which are missing or too old:\n\n"
              "{packages}\n\nInstall them now? This downloads them with pip and can take a few minutes.").format(
                packages="\n".join(missing)),
            windowTitle=_("Install Python packages")):
        return False
    with slicer.util.WaitCursor():
        slicer.util.pip_install(missing)
    importlib.invalidate_caches()
    return True


def importSlicerLogic():
    """The slicerlogic module, after installing what it needs if the user agrees; None if they decline."""
    try:
        from UnsupervisedCTSegLib.slicer import logic as slicerlogic
        return slicerlogic
    except ImportError:
        if not ensureRequirements():
            return None
    from UnsupervisedCTSegLib.slicer import logic as slicerlogic
    return slicerlogic


def formatSeconds(seconds: float) -> str:
    return texts.format_seconds(seconds, _)


#
# UnsupervisedCTSegParameterNode
#


def _annotation(p):
    """Annotated type of one table row: range or choices, and the default."""
    extras = []
    if p.choices:
        extras.append(Choice(list(p.choices)))
    elif p.kind in (int, float) and p.minimum is not None:
        extras.append(WithinRange(p.kind(p.minimum), p.kind(p.maximum)))
    extras.append(Default(p.kind(p.default)))
    return Annotated[(p.kind, *extras)]


def _makeParameterNodeClass():
    """The typed parameter node, built from parameters.PARAMETERS so the fields cannot drift.

    parameterNodeWrapper reads the class's annotations with typing.get_type_hints, so a class made
    with type() and an __annotations__ dict is the same to it as one written out by hand.
    """
    annotations = {
        "inputVolume": vtkMRMLScalarVolumeNode,
        "outputSegmentation": vtkMRMLSegmentationNode,
    }
    for p in parameters.PARAMETERS:
        annotations[p.name] = _annotation(p)
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


#
# UnsupervisedCTSegWidget
#


class UnsupervisedCTSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: pick a CT volume, preview one slice, segment the volume in the background."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None  # UnsupervisedCTSegLogic, created once its requirements are installed
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # the BackgroundRun in progress; its context says where its result goes
        self._pollTimer = None
        self._deviceForceCPU = None  # forceCPU value the device line was computed for

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/UnsupervisedCTSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # The .ui connects the top-level qMRMLWidget's mrmlSceneChanged(vtkMRMLScene*) signal to
        # each node combo box's setMRMLScene(vtkMRMLScene*) slot.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = self._createLogic()

        self.ui.studyPresetButton.text = texts.study_preset_text(_)
        self.ui.ourDefaultsButton.toolTip = texts.our_defaults_tooltip(_)
        self.ui.progressBar.hide()

        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(POLL_INTERVAL_MS)
        self._pollTimer.connect("timeout()", self._poll)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.ourDefaultsButton.connect("clicked(bool)", lambda checked: self._setValues(parameters.OUR_VALUES))
        self.ui.studyPresetButton.connect("clicked(bool)", lambda checked: self._setValues(parameters.STUDY_VALUES))
        self.ui.previewButton.connect("clicked(bool)", self.onPreviewButton)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

        self.initializeParameterNode()
        # Importing torch takes a moment: let the panel appear first.
        qt.QTimer.singleShot(0, self._updateDeviceLabel)

    def cleanup(self) -> None:
        """Called when the application closes or the module is reloaded."""
        if self._run is not None:
            self._run.context.discard = True
            self._run.cancel()
            self._run.join(timeout=5.0)  # stops within about one iteration
            self._run = None
        if self._pollTimer is not None:
            self._pollTimer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        if self._run is not None:  # the nodes it would write to are going away
            self._run.context.discard = True
            self._run.cancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # Parameter node

    def initializeParameterNode(self) -> None:
        self.setParameterNode(getParameterNode())
        if not self._parameterNode.inputVolume:
            for node in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode"):
                if not node.IsA("vtkMRMLLabelMapVolumeNode"):
                    self._parameterNode.inputVolume = node
                    break

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets are bound by their "SlicerParameterName" dynamic property set in the .ui file.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self._updateButtons()
        # The engine makes an "outside body" segment only from a body mask: no mask, nothing to switch.
        self.ui.outsideSegmentCheckBox.enabled = bool(self._parameterNode and self._parameterNode.bodyMask)
        if self._parameterNode and self._deviceForceCPU is not None and self._parameterNode.forceCPU != self._deviceForceCPU:
            self._updateDeviceLabel()

    def _parameterValues(self) -> dict:
        return {p.name: self._parameterNode.getValue(p.name) for p in parameters.PARAMETERS}

    def _setValues(self, values: dict) -> None:
        if not self._parameterNode:
            return
        with slicer.util.NodeModify(self._parameterNode):
            for name, value in values.items():
                self._parameterNode.setValue(name, parameters.BY_NAME[name].kind(value))

    # Display

    def _updateDeviceLabel(self) -> None:
        if not self._parameterNode:
            return
        forceCPU = self._parameterNode.forceCPU
        try:
            self.ui.deviceLabel.text = texts.device_description(forceCPU, _)
        except Exception as error:  # a broken torch install must not break the panel
            logging.warning("Could not query the PyTorch device: %s", error)
            self.ui.deviceLabel.text = _("Will run on: unknown ({error})").format(error=error)
        self._deviceForceCPU = forceCPU

    def _updateButtons(self) -> None:
        running = self._run is not None
        hasInput = bool(self._parameterNode and self._parameterNode.inputVolume)
        # The parameters stay editable during a run: the job took its own copy when it started.
        self.ui.previewButton.enabled = hasInput and not running
        if running:
            cancelling = self._run.cancelled
            self.ui.applyButton.text = _("Cancelling...") if cancelling else _("Cancel")
            self.ui.applyButton.toolTip = _("Stop the run after the current iteration; the scene is left as it was.")
            self.ui.applyButton.enabled = not cancelling
        else:
            self.ui.applyButton.text = _("Apply")
            self.ui.applyButton.toolTip = (_("Segment the whole input volume. While it runs this button cancels the run.")
                                           if hasInput else _("Select an input CT volume."))
            self.ui.applyButton.enabled = hasInput

    def _showProgress(self, progress, job) -> None:
        self.ui.progressBar.value = int(round(1000 * progress.fraction))
        text = texts.progress_text(progress, job.settings.iterations, _)
        self.ui.progressBar.setFormat(text.replace("%", "%%"))  # QProgressBar reads %p, %v, %m
        self.ui.statusLabel.text = texts.status_text(self._runTitle(job), job.device, progress, _, job.estimate)

    @staticmethod
    def _runTitle(job) -> str:
        return texts.run_title(job.volumeNode.GetName() if job.volumeNode else "", job.preview, _)

    # Runs

    def onPreviewButton(self) -> None:
        self._start(preview=True)

    def onApplyButton(self) -> None:
        if self._run is not None:
            self.onCancel()
        else:
            self._start(preview=False)

    def onCancel(self) -> None:
        if self._run is None:
            return
        self._run.cancel()
        self.ui.statusLabel.text = _("Cancelling: the run stops after the current iteration.")
        self._updateButtons()

    def _createLogic(self):
        """The logic, or None while PyTorch or another requirement is missing (no questions asked here)."""
        try:
            from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic
        except ImportError as error:
            logging.info("UnsupervisedCTSeg logic not loaded yet (%s); it is set up on the first run", error)
            return None
        return UnsupervisedCTSegLogic(slicer.mrmlScene)

    def _ensureLogic(self) -> bool:
        if self.logic is None:
            slicerlogic = importSlicerLogic()
            if slicerlogic is None:
                return False
            self.logic = slicerlogic.UnsupervisedCTSegLogic(slicer.mrmlScene)
            self._updateDeviceLabel()
        return True

    def _redSliceCenterRAS(self):
        """A RAS point on the Red slice plane: the translation column of its SliceToRAS matrix."""
        sliceNode = None
        layoutManager = slicer.app.layoutManager()
        if layoutManager is not None and layoutManager.sliceWidget("Red") is not None:
            sliceNode = layoutManager.sliceWidget("Red").mrmlSliceNode()
        if sliceNode is None:
            sliceNode = slicer.mrmlScene.GetNodeByID("vtkMRMLSliceNodeRed")
        if sliceNode is None:
            raise RuntimeError(_("There is no Red slice view to take the current slice from."))
        sliceToRAS = sliceNode.GetSliceToRAS()
        return [sliceToRAS.GetElement(row, 3) for row in range(3)]

    def _estimateCPURun(self, volume, settings):
        """(start?, estimated seconds or None): time a few real steps before a CPU run, show the
        estimate, and ask before one longer than LONG_CPU_RUN_SECONDS."""
        from UnsupervisedCTSegLib.engine import estimate  # imports torch: only once the requirements are in

        if not estimate.needs_estimate(settings):
            return True, None
        self.ui.statusLabel.text = _("Estimating how long the run takes on the CPU (a few seconds)...")
        slicer.app.processEvents()
        with slicer.util.WaitCursor():
            seconds = estimate.estimate_seconds(volume, settings)  # times a few real training steps
        self.ui.statusLabel.text = _("Estimated run time on the CPU: about {duration}.").format(
            duration=formatSeconds(seconds))
        if seconds <= LONG_CPU_RUN_SECONDS:
            return True, seconds
        return slicer.util.confirmOkCancelDisplay(
            _("This run uses the CPU and is estimated to take about {duration}.\n\n"
              "You can keep working while it runs and cancel it at any time. A CUDA GPU, fewer "
              "iterations, fewer filters (p) or 'Preview current slice' are faster. Start it?").format(
                duration=formatSeconds(seconds)),
            windowTitle=_("Long run on the CPU")), seconds

    def _start(self, preview: bool) -> None:
        if self._run is not None or not self._parameterNode:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the segmentation.")):
            volumeNode = self._parameterNode.inputVolume
            if volumeNode is None:
                slicer.util.errorDisplay(_("Select an input CT volume first."))
                return
            if not self._ensureLogic():
                self.ui.statusLabel.text = _("Not started: the required Python packages are not installed.")
                return
            settings = parameters.settings_from_parameters(self._parameterValues())
            with slicer.util.WaitCursor():
                if preview:
                    sliceIndex = self.logic.sliceIndexFromRAS(volumeNode, self._redSliceCenterRAS())
                    volume = self.logic.axialSliceVolume(volumeNode, sliceIndex)
                else:
                    volume = self.logic.volumeFromNode(volumeNode)
            start, estimate = self._estimateCPURun(volume, settings)
            if not start:
                self.ui.statusLabel.text = _("Not started.")
                return
            job = types.SimpleNamespace(  # what the GUI thread needs when the run ends
                volumeNode=volumeNode, settings=settings, preview=preview,
                outputNode=None if preview else self._parameterNode.outputSegmentation,  # None: create one
                createLabelmap=False if preview else self._parameterNode.createLabelmap,
                device=texts.device_name(settings.device == "cpu", _) or "",  # for the status line
                estimate=estimate,  # seconds estimated before a CPU run, shown while it runs
                discard=False)  # set when the scene is closed under the run: nothing is applied
            # The worker runs only the engine on the copied voxels; the scene is changed in _finish.
            self._run = BackgroundRun(functools.partial(self.logic.segment, volume, settings), context=job).start()
            self.ui.progressBar.value = 0
            self.ui.progressBar.setFormat(_("starting"))
            self.ui.progressBar.show()
            self.ui.statusLabel.text = texts.start_text(self._runTitle(job), job.device, _, job.estimate)
            self._updateButtons()
            self._pollTimer.start()

    def _poll(self) -> None:
        """QTimer slot in the GUI thread: show the newest progress; apply the result when the worker ends."""
        run = self._run
        if run is None:
            self._pollTimer.stop()
            return
        progress = run.poll()
        if progress is not None and not run.cancelled:
            self._showProgress(progress, run.context)
        if not run.done:
            return
        self._pollTimer.stop()
        self._run = None
        self.ui.progressBar.hide()
        self._updateButtons()
        self._finish(run)

    def _finish(self, run) -> None:
        from UnsupervisedCTSegLib.engine.errors import Cancelled

        job, seconds = run.context, formatSeconds(run.elapsed)
        if job.discard:
            self.ui.statusLabel.text = _("Stopped: the scene was closed.")
            return
        if run.cancelled or isinstance(run.error, Cancelled):
            self.ui.statusLabel.text = _("Cancelled after {seconds}; the scene was left as it was.").format(seconds=seconds)
            return
        if run.error is not None:
            self._reportError(run)
            return
        if not slicer.mrmlScene.IsNodePresent(job.volumeNode):
            self.ui.statusLabel.text = _("Finished, but the input volume was removed meanwhile: nothing was added.")
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to add the segmentation to the scene."), waitCursor=True):
            self._applyResult(job, run.result)
            self.ui.statusLabel.text = _("Done in {seconds}: {labels} labels.").format(
                seconds=seconds, labels=len(run.result.tissues))

    def _reportError(self, run) -> None:
        from UnsupervisedCTSegLib.engine.errors import InputError

        job, error = run.context, run.error
        self.ui.statusLabel.text = _("Failed: {error}").format(error=error)
        if device.is_out_of_memory(error) and job.settings.device != "cpu":
            device.release_gpu_memory()
            if slicer.util.confirmOkCancelDisplay(
                    _("The GPU ran out of memory:\n\n{error}\n\nRun again on the CPU? It is slower; "
                      "'Force CPU' under Advanced stays on for later runs.").format(error=error),
                    windowTitle=_("Out of GPU memory")):
                self._parameterNode.forceCPU = True
                self._start(job.preview)
            return
        if isinstance(error, InputError):
            slicer.util.errorDisplay(str(error), windowTitle=_("Cannot segment this input"))
        else:
            slicer.util.errorDisplay(_("Segmentation failed.\n\n{error}").format(error=error), detailedText=run.details)

    @staticmethod
    def _previewNode(volumeNode):
        """The "<input> preview" segmentation of earlier previews, or None."""
        name = _("{name} preview").format(name=volumeNode.GetName())
        node = slicer.mrmlScene.GetFirstNodeByName(name)
        return node if node is not None and node.IsA("vtkMRMLSegmentationNode") else None

    def _applyResult(self, job, result) -> None:
        """GUI thread only: the one place a run changes the scene."""
        volumeNode = job.volumeNode
        previewNode = self._previewNode(volumeNode)
        if job.preview:
            name = _("{name} preview").format(name=volumeNode.GetName())
            applied = self.logic.applyResult(volumeNode, result, segmentationNode=previewNode,
                                             createLabelmap=False, name=name)
        else:
            outputNode = job.outputNode
            if outputNode is not None and not slicer.mrmlScene.IsNodePresent(outputNode):
                outputNode = None  # removed during the run: make a new one
            applied = self.logic.applyResult(volumeNode, result, segmentationNode=outputNode,
                                             createLabelmap=job.createLabelmap)
            if self._parameterNode:
                self._parameterNode.outputSegmentation = applied.segmentationNode  # the next run replaces it
            if previewNode is not None and previewNode.GetDisplayNode() is not None:
                previewNode.GetDisplayNode().SetVisibility(False)  # the whole volume supersedes the preview
        self._showResult(volumeNode, applied, job.preview)

    @staticmethod
    def _showResult(volumeNode, applied, preview) -> None:
        segmentationNode = applied.segmentationNode
        segmentationNode.CreateDefaultDisplayNodes()
        displayNode = segmentationNode.GetDisplayNode()
        displayNode.SetVisibility(True)
        displayNode.SetVisibility2D(True)
        slicer.util.setSliceViewerLayers(background=volumeNode)
        if preview:
            return
        segmentationNode.CreateClosedSurfaceRepresentation()
        displayNode.SetVisibility3D(True)
        if applied.plotChartNode is not None:
            # Switches to a layout with a plot view when the current one has none.
            slicer.modules.plots.logic().ShowChartInLayout(applied.plotChartNode)
        layoutManager = slicer.app.layoutManager()
        if layoutManager is not None and layoutManager.threeDViewCount > 0:
            layoutManager.threeDWidget(0).threeDView().resetFocalPoint()


#
# UnsupervisedCTSegTest
#


class UnsupervisedCTSegTest(ScriptedLoadableModuleTest):
    """Runs the self-tests written once in UnsupervisedCTSegLib.slicer.selftests (also run by ctest)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.assertTrue(ensureRequirements(), "PyTorch and Resources/requirements.txt must be installed")
        from UnsupervisedCTSegLib.slicer.selftests import ALL_TESTS

        for test in ALL_TESTS:
            self.setUp()
            test(slicer.mrmlScene, self.delayDisplay)
        self.delayDisplay("All UnsupervisedCTSeg self-tests passed")
