"""Files in and out: volumes read from NRRD, NIfTI, MetaImage, DICOM series and DeepLesion PNG
slices; the labelmap, the Slicer segmentation, the run record and the overview picture written
together or not at all; the output-place and no-overwrite checks; the built-in phantom; and the
handling of stop signals around writing. It uses the engine's Volume and errors and nothing above.
"""
