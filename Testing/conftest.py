"""Shared test fixtures: where the repository and the read-only real CT test data are."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    """Folder of real CT test data beside the repository (read in place, never copied)."""
    return SHARED_DATA


@pytest.fixture
def scene():
    """A bare MRML scene from slicer-core; the test is skipped where slicer is not installed."""
    slicer = pytest.importorskip("slicer")
    return slicer.vtkMRMLScene()


@pytest.fixture
def logic(scene):
    from UnsupervisedCTSegLib.slicer.logic import UnsupervisedCTSegLogic

    return UnsupervisedCTSegLogic(scene)
