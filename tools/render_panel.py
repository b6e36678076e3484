"""Render the module panel's .ui file to Resources/panel.png, outside Slicer.

Slicer's own widget classes (qMRMLWidget, qMRMLNodeComboBox, ctkCollapsibleButton, ctkSliderWidget)
do not exist in plain Qt, so this script registers look-alikes made of standard Qt widgets under
those class names and loads the very .ui file the module loads. The panel is then put in a
plausible mid-run state (input chosen, progress bar and status line filled, Apply reading Cancel)
and saved as a picture for the README and the extension catalogue.

Needs Qt for Python, which is not a dependency of the project:

    pip install PySide6-Essentials
    python tools/render_panel.py            # writes Resources/panel.png
    python tools/render_panel.py -o x.png   # somewhere else
"""
from __future__ import annotations

import argparse
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_SCALE_FACTOR", "2")  # draw at twice the size: crisp when shown scaled down

from PySide6.QtCore import Property, QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QPalette  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QSlider,
    QWidget,
)

ROOT = Path(__file__).resolve().parents[1]
UI_FILE = ROOT / "UnsupervisedCTSeg" / "Resources" / "UI" / "UnsupervisedCTSeg.ui"
OUTPUT = ROOT / "Resources" / "panel.png"
WIDTH = 430  # logical pixels: about the width of Slicer's module panel

# The mid-run state shown in the picture.
INPUT_NAME = "CT abdomen"
DEVICE = "CPU (2 threads)"
PROGRESS = 0.4
PROGRESS_TEXT = "iteration 12/30, 9 labels, loss 0.412, ~8 s left"  # within q
STATUS_TEXT = f"Segmenting {INPUT_NAME} on {DEVICE}: training, 5 s elapsed"


# --- look-alikes of Slicer's widget classes -----------------------------------------------------


class qMRMLWidget(QWidget):
    """The panel's top-level widget; in Slicer it hands the scene to its children."""


class qMRMLNodeComboBox(QComboBox):
    """A node selector; here it just lists the node names it is given."""

    def _get_none_display(self) -> str:
        return getattr(self, "_noneDisplay", "None")

    def _set_none_display(self, text: str) -> None:
        self._noneDisplay = text

    def _get_flag(self) -> bool:
        return False

    def _set_flag(self, value: bool) -> None:
        pass

    def _get_types(self) -> list:
        return getattr(self, "_nodeTypes", [])

    def _set_types(self, types: list) -> None:
        self._nodeTypes = list(types)

    noneDisplay = Property(str, _get_none_display, _set_none_display)
    nodeTypes = Property("QStringList", _get_types, _set_types)
    showChildNodeTypes = Property(bool, _get_flag, _set_flag)
    noneEnabled = Property(bool, _get_flag, _set_flag)
    addEnabled = Property(bool, _get_flag, _set_flag)
    removeEnabled = Property(bool, _get_flag, _set_flag)
    renameEnabled = Property(bool, _get_flag, _set_flag)


