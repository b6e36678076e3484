"""Scribbles against Grow from seeds and random walker, on the same simulated strokes.

Usage: python benchmarks/scribbles.py [--data ../shared/data] [--strokes-per-structure 1 3 5]
       [--seeds 0 1 2] [--picture scribbles.png] [--set NAME=VALUE ...] [--every-piece]

For each structure of the shared CT's reference (bone, liver, spleen, kidney, muscle, fat, bowel,
lung where present) and "other body", evaluation/strokes.py draws one straight stroke two voxels
thick through the structure's interior on k axial slices spread over its extent (stroke seed 0).
On exactly those strokes, inside the same body mask, it runs:
- ours: segment(..., scribbles=strokes), strict output, seeds as given (IoU and time from the first;
  run-to-run agreement = share of body voxels with the same label in every pair of seeds), with the
  default method (the strokes propagated over the unsupervised partition) and with the TIP 2020
  scribble loss (scribble_method network);
- Grow from seeds: Slicer's own engine, vtkImageGrowCutSegment, on the HU with the body mask;
- random walker: scikit-image's random_walker on the soft-tissue-windowed HU, outside the body inactive.
Then the same on the 3-slice DICOM CT with liver and spine. One markdown table per k. With
--picture, the shared CT's strokes at k = 3, our result and Grow from seeds on three stroked slices.
With --every-piece the simulated user is careful: one stroke through every separate piece of a
structure on each stroked slice (both kidneys, each muscle) instead of one per slice.
"""
import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from UnsupervisedCTSegLib.engine.bodymask import body_mask
from UnsupervisedCTSegLib.engine.run import segment
from UnsupervisedCTSegLib.engine.settings import Settings
from UnsupervisedCTSegLib.engine.windows import SOFT_TISSUE_WINDOW
from UnsupervisedCTSegLib.evaluation import references
from UnsupervisedCTSegLib.evaluation.strokes import simulate_strokes, structure_masks
from UnsupervisedCTSegLib.io.orientation import radiological_slice
from UnsupervisedCTSegLib.io.readers import read_volume

STRUCTURES = ("bone", "liver", "spleen", "kidney", "muscle", "fat", "bowel", "lung")


def grow_from_seeds(hu: np.ndarray, seeds: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    """Segment Editor's Grow from seeds engine (vtkImageGrowCutSegment) as the effect runs it."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    def image(array, kind):
        data = vtk.vtkImageData()
        data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
        data.SetSpacing(*spacing)
        data.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True,
                                                                  array_type=kind))
        return data

    grow = slicer.vtkImageGrowCutSegment()
    grow.SetIntensityVolume(image(np.clip(hu, -1024, 3071).astype(np.int16), vtk.VTK_SHORT))
    grow.SetSeedLabelVolume(image(seeds.astype(np.int16), vtk.VTK_SHORT))
    grow.SetMaskVolume(image((~body).astype(np.uint8), vtk.VTK_UNSIGNED_CHAR))  # non-zero: not to be labelled
    grow.Update()
    return numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape(hu.shape)


def random_walk(hu: np.ndarray, seeds: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    from skimage.segmentation import random_walker

    low, high = SOFT_TISSUE_WINDOW
    data = np.clip((hu - low) / (high - low), 0, 1)
    markers = np.where(body, seeds.astype(np.int32), -1)
    result = random_walker(data, markers, beta=130, mode="cg", tol=1e-3, spacing=np.asarray(spacing)[::-1])
    return np.where(body, np.maximum(result, 0), 0)


def ious(labels: np.ndarray, masks: dict, names: tuple) -> dict:
    out = {}
    for value, name in enumerate(names, start=1):
        predicted, truth = labels == value, masks[name]
        union = np.count_nonzero(predicted | truth)
        out[name] = np.count_nonzero(predicted & truth) / union if union else 0.0
    return out


def agreement(runs: list, body: np.ndarray) -> float:
    pairs = list(itertools.combinations(runs, 2))
    return float(np.mean([np.mean(a[body] == b[body]) for a, b in pairs])) if pairs else 1.0


def picture(path: Path, volume, strokes, ours: np.ndarray, grown: np.ndarray) -> None:
    """Strokes, ours and Grow from seeds side by side on three stroked axial slices, drawn in
    radiological convention (io.orientation) like the package's pictures, titled with stored indices."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    stroked = np.flatnonzero((strokes.labels > 0).sum(axis=(1, 2)))
    zs = stroked[np.linspace(0, len(stroked) - 1, 3).round().astype(int)]
    colours = ListedColormap([(0, 0, 0, 0)] + [(*c, 1.0) for c in strokes.colors])
    low, high = SOFT_TISSUE_WINDOW
    figure, axes = plt.subplots(3, 3, figsize=(9, 8))
    for row, z in enumerate(zs):
        for column, (title, labels) in enumerate((("strokes", strokes.labels), ("ours", ours),
                                                  ("Grow from seeds", grown))):
            axis = axes[row, column]
            axis.imshow(radiological_slice(volume.hu[z], volume.direction)[0], cmap="gray", vmin=low, vmax=high)
            shown = radiological_slice(labels[z] if column else np.where(labels[z] > 0, labels[z], 0),
                                       volume.direction)[0]
            axis.imshow(np.ma.masked_equal(shown, 0), cmap=colours, vmin=0, vmax=strokes.count,
                        alpha=1.0 if column == 0 else 0.55, interpolation="nearest")
            axis.set_title(f"{title}, slice {z}", fontsize=9)
            axis.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in strokes.colors]
    figure.legend(handles, strokes.names, loc="lower center", ncol=len(strokes.names), fontsize=8)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=100)


