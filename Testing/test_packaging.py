"""The extension's packaging: the Extensions Index catalog entry, CMake metadata, shipped resources.

Mirrors what the Extensions Index checks on a submission (its JSON schema v1.0.1 and the
description-file checks) as far as that can be done offline.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "UnsupervisedCTSeg"
CATALOG = REPO / "UnsupervisedCTSeg.json"
README = REPO / "README.md"
RAW_PREFIX = "https://raw.githubusercontent.com/UnsupervisedCTSeg/SlicerUnsupervisedCTSeg/main/"

# From the Extensions Index schema slicer-extension-catalog-entry-schema-v1.0.1.json.
SCHEMA_REQUIRED = {"$schema", "category", "scm_url"}
SCHEMA_PROPERTIES = {"$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
                     "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int}
EXTENSION_FIELDS = ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS")


def catalog() -> dict:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def cmake_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def extension_fields() -> dict:
    text = cmake_text(REPO / "CMakeLists.txt")
    return dict(re.findall(r'^set\(EXTENSION_([A-Z_]+)\s+"([^"]*)"\)', text, re.MULTILINE))


def cmake_list(text: str, variable: str) -> list:
    """Entries of `set(VARIABLE ...)` with ${MODULE_NAME} expanded."""
    match = re.search(rf"set\({variable}\s+(.*?)\)", text, re.DOTALL)
    assert match, f"set({variable} ...) not found"
    return [entry.replace("${MODULE_NAME}", "UnsupervisedCTSeg") for entry in match.group(1).split()]


def local_file(url: str) -> Path:
    assert url.startswith(RAW_PREFIX), f"{url} is not a file of the repository's main branch"
    return REPO / url[len(RAW_PREFIX):]


# --- catalog entry -----------------------------------------------------------------------------


def test_catalog_entry_follows_the_schema():
    entry = catalog()
    assert SCHEMA_REQUIRED <= set(entry), f"missing {sorted(SCHEMA_REQUIRED - set(entry))}"
    assert set(entry) <= set(SCHEMA_PROPERTIES), f"not allowed by the schema: {sorted(set(entry) - set(SCHEMA_PROPERTIES))}"
    for key, value in entry.items():
        assert type(value) is SCHEMA_PROPERTIES[key], f"{key} should be {SCHEMA_PROPERTIES[key].__name__}"
    assert all(isinstance(d, str) for d in entry["build_dependencies"])
    assert 1 <= entry["tier"] <= 5
    assert entry.get("scm_type", "git") in ("git", "local")
    assert entry["$schema"].rstrip("#").endswith("/slicer-extension-catalog-entry-schema-v1.0.1.json")


def test_catalog_entry_values():
    entry = catalog()
    assert entry["build_dependencies"] == ["PyTorch"]
    assert entry["build_subdirectory"] == "."
    assert entry["category"] == "Segmentation" == extension_fields()["CATEGORY"]
    assert entry["scm_revision"] == "main"
    assert entry["scm_url"] == "https://github.com/UnsupervisedCTSeg/SlicerUnsupervisedCTSeg"
    assert entry["tier"] == 1


def test_catalog_entry_passes_the_index_naming_checks():
    entry = catalog()
    project = re.search(r"^project\((\w+)\)", cmake_text(REPO / "CMakeLists.txt"), re.MULTILINE).group(1)
    assert CATALOG.stem == project == "UnsupervisedCTSeg"  # file name = extension name = CMake project
    assert not CATALOG.stem.lower().startswith("slicer")  # the extension name must not start with Slicer
    assert entry["scm_url"].startswith("https://")
    assert entry["scm_url"].rstrip("/").split("/")[-1].startswith("Slicer")  # the repository name must
    assert b"\r" not in CATALOG.read_bytes()  # LF line endings only


# --- extension CMakeLists ----------------------------------------------------------------------


def test_extension_cmakelists_sets_every_field():
    fields = extension_fields()
    for name in EXTENSION_FIELDS:
        assert fields.get(name, "").strip(), f"EXTENSION_{name} is not set"
    assert fields["HOMEPAGE"] == catalog()["scm_url"]
    assert "PyTorch" in fields["DEPENDS"].split()


def test_icon_and_screenshot_urls_point_at_files_in_the_repository():
    text = cmake_text(REPO / "CMakeLists.txt")
    # The exact patterns the Extensions Index uses to find these two fields.
    icon = re.findall(r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)"[ ]*\)', text, re.IGNORECASE | re.MULTILINE)
    shots = re.findall(r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)', text, re.IGNORECASE | re.MULTILINE)
    assert len(icon) == 1 and len(shots) == 1
    assert local_file(icon[0]).is_file()
    urls = shots[0].split()
    assert RAW_PREFIX + "Resources/panel.png" in urls
    for url in urls:
        assert local_file(url).is_file(), url


@pytest.mark.parametrize("icon", ["UnsupervisedCTSeg.png", "UnsupervisedCTSeg/Resources/Icons/UnsupervisedCTSeg.png"])
def test_icons_are_128_pixel_pngs(icon):
    with Image.open(REPO / icon) as image:
        assert image.format == "PNG"
        assert image.size == (128, 128)


# --- module CMakeLists -------------------------------------------------------------------------


def test_module_cmakelists_registers_generic_and_self_tests():
    text = cmake_text(MODULE_DIR / "CMakeLists.txt")
    assert re.search(r"slicerMacroBuildScriptedModule\((.*?)\)", text, re.DOTALL).group(1).split().count("WITH_GENERIC_TESTS") == 1
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert "set(MODULE_NAME UnsupervisedCTSeg)" in text


def test_every_module_resource_and_script_exists():
    text = cmake_text(MODULE_DIR / "CMakeLists.txt")
    resources = cmake_list(text, "MODULE_PYTHON_RESOURCES")
    assert {"Resources/Icons/UnsupervisedCTSeg.png", "Resources/UI/UnsupervisedCTSeg.ui",
            "Resources/requirements.txt"} <= set(resources)
    for entry in resources:
        assert (MODULE_DIR / entry).is_file(), f"MODULE_PYTHON_RESOURCES lists a missing file: {entry}"
    scripts = [s for s in cmake_list(text, "MODULE_PYTHON_SCRIPTS") if not s.startswith("${")]
    assert "UnsupervisedCTSeg.py" in scripts
    for entry in scripts:
        assert (MODULE_DIR / entry).is_file(), entry


def cmake_glob(text: str, variable: str) -> list:
    """The files a `file(GLOB|GLOB_RECURSE VARIABLE RELATIVE <dir> [CONFIGURE_DEPENDS] <pattern>...)` finds,
    relative to the module folder, found the way CMake finds them."""
    match = re.search(rf"file\((GLOB|GLOB_RECURSE)\s+{variable}\s+(.*?)\)", text, re.DOTALL)
    assert match, f"file(GLOB {variable} ...) not found"
    kind, words = match.group(1), match.group(2).split()
    assert words[:2] == ["RELATIVE", "${CMAKE_CURRENT_SOURCE_DIR}"], words
    found = set()
    for pattern in (w for w in words[2:] if w != "CONFIGURE_DEPENDS"):
        pattern = pattern.replace("${CMAKE_CURRENT_SOURCE_DIR}/", "").replace("${MODULE_NAME}", "UnsupervisedCTSeg")
        folder, name = pattern.rsplit("/", 1)
        matches = (MODULE_DIR / folder).rglob(name) if kind == "GLOB_RECURSE" else (MODULE_DIR / folder).glob(name)
        found |= {p.relative_to(MODULE_DIR).as_posix() for p in matches}
    return sorted(found)


def test_every_python_file_of_the_package_is_installed_into_slicer():
    """The module's CMakeLists installs every .py of the package, the layers' subfolders included."""
    text = cmake_text(MODULE_DIR / "CMakeLists.txt")
    assert "${MODULE_LIB_SCRIPTS}" in cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    installed = set(cmake_glob(text, "MODULE_LIB_SCRIPTS"))
    package = {p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "UnsupervisedCTSegLib").rglob("*.py")}
    assert any("/" in name.split("UnsupervisedCTSegLib/", 1)[1] for name in package), "the package has no subfolders"
    assert package - installed == set(), f"not installed into Slicer: {sorted(package - installed)}"


def test_requirements_match_pyproject():
    """Resources/requirements.txt (installed in Slicer) asks for what pyproject.toml asks for."""
    lines = (line.split("#", 1)[0].strip() for line in (MODULE_DIR / "Resources" / "requirements.txt").open(encoding="utf-8"))
    requirements = [line for line in lines if line]
    block = re.search(r"^dependencies = \[(.*?)\]", (REPO / "pyproject.toml").read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL).group(1)
    pyproject = re.findall(r'"([^"]+)"', block)
    split = lambda r: re.match(r"([A-Za-z0-9._-]+)\s*(.*)", r).groups()
    declared = {name.lower(): spec for name, spec in map(split, pyproject)}
    names = set()
    for requirement in requirements:
        name, spec = split(requirement)
        assert declared.get(name.lower()) == spec, f"{requirement} differs from pyproject.toml"
        names.add(name.lower())
    assert names == {"scikit-image", "simpleitk", "pydicom", "tqdm", "matplotlib", "scipy"}
    assert "torch" not in names  # PyTorch comes from the PyTorch extension


# --- the panel picture -------------------------------------------------------------------------


def test_panel_picture_exists_and_is_shown_in_the_readme():
    panel = REPO / "Resources" / "panel.png"
    with Image.open(panel) as image:
        assert image.format == "PNG" and image.size[0] >= 300 and image.size[1] >= 400
    assert "Resources/panel.png" in README.read_text(encoding="utf-8")
