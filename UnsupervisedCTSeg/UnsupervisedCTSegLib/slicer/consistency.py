"""The slice consistency review of a run: a table of per-slice agreement and a chart of it.

Why a module of its own: the numbers come from evaluation.consistency; this module only writes them
into a table node and a plot chart that the segmentation node references, reused on each rerun so
that they do not pile up. Uses only the MRML/VTK API that the slicer-core package also provides.
"""
from __future__ import annotations

import numpy as np
import slicer
from vtk.util import numpy_support

from ..evaluation import consistency
from .nodes import _referenced

TABLE_ROLE = "unsupervisedCTSegConsistencyTable"  # node references from the segmentation node
CHART_ROLE = "unsupervisedCTSegConsistencyChart"
CONSISTENCY_COLUMNS = ("slice", "labels", "identical_fraction", "ari_previous")
SERIES = (  # (table column, series name suffix, colour): what the consistency chart plots
    ("identical_fraction", "identical fraction", (0.20, 0.45, 0.80)),
    ("ari_previous", "ARI with previous slice", (0.85, 0.35, 0.15)),
)


def addConsistencyReview(segNode, labels, inputName: str, addNode) -> tuple:
    """(table, chart): the "<input> slice consistency" table and chart of `labels` (z, y, x), those the
    segmentation node references reused, new ones made with addNode(className, name), and referenced."""
    table = _referenced(segNode, TABLE_ROLE) or addNode("vtkMRMLTableNode", f"{inputName} slice consistency")
    _fillConsistencyTable(table, consistency.slice_consistency(labels))
    chart = _referenced(segNode, CHART_ROLE) or addNode("vtkMRMLPlotChartNode", f"{inputName} slice consistency")
    _fillConsistencyChart(chart, table, inputName, addNode)
    segNode.SetNodeReferenceID(TABLE_ROLE, table.GetID())
    segNode.SetNodeReferenceID(CHART_ROLE, chart.GetID())
    return table, chart


def _fillConsistencyTable(table, values: dict) -> None:
    """Write the per-slice consistency numbers as table columns (rewritten on each run)."""
    table.RemoveAllColumns()
    descriptions = {
        "slice": "axial slice index k",
        "labels": "distinct non-zero labels in the slice",
        "identical_fraction": "fraction of pixels with the same label as in the previous slice",
        "ari_previous": "adjusted Rand index with the previous slice (1 = same regions)",
    }
    for column in CONSISTENCY_COLUMNS:
        data = np.asarray(values[column])
        data = data.astype(np.int32) if data.dtype.kind in "iu" else data.astype(np.float64)
        array = numpy_support.numpy_to_vtk(data, deep=True)
        array.SetName(column)
        table.AddColumn(array)
        table.SetColumnDescription(column, descriptions[column])
    table.Modified()


def _fillConsistencyChart(chart, table, inputName: str, addNode) -> None:
    """Two series (identical fraction and ARI against slice) from the table; existing ones are reused."""
    existing = {}
    for i in range(chart.GetNumberOfPlotSeriesNodes()):
        series = chart.GetNthPlotSeriesNode(i)
        if series is not None:
            existing[series.GetYColumnName()] = series
    for column, label, color in SERIES:
        series = existing.get(column)
        if series is None:
            series = addNode("vtkMRMLPlotSeriesNode", f"{inputName} {label}")
            chart.AddAndObservePlotSeriesNodeID(series.GetID())
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName("slice")
        series.SetYColumnName(column)
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
        series.SetLineStyle(slicer.vtkMRMLPlotSeriesNode.LineStyleSolid)
        series.SetColor(*color)
    chart.SetTitle(f"{inputName}: label agreement with the previous slice")
    chart.SetXAxisTitle("slice")
    chart.SetYAxisTitle("agreement (0..1)")
    chart.SetYAxisRangeAuto(False)
    chart.SetYAxisRange(0.0, 1.0)
    chart.SetLegendVisibility(True)
