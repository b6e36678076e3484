"""The extension's packaging: the Extensions Index catalog entry, CMake metadata, shipped resources.

Mirrors what the Extensions Index checks on a submission (its JSON schema v1.0.1 and the
description-file checks) as far as that can be done offline.
"""
from __future__ import annotations

import ast
import json
import re
import sys
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


# --- Python requirements in Slicer --------------------------------------------------------------
#
# Resources/requirements.txt is what the panel pip-installs into Slicer. It must list what the
# Slicer side imports and nothing else: not what Slicer ships (pip would replace Slicer's own copy),
# not PyTorch (the PyTorch extension installs it), not what only the command line uses.
#
# The Slicer side is every module reached from SLICER_PATH_ROOTS by imports, at the top of a module
# or inside a function. That counts more than runs (cli/main.py imports the modules of every
# command, not only `segment`), which can only add packages that need a reason. A third-party import
# counts, except
#   - an optional one: inside a `try` whose `except` catches ImportError and carries on without it;
#   - one listed in NOT_ON_THE_SLICER_PATH: inside a function the Slicer side never calls, with why.
# A listed import must exist and lie inside a function (a top-level import runs whenever its module
# is imported), so the list can neither go stale nor hide a real dependency; and
# test_the_child_runs_without_what_the_slicer_side_never_imports runs the child with those packages
# made unimportable.

PACKAGE = "UnsupervisedCTSegLib"
LIB_DIR = MODULE_DIR / PACKAGE
# The panel (the module file), the slicer layer, and the package's __main__, which the panel starts as
# `python -m UnsupervisedCTSegLib segment IN -o OUT --progress json --outputs labelmap`.
SLICER_PATH_ROOTS = ("UnsupervisedCTSeg", f"{PACKAGE}.__main__", f"{PACKAGE}.slicer")
NOT_ON_THE_SLICER_PATH = {  # (module under the package, third-party package): why the Slicer side never runs it
    ("io.overview", "matplotlib"): "the overview picture: the child runs with --outputs labelmap, the panel draws none",
    ("cli.running", "tqdm"): "ProgressBar, the terminal's progress bar: the child runs with --progress json",
    ("evaluation.tasks", "tqdm"): "the progress bar of evaluate-bsds and sweep",
    ("evaluation.tasks", "ray"): "evaluate-bsds and sweep on Ray",
    ("evaluation.figures", "matplotlib"): "the figures of evaluate-bsds, sweep and figure-series",
    ("evaluation.report", "matplotlib"): "the figure of evaluate-ct's report",
}
SLICER_APPLICATION = {"slicer", "vtk", "qt", "ctk", "SampleData", "qSlicerSegmentationsEditorEffectsPythonQt",
                      "SegmentEditorEffects"}  # Slicer itself and its modules
FROM_THE_PYTORCH_EXTENSION = {"torch", "PyTorchUtils"}
# Distributions every Slicer from 5.8 on (the oldest the README supports) ships in its Python, with
# the versions of 5.8.0 (Slicer's SuperBuild: External_python-numpy, -scipy, -dicom-requirements,
# -pythonqt-requirements and External_SimpleITK; Slicer_USE_SCIPY and Slicer_USE_SimpleITK are on).
SHIPPED_WITH_SLICER_5_8 = {"numpy": "1.26.4", "scipy": "1.13.1", "simpleitk": "2.3.1", "pydicom": "2.4.4",
                           "pillow": "10.3.0", "packaging": "24.0"}
DISTRIBUTION = {"skimage": "scikit-image", "PIL": "pillow"}  # import name -> distribution, where they differ
CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError"}


def split_requirement(requirement: str) -> tuple:
    """('scikit-image', '>=0.20'), the name lower-cased."""
    name, spec = re.match(r"([A-Za-z0-9._-]+)\s*(.*)", requirement).groups()
    return name.lower(), spec


def requirements_txt() -> dict:
    with (MODULE_DIR / "Resources" / "requirements.txt").open(encoding="utf-8") as lines:
        return dict(split_requirement(line) for line in (raw.split("#", 1)[0].strip() for raw in lines) if line)


def pyproject_dependencies() -> dict:
    block = re.search(r"^dependencies = \[(.*?)\]", (REPO / "pyproject.toml").read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL).group(1)
    return dict(split_requirement(r) for r in re.findall(r'"([^"]+)"', block))


