"""The module's Help and Acknowledgement texts, as Slicer shows them at the top of the panel.

Why a module of its own: the help is prose plus the parameter list made from the parameter table
(texts.parameter_help), and it is checked against that table without the application; the
module file only hands it Slicer's translator. Like texts.py, every function takes `tr`.
"""
from __future__ import annotations

from .texts import parameter_help

PROJECT_PAGE = "https://github.com/UnsupervisedCTSeg/SlicerUnsupervisedCTSeg"


def _untranslated(text: str) -> str:
    return text


def helpText(tr=_untranslated) -> str:
    """What the module does, what its buttons do, then one line per parameter."""
    return tr("""
Segments a CT volume into tissue classes without any labels or training data. A small
convolutional network is trained on the volume itself so that its output clusters are both
similar in Hounsfield units and spatially smooth; the clusters are then numbered by mean HU, named
after the HU range they fall in and returned as a segmentation with one coloured segment per label,
3D surfaces, a table of the labels and a chart of how the loss and the label count evolved.
<p><b>Preview current slice</b> segments only the axial slice shown in the Red view into a separate
"&lt;input&gt; preview" segmentation, to try parameters in seconds. <b>Apply</b> segments the whole
volume in a separate process; press it again (it reads <b>Cancel</b> while running) to end that
process within about two seconds, leaving the scene as it was. <b>Study CT preset</b> sets M, θ and μ
to the CT study's best configuration, <b>Our defaults</b> sets them back.</p>
<p>Parameters:</p>
""") + parameter_help(tr) + tr("""
<p>See the <a href="{page}">project page</a>
for documentation, the command-line tool and batch use from the Python console.</p>
""").format(page=PROJECT_PAGE)


def acknowledgementText(tr=_untranslated) -> str:
    """The papers the method follows."""
    return tr("""
The method follows A. Kanezaki, "Unsupervised image segmentation by backpropagation",
IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP), 2018, and
W. Kim, A. Kanezaki, M. Tanaka, "Unsupervised learning of image segmentation based on
differentiable feature clustering", IEEE Transactions on Image Processing 29, 2020.
""")