def compare(title, volume, masks, body, k, seeds, settings, picture_path=None, every_piece=False):
    strokes = simulate_strokes(masks, k, seed=0, every_piece=every_piece)
    names = strokes.names
    rows, first = {}, {}
    for method, row in (("propagate", "ours"), ("network", "ours, TIP 2020 scribble loss")):
        runs = []
        for seed in seeds:
            began = time.perf_counter()
            result = segment(volume, Settings(**{"scribble_method": method, **settings, "seed": seed}),
                             scribbles=strokes)
            runs.append(result.labels)
            if len(runs) == 1:
                seconds = time.perf_counter() - began
        rows[row] = (ious(runs[0], masks, names), seconds, agreement(runs, body))
        first[method] = runs[0]
    ours = first["propagate"]
    grown = None
    for method, run in (("Grow from seeds", grow_from_seeds), ("random walker", random_walk)):
        began = time.perf_counter()
        labels = run(volume.hu, strokes.labels, body, volume.spacing)
        rows[method] = (ious(labels, masks, names), time.perf_counter() - began, None)
        grown = labels if grown is None else grown
    if picture_path:
        picture(picture_path, volume, strokes, ours, grown)
    how = "every piece stroked" if every_piece else "one stroke per slice"
    print(f"\n{title}, k = {k} stroked slices per structure, {how} ({np.count_nonzero(strokes.labels)} stroked "
          "voxels)\n")
    print("| method | " + " | ".join(names) + " | mean IoU | seconds | run-to-run agreement |")
    print("|---" + "|---:" * (len(names) + 3) + "|")
    for method, (scores, seconds, agree) in rows.items():
        cells = [f"{scores[n]:.2f}" for n in names] + [f"{np.mean(list(scores.values())):.3f}", f"{seconds:.1f}",
                                                     "" if agree is None else f"{agree:.3f}"]
        print(f"| {method} | " + " | ".join(cells) + " |", flush=True)
    return strokes, ours


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    parser.add_argument("--strokes-per-structure", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help="override our settings")
    parser.add_argument("--picture", type=Path, help="write the shared CT's k = 3 picture here")
    parser.add_argument("--every-piece", action="store_true", help="a careful user: on each stroked slice one "
                        "stroke through every separate piece of a structure (both kidneys, each muscle)")
    args = parser.parse_args()
    settings = {}
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        settings[name] = value if value.isalpha() else (float(value) if "." in value else int(value))
    folder = args.data / "totalsegmentator_example"
    volume = read_volume(folder / "example_ct_sm.nii.gz")
    groups = references.load_reference(folder / "example_seg.nii.gz", folder / "example_seg_labels.json",
                                       volume).groups
    body = body_mask(volume.hu, volume.spacing)
    masks = structure_masks({name: groups.masks[name] for name in STRUCTURES if name in groups.masks}, body)
    for k in args.strokes_per_structure:
        compare("TotalSegmentator example CT", volume, masks, body, k, args.seeds, settings,
                args.picture if k == 3 else None, args.every_piece)
    dicom = args.data / "dcmqi_ct3slice"
    volume = read_volume(dicom)
    reference = read_volume(dicom / "liver_spine_seg.nrrd", labels=True).hu.astype(np.int32)
    body = body_mask(volume.hu, volume.spacing)
    masks = structure_masks({"liver": reference == 1, "spine": reference == 2}, body)
    for k in (1, 3):
        compare("3-slice DICOM CT", volume, masks, body, k, args.seeds, settings, every_piece=args.every_piece)


if __name__ == "__main__":
    main()
