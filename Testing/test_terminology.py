"""Each segment's standard terminology entry: its codes, its format, the .seg.nrrd and the scene.

The entry string is parsed back by hand here (fields by "~", codes by "^"), independently of
io.terminology, and, where slicer-core is installed, by Slicer's own terminology and storage code.
"""
import numpy as np
import pytest
import SimpleITK as sitk
from helpers import blocks_volume, fast_settings, read_seg_nrrd

from UnsupervisedCTSegLib.engine.tissues import HU_BANDS, OUTSIDE_NAME, Tissue
from UnsupervisedCTSegLib.io.terminology import ENTRIES, GENERIC, entry_for, terminology_entry
from UnsupervisedCTSegLib.io.writers import write_segmentation

BANDS = [name for _, name, _ in HU_BANDS]
CONTEXTS = {"Segmentation category and type - 3D Slicer General Anatomy list",
            "Segmentation category and type - DICOM master list"}
TISSUE = ("SCT", "85756007", "Tissue")
# What each name must be: (category, type) as (scheme, value, meaning).
EXPECTED = {
    "air": (("SCT", "91720002", "Body Substance"), ("SCT", "74947009", "Gas")),
    "lung": (("SCT", "123037004", "Anatomical Structure"), ("SCT", "39607008", "Lung")),
    "lung/fat partial volume": (TISSUE, TISSUE),
    "fat": (TISSUE, ("SCT", "248300009", "Body fat")),
    "fat/fluid partial volume": (TISSUE, TISSUE),
    "fluid": (("SCT", "91720002", "Body Substance"), ("SCT", "32457005", "Body fluid")),
    "soft tissue": (TISSUE, ("SCT", "87784001", "Soft tissue")),
    "enhanced soft tissue": (TISSUE, ("SCT", "87784001", "Soft tissue")),
    "contrast/cancellous bone": (TISSUE, TISSUE),
    "bone": (TISSUE, ("SCT", "272673000", "Bone")),
    OUTSIDE_NAME: (("SCT", "309825002", "Spatial and Relational Concept"), ("DCM", "125040", "Background")),
}


def parse(entry: str) -> dict:
    """A TerminologyEntry string split into its seven fields, coded fields as (scheme, value, meaning)."""
    fields = entry.split("~")
    assert len(fields) == 7, entry
    code = lambda text: tuple(text.split("^"))  # noqa: E731
    parts = dict(context=fields[0], category=code(fields[1]), type=code(fields[2]), modifier=code(fields[3]),
                 region_context=fields[4], region=code(fields[5]), region_modifier=code(fields[6]))
    for key in ("category", "type", "modifier", "region", "region_modifier"):
        assert len(parts[key]) == 3, f"{key} of {entry!r} is not scheme^value^meaning"
    return parts


def test_every_band_and_outside_body_has_an_entry():
    assert set(ENTRIES) == set(BANDS) | {OUTSIDE_NAME}
    assert set(EXPECTED) == set(ENTRIES)


@pytest.mark.parametrize("name", BANDS + [OUTSIDE_NAME])
def test_entry_has_the_expected_codes_and_structure(name):
    entry = terminology_entry(name)
    assert "|" not in entry  # the separator of the tags in a .seg.nrrd header
    parts = parse(entry)
    assert parts["context"] in CONTEXTS
    assert (parts["category"], parts["type"]) == EXPECTED[name]
    for scheme, value, meaning in (parts["category"], parts["type"]):
        assert scheme in ("SCT", "DCM") and value.isdigit() and meaning.strip() == meaning != ""
    assert parts["modifier"] == parts["region"] == parts["region_modifier"] == ("", "", "")
    assert parts["region_context"] == "Anatomic codes - DICOM master list"


@pytest.mark.parametrize("name,base", [("fat 2", "fat"), ("soft tissue 3", "soft tissue"),
                                       ("contrast/cancellous bone 1", "contrast/cancellous bone"),
                                       ("lung/fat partial volume 12", "lung/fat partial volume"),
                                       ("bone 2", "bone")])
def test_repeated_band_names_map_like_their_band(name, base):
    assert terminology_entry(name) == terminology_entry(base)
    assert terminology_entry(name) != terminology_entry("air")


@pytest.mark.parametrize("name", ["region 1", "region 12", "tumour", "fat2", "2", ""])
def test_unknown_names_get_the_generic_tissue_entry(name):
    assert entry_for(name) is GENERIC
    assert (parse(terminology_entry(name))["category"], parse(terminology_entry(name))["type"]) == (TISSUE, TISSUE)


