"""The Segment Editor effect's file, checked without the Slicer application it needs to run.

Its Qt wiring cannot run here (Qt and the Segment Editor are not installable); what it calls is
tested on slicer-core in test_slicer_scribbles.py. These checks catch what would break it silently
in Slicer: the file and class names that Slicer's effect loader derives from the path, the
registration path, and every name it uses from the module file, the package and the logic.
"""
import ast
from pathlib import Path

from UnsupervisedCTSegLib.slicer import logic, panelrun, parameters

MODULE_DIR = Path(__file__).resolve().parents[1] / "UnsupervisedCTSeg"
EFFECT = MODULE_DIR / "SegmentEditorUnsupervisedCTSegLib" / "SegmentEditorEffect.py"


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def attributes_of(module: ast.Module, owner: str) -> set:
    """The names used as `owner.NAME` (owner a plain name, or `self.owner`)."""
    found = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute):
            value = node.value
            if isinstance(value, ast.Name) and value.id == owner:
                found.add(node.attr)
            elif isinstance(value, ast.Attribute) and value.attr == owner and isinstance(value.value, ast.Name):
                found.add(node.attr)
    return found


def test_the_effect_class_is_named_as_slicers_loader_expects():
    """Slicer takes the class name from the file name, and the module name from the folder's
    (older versions: the file's), so the folder must be a name no other module has."""
    classes = [n.name for n in tree(EFFECT).body if isinstance(n, ast.ClassDef)]
    assert classes == ["SegmentEditorEffect"] == [EFFECT.stem]
    assert EFFECT.parent.name == "SegmentEditorUnsupervisedCTSegLib"
    bases = [b.id for n in tree(EFFECT).body if isinstance(n, ast.ClassDef) for b in n.bases]
    assert bases == ["AbstractScriptedSegmentEditorEffect"]


def test_the_module_registers_the_effect_at_startup_by_its_path():
    module = tree(MODULE_DIR / "UnsupervisedCTSeg.py")
    text = (MODULE_DIR / "UnsupervisedCTSeg.py").read_text(encoding="utf-8")
    assert 'slicer.app.connect("startupCompleted()", registerEditorEffect)' in text
    register = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "registerEditorEffect")
    strings = {n.value for n in ast.walk(register) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {EFFECT.parent.name, EFFECT.name} <= strings


def test_every_name_the_effect_uses_exists():
    effect = tree(EFFECT)
    module = tree(MODULE_DIR / "UnsupervisedCTSeg.py")
    defined = {n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert attributes_of(effect, "UnsupervisedCTSeg") <= defined
    for owner, real in (("panelrun", panelrun), ("parameters", parameters)):
        used = attributes_of(effect, owner)
        assert used and all(hasattr(real, name) for name in used), (owner, used)
    used = attributes_of(effect, "logic")
    assert all(hasattr(logic.UnsupervisedCTSegLogic, name) for name in used), used
    assert "fillStrokeSegments" in used
    job = attributes_of(effect, "job")
    assert job and all(name in panelrun.RunJob.__dataclass_fields__ for name in job), job
