"""The module's self-tests (run inside Slicer by the module's test case) on a fresh slicer-core scene.

They are the one copy of the Slicer logic tests that also make sense inside Slicer; test_slicer_logic.py
and test_hostile_slicer.py hold only what needs pytest."""
import pytest

slicer = pytest.importorskip("slicer")

from UnsupervisedCTSegLib.slicer.selftests import ALL_TESTS  # noqa: E402


def test_every_self_test_is_listed():
    """A static check, kept on purpose: ALL_TESTS is all that runs (in Slicer and below), so a self-test
    written but not listed would never run, and nothing else can notice that."""
    from UnsupervisedCTSegLib.slicer import selftests

    defined = {name for name in dir(selftests) if name.startswith("test_")}
    assert defined == {test.__name__ for test in ALL_TESTS}


@pytest.mark.parametrize("selftest", ALL_TESTS, ids=[test.__name__ for test in ALL_TESTS])
def test_self_test(selftest):
    messages = []
    selftest(slicer.vtkMRMLScene(), delayDisplay=messages.append)
    assert messages, "the self-test reported no progress"