def test_generic_entry_is_slicers_own_default():
    slicer = pytest.importorskip("slicer")
    assert terminology_entry("region 1") == slicer.vtkSegment().GetTerminology()


@pytest.mark.parametrize("name", BANDS + [OUTSIDE_NAME])
def test_slicer_reads_the_entry_and_writes_it_back_the_same(name):
    slicer = pytest.importorskip("slicer")
    logic = slicer.vtkSlicerTerminologiesModuleLogic
    entry = slicer.vtkSlicerTerminologyEntry()
    assert logic.DeserializeTerminologyEntry(terminology_entry(name), entry)
    category, kind = EXPECTED[name]
    assert (entry.GetCategoryObject().GetCodingSchemeDesignator(), entry.GetCategoryObject().GetCodeValue(),
            entry.GetCategoryObject().GetCodeMeaning()) == category
    assert (entry.GetTypeObject().GetCodingSchemeDesignator(), entry.GetTypeObject().GetCodeValue(),
            entry.GetTypeObject().GetCodeMeaning()) == kind
    assert logic.SerializeTerminologyEntry(entry) == terminology_entry(name)


TISSUES = [Tissue(1, "air", (0.1, 0.1, 0.1), -1000.0, 5.0, 10), Tissue(2, "fat 1", (0.9, 0.8, 0.3), -100.0, 5.0, 10),
           Tissue(3, "fat 2", (1.0, 0.9, 0.4), -60.0, 5.0, 10), Tissue(4, "bone", (0.98, 0.98, 0.9), 700.0, 5.0, 10),
           Tissue(5, OUTSIDE_NAME, (0.45, 0.45, 0.45), -990.0, 5.0, 10),
           Tissue(6, "region 1", (0.2, 0.9, 0.2), 0.0, 0.0, 0)]  # a name with no entry


@pytest.fixture
def seg_nrrd(tmp_path):
    volume = blocks_volume(depth=2, size=12)
    labels = (np.arange(volume.hu.size).reshape(volume.shape) % (len(TISSUES) + 1)).astype(np.uint16)
    return write_segmentation(tmp_path / "tissues.seg.nrrd", labels, volume, TISSUES)


def test_seg_nrrd_header_carries_each_segments_terminology(seg_nrrd):
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(seg_nrrd))
    reader.ReadImageInformation()
    for i, tissue in enumerate(TISSUES):
        tags = reader.GetMetaData(f"Segment{i}_Tags")
        assert tags.endswith("|")
        pairs = dict(tag.split(":", 1) for tag in tags[:-1].split("|"))  # Slicer splits at the first ':'
        assert pairs == {"Segmentation.Status": "inprogress", "TerminologyEntry": terminology_entry(tissue.name)}
        assert reader.GetMetaData(f"Segment{i}_Name") == tissue.name


def test_slicer_reads_the_terminology_from_the_seg_nrrd(seg_nrrd):
    pytest.importorskip("slicer")
    segmentation = read_seg_nrrd(seg_nrrd)
    assert segmentation.GetNumberOfSegments() == len(TISSUES)
    for i, tissue in enumerate(TISSUES):
        segment = segmentation.GetNthSegment(i)
        assert segment.GetName() == tissue.name
        assert segment.GetTerminology() == terminology_entry(tissue.name)
    fat = parse(segmentation.GetNthSegment(1).GetTerminology())
    assert fat["type"] == ("SCT", "248300009", "Body fat")


def test_segments_made_in_the_scene_carry_their_terminology(scene, logic):
    import vtk

    from UnsupervisedCTSegLib.slicer.logic import volumeNodeFromVolume

    node = volumeNodeFromVolume(scene, blocks_volume(depth=2, size=16), "blocks")
    applied = logic.run(node, fast_settings())
    segmentation = applied.segmentationNode.GetSegmentation()
    assert segmentation.GetNumberOfSegments() >= 2
    names = []
    for i in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(i)
        value = vtk.reference("")
        assert segment.GetTag(segment.GetTerminologyEntryTagName(), value)
        assert str(value) == terminology_entry(segment.GetName())
        names.append(segment.GetName())
    # The blocks are air, fat, soft tissue and bone: not all generic.
    assert any(entry_for(name) is not GENERIC for name in names), names


@pytest.mark.parametrize("name", ["mixed fat to fluid", "mixed air to lung/fat partial volume, right front 2"])
def test_a_mixed_label_gets_the_generic_tissue_entry(name):
    assert entry_for(name) is GENERIC
