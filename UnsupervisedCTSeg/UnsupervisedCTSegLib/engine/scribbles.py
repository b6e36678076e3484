"""Scribbles: a few strokes per structure, and the network labels the rest (TIP 2020, section III-D).

The user paints strokes into n structures (value i for structure i, 0 where nothing is painted).
Training adds ψ·CE(response at the stroked voxels, their structure) to the unsupervised loss, with
structure i on response channel i - 1, so the network learns what each structure looks like and
labels every voxel that looks the same, also where no stroke reaches (every rib once one rib is
stroked). Two outputs:

- strict: every voxel in the body gets one of the n structures (the self-training target is the
  argmax over the n structure channels only), as Grow from seeds gives;
- open: the argmax over all q channels, so voxels that resemble no structure keep clusters of their
  own, numbered after n and named by HU band.

Stroked voxels keep their structure (unless `trust_scribbles` is off).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .tissues import Tissue, label_statistics, renumber_by_hu

# Colours for structures the user did not colour (RGB 0..1), repeated when there are more.
PALETTE = ((0.90, 0.30, 0.25), (0.30, 0.65, 0.90), (0.95, 0.80, 0.25), (0.45, 0.80, 0.40), (0.75, 0.45, 0.85),
           (0.95, 0.55, 0.20), (0.35, 0.85, 0.80), (0.85, 0.85, 0.85), (0.60, 0.40, 0.25), (0.95, 0.60, 0.75))
MAX_STRUCTURES = 255


@dataclass
class Strokes:
    """Structure i (1..n) painted with value i on the CT's grid, 0 where nothing is painted, and the
    structures' names and colours (structure i at index i - 1)."""

    labels: np.ndarray  # integer (z, y, x)
    names: tuple = ()
    colors: tuple = ()
    terminologies: tuple = ()  # Slicer terminology strings, kept for the output; may be empty

    @property
    def count(self) -> int:
        return len(self.names)

    def fingerprint(self) -> str:
        """What must match for a rerun to start from a previous run's weights: the structures, by name."""
        return hashlib.sha1("\n".join(self.names).encode()).hexdigest()[:16]


def make_strokes(labels, names=None, colors=None, terminologies=None, shape=None) -> Strokes:
    """Checked Strokes from an integer label array (0 = unpainted, 1..n = structures); `shape` is the
    CT's (z, y, x). Names default to "structure i", colours to PALETTE. Every way the strokes can be
    unusable is refused with the problem and the fix."""
    fix = "paint at least one stroke into each structure (Segment Editor: Paint or Draw), on this CT's grid"
    labels = np.asarray(labels)
    if shape is not None and labels.shape != tuple(shape):
        raise InputError(f"the strokes have {labels.shape} voxels (z, y, x) but the CT has {tuple(shape)}: give "
                         "strokes painted on this CT (or resample them onto its grid, nearest neighbour)")
    if labels.dtype.kind not in "iub" and not np.array_equal(labels, np.round(labels)):
        raise InputError("the strokes have fractional values, so they are not a label map: give a labelmap or "
                         "a .seg.nrrd with one segment per structure")
    if labels.size and labels.min() < 0:
        raise InputError("the strokes have negative values: give a label map with 0 where nothing is painted "
                         "and 1..n for the structures")
    if labels.size and labels.max() > 65535:
        raise InputError(f"the strokes have label value {int(labels.max())}; at most {MAX_STRUCTURES} structures "
                         "are supported: number them 1..n")
    labels = labels.astype(np.uint16)
    present = np.flatnonzero(np.bincount(labels.ravel()))  # one pass, no sort of the whole volume
    present = present[present > 0]
    if present.size == 0:
        raise InputError(f"the strokes are empty (no painted voxel): {fix}")
    count = max(int(present.max()), len(names or ()))
    if count > MAX_STRUCTURES:
        raise InputError(f"the strokes have {count} structures; at most {MAX_STRUCTURES} are supported: "
                         "merge structures or paint fewer")
    if count < 2:
        raise InputError("the strokes hold one structure only; scribbles need at least two (the structure and "
                         "what surrounds it, such as 'other body')")
    names = tuple(names) if names else tuple(f"structure {i}" for i in range(1, count + 1))
    empty = [names[i - 1] if i <= len(names) else f"structure {i}" for i in range(1, count + 1) if i not in present]
    if empty:
        raise InputError(f"no stroke in {', '.join(repr(n) for n in empty)}: {fix}, or remove the empty "
                         "structure")
    colors = tuple(tuple(float(c) for c in color) for color in colors) if colors else ()
    colors = colors + tuple(PALETTE[i % len(PALETTE)] for i in range(len(colors), count))
    terminologies = tuple(terminologies or ()) + ("",) * (count - len(terminologies or ()))
    return Strokes(labels, names, colors, terminologies)


