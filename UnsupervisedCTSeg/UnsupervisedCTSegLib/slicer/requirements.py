"""Which of the module's Python requirements (Resources/requirements.txt) are not installed.

The Slicer panel asks this before the first run and offers to pip-install the answer. Only the
standard library at load time (and 'packaging', shipped with pip, when checking versions), so it
works before anything is installed; installing is the panel's job.
"""
from __future__ import annotations

import importlib.metadata
import re


def read_requirements(path) -> list:
    """The requirement lines of a requirements file, without comments and blank lines."""
    with open(path, encoding="utf-8") as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def missing_requirements(requirements) -> list:
    """The requirements that are not installed, or installed in a version outside the range."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no version check without 'packaging'; presence is still checked
        Requirement = None
    missing = []
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if Requirement is not None and not Requirement(requirement).specifier.contains(version, prereleases=True):
            missing.append(requirement)
    return missing
