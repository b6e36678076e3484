"""Standard codes for our segments, so that other software knows what each one holds.

Segment names such as "fat 2" mean something to a reader but nothing to software. Slicer's
terminology-aware tools (the Segment Editor's terminology picker, colour and name lookup) and its
DICOM SEG export read a segment's meaning from the segment tag "TerminologyEntry" instead: a
coded category and type (SNOMED CT or DICOM codes). This module maps each HU band name of
engine.tissues to such a pair and writes the tag's value in the format Slicer uses; the segment
names stay ours.

The value is seven fields separated by "~": terminology context name, category, type, type
modifier, anatomic context name, anatomic region, region modifier; each coded field is
"scheme^value^meaning", empty as "^^". No code or name may contain "~", "^" or "|" (the separator
of the tags in a .seg.nrrd header).

Choices:
- Codes come from the lists Slicer loads at start-up (its "3D Slicer General Anatomy" and "DICOM
  master" lists), so Slicer finds them there; only soft tissue has no entry in them and uses the
  SNOMED CT concept "Soft tissue" (87784001), as DICOM codes it (context group CID 6122).
- "fat" is Slicer's and DICOM's "Body fat" (adipose tissue); "air" is the gas inside the body.
- A band that mixes two different things ("lung/fat partial volume", "contrast/cancellous bone")
  claims neither and gets the generic Tissue entry. "enhanced soft tissue" is soft tissue that
  took up contrast and shares the soft-tissue entry; the segment names keep the two apart.
- "outside body" (table, clothing, surrounding air) is DICOM's "Background".
- A name we do not know (a photograph's "region N", a renamed segment) gets the entry Slicer
  itself gives every segment nobody has described, Tissue/Tissue: it claims nothing.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from ..engine.tissues import OUTSIDE_NAME

TAG = "TerminologyEntry"  # the segment tag Slicer reads (vtkSegment::GetTerminologyEntryTagName)
SLICER_ANATOMY = "Segmentation category and type - 3D Slicer General Anatomy list"
DICOM_MASTER = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"  # named even when no region is given, as Slicer does


class Code(NamedTuple):
    """One coded concept: coding scheme (SCT is SNOMED CT, DCM is DICOM), code value, code meaning."""

    scheme: str
    value: str
    meaning: str

    def text(self) -> str:
        return f"{self.scheme}^{self.value}^{self.meaning}"


class Entry(NamedTuple):
    """What a segment is: a category and a type, from the named terminology context."""

    context: str
    category: Code
    type: Code

    def text(self) -> str:
        """The TerminologyEntry tag value; no type modifier, anatomic region or region modifier."""
        empty = "^^"
        return "~".join((self.context, self.category.text(), self.type.text(), empty, ANATOMIC_CONTEXT, empty, empty))


# Categories (DICOM CID 7150)
TISSUE = Code("SCT", "85756007", "Tissue")
ANATOMICAL_STRUCTURE = Code("SCT", "123037004", "Anatomical Structure")
BODY_SUBSTANCE = Code("SCT", "91720002", "Body Substance")
SPATIAL_CONCEPT = Code("SCT", "309825002", "Spatial and Relational Concept")

GENERIC = Entry(SLICER_ANATOMY, TISSUE, TISSUE)  # Slicer's default for a segment nobody described
SOFT_TISSUE = Entry(SLICER_ANATOMY, TISSUE, Code("SCT", "87784001", "Soft tissue"))

# Keyed by the names of engine.tissues.HU_BANDS and OUTSIDE_NAME; a test checks none is missing.
ENTRIES = {
    "air": Entry(SLICER_ANATOMY, BODY_SUBSTANCE, Code("SCT", "74947009", "Gas")),
    "lung": Entry(SLICER_ANATOMY, ANATOMICAL_STRUCTURE, Code("SCT", "39607008", "Lung")),
    "lung/fat partial volume": GENERIC,
    "fat": Entry(SLICER_ANATOMY, TISSUE, Code("SCT", "248300009", "Body fat")),
    "fat/fluid partial volume": GENERIC,
    "fluid": Entry(SLICER_ANATOMY, BODY_SUBSTANCE, Code("SCT", "32457005", "Body fluid")),
    "soft tissue": SOFT_TISSUE,
    "enhanced soft tissue": SOFT_TISSUE,
    "contrast/cancellous bone": GENERIC,
    "bone": Entry(SLICER_ANATOMY, TISSUE, Code("SCT", "272673000", "Bone")),
    OUTSIDE_NAME: Entry(DICOM_MASTER, SPATIAL_CONCEPT, Code("DCM", "125040", "Background")),
}

_REPEAT = re.compile(r"^(?P<base>[^,]+?)(, [a-z ]+?)?( \d+)?$")  # "fat 2", "fat, right front": a band's labels


def entry_for(name: str) -> Entry:
    """The entry for a tissue name; a band's repeated or placed label ("fat 2", "fat, right front") is
    its band, an unknown name GENERIC."""
    if name in ENTRIES:
        return ENTRIES[name]
    repeat = _REPEAT.match(name)
    return ENTRIES.get(repeat["base"], GENERIC) if repeat else GENERIC


def terminology_entry(name: str) -> str:
    """The TerminologyEntry tag value for a tissue name."""
    return entry_for(name).text()
