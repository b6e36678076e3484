"""The install flow of slicer/install.py, with plain callables for the application's pieces.

What is decided: PyTorch present, missing (installed by the PyTorch extension, or declined, or no
extension), the other requirements missing (declined or installed with pip), an install that fails
(offline), a second install asked for while one runs, a broken install that raises something other
than ImportError, and the self-tests, which never install under ctest.
"""

import pytest
from helpers import run_python

from UnsupervisedCTSegLib.slicer import install

LOGIC_MODULE = object()  # what a successful import of the logic returns


class Application:
    """The dialogs, the PyTorch extension and pip, as plain callables that record what they were asked."""

    def __init__(self, torch=True, missing=(), confirm=True, extension=True, torchInstall="torch"):
        self.torch, self.missingNow = torch, list(missing)
        self.answer, self.extension, self.torchInstall = confirm, extension, torchInstall
        self.questions, self.errors, self.pipped, self.torchInstalls = [], [], [], 0

    def installer(self, requirementsFile, **overrides) -> install.Installer:
        settings = dict(requirementsFile=str(requirementsFile), confirm=self.confirm, showError=self.showError,
                        pipInstall=self.pipInstall, findTorchInstaller=self.findTorchInstaller,
                        torchInstalled=lambda: self.torch, missingPackages=self.missingPackages,
                        importLogicModule=lambda: LOGIC_MODULE)
        settings.update(overrides)
        return install.Installer(**settings)

    def confirm(self, text, title):
        self.questions.append((title, text))
        return self.answer

    def showError(self, text, details=""):
        self.errors.append((text, details))

    def pipInstall(self, packages):
        self.pipped.append(list(packages))
        self.missingNow = []

    def missingPackages(self, requirements):
        assert requirements == ["scikit-image>=0.20", "SimpleITK>=2.2"]  # read from the file given
        return list(self.missingNow)

    def findTorchInstaller(self):
        if not self.extension:
            return None

        def installTorch():
            self.torchInstalls += 1
            if self.torchInstall == "torch":
                self.torch = True
                return "torch module"
            return None  # the user declined in the extension's own dialog

        return installTorch


