"""The run record: everything needed to know how a labelmap was made and to make it again."""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone

import numpy as np
import torch

from .. import __version__
from ..io.writers import atomic_output


def versions() -> dict:
    import scipy
    import skimage
    import SimpleITK

    return {"UnsupervisedCTSeg": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "scikit-image": skimage.__version__,
            "SimpleITK": SimpleITK.Version_VersionString(), "platform": platform.platform()}


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


def write_record(path, record: dict) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