RERUN_SHARE = 1 / 3  # of T, trained when a rerun starts from the previous run's weights


@dataclass
class Checkpoint:
    """A scribble run's trained weights and what they were trained on, so that a rerun with more strokes
    on the same CT and structures starts from them instead of from random weights."""

    state: dict  # method network: the network's state_dict; propagate: {"partition": the partition's labels}
    fingerprint: str


STROKE_ONLY_SETTINGS = ("psi", "scribble_output", "trust_scribbles", "outside_segment", "device")


def run_fingerprint(volume, settings, strokes: Strokes) -> str:
    """What a rerun needs to match. Method network: the same CT (shape, spacing, a sample of its
    voxels), structures and network shape, as it goes on training from the weights. Method propagate:
    the same CT and every setting the unsupervised partition depends on, as it reuses the partition
    whatever the strokes."""
    digest = hashlib.sha1()
    digest.update(repr((volume.shape, tuple(volume.spacing))).encode())
    digest.update(np.ascontiguousarray(volume.hu.reshape(-1)[::97]).tobytes())
    if settings.scribble_method == "propagate":
        kept = {k: v for k, v in settings.as_dict().items() if k not in STROKE_ONLY_SETTINGS}
        digest.update(repr(sorted(kept.items())).encode())
        return digest.hexdigest()[:20]
    shape = (settings.layers, settings.channels, settings.q, settings.windows, settings.z_context,
             bool(settings.position), settings.variant, settings.scribble_output)
    digest.update(repr(shape).encode())
    digest.update(strokes.fingerprint().encode())
    return digest.hexdigest()[:20]


def structure_labels(clusters: np.ndarray, strokes: Strokes, settings, hu: np.ndarray, body) -> tuple:
    """(labels uint16, tissues) from the network's channel per voxel: channel i - 1 is structure i
    (named and coloured as the user's), and in open mode the other channels are clusters numbered
    n + 1... by increasing HU and named by HU band, never by a structure's name. Stroked voxels keep
    their structure when settings.trust_scribbles is 1; voxels outside `body` are 0 unless stroked."""
    n = strokes.count
    inside = body if body is not None else np.ones(clusters.shape, bool)
    labels = np.zeros(clusters.shape, np.uint16)
    is_structure = inside & (clusters < n)
    labels[is_structure] = clusters[is_structure] + 1
    extras = []
    if settings.scribble_output == "open":
        extra = inside & (clusters >= n)
        if extra.any():
            numbered, extras = renumber_by_hu(np.where(extra, clusters - n + 1, 0), hu, extra)
            labels[extra] = numbered[extra] + n
    if settings.trust_scribbles:
        stroked = strokes.labels > 0
        labels[stroked] = strokes.labels[stroked]
    counts, means, sds = label_statistics(labels, hu, n + len(extras))
    tissues = [Tissue(i, strokes.names[i - 1], strokes.colors[i - 1], means[i], sds[i], int(counts[i]),
                      strokes.terminologies[i - 1]) for i in range(1, n + 1)]
    for t in extras:  # an HU band's name the user gave a structure too is told apart
        label = t.label + n
        name = f"{t.name} (not stroked)" if t.name in strokes.names else t.name
        tissues.append(Tissue(label, name, t.color, means[label], sds[label], int(counts[label])))
    return labels, tissues