@pytest.fixture
def requirementsFile(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# besides PyTorch\nscikit-image>=0.20\nSimpleITK>=2.2  # images\n", encoding="utf-8")
    return path


def test_everything_installed_asks_nothing(requirementsFile):
    app = Application()
    installer = app.installer(requirementsFile)
    assert installer.missing() == []
    assert installer.ensureRequirements() is True
    assert installer.importLogic() is LOGIC_MODULE
    assert (app.questions, app.errors, app.pipped, app.torchInstalls) == ([], [], [], 0)


def test_missing_torch_is_installed_by_the_pytorch_extension(requirementsFile):
    app = Application(torch=False)
    installer = app.installer(requirementsFile)
    assert installer.missing() == ["torch" + install.TORCH_REQUIREMENT]
    assert installer.importLogic() is LOGIC_MODULE
    assert app.torchInstalls == 1 and app.pipped == [] and app.errors == []


def test_declining_torch_stops_before_pip_and_the_import(requirementsFile):
    app = Application(torch=False, torchInstall="declined", missing=["SimpleITK>=2.2"])
    imported = []
    installer = app.installer(requirementsFile, importLogicModule=lambda: imported.append(True))
    assert installer.importLogic() is None
    assert app.torchInstalls == 1 and app.questions == [] and app.pipped == [] and imported == []


def test_without_the_pytorch_extension_the_user_is_told_to_install_it(requirementsFile):
    app = Application(torch=False, extension=False)
    assert app.installer(requirementsFile).ensureTorch() is False
    assert len(app.errors) == 1 and "'PyTorch' extension" in app.errors[0][0]


def test_missing_requirements_are_pip_installed_after_asking(requirementsFile):
    app = Application(missing=["SimpleITK>=2.2"])
    assert app.installer(requirementsFile).importLogic() is LOGIC_MODULE
    assert len(app.questions) == 1 and "SimpleITK>=2.2" in app.questions[0][1]
    assert app.pipped == [["SimpleITK>=2.2"]]


def test_declined_requirements_are_not_installed(requirementsFile):
    app = Application(missing=["scikit-image>=0.20", "SimpleITK>=2.2"], confirm=False)
    installer = app.installer(requirementsFile)
    assert installer.missing() == ["scikit-image>=0.20", "SimpleITK>=2.2"]
    assert installer.importLogic() is None
    assert len(app.questions) == 1 and app.pipped == []


@pytest.mark.parametrize("error", [
    OSError("libtorch_cpu.so: cannot open shared object file: No such file or directory"),
    AttributeError("partially initialized module 'torch' has no attribute 'Tensor'"),
    RuntimeError("Found no NVIDIA driver on your system"),
    ImportError("cannot import name 'segment'"),
], ids=lambda error: type(error).__name__)
def test_a_broken_install_becomes_a_message_not_an_exception(requirementsFile, error):
    def broken():
        raise error

    app = Application()
    assert app.installer(requirementsFile, importLogicModule=broken).importLogic() is None
    assert len(app.errors) == 1
    text, details = app.errors[0]
    assert type(error).__name__ in text and str(error) in text
    assert "Traceback" in details


def test_self_tests_in_testing_mode_never_install(requirementsFile):
    app = Application(torch=False, missing=["SimpleITK>=2.2"])
    reason = app.installer(requirementsFile).selfTestSkipReason(testing=True)
    assert "skipped" in reason and "torch>=2.0" in reason and "SimpleITK>=2.2" in reason
    assert (app.questions, app.pipped, app.torchInstalls) == ([], [], 0)


def test_self_tests_run_when_everything_is_installed(requirementsFile):
    for testing in (True, False):
        app = Application()
        assert app.installer(requirementsFile).selfTestSkipReason(testing=testing) is None


def test_self_tests_run_by_hand_install_after_asking_or_skip_when_declined(requirementsFile):
    app = Application(missing=["SimpleITK>=2.2"])
    assert app.installer(requirementsFile).selfTestSkipReason(testing=False) is None
    assert app.pipped == [["SimpleITK>=2.2"]]
    declined = Application(torch=False, torchInstall="declined")
    assert "skipped" in declined.installer(requirementsFile).selfTestSkipReason(testing=False)


def test_messages_go_through_the_translator(requirementsFile):
    app = Application(missing=["SimpleITK>=2.2"], confirm=False)
    app.installer(requirementsFile, tr=lambda text: "<" + text + ">").ensureRequirements()
    title, text = app.questions[0]
    assert title == "<Install Python packages>" and text.startswith("<Unsupervised CT Segmentation needs")


def test_the_default_pieces_need_the_application_only_when_called():
    """Outside Slicer the module imports, and looking for the PyTorch extension finds none."""
    run_python("from UnsupervisedCTSegLib.slicer import install; "
               "assert install.pytorchExtensionInstaller() is None; "
               "assert install.Installer('requirements.txt').torchInstalled() is False", without_torch=True)


def test_the_default_import_is_the_slicer_logic():
    pytest.importorskip("slicer")
    from UnsupervisedCTSegLib.slicer import logic

    assert install.importLogicModule() is logic


def test_a_pip_failure_offline_is_a_message_and_the_next_try_installs(requirementsFile):
    """slicer.util.pip_install raises CalledProcessError, whose text names only the command: without a
    message here the user would see nothing outside the Python console."""
    import subprocess

    app = Application(missing=["scikit-image>=0.20"])

    def offline(packages):
        raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *packages])

    assert app.installer(requirementsFile, pipInstall=offline).importLogic() is None
    (text, details), = app.errors
    assert "Installing scikit-image>=0.20 failed" in text and "CalledProcessError" in text
    assert "network" in text and "Python console" in text and "Traceback" in details
    assert app.installer(requirementsFile).importLogic() is LOGIC_MODULE  # online again: installs
    assert app.pipped == [["scikit-image>=0.20"]]


def test_a_failing_pytorch_install_is_a_message(requirementsFile):
    app = Application(torch=False)

    def failing():
        raise OSError("No space left on device")

    installer = app.installer(requirementsFile, findTorchInstaller=lambda: failing)
    assert installer.importLogic() is None
    assert len(app.errors) == 1 and "Installing PyTorch failed" in app.errors[0][0]


def test_a_second_install_never_starts_inside_the_first(requirementsFile):
    """pip_install processes the application's events at every line pip prints: a click meanwhile
    (the panel's or the effect's) asks for the logic again, and must not start a second pip."""
    app = Application(missing=["scikit-image>=0.20"])
    nested = []

    def pipInstall(packages):
        nested.append(app.installer(requirementsFile).importLogic())  # the second click
        app.pipInstall(packages)

    assert app.installer(requirementsFile, pipInstall=pipInstall).importLogic() is LOGIC_MODULE
    assert nested == [None] and app.pipped == [["scikit-image>=0.20"]]
    assert len(app.errors) == 1 and "being installed" in app.errors[0][0]
    assert app.installer(requirementsFile).importLogic() is LOGIC_MODULE  # and afterwards it works
