"""3D Slicer scripted module: unsupervised CT segmentation.

This file is the only one that talks to Slicer (slicer, vtk, Qt); the engine it drives lives in the
UnsupervisedCTSegLib package next to it and runs without Slicer as well.
"""
import logging

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


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
after the HU range they fall in and returned as a segmentation.
See the <a href="https://github.com/UnsupervisedCTSeg/SlicerUnsupervisedCTSeg">project page</a>
for documentation.
""")
        self.parent.acknowledgementText = _("""
The method follows A. Kanezaki, "Unsupervised image segmentation by backpropagation",
IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP), 2018, and
W. Kim, A. Kanezaki, M. Tanaka, "Unsupervised learning of image segmentation based on
differentiable feature clustering", IEEE Transactions on Image Processing 29, 2020.
""")


#
# UnsupervisedCTSegWidget
#


class UnsupervisedCTSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: pick a CT volume and segment it."""

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for scene observation
        self.ui = None

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        # Load widget from .ui file (created by Qt Designer).
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/UnsupervisedCTSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # Set scene in MRML widgets. The top-level qMRMLWidget's "mrmlSceneChanged(vtkMRMLScene*)"
        # signal is connected to each MRML widget's "setMRMLScene(vtkMRMLScene*)" slot in the .ui file.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateApplyButton)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.updateApplyButton()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        self.updateApplyButton()

    def updateApplyButton(self, *args) -> None:
        if self.ui is None:
            return
        hasInput = self.ui.inputSelector.currentNode() is not None
        self.ui.applyButton.enabled = hasInput
        self.ui.applyButton.toolTip = (_("Segment the input volume.") if hasInput
                                       else _("Select an input volume."))

    def onApplyButton(self) -> None:
        """Run processing when the user clicks "Apply"."""
        with slicer.util.tryWithErrorDisplay(_("Failed to segment the volume."), waitCursor=True):
            volumeNode = self.ui.inputSelector.currentNode()
            logging.info("Segmentation requested for %s", volumeNode.GetName() if volumeNode else None)
            slicer.util.infoDisplay(_("Segmentation from this panel is not available in this version yet."))


#
# UnsupervisedCTSegTest
#


class UnsupervisedCTSegTest(ScriptedLoadableModuleTest):
    """Tests run by Slicer's self-test and by ctest (slicer_add_python_unittest)."""

    def setUp(self):
        """Reset the state: a scene clear is enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run as few or as many tests as needed here."""
        self.setUp()
        self.test_LibImports()

    def test_LibImports(self):
        """The engine package ships with the module and its core imports inside Slicer's Python."""
        self.delayDisplay("Importing UnsupervisedCTSegLib")
        import numpy as np

        import UnsupervisedCTSegLib
        from UnsupervisedCTSegLib.errors import InputError
        from UnsupervisedCTSegLib.tissues import renumber_by_hu
        from UnsupervisedCTSegLib.volume import Volume

        self.assertTrue(hasattr(UnsupervisedCTSegLib, "__path__"))
        volume = Volume(np.array([[[-1000.0, 40.0], [40.0, 700.0]]]), spacing=(0.8, 0.8, 5.0))
        self.assertEqual(volume.shape, (1, 2, 2))
        labels, tissues = renumber_by_hu(np.array([[[3, 1], [1, 2]]]), volume.hu)
        self.assertEqual([t.label for t in tissues], [1, 2, 3])
        self.assertEqual(int(labels[0, 0, 0]), 1)
        with self.assertRaises(InputError):
            Volume(np.zeros((2, 2)), spacing=(0.0, 1.0, 1.0))
        self.delayDisplay("Test passed")
