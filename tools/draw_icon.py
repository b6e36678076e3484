"""Draw the 128 x 128 extension icon.

The icon shows an axial CT slice (body ellipse with the spine) split into a few coloured clusters,
with a small neural network in the corner: unsupervised clustering of CT by a network. It is drawn
at 4x and downsampled so edges stay smooth. Run from anywhere:

    python tools/draw_icon.py

It writes UnsupervisedCTSeg.png at the repository root (the extension icon) and
UnsupervisedCTSeg/Resources/Icons/UnsupervisedCTSeg.png (the module icon).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
TARGETS = (
    ROOT / "UnsupervisedCTSeg.png",
    ROOT / "UnsupervisedCTSeg" / "Resources" / "Icons" / "UnsupervisedCTSeg.png",
)
SIZE = 128
SCALE = 4

# Cluster colours, close to the tissue colours the module gives (fat, soft tissue, enhanced organ,
# fluid, lung) so the icon matches what users see after a run.
PALETTE = np.array([
    (242, 217, 89),   # fat
    (217, 115, 102),  # soft tissue
    (204, 51, 77),    # enhanced organ (liver)
    (89, 166, 217),   # fluid / bowel
    (140, 191, 242),  # lung
    (230, 140, 110),  # muscle
], np.uint8)


def draw_icon(size: int = SIZE) -> Image.Image:
    n = size * SCALE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n  # 0..1
    cx, cy, a, b = 0.46, 0.60, 0.44, 0.34  # body ellipse, a little low to leave room for the network
    r = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2
    body = r <= 1.0
    inner = ((xx - cx) / (a - 0.055)) ** 2 + ((yy - cy) / (b - 0.055)) ** 2 <= 1.0

    # Voronoi clusters inside the body: what an unsupervised segmentation looks like.
    seeds = np.array([(0.28, 0.52), (0.33, 0.70), (0.50, 0.44), (0.62, 0.58), (0.70, 0.72),
                      (0.48, 0.80), (0.76, 0.50), (0.20, 0.63)], np.float32)
    colours = [2, 2, 3, 1, 0, 5, 4, 0]
    d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
    nearest = np.argmin(d, axis=-1)
    d.sort(axis=-1)
    border = np.sqrt(d[..., 1]) - np.sqrt(d[..., 0]) < 0.012

    rgba = np.zeros((n, n, 4), np.uint8)
    rgba[body] = (235, 235, 235, 255)  # skin and subcutaneous rim
    fill = PALETTE[np.array(colours)[nearest]]
    rgba[inner, :3] = fill[inner]
    rgba[inner & border, :3] = (40, 40, 48)
    # Vertebra: a white body with its spinous process, outlined so it reads on any colour.
    vy = cy + b - 0.16
    vertebra = (((xx - cx) / 0.065) ** 2 + ((yy - vy) / 0.05) ** 2 <= 1.0) | (
        ((xx - cx) / 0.02) ** 2 + ((yy - vy - 0.07) / 0.04) ** 2 <= 1.0)
    halo = (((xx - cx) / 0.080) ** 2 + ((yy - vy) / 0.065) ** 2 <= 1.0) | (
        ((xx - cx) / 0.035) ** 2 + ((yy - vy - 0.07) / 0.055) ** 2 <= 1.0)
    rgba[halo & inner, :3] = (40, 40, 48)
    rgba[vertebra] = (255, 255, 255, 255)
    outline = (r > 1.0) & (r <= 1.09)
    rgba[outline] = (40, 40, 48, 255)

    image = Image.fromarray(rgba, "RGBA")
    _draw_network(ImageDraw.Draw(image), n)
    return image.resize((size, size), Image.LANCZOS)


def _draw_network(draw: ImageDraw.ImageDraw, n: int) -> None:
    """A 3-3-2 network in the top-right corner on a dark rounded tile."""
    s = n / 128.0
    x0, y0, x1, y1 = 76 * s, 3 * s, 125 * s, 42 * s
    draw.rounded_rectangle((x0, y0, x1, y1), radius=8 * s, fill=(40, 40, 48, 255))
    layers = [3, 3, 2]
    xs = [x0 + 9 * s, (x0 + x1) / 2, x1 - 9 * s]
    nodes = []
    for count, x in zip(layers, xs):
        step = (y1 - y0 - 12 * s) / max(count - 1, 1)
        top = y0 + 6 * s if count > 1 else (y0 + y1) / 2
        if count == 2:
            top, step = y0 + 12 * s, (y1 - y0 - 24 * s)
        nodes.append([(x, top + i * step) for i in range(count)])
    for left, right in zip(nodes, nodes[1:]):
        for p in left:
            for q in right:
                draw.line((p, q), fill=(150, 150, 165, 255), width=max(1, int(1.4 * s)))
    radius = 4.2 * s
    for layer, points in enumerate(nodes):
        for i, (x, y) in enumerate(points):
            colour = (255, 255, 255) if layer < 2 else tuple(int(v) for v in PALETTE[(2, 3)[i]])
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour + (255,))


def main() -> None:
    icon = draw_icon()
    for target in TARGETS:
        target.parent.mkdir(parents=True, exist_ok=True)
        icon.save(target, optimize=True)
        print(target)


if __name__ == "__main__":
    main()
