"""The panel's widgets connected to one parameter node, once, with a tag that really disconnects them.

Why: on Slicer 5.6 and 5.8 parameterNodeWrapper's connectGui returns no tag (None), so
disconnectGui(None) leaves the connectors of an earlier connectGui on the widgets. Connecting again,
as the Slicer module template does on every enter() and after a scene close, builds new connectors
while the old ones still listen; building a combo box's connector clears and refills its items, and
the old connector writes what the box shows meanwhile into the node: Variant and Mode fell back to
proposed and volume each time the module was entered, and a saved scene's choices were lost.

ParameterNodeBinding finds the widgets itself by their "SlicerParameterName" property (as
connectGui does), connects them with connectParametersToGui, which returns its tag in every
version, keeps that tag to disconnect them, and connects again only when the MRML node behind the
wrapper changes, not because a new wrapper of the same node was made.
"""
from __future__ import annotations

import vtk

PARAMETER_NAME_PROPERTY = "SlicerParameterName"  # the dynamic property the .ui sets on bound widgets


def boundWidgets(gui) -> dict:
    """{parameter name: widget} for the widgets of `gui` (the panel's ui namespace) that name a parameter."""
    found = {}
    for widget in vars(gui).values():
        name = widget.property(PARAMETER_NAME_PROPERTY) if hasattr(widget, "property") else None
        if name:
            found[str(name)] = widget
    return found


class ParameterNodeBinding:
    """Keeps the panel connected to at most one parameter node wrapper.

    ``onModified()`` is called when the node changes and whenever the bound node does (the panel
    updates its buttons from it). ``parameterNode`` is the wrapper in use, or None.
    """

    def __init__(self, gui, onModified, modifiedEvent=vtk.vtkCommand.ModifiedEvent):
        self._widgets = boundWidgets(gui)  # found once: the panel's widgets do not change
        self._onModified = onModified
        self._modifiedEvent = modifiedEvent
        self.parameterNode = None
        self._guiTag = None
        self._observerTag = None

    @property
    def parameterNames(self) -> list:
        return sorted(self._widgets)

    def bind(self, parameterNode):
        """Connect to `parameterNode` (a wrapper; None disconnects) and return the wrapper in use.

        A wrapper of the node already connected leaves everything as it is and returns the one in use.
        """
        if parameterNode is not None and self.parameterNode is not None and (
                parameterNode.parameterNode is self.parameterNode.parameterNode):
            return self.parameterNode
        self.unbind()
        if parameterNode is not None:
            self._guiTag = parameterNode.connectParametersToGui(self._widgets)  # writes the node's values
            self._observerTag = parameterNode.AddObserver(self._modifiedEvent, self._modified)
            self.parameterNode = parameterNode
        self._onModified()
        return self.parameterNode

    def unbind(self) -> None:
        """Disconnect the widgets and stop observing; the widgets keep showing the last values."""
        if self.parameterNode is None:
            return
        node, self.parameterNode = self.parameterNode, None
        node.disconnectGui(self._guiTag)
        node.RemoveObserver(self._observerTag)
        self._guiTag = self._observerTag = None

    def _modified(self, caller=None, event=None) -> None:
        self._onModified()


def enabledWidgets(node) -> dict:
    """{widget name in the panel's ui: enabled} for the settings that matter only with others set."""
    stroked = bool(node and node.scribbles)
    return {
        # The engine makes an "outside body" segment only from a body mask: no mask, nothing to switch.
        "outsideSegmentCheckBox": bool(node and node.bodyMask),
        # The scribble settings matter only with strokes, and ψ only to the network method.
        "scribbleMethodComboBox": stroked,
        "scribbleOutputComboBox": stroked,
        "psiSpinBox": stroked and node.scribbleMethod == "network",
    }
