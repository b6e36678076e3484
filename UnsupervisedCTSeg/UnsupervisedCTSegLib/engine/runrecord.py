"""The run record: everything needed to know how a labelmap was made and to make it again.

Built here as plain data; writing it to a file is the io layer's job (io/outputs.py), and the Slicer
adapter keeps it on the segmentation node.
"""
from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata

import numpy as np
import torch

from .. import __version__


def versions() -> dict:
    import scipy
    import skimage

    found = {"UnsupervisedCTSeg": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
             "numpy": np.__version__, "scipy": scipy.__version__, "scikit-image": skimage.__version__}
    simpleitk = _installed_version("SimpleITK")  # the readers' and writers' library, not the engine's
    if simpleitk:
        found["SimpleITK"] = simpleitk
    found["platform"] = platform.platform()
    return found


def _installed_version(package: str) -> str:
    """A package's version without importing it: from the module when already loaded, else from pip."""
    module = sys.modules.get(package)
    if module is not None and hasattr(module, "Version_VersionString"):
        return module.Version_VersionString()
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:  # Slicer bundles SimpleITK without pip's metadata
        return ""


def make_record(volume, settings, device: str, trace, tissues, wall_seconds: float) -> dict:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {"source": volume.source, "shape_zyx": list(volume.shape), "spacing_xyz": list(volume.spacing),
                  "origin": list(volume.origin), "direction": volume.direction.tolist(),
                  **({"notes": list(volume.notes)} if volume.notes else {})},
        "settings": settings.as_dict(),
        "seed": settings.seed,
        "device": device,
        "versions": versions(),
        "iterations_run": len(trace.loss),
        "stop_reason": trace.stop_reason,
        "history": {"loss": [round(v, 6) for v in trace.loss], "labels": trace.labels,
                    **({"slice": trace.slice_index} if trace.slice_index else {})},
        "labels": [t.as_dict() for t in tissues],
        "wall_seconds": round(wall_seconds, 3),
    }
