"""Reading Resources/requirements.txt and finding what is missing, on temporary requirement files."""
import importlib.metadata
import sys

import pytest

from UnsupervisedCTSegLib.slicer.requirements import missing_requirements, read_requirements

MADE_UP = "unsupervisedctseg-made-up-package-xyz"
NUMPY = importlib.metadata.version("numpy")


@pytest.fixture
def requirements_file(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text(f"# what the module needs\n\nnumpy>=1.0  # ships with Slicer\n   \n{MADE_UP}>=1.0\n"
                    "numpy<1.0\nnumpy>=1.0,<1000\n", encoding="utf-8")
    return path


def test_read_requirements_drops_comments_and_blank_lines(requirements_file):
    assert read_requirements(requirements_file) == ["numpy>=1.0", f"{MADE_UP}>=1.0", "numpy<1.0", "numpy>=1.0,<1000"]


def test_missing_are_the_absent_and_the_out_of_range(requirements_file):
    pytest.importorskip("packaging.requirements")
    assert missing_requirements(read_requirements(requirements_file)) == [f"{MADE_UP}>=1.0", "numpy<1.0"]


def test_installed_version_must_be_inside_the_range():
    pytest.importorskip("packaging.requirements")
    assert missing_requirements([f"numpy=={NUMPY}", f"numpy>={NUMPY}", "numpy>=1.0,<1000"]) == []
    assert missing_requirements([f"numpy>{NUMPY}", f"numpy!={NUMPY}"]) == [f"numpy>{NUMPY}", f"numpy!={NUMPY}"]


def test_without_packaging_only_presence_is_checked(requirements_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "packaging.requirements", None)  # makes the import fail
    assert missing_requirements(read_requirements(requirements_file)) == [f"{MADE_UP}>=1.0"]


def test_the_modules_requirements_file_reads(repo_root):
    lines = read_requirements(repo_root / "UnsupervisedCTSeg" / "Resources" / "requirements.txt")
    assert lines and all(">=" in line and "#" not in line for line in lines)
    assert {line.split(">=")[0].lower() for line in lines} >= {"scikit-image"}
