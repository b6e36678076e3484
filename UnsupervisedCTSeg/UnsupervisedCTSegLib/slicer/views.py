"""What the user sees while the GUI thread works and once a result is in: the wait cursor, the
status line, the slice and 3D views and the consistency chart.

Why a module of its own: these are the panel's and the effect's decisions about the application's
views (when the layout may change under the user, what is said while Slicer cannot repaint), kept
out of the module file and tested with stand-ins. The application (slicer, qt) is looked up when
called, never at import.
"""
from __future__ import annotations

import contextlib

_layoutSwitched = False  # this session has switched the layout for a consistency chart once


@contextlib.contextmanager
def busy(message: str, label=None):
    """A wait cursor, and `message` in the status bar (and in `label`), while the GUI thread is blocked:
    writing a volume for a run, reading a result back, filling segments, building 3D surfaces.
    Nothing is processed until the block ends, so the label is repainted at once (the status bar
    repaints its message itself). Afterwards the status bar is cleared and the label says what it
    said before, also when the work failed; the caller then says how it ended."""
    import qt
    import slicer

    before = label.text if label is not None else None
    slicer.app.setOverrideCursor(qt.Qt.WaitCursor)
    try:
        slicer.util.showStatusMessage(message)
        if label is not None:
            label.text = message
            label.repaint()
        yield
    finally:
        slicer.app.restoreOverrideCursor()
        slicer.util.showStatusMessage("")
        if label is not None:
            label.text = before


def showChart(chartNode) -> bool:
    """Show a consistency chart. The session's first whole-volume run switches the layout to one with
    a plot view if it has none; later runs show their chart only in a plot view the layout already
    has, and leave a layout without one as the user chose it: the chart stays in the scene, and the
    Data module's eye icon shows it (and switches the layout then). Returns whether it is shown."""
    global _layoutSwitched
    import slicer

    layoutManager = slicer.app.layoutManager()
    if _layoutSwitched and (layoutManager is None or layoutManager.plotViewCount == 0):
        return False
    slicer.modules.plots.logic().ShowChartInLayout(chartNode)  # switches only a layout without a plot view
    _layoutSwitched = True
    return True


def showResult(volumeNode, applied, preview: bool) -> None:
    """An applied result in the views: the segmentation over its volume; a whole-volume run's also as
    3D surfaces, with its consistency chart (showChart) and the 3D view centred."""
    import slicer

    from .panelrun import showSegmentation

    showSegmentation(applied.segmentationNode, preview)
    slicer.util.setSliceViewerLayers(background=volumeNode)
    if preview:
        return
    if applied.plotChartNode is not None:
        showChart(applied.plotChartNode)
    layoutManager = slicer.app.layoutManager()
    if layoutManager is not None and layoutManager.threeDViewCount > 0:
        layoutManager.threeDWidget(0).threeDView().resetFocalPoint()
