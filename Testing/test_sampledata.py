"""The phantom in Slicer's Sample Data module (slicer/sampledata.py): what is registered, what is made.

The Sample Data module's logic is a recording stand-in (it exists only inside Slicer); the phantom
is made by the real Slicer logic on a slicer-core scene.
"""
import types

import pytest

from UnsupervisedCTSegLib.slicer import sampledata


class SampleDataLogic:
    """Slicer's SampleDataLogic class methods, recording what they are given."""

    def __init__(self, categories=True):
        self.sources, self.categories = [], []
        if categories:  # Slicer 5.12 and later
            self.registerCustomSampleDataCategory = lambda category, title: self.categories.append((category, title))

    def registerCustomSampleDataSource(self, **kwargs):
        self.sources.append(kwargs)


def loader(source=None):
    return "phantom node"


@pytest.mark.parametrize("categories", [True, False], ids=["5.12", "5.10 and earlier"])
def test_the_phantom_is_registered_with_the_loader_and_a_placeholder_never_downloaded(categories):
    logic = SampleDataLogic(categories)
    sampledata.registerPhantom("UnsupervisedCTSeg", "Unsupervised CT Segmentation", "/icons/x.png", loader, logic)
    assert logic.categories == ([("UnsupervisedCTSeg", "Unsupervised CT Segmentation")] if categories else [])
    (source,) = logic.sources
    assert source["category"] == "UnsupervisedCTSeg" and source["customDownloader"] is loader
    assert source["sampleName"] == source["nodeNames"] == sampledata.PHANTOM_SAMPLE_NAME
    assert source["thumbnailFileName"] == "/icons/x.png"
    assert source["uris"].startswith("generated:") and source["fileNames"].endswith(".nrrd")


def test_outside_slicer_registering_without_a_logic_needs_the_sample_data_module():
    with pytest.raises(ImportError):
        sampledata.registerPhantom("c", "t", "x.png", loader)


def test_make_phantom_adds_the_phantom_volume_to_the_scene(scene):
    from UnsupervisedCTSegLib.slicer import logic

    node = sampledata.makePhantom(types.SimpleNamespace(importLogic=lambda: logic), scene)
    assert node is scene.GetFirstNodeByName(sampledata.PHANTOM_SAMPLE_NAME)
    assert node.IsA("vtkMRMLScalarVolumeNode") and node.GetImageData().GetDimensions()[2] > 1


def test_declined_requirements_make_no_phantom(scene):
    before = scene.GetNumberOfNodes()
    assert sampledata.makePhantom(types.SimpleNamespace(importLogic=lambda: None), scene) is None
    assert scene.GetNumberOfNodes() == before
