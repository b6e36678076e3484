"""Hounsfield units -> network input channels.

A single linear scaling of the whole HU range squeezes fat (-100 HU) and soft tissue (+50 HU)
into 4% of the input range, so the network barely sees them apart. Each named window below maps
its HU interval linearly to [0, 1] (clipped) and becomes one input channel; stacking a wide window
with a soft-tissue one keeps air, lung and bone apart while giving soft tissues a full-range
channel of their own.
"""
from __future__ import annotations

import numpy as np

AIR_HU = -1000.0  # air, by the definition of the Hounsfield scale
# The radiologists' abdominal window: fat, fluid, organs and contrast, each a step of grey apart.
# An input channel here, and the grey under the labels in every picture and in Slicer's display.
SOFT_TISSUE_WINDOW = (-160.0, 240.0)

# name -> (low HU, high HU) mapped to 0 and 1.
WINDOWS = {
    "wide": (AIR_HU, 1000.0),  # whole body: air, lung, soft tissue, bone
    "lung": (AIR_HU, -300.0),  # air against aerated lung
    "fat": (-200.0, 0.0),  # fat against water and partial volume
    "soft": SOFT_TISSUE_WINDOW,
    "bone": (100.0, 1100.0),  # contrast-enhanced vessels against cancellous and cortical bone
}


def window_channels(hu, windows) -> "torch.Tensor":
    """Stack the named windows of `hu` (any shape, numpy or torch) on a new leading axis."""
    import torch  # here, not at the top: the Slicer panel reads WINDOWS before torch is installed

    hu = torch.as_tensor(np.asarray(hu, dtype=np.float32) if not torch.is_tensor(hu) else hu, dtype=torch.float32)
    planes = []
    for name in windows:
        low, high = WINDOWS[name]
        planes.append(((hu - low) / (high - low)).clamp_(0.0, 1.0))
    return torch.stack(planes, dim=0)
