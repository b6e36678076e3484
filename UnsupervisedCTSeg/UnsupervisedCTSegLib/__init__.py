"""UnsupervisedCTSeg engine: unsupervised CT segmentation by backpropagation, without slicer or qt.

Entry point: `segment(volume, settings, progress, cancel)`; see engine.py.
"""
__version__ = "0.1.0"
