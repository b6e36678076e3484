"""The module's self-tests (run inside Slicer by the module's test case) on a fresh slicer-core scene."""
import pytest

slicer = pytest.importorskip("slicer")

from UnsupervisedCTSegLib.slicer.selftests import ALL_TESTS  # noqa: E402


def test_every_self_test_is_listed():
    from UnsupervisedCTSegLib.slicer import selftests

    defined = {name for name in dir(selftests) if name.startswith("test_")}
    assert defined == {test.__name__ for test in ALL_TESTS}


@pytest.mark.parametrize("selftest", ALL_TESTS, ids=[test.__name__ for test in ALL_TESTS])
def test_self_test(selftest):
    messages = []
    selftest(slicer.vtkMRMLScene(), delayDisplay=messages.append)
    assert messages, "the self-test reported no progress"
