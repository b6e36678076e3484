"""The synthetic CT phantom as an entry of Slicer's Sample Data module, made on the spot.

Why a module of its own: registering a generated (not downloaded) sample takes a few calls whose
arguments are easy to get wrong, and making the phantom needs the logic, which goes through the
install flow; both are tested here with plain stand-ins, and the module file only names the
loader. Slicer's SampleData module is looked up when called, inside the application.
"""
from __future__ import annotations

PHANTOM_SAMPLE_NAME = "UnsupervisedCTSeg phantom"
# A sample source needs one uri and file name even when nothing is downloaded: the Sample Data
# button calls the custom downloader instead, so these are never fetched.
PLACEHOLDER_URI = "generated:UnsupervisedCTSegPhantom"
PLACEHOLDER_FILE = "UnsupervisedCTSegPhantom.nrrd"


def registerPhantom(category: str, title: str, thumbnail: str, loader, sampleDataLogic=None) -> None:
    """Add the phantom to the Sample Data module under `category`; `loader(source)` makes it."""
    if sampleDataLogic is None:
        import SampleData

        sampleDataLogic = SampleData.SampleDataLogic
    # A category's own title came with Slicer 5.12 (not in 5.10 or earlier): before it, the category
    # name is the title the Sample Data module shows.
    if hasattr(sampleDataLogic, "registerCustomSampleDataCategory"):
        sampleDataLogic.registerCustomSampleDataCategory(category, title=title)
    sampleDataLogic.registerCustomSampleDataSource(
        category=category,
        sampleName=PHANTOM_SAMPLE_NAME,
        thumbnailFileName=thumbnail,
        uris=PLACEHOLDER_URI,
        fileNames=PLACEHOLDER_FILE,
        nodeNames=PHANTOM_SAMPLE_NAME,
        customDownloader=loader,
    )


def makePhantom(installer, scene):
    """The phantom volume node added to `scene`, or None when the requirements are declined."""
    slicerlogic = installer.importLogic()
    if slicerlogic is None:
        return None
    return slicerlogic.phantomVolumeNode(scene, name=PHANTOM_SAMPLE_NAME)
