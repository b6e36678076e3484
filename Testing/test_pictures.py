"""Every picture the README and docs show is re-made by tools/make_pictures.py, by a command a user could run."""
import importlib.util
import re

from conftest import REPO_ROOT


def pictures():
    spec = importlib.util.spec_from_file_location("make_pictures", REPO_ROOT / "tools" / "make_pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PICTURES


def shown():
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    return {name for page in pages if page.is_file()
            for name in re.findall(r"Resources/([A-Za-z0-9_]+)\.png", page.read_text(encoding="utf-8"))}


def test_every_picture_shown_has_a_command_that_remakes_it_and_exists():
    names = shown()
    assert names, "no picture found in the README"
    assert names <= set(pictures()), sorted(names - set(pictures()))
    assert all((REPO_ROOT / "Resources" / f"{name}.png").is_file() for name in names)
