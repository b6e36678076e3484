"""`ctseg figure-series`: consecutive axial slices in a row with their labels beneath (the study's Fig. 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import InputError
from ..evaluation.figures import draw_series, save_figure
from ..evaluation.references import load_label_map
from ..io.readers import read_volume, show_notes
from ..io.writers import check_no_clash, check_output_file
from .slicerange import default_series, parse_slices


def series_figure(ct, output, settings, slices: Optional[str] = None, labels: Optional[str] = None,
                  spacing=None, dl_info=None, series=None, progress=None) -> Path:
    """`ctseg figure-series`: segment CT through engine.segment (or read `labels`) and draw the series."""
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise InputError(f"figure '{output}' is not a .png path: give e.g. -o series.png")
    check_output_file(output, "the figure")
    volume = read_volume(ct, spacing=spacing, dl_info=dl_info, series=series)
    check_no_clash({"figure": output}, [*volume.files, *([Path(labels)] if labels else [])],
                   "choose another name or folder for the figure")
    show_notes(volume)
    start, stop = parse_slices(slices, volume.shape[0]) if slices else default_series(volume.shape[0])
    if labels is not None:
        label_map = load_label_map(labels, volume, "label map")
        how = f"labels from {Path(labels).name}"
    else:
        from ..engine.run import segment

        if settings.mode == "slice":  # a network per slice: the other slices do not change these clusters
            label_map = np.zeros(volume.shape, np.uint16)
            label_map[start:stop] = segment(volume.slab(start, stop), settings, progress=progress).labels
        else:  # one network for the series: it learns from every slice
            label_map = segment(volume, settings, progress=progress).labels
        how = (f"{settings.variant}, {settings.mode} mode, M={settings.layers}, θ={settings.theta:g}, "
               f"μ={settings.mu:g}, T={settings.iterations}, seed {settings.seed}")
    figure = draw_series(volume.hu[start:stop], label_map[start:stop], start, volume.spacing,
                         f"{Path(ct).name}: axial slices {start}-{stop - 1}; {how}", volume.direction)
    return save_figure(figure, output, final=True)