def distribution(import_name: str) -> str:
    return DISTRIBUTION.get(import_name, import_name).lower()


def python_modules() -> dict:
    """{dotted module name: file} for the package, and the module file as 'UnsupervisedCTSeg'."""
    modules = {"UnsupervisedCTSeg": MODULE_DIR / "UnsupervisedCTSeg.py"}
    for path in LIB_DIR.rglob("*.py"):
        parts = list(path.relative_to(MODULE_DIR).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def runs_on_without_it(handler: ast.ExceptHandler) -> bool:
    """An `except` that catches ImportError and carries on (raises nothing): the import is optional."""
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return (any(isinstance(k, ast.Name) and k.id in CATCHES_IMPORT_ERROR for k in kinds)
            and not any(isinstance(node, ast.Raise) for node in ast.walk(handler)))


def module_imports(name: str, modules: dict) -> list:
    """(target, inside a function, optional) for each import in module `name`; a target is one of
    our modules (dotted) or a third-party top-level name."""
    path = modules[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []

    def add(target: str, in_function: bool, optional: bool) -> None:
        if target.split(".")[0] != PACKAGE:
            target = target.split(".")[0]
        found.append((target, in_function, optional))

    def visit(node, in_function: bool, optional: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, in_function, optional)
        elif isinstance(node, ast.ImportFrom):
            base = (".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level else node.module)
            for alias in node.names:  # "from ..engine import device" imports the module engine.device
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, in_function, optional)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and any(
                runs_on_without_it(h) for h in node.handlers):
            for child in node.body:
                visit(child, in_function, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, in_function, optional)
        else:
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for child in ast.iter_child_nodes(node):
                visit(child, inner, optional)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False, False)
    return found


def slicer_path_imports() -> dict:
    """{third-party top-level name: [modules importing it]} for the Slicer side, by the rule above."""
    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("telling the standard library from third-party packages needs Python 3.10 or later")
    modules = python_modules()
    todo = [m for m in modules if any(m == root or m.startswith(root + ".") for root in SLICER_PATH_ROOTS)]
    seen, third_party = set(), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        # Importing a module runs its packages' __init__ first.
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in modules]
        for target, in_function, optional in module_imports(name, modules):
            if target in modules:
                todo.append(target)
            elif target.split(".")[0] == PACKAGE:
                raise AssertionError(f"{name} imports {target}, which is not a module of the package")
            elif target in sys.stdlib_module_names or target == "__future__" or optional:
                continue
            elif in_function and (name.removeprefix(PACKAGE + "."), target) in NOT_ON_THE_SLICER_PATH:
                continue
            else:
                third_party.setdefault(target, []).append(name)
    return third_party


def test_requirements_are_pyproject_dependencies_with_the_same_ranges():
    """Resources/requirements.txt (installed in Slicer) asks for no more than pyproject.toml, in the same ranges."""
    requirements, declared = requirements_txt(), pyproject_dependencies()
    assert requirements, "requirements.txt lists nothing"
    for name, spec in requirements.items():
        assert name in declared, f"{name} is in requirements.txt but not in pyproject.toml's dependencies"
        assert spec == declared[name], f"{name}{spec} in requirements.txt, {name}{declared[name]} in pyproject.toml"
    assert "torch" not in requirements  # PyTorch comes from the PyTorch extension


def test_everything_the_slicer_side_imports_is_provided():
    imports = slicer_path_imports()
    requirements = requirements_txt()
    assert {"numpy", "SimpleITK", "skimage", "torch", "slicer", "vtk"} <= set(imports)  # the walk found the path
    unprovided = {name: sorted(set(where)) for name, where in imports.items()
                  if name not in SLICER_APPLICATION | FROM_THE_PYTORCH_EXTENSION
                  and distribution(name) not in SHIPPED_WITH_SLICER_5_8 and distribution(name) not in requirements}
    assert not unprovided, (f"imported on the Slicer side, but neither shipped with Slicer nor in requirements.txt: "
                            f"{unprovided}")


def test_requirements_list_only_what_the_slicer_side_imports_and_slicer_lacks():
    imported = {distribution(name) for name in slicer_path_imports()}
    for name in requirements_txt():
        assert name in imported, f"requirements.txt lists {name}, which the Slicer side never imports"
        assert name not in SHIPPED_WITH_SLICER_5_8, f"Slicer ships {name}: pip would replace Slicer's own copy"


