"""UnsupervisedCTSeg: unsupervised CT segmentation by backpropagation, as a library, a command line
and the logic of a 3D Slicer module.

Layers, each using only those before it: engine <- io <- evaluation <- slicer <- cli (see
ARCHITECTURE.md). The one entry point is `engine.run.segment(volume, settings, progress, cancel)`.
"""
__version__ = "0.1.0"
