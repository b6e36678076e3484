"""The engine: unsupervised segmentation of a volume, from Hounsfield units to named labels.

Settings (one dataclass, each field with its help, range, flag and panel label), the volume (HU
array and geometry), the HU windows, the network, the losses, the training loops, k-means, SLIC
superpixels, the body mask, the clean-up, the naming of labels by HU, the choice of device, the run
record as data, the run-time estimate and the memory allocator's settings. The one entry point is
`run.segment(volume, settings, progress, cancel)`. It imports nothing of the package outside
itself, and never SimpleITK, matplotlib, Ray or slicer: files, pictures, scale-out and Slicer are
the other layers' business.
"""