def test_imports_said_not_on_the_slicer_path_are_lazy_imports_that_exist():
    modules = python_modules()
    for (module, package), why in NOT_ON_THE_SLICER_PATH.items():
        imports = [(in_function, optional) for target, in_function, optional
                   in module_imports(f"{PACKAGE}.{module}", modules) if target == package]
        assert imports, f"{module} no longer imports {package}: drop it from NOT_ON_THE_SLICER_PATH"
        assert all(in_function for in_function, _ in imports), (f"{module} imports {package} at its top, so "
                                                                f"'{why}' no longer holds")
        assert why


def test_oldest_supported_slicer_ships_versions_in_our_ranges():
    """Not listing what Slicer ships is safe only while Slicer's versions are inside pyproject's ranges."""
    specifiers = pytest.importorskip("packaging.specifiers")
    declared = pyproject_dependencies()
    checked = 0
    for name, version in SHIPPED_WITH_SLICER_5_8.items():
        if name in declared:
            assert specifiers.SpecifierSet(declared[name]).contains(version), f"Slicer 5.8 ships {name} {version}"
            checked += 1
    assert checked >= 4  # numpy, scipy, SimpleITK, pydicom, pillow are our dependencies too


def test_the_child_runs_without_what_the_slicer_side_never_imports(tmp_path):
    """The panel's child process, with the packages of NOT_ON_THE_SLICER_PATH made unimportable."""
    import subprocess

    import numpy as np
    import SimpleITK as sitk

    hu = np.full((2, 12, 12), -1000, np.int16)
    hu[:, 6:, :6], hu[:, 6:, 6:] = 40, 700
    sitk.WriteImage(sitk.GetImageFromArray(hu), str(tmp_path / "ct.nrrd"))
    blocked = sorted({package for _, package in NOT_ON_THE_SLICER_PATH})
    script = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # import fails\n"
              "from UnsupervisedCTSegLib.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    command = [sys.executable, "-c", script, "segment", str(tmp_path / "ct.nrrd"), "-o", str(tmp_path / "out.nrrd"),
               "--progress", "json", "--outputs", "labelmap", "-M", "2", "-p", "8", "-T", "2", "--train-size", "0",
               "--no-body-mask", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "out.nrrd").is_file()


# --- the panel picture -------------------------------------------------------------------------


def test_panel_picture_exists_and_is_shown_in_the_readme():
    panel = REPO / "Resources" / "panel.png"
    with Image.open(panel) as image:
        assert image.format == "PNG" and image.size[0] >= 300 and image.size[1] >= 400
    assert "Resources/panel.png" in README.read_text(encoding="utf-8")


# --- the README and the docs it links to -------------------------------------------------------

DOCS = sorted((REPO / "docs").glob("*.md"))


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped, spaces to hyphens)."""
    anchors, in_fence = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_readme_keeps_the_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    assert ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && '
            'pip install -e ".[test]" && ctseg demo') in text
    assert ".venv/bin/python -m pytest Testing -q" in text
    assert "Resources/overview.png" in text
    assert len(text.splitlines()) <= 260, "the README is for users: keep it short, details go to docs/"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_of_the_readme_and_the_docs_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name} links to missing {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name} links to missing anchor {target}"


def test_the_readme_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert DOCS and all(f"docs/{page.name}" in text for page in DOCS)


def test_every_ctseg_command_in_the_readme_and_the_docs_exists_with_its_flags():
    """Each `ctseg ...` line of a fenced block names a subcommand that exists and only flags it takes."""
    sys.path.insert(0, str(MODULE_DIR))
    from UnsupervisedCTSegLib.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    checked = 0
    for page in [README, *DOCS]:
        for block in re.findall(r"```[^\n]*\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#", 1)[0].strip()
                if not line.startswith("ctseg "):
                    continue
                words = line.split()
                assert words[1] in commands, f"{page.name}: unknown command in {line!r}"
                known = {s for a in commands[words[1]]._actions for s in a.option_strings}
                for flag in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", " ".join(words[2:])):
                    assert flag in known, f"{page.name}: {flag} is not a flag of ctseg {words[1]} ({line!r})"
                checked += 1
    assert checked >= 10