class ctkCollapsibleButton(QGroupBox):
    """A titled section that folds; drawn as a group box with an arrow in its title."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._collapsed = False

    def _refresh(self) -> None:
        self.setTitle(("▸ " if self._collapsed else "▾ ") + self._text)
        for child in self.findChildren(QWidget, options=Qt.FindDirectChildrenOnly):
            child.setVisible(not self._collapsed)

    def _get_text(self) -> str:
        return self._text

    def _set_text(self, text: str) -> None:
        self._text = text
        self._refresh()

    def _get_collapsed(self) -> bool:
        return self._collapsed

    def _set_collapsed(self, collapsed: bool) -> None:
        self._collapsed = collapsed
        self._refresh()

    text = Property(str, _get_text, _set_text)
    collapsed = Property(bool, _get_collapsed, _set_collapsed)


class ctkSliderWidget(QWidget):
    """A slider with a spin box beside it, kept in step."""

    STEPS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._slider = QSlider(Qt.Horizontal)
        self._slider.setRange(0, self.STEPS)
        self._spin = QDoubleSpinBox()
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._spin)
        self._spin.valueChanged.connect(self._sync)

    def _sync(self) -> None:
        low, high = self._spin.minimum(), self._spin.maximum()
        position = 0 if high <= low else (self._spin.value() - low) / (high - low)
        self._slider.setValue(round(position * self.STEPS))

    def _get_value(self) -> float:
        return self._spin.value()

    def _set_value(self, value: float) -> None:
        self._spin.setValue(value)
        self._sync()

    def _get_minimum(self) -> float:
        return self._spin.minimum()

    def _set_minimum(self, value: float) -> None:
        self._spin.setMinimum(value)
        self._sync()

    def _get_maximum(self) -> float:
        return self._spin.maximum()

    def _set_maximum(self, value: float) -> None:
        self._spin.setMaximum(value)
        self._sync()

    def _get_decimals(self) -> int:
        return self._spin.decimals()

    def _set_decimals(self, decimals: int) -> None:
        self._spin.setDecimals(decimals)

    def _get_step(self) -> float:
        return self._spin.singleStep()

    def _set_step(self, step: float) -> None:
        self._spin.setSingleStep(step)

    def _get_page(self) -> float:
        return self._spin.singleStep() * 10

    def _set_page(self, step: float) -> None:
        pass

    value = Property(float, _get_value, _set_value)
    minimum = Property(float, _get_minimum, _set_minimum)
    maximum = Property(float, _get_maximum, _set_maximum)
    decimals = Property(int, _get_decimals, _set_decimals)
    singleStep = Property(float, _get_step, _set_step)
    pageStep = Property(float, _get_page, _set_page)


LOOK_ALIKES = (qMRMLWidget, qMRMLNodeComboBox, ctkCollapsibleButton, ctkSliderWidget)


# --- rendering ------------------------------------------------------------------------------------


def ui_without_connections(path: Path) -> bytes:
    """The .ui text minus its signal connections (they name slots only Slicer's widgets have)."""
    root = ET.parse(path).getroot()
    connections = root.find("connections")
    if connections is not None:
        root.remove(connections)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def load_panel() -> QWidget:
    loader = QUiLoader()
    for klass in LOOK_ALIKES:
        loader.registerCustomWidget(klass)
    buffer = QBuffer()
    buffer.setData(QByteArray(ui_without_connections(UI_FILE)))
    buffer.open(QIODevice.ReadOnly)
    panel = loader.load(buffer)
    if panel is None:
        raise SystemExit(f"could not load {UI_FILE}: {loader.errorString()}")
    return panel


def mid_run_state(panel: QWidget) -> None:
    """Fill the panel as it looks a few seconds into a run."""
    find = lambda name: panel.findChild(QWidget, name)
    find("inputSelector").addItem(INPUT_NAME)
    find("outputSegmentationSelector").addItem("Create new segmentation")
    find("deviceLabel").setText(f"Will run on: {DEVICE}")
    find("advancedCollapsibleButton").setProperty("collapsed", False)  # show every knob
    find("previewButton").setEnabled(False)
    apply_button = find("applyButton")
    apply_button.setEnabled(True)
    apply_button.setText("Cancel")
    progress = find("progressBar")
    progress.setValue(round(PROGRESS * progress.maximum()))
    progress.setFormat(PROGRESS_TEXT)
    progress.setAlignment(Qt.AlignCenter)
    find("statusLabel").setText(STATUS_TEXT)


def style(app: QApplication) -> None:
    app.setStyle("Fusion")
    font = QFont("DejaVu Sans")
    font.setPointSizeF(9.0)
    app.setFont(font)
    palette = app.palette()
    palette.setColor(QPalette.Window, QColor("#f4f4f4"))
    palette.setColor(QPalette.Base, QColor("#ffffff"))
    palette.setColor(QPalette.Highlight, QColor("#3b82c4"))
    app.setPalette(palette)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"PNG to write (default {OUTPUT})")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    style(app)
    panel = load_panel()
    mid_run_state(panel)
    panel.setAutoFillBackground(True)
    panel.setFixedWidth(WIDTH)
    panel.adjustSize()
    panel.resize(WIDTH, panel.minimumSizeHint().height())
    panel.show()
    app.processEvents()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(args.output)):
        raise SystemExit(f"could not write {args.output}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
