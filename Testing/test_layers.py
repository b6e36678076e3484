"""The package's layers: engine <- io <- evaluation <- slicer <- cli, read from the imports with ast.

A module may import from its own layer and from the layers before it, never from one after it, and
no chain of imports may lead back to where it started. Every import counts, also those inside
functions: a lazy import against the direction is still a dependency against it. The engine never
imports the libraries of the layers above it, and nothing but the slicer layer imports the Slicer
application.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "UnsupervisedCTSegLib"
LIB_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg" / PACKAGE
LAYERS = ("engine", "io", "evaluation", "slicer", "cli")  # each may use the ones before it
ENGINE_NEVER = {"SimpleITK", "matplotlib", "ray", "slicer", "vtk", "qt", "ctk", "pydicom", "PIL", "tqdm"}
SLICER_APPLICATION = {"slicer", "vtk", "qt", "ctk", "PythonQt", "SampleData", "PyTorchUtils"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_files() -> list:
    return sorted(LIB_DIR.rglob("*.py"))


def imports(path: Path) -> tuple:
    """(our modules, third-party roots) that `path` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    ours, others = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.split(".")[0] == PACKAGE else others).add(
                    alias.name if alias.name.startswith(PACKAGE) else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target.split(".")[0] != PACKAGE:
                others.add(target.split(".")[0])
                continue
            known = {module_name(p) for p in package_files()}
            for alias in node.names:  # "from .engine import run" imports the module engine.run
                ours.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return ours, others


def layer_of(module: str):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def graph() -> dict:
    return {module_name(p): imports(p)[0] for p in package_files()}


def test_every_module_lies_in_a_layer():
    loose = [module_name(p) for p in package_files()
             if layer_of(module_name(p)) is None and module_name(p) not in (PACKAGE, f"{PACKAGE}.__main__")]
    assert not loose, f"modules outside engine/, io/, evaluation/, slicer/, cli/: {loose}"
    for layer in LAYERS:
        init = LIB_DIR / layer / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 20, f"{layer}/__init__.py needs a paragraph saying what the layer holds"


@pytest.mark.parametrize("path", package_files(), ids=lambda p: module_name(p))
def test_imports_point_down_the_layers(path):
    module = module_name(path)
    mine = layer_of(module)
    for target in imports(path)[0]:
        theirs = layer_of(target)
        if mine is None or theirs is None:  # the package root (its version) and `python -m`
            assert target in (PACKAGE, f"{PACKAGE}.cli", f"{PACKAGE}.cli.main") or mine is None, (module, target)
            continue
        assert LAYERS.index(theirs) <= LAYERS.index(mine), (
            f"{module} ({mine}) imports {target} ({theirs}): {theirs} comes after {mine} in {' <- '.join(LAYERS)}")


def test_no_import_circle():
    edges = graph()
    state = {}  # module -> "open" while on the current path, "done" after

    def visit(module, path):
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if target not in edges or target == PACKAGE:
                continue
            if state.get(target) == "open":
                circle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("path", sorted((LIB_DIR / "engine").rglob("*.py")), ids=lambda p: module_name(p))
def test_engine_imports_none_of_the_outer_layers_libraries(path):
    forbidden = imports(path)[1] & ENGINE_NEVER
    assert not forbidden, f"{module_name(path)} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", [p for p in package_files() if layer_of(module_name(p)) != "slicer"],
                         ids=lambda p: module_name(p))
def test_only_the_slicer_layer_imports_the_slicer_application(path):
    forbidden = imports(path)[1] & SLICER_APPLICATION
    assert not forbidden, f"{module_name(path)} imports {sorted(forbidden)}"


def test_the_rules_catch_a_bad_import(tmp_path, monkeypatch):
    """The checks above fail on an engine module that imports the io layer and on a circle."""
    fake = tmp_path / PACKAGE
    for layer in LAYERS:
        (fake / layer).mkdir(parents=True)
        (fake / layer / "__init__.py").write_text('"""' + "word " * 25 + '"""\n')
    (fake / "__init__.py").write_text("")
    (fake / "engine" / "a.py").write_text("from ..io import b\nimport SimpleITK\n")
    (fake / "io" / "b.py").write_text("from ..engine.a import x\n")
    monkeypatch.setattr(__import__(__name__), "LIB_DIR", fake)
    with pytest.raises(AssertionError, match="io comes after engine"):
        test_imports_point_down_the_layers(fake / "engine" / "a.py")
    with pytest.raises(pytest.fail.Exception, match="import circle"):
        test_no_import_circle()
    with pytest.raises(AssertionError, match="SimpleITK"):
        test_engine_imports_none_of_the_outer_layers_libraries(fake / "engine" / "a.py")
