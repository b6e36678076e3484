"""Installing what a run needs inside Slicer: PyTorch with the PyTorch extension, the rest with pip.

Why a module of its own: the decisions (what is missing, what to ask, what a refusal, a failed
download or a broken install leads to, that one install runs at a time, when the self-tests must
not install anything) are the part worth testing, and they are tested here with plain callables.
The Slicer pieces they use (the dialogs, the PyTorch extension's PyTorchUtils,
slicer.util.pip_install) are looked up only when called, inside the application. Nothing here
imports torch: whether it is installed is found without importing it (importing takes seconds,
and a broken install fails in ways other than ImportError).
"""
from __future__ import annotations

import importlib
import logging
import traceback
from dataclasses import dataclass
from typing import Callable, Optional

from ..engine.device import torch_installed
from . import requirements

TORCH_REQUIREMENT = ">=2.0"  # as in pyproject.toml
LOGIC_MODULE = "UnsupervisedCTSegLib.slicer.logic"
# An install of this process is going. slicer.util.pip_install processes the application's events at
# every line pip prints, so the panel or the effect can be asked for a run meanwhile: that run must
# not start a second install inside the first.
_installing = False


def _untranslated(text: str) -> str:
    return text


# --- the Slicer pieces, looked up when called ----------------------------------------------------


def slicerConfirm(text: str, title: str) -> bool:
    import slicer.util  # only inside the application

    return bool(slicer.util.confirmOkCancelDisplay(text, windowTitle=title))


def slicerError(text: str, details: str = "") -> None:
    import slicer.util

    if details:
        slicer.util.errorDisplay(text, detailedText=details)
    else:
        slicer.util.errorDisplay(text)


def slicerPipInstall(packages: list) -> None:
    import slicer.util

    with slicer.util.WaitCursor():
        slicer.util.pip_install(packages)


def pytorchExtensionInstaller() -> Optional[Callable[[], object]]:
    """The PyTorch extension's installTorch (it asks before installing and returns torch, or None when
    declined), or None when that extension is not installed."""
    try:
        import PyTorchUtils
    except ImportError:
        return None

    def installTorch():
        return PyTorchUtils.PyTorchUtilsLogic().installTorch(
            askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)

    return installTorch


def importLogicModule():
    return importlib.import_module(LOGIC_MODULE)


# --- the decisions ------------------------------------------------------------------------------


@dataclass
class Installer:
    """The install flow. Inside Slicer only requirementsFile and tr are given; tests replace the rest."""

    requirementsFile: str  # Resources/requirements.txt: what the module needs besides PyTorch
    tr: Callable[[str], str] = _untranslated
    confirm: Callable[[str, str], bool] = slicerConfirm  # (text, window title) -> OK pressed
    showError: Callable[..., None] = slicerError  # (text, details="")
    pipInstall: Callable[[list], None] = slicerPipInstall
    findTorchInstaller: Callable[[], Optional[Callable[[], object]]] = pytorchExtensionInstaller
    torchInstalled: Callable[[], bool] = torch_installed
    missingPackages: Callable[[list], list] = requirements.missing_requirements
    importLogicModule: Callable[[], object] = importLogicModule

    def missing(self) -> list:
        """What is not installed: "torch>=2.0" first when PyTorch is missing, then requirements.txt's."""
        torch = [] if self.torchInstalled() else ["torch" + TORCH_REQUIREMENT]
        return torch + self.missingPackages(requirements.read_requirements(self.requirementsFile))

    def ensureTorch(self) -> bool:
        """True when PyTorch is installed; otherwise the PyTorch extension installs it if the user agrees."""
        if self.torchInstalled():
            return True
        installTorch = self.findTorchInstaller()
        if installTorch is None:
            self.showError(self.tr(
                "This module needs PyTorch, which is installed by the 'PyTorch' extension. Install that "
                "extension from the Extensions Manager, restart the application and try again."))
            return False
        installed, torch = self._install(installTorch, "PyTorch")  # asks first; None when the user declines
        importlib.invalidate_caches()
        return installed and torch is not None

    def ensureRequirements(self) -> bool:
        """True when PyTorch and requirements.txt are installed, installing what is missing if the user
        agrees; False, after saying why, when an install fails or another one is going."""
        if _installing:
            self.showError(self.tr("Python packages for Unsupervised CT Segmentation are being installed; "
                                   "try again once that has finished."))
            return False
        if not self.ensureTorch():
            return False
        missing = self.missingPackages(requirements.read_requirements(self.requirementsFile))
        if not missing:
            return True
        if not self.confirm(
                self.tr("Unsupervised CT Segmentation needs these Python packages, which are missing or too old:"
                        "\n\n{packages}\n\nInstall them now? This downloads them with pip and can take a few "
                        "minutes.").format(packages="\n".join(missing)),
                self.tr("Install Python packages")):
            return False
        installed, _ = self._install(lambda: self.pipInstall(missing), ", ".join(missing))
        importlib.invalidate_caches()
        return installed

    def _install(self, install: Callable[[], object], packages: str) -> tuple:
        """(True, what `install()` returned), or (False, None) after showing why it failed: pip's
        error would otherwise reach only the Python console, and offline pip fails for certain."""
        global _installing
        _installing = True
        try:
            return True, install()
        except Exception as error:
            logging.exception("UnsupervisedCTSeg: installing %s failed", packages)
            self.showError(self.tr(
                "Installing {packages} failed:\n\n{error}\n\nWithout a network connection the packages "
                "cannot be downloaded: connect and try again. What the installer printed is in the Python "
                "console (View > Python Console).").format(packages=packages, error=f"{type(error).__name__}: {error}"),
                details=traceback.format_exc())
            return False, None
        finally:
            _installing = False

    def importLogic(self):
        """The slicer logic module once its requirements are in; None (after saying why) when the user
        declines an install or the import fails.

        Any exception counts, not only ImportError: a broken PyTorch or SimpleITK install raises
        OSError (a missing shared library), AttributeError or RuntimeError, and must end in a message
        rather than in a panel that no longer works.
        """
        if not self.ensureRequirements():
            return None
        try:
            return self.importLogicModule()
        except Exception as error:
            logging.exception("UnsupervisedCTSeg: the logic could not be loaded")
            self.showError(self.tr(
                "The Python packages this module needs are installed but could not be loaded:\n\n{error}\n\n"
                "Reinstalling PyTorch (with the PyTorch extension) or the package named above usually "
                "helps.").format(error=f"{type(error).__name__}: {error}"), details=traceback.format_exc())
            return None

    def selfTestSkipReason(self, testing: bool) -> Optional[str]:
        """Why the self-tests cannot run, or None when they can.

        In testing mode (ctest, --testing) Slicer answers every confirmation with yes by itself, so
        nothing is installed there: the self-tests are skipped with a message naming what is missing.
        Run by hand, they install what is missing the usual way, after asking.
        """
        if testing:
            missing = self.missing()
            if not missing:
                return None
            return self.tr("UnsupervisedCTSeg self-tests skipped: these Python packages are not installed "
                           "and are not installed in testing mode: {packages}").format(packages=", ".join(missing))
        if self.ensureRequirements():
            return None
        return self.tr("UnsupervisedCTSeg self-tests skipped: PyTorch or the packages of "
                       "Resources/requirements.txt are not installed.")
