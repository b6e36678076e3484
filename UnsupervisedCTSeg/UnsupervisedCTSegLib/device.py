"""Pick the torch device: CUDA when present, else CPU, or whatever the user forces."""
from __future__ import annotations

import torch

from .errors import InputError


def pick_device(requested: str = "auto") -> torch.device:
    requested = (requested or "auto").lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device '{requested}' asked for, but this PyTorch sees no CUDA GPU: "
                             "use --device cpu (or auto), or install a CUDA build of PyTorch")
        device = torch.device(requested)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device '{requested}' does not exist ({torch.cuda.device_count()} GPU(s)): "
                             "use cuda:0 or auto")
        return device
    raise InputError(f"unknown device '{requested}': use auto, cpu, cuda or cuda:N")


def describe(device: torch.device) -> str:
    """Human-readable device name for progress lines and the run record."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
