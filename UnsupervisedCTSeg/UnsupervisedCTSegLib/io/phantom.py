"""The built-in sample: a synthetic axial abdominal CT with known tissue truth.

The phantom imitates a contrast-enhanced (portal venous) DeepLesion abdominal slab: 0.8 x 0.8 mm
pixels, 5 mm slices, the patient supine on a curved table with a cushion, partly covered by
clothing. Every tissue gets a realistic Hounsfield value, shapes change smoothly from slice to
slice, and the image is blurred slightly and given quantum-like noise, so the segmentation engine
meets the same difficulties as on a real scan (partial volume, noise, small bright bones, thin
low-density objects outside the body) while the truth is known exactly.

Geometry follows LPS with the identity direction: column index grows towards the patient's left
(so the liver lies on the image left, as radiologists view it), row index grows towards the back
(the table is at the bottom of the image) and slice index grows towards the head (the lung bases
appear in the last, most cranial slices).

Everything random comes from one seeded numpy Generator, so a seed always gives the same volume.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..engine.errors import InputError
from ..engine.volume import Volume
from ..engine.windows import AIR_HU

# Truth label ids. 0 is the air outside the patient (and the gaps in the clothing).
AIR = 0
TABLE = 1
CLOTHING = 2
LUNG = 3
FAT = 4
MUSCLE = 5
LIVER = 6
SPLEEN = 7
KIDNEY = 8
VESSELS = 9
BONE = 10
BOWEL_GAS = 11
BOWEL_FLUID = 12
LESION = 13
SKIN = 14
CUSHION = 15
SPINAL_CANAL = 16
PANCREAS = 17

LABEL_NAMES = {
    AIR: "outside air",
    TABLE: "table",
    CLOTHING: "clothing",
    LUNG: "lung",
    FAT: "fat",
    MUSCLE: "muscle",
    LIVER: "liver",
    SPLEEN: "spleen",
    KIDNEY: "kidney",
    VESSELS: "vessels",
    BONE: "bone",
    BOWEL_GAS: "bowel gas",
    BOWEL_FLUID: "bowel fluid/wall",
    LESION: "liver lesion",
    SKIN: "skin",
    CUSHION: "table cushion",
    SPINAL_CANAL: "spinal canal",
    PANCREAS: "pancreas",
}

SPACING = (0.8, 0.8, 5.0)  # mm along (x, y, z), as in DeepLesion
BLUR_SIGMA_PX = 0.7
NOISE_SD_HU = 12.0


def make_phantom(slices: int = 12, size: int = 256, seed: int = 0):
    """Make the synthetic abdominal CT.

    Returns ``(volume, truth, names)``: a :class:`Volume` of integer-valued HU (float32, (z, y, x),
    spacing 0.8 x 0.8 x 5 mm, origin 0, identity direction), the uint8 truth labels of the same
    shape and the mapping from truth label id to tissue name. The slab always spans the same
    anatomy (upper abdomen with lung bases at the cranial end down to the lower kidneys), however
    many slices are asked for; ``size`` scales the anatomy with the image.
    """
    slices = int(slices)
    size = int(size)
    if slices < 1 or size < 32:
        raise InputError(f"the phantom needs slices >= 1 and size >= 32, got slices={slices}, size={size}")
    rng = np.random.default_rng(seed)
    painter = _Painter(size, rng)
    hu = np.empty((slices, size, size), np.float32)
    truth = np.empty((slices, size, size), np.uint8)
    for z in range(slices):
        # c: 0 at the most cranial slice (the last index), 1 at the most caudal one (index 0).
        c = 1.0 - z / (slices - 1) if slices > 1 else 0.5
        hu[z], truth[z] = painter.slice(c)
    hu = ndimage.gaussian_filter(hu, sigma=(0.0, BLUR_SIGMA_PX, BLUR_SIGMA_PX), mode="nearest")
    hu += rng.normal(0.0, NOISE_SD_HU, hu.shape).astype(np.float32)
    np.clip(hu, -1024.0, 3071.0, out=hu)
    np.rint(hu, out=hu)
    volume = Volume(hu, SPACING, (0.0, 0.0, 0.0), np.eye(3), source="built-in phantom")
    return volume, truth, dict(LABEL_NAMES)


def _bell(c: float, start: float, peak: float, stop: float) -> float:
    """0 outside (start, stop), 1 at peak, smooth (half-cosine) in between: how big an organ is."""
    if c <= start or c >= stop:
        return 0.0
    if c <= peak:
        return 0.5 - 0.5 * np.cos(np.pi * (c - start) / (peak - start)) if peak > start else 1.0
    return 0.5 + 0.5 * np.cos(np.pi * (c - peak) / (stop - peak)) if stop > peak else 1.0


class _Painter:
    """Draws one axial slice at a time onto label and HU canvases, later shapes covering earlier."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.n = size
        self.px = 2.0 / size  # one pixel in normalised units (the image spans -1..1)
        centre = (size - 1) / 2.0
        grid = (np.arange(size, dtype=np.float32) - centre) / (size / 2.0)
        self.Y, self.X = np.meshgrid(grid, grid, indexing="ij")
        self.rng = rng
        # Smooth textures (fixed per volume, varying a little with the slice) for organ parenchyma,
        # fat strands and trabecular bone.
        self.soft_texture = self._smooth_field(sigma=size / 40.0, amplitude=1.0)
        self.fine_texture = self._smooth_field(sigma=size / 200.0, amplitude=1.0)
        self.slow_texture = self._smooth_field(sigma=size / 12.0, amplitude=1.0)
        # Small per-seed anatomical variation.
        self.jitter = rng.uniform(-1.0, 1.0, 16)
        self.loops = self._bowel_loops()
        self.clothing_phase = rng.uniform(0, 2 * np.pi, 3)

    # --- helpers -------------------------------------------------------------------------------

    def _smooth_field(self, sigma: float, amplitude: float) -> np.ndarray:
        field = ndimage.gaussian_filter(self.rng.normal(size=(self.n, self.n)).astype(np.float32), sigma)
        field /= max(float(field.std()), 1e-6)
        return field * amplitude

    def ellipse(self, cx, cy, a, b, angle_deg=0.0, power=2.0) -> np.ndarray:
        """Boolean mask of a (super)ellipse, evaluated only inside its bounding box."""
        mask = np.zeros((self.n, self.n), bool)
        if a <= 0 or b <= 0:
            return mask
        reach = float(np.hypot(a, b)) + 2 * self.px
        half = self.n / 2.0
        centre = (self.n - 1) / 2.0
        c0 = max(int(np.floor((cx - reach) * half + centre)), 0)
        c1 = min(int(np.ceil((cx + reach) * half + centre)) + 1, self.n)
        r0 = max(int(np.floor((cy - reach) * half + centre)), 0)
        r1 = min(int(np.ceil((cy + reach) * half + centre)) + 1, self.n)
        if c0 >= c1 or r0 >= r1:
            return mask
        dx = self.X[r0:r1, c0:c1] - np.float32(cx)
        dy = self.Y[r0:r1, c0:c1] - np.float32(cy)
        if angle_deg:
            t = np.deg2rad(angle_deg)
            ct, st = np.float32(np.cos(t)), np.float32(np.sin(t))
            dx, dy = dx * ct + dy * st, dy * ct - dx * st
        u = dx * np.float32(1.0 / a)
        v = dy * np.float32(1.0 / b)
        if power == 2.0:
            inside = u * u + v * v <= 1.0
        else:
            inside = np.abs(u) ** power + np.abs(v) ** power <= 1.0
        mask[r0:r1, c0:c1] = inside
        return mask

    def paint(self, mask, label, value):
        self.labels[mask] = label
        self.hu[mask] = value if np.isscalar(value) else value[mask]

    # --- anatomy -------------------------------------------------------------------------------

    def _bowel_loops(self):
        """Small-bowel loops: tubes whose centres drift slowly from slice to slice."""
        loops = []
        centres = [(-0.05, -0.32), (0.17, -0.33), (-0.24, -0.26), (0.04, -0.14), (0.30, -0.14),
                   (-0.20, -0.08), (0.40, -0.30), (-0.03, -0.45), (0.22, -0.45), (-0.28, -0.40),
                   (0.15, -0.02), (0.42, -0.05), (-0.38, -0.12), (0.30, 0.02)]
        for cx, cy in centres:
            loops.append(dict(
                cx=cx + self.rng.uniform(-0.03, 0.03), cy=cy + self.rng.uniform(-0.03, 0.03),
                drift=self.rng.uniform(-0.08, 0.08, 2), r=self.rng.uniform(0.055, 0.085),
                gas=self.rng.choice([0.0, 0.0, 0.25, 0.45, 1.0]) * self.rng.uniform(0.7, 1.0),
                collapsed=bool(self.rng.random() < 0.2),
                start=self.rng.uniform(0.25, 0.55), wall=self.rng.uniform(1.5, 2.5),
                aspect=self.rng.uniform(0.6, 0.95), angle=self.rng.uniform(-60, 60)))
        return loops

    def slice(self, c: float):
        n, X, Y, px = self.n, self.X, self.Y, self.px
        j = self.jitter
        self.labels = np.zeros((n, n), np.uint8)
        self.hu = np.full((n, n), AIR_HU, np.float32)
        tex = (self.soft_texture * np.float32(np.cos(3.0 * c))
               + self.slow_texture * np.float32(np.sin(3.0 * c)))

        # Table: a carbon-fibre cradle curving up at the sides, a foam cushion on top of it.
        cushion_top = 0.45 + 0.16 * X ** 2
        cushion = (Y >= cushion_top) & (Y < cushion_top + 4.0 * px) & (np.abs(X) < 0.86)
        plate_top = cushion_top + 4.5 * px
        plate = (Y >= plate_top) & (Y < plate_top + 7.0 * px) & (np.abs(X) < 0.93)
        shell = plate & ((Y < plate_top + 1.6 * px) | (Y >= plate_top + 5.4 * px))
        self.paint(plate, TABLE, 130.0 + 12.0 * self.fine_texture)
        self.paint(shell, TABLE, 290.0)
        rail_y = 0.45 + 0.16 * 0.93 ** 2 + 8.0 * px
        rail = self.ellipse(-0.93, rail_y, 0.025, 5.0 * px) | self.ellipse(0.93, rail_y, 0.025, 5.0 * px)
        self.paint(rail, TABLE, 240.0)
        self.paint(cushion, CUSHION, -330.0 + 60.0 * self.fine_texture)

        # Body: a squarish ellipse whose back is flattened where it lies on the cushion.
        cy_body = -0.06
        a_body = 0.80 + 0.015 * j[0] + 0.02 * c
        b_body = 0.59 + 0.01 * j[1]
        body = self.ellipse(0.0, cy_body, a_body, b_body, power=2.3) & (Y < cushion_top - 0.5 * px)
        depth = ndimage.distance_transform_edt(body).astype(np.float32)  # pixels inside the skin
        theta = np.arctan2(Y - cy_body, X / a_body * b_body)
        anterior = np.clip(-np.sin(theta), 0.0, None)
        lateral = np.abs(np.cos(theta))
        posterior = np.clip(np.sin(theta), 0.0, None)

        # Clothing: a thin gown over the front and sides, lifted off the skin in places.
        out_dist = ndimage.distance_transform_edt(~body).astype(np.float32)
        p = self.clothing_phase
        gap = (1.0 + 2.5 * (0.5 + 0.5 * np.sin(5 * theta + p[0] + 2.0 * c))
               + 1.5 * (0.5 + 0.5 * np.sin(11 * theta + p[1])))
        thick = 3.0 + 1.5 * (0.5 + 0.5 * np.sin(7 * theta + p[2]))
        cover = (np.sin(theta) < 0.35) & (np.sin(23 * theta + p[1] + 3.0 * c) > -0.75)
        cloth = cover & (out_dist > gap) & (out_dist <= gap + thick) & (Y < cushion_top - 1.0 * px)
        self.paint(cloth, CLOTHING, -100.0 + 35.0 * self.fine_texture)

        # Skin, subcutaneous fat, abdominal wall muscles, visceral fat.
        s = self.n / 256.0
        fat_depth = s * (11.0 + 7.0 * anterior ** 2 + (4.0 + 2.0 * j[2]) * lateral + 2.0 * posterior)
        muscle_depth = fat_depth + s * (5.0 + 2.0 * anterior ** 4 + 2.0 * posterior)
        # The linea alba is thin: rectus muscles part in the midline.
        muscle_depth = np.where((np.abs(X) < 0.025) & (Y < cy_body), fat_depth + 2.0 * s, muscle_depth)
        self.paint(body, FAT, -95.0 + 6.0 * tex)
        self.paint(body & (depth >= fat_depth) & (depth < muscle_depth), MUSCLE, 52.0 + 4.0 * tex)
        # Subcutaneous fat with a few denser septa.
        subcutaneous_hu = np.where(self.fine_texture > 2.2, -70.0, -108.0 + 5.0 * tex)
        self.paint(body & (depth < fat_depth), FAT, subcutaneous_hu)
        self.paint(body & (depth < 2.5 * s), SKIN, 40.0)
        cavity = body & (depth >= muscle_depth + 1.0 * s)

        # Back muscles (erector spinae).
        paraspinal = (self.ellipse(-0.13, 0.32, 0.115, 0.085, -10)
                      | self.ellipse(0.13, 0.32, 0.115, 0.085, 10)) & body
        self.paint(paraspinal & (depth >= 2.0 * s), MUSCLE, 55.0 + 4.0 * tex)

        # Liver (image left = patient right), with its left lobe crossing the midline cranially.
        k = _bell(c, -0.6, 0.0, 1.15)
        liver = self.ellipse(-0.34 - 0.12 * (1 - k), -0.06 + 0.10 * (1 - k), 0.46 * k ** 0.6, 0.44 * k ** 0.4,
                             -25 - 20 * (1 - k), power=2.4)
        liver &= X < 0.05 - 0.35 * (1 - k) + 0.25 * (Y + 0.3)
        k_left = _bell(c, -0.5, 0.0, 0.55)
        if k_left > 0:
            liver |= self.ellipse(-0.05 + 0.05 * k_left, -0.28, 0.30 * k_left, 0.13 * k_left ** 0.5, -8)
        liver &= cavity
        liver_hu = 112.0 + 5.0 * tex
        self.paint(liver, LIVER, liver_hu)

        # Psoas muscles beside the vertebra, growing caudally.
        grow = 0.3 + 0.7 * c
        psoas_a, psoas_b = 0.035 + 0.045 * grow, 0.045 + 0.03 * grow
        psoas = (self.ellipse(-0.15 - 0.03 * grow, 0.10, psoas_a, psoas_b, 20)
                 | self.ellipse(0.15 + 0.03 * grow, 0.10, psoas_a, psoas_b, -20))
        if c > 0.15:
            self.paint(psoas & cavity, MUSCLE, 50.0 + 4.0 * tex)

        # Spleen (image right), posterolateral, gone in the lower slices.
        ks = _bell(c, -0.6, 0.05, 0.65)
        if ks > 0:
            spleen = self.ellipse(0.53, 0.08, 0.12 * ks ** 0.5, 0.24 * ks ** 0.7, 35) & cavity
            self.paint(spleen, SPLEEN, 102.0 + 4.0 * tex)

        # Lung bases in the posterior costophrenic recesses, shrinking caudally.
        kl = _bell(c, -0.6, 0.0, 0.42)
        if kl > 0:
            lungs = (self.ellipse(-0.50, 0.27 + 0.04 * (1 - kl), 0.22 * kl, 0.12 * kl ** 0.7, 32)
                     | self.ellipse(0.50, 0.27 + 0.04 * (1 - kl), 0.22 * kl, 0.12 * kl ** 0.7, -32))
            lungs &= body & (depth >= muscle_depth + 0.5 * s) & ~paraspinal
            self.paint(lungs, LUNG, -855.0 + 15.0 * tex)
            vessel_dots = lungs & (self.fine_texture > 2.4)
            self.paint(vessel_dots, LUNG, -650.0)

        # Stomach (image right, anterior) with an air-fluid level: gas rises to the front.
        kst = _bell(c, -0.4, 0.1, 0.55)
        if kst > 0:
            stomach = self.ellipse(0.28, -0.22, 0.22 * kst ** 0.5, 0.15 * kst ** 0.5, 25) & cavity
            inner = self.ellipse(0.28, -0.22, 0.22 * kst ** 0.5 - 2.5 * px, 0.15 * kst ** 0.5 - 2.5 * px, 25)
            self.paint(stomach, BOWEL_FLUID, 45.0)
            self.paint(stomach & inner, BOWEL_FLUID, 18.0 + 3.0 * tex)
            self.paint(stomach & inner & (Y < -0.25 - 0.03 * kst), BOWEL_GAS, -905.0)

        # Kidneys: enhanced cortex around the medulla, renal sinus fat at the hilum.
        kk = _bell(c, 0.2, 0.7, 1.3)
        if kk > 0:
            for side in (-1.0, 1.0):
                cx, cy = side * (0.34 + 0.02 * j[3]), 0.12
                a, b, ang = 0.115 * kk ** 0.5, 0.075 * kk ** 0.5, side * -35
                kidney = self.ellipse(cx, cy, a, b, ang) & cavity
                medulla = self.ellipse(cx, cy, a - 3.5 * px, b - 3.5 * px, ang)
                sinus = self.ellipse(cx - side * 0.6 * a, cy - 0.3 * b,
                                     0.45 * a * (kk - 0.4), 0.35 * b * (kk - 0.4), ang)
                perirenal = self.ellipse(cx, cy, a + 3.0 * px, b + 3.0 * px, ang) & cavity
                self.paint(perirenal, FAT, -92.0 + 5.0 * tex)
                self.paint(kidney, KIDNEY, 168.0 + 5.0 * tex)
                self.paint(kidney & medulla, KIDNEY, 115.0 + 5.0 * tex)
                self.paint(kidney & sinus, FAT, -90.0)

        # Colon: ascending (image left) and descending (image right), gas and faeces/fluid.
        for side, start in ((-1.0, 0.45), (1.0, 0.2)):
            kc = _bell(c, start, 0.85, 1.5)
            if kc > 0:
                cx, cy, r = side * 0.56, -0.05, 0.085 * kc ** 0.5
                colon = self.ellipse(cx, cy, r, r * 1.1) & cavity & ~liver
                inner = self.ellipse(cx, cy, r - 2.0 * px, r * 1.1 - 2.0 * px)
                self.paint(colon, BOWEL_FLUID, 40.0)
                self.paint(colon & inner, BOWEL_FLUID, 25.0 + 10.0 * self.fine_texture)
                self.paint(colon & inner & (Y < cy + 0.35 * r), BOWEL_GAS, -910.0)

        # Small bowel loops in the anterior abdomen: wall, fluid and some gas on top.
        for loop in self.loops:
            kb = _bell(c, loop["start"] - 0.3, loop["start"] + 0.1, 1.8)
            if kb <= 0:
                continue
            cx = loop["cx"] + loop["drift"][0] * c
            cy = loop["cy"] + loop["drift"][1] * c
            r = loop["r"] * kb ** 0.5
            ab, ang = r * loop["aspect"], loop["angle"]
            bowel = self.ellipse(cx, cy, r, ab, ang) & cavity & ~liver
            inner = self.ellipse(cx, cy, r - loop["wall"] * px, ab - loop["wall"] * px, ang)
            self.paint(bowel, BOWEL_FLUID, 45.0)
            if loop["collapsed"]:
                continue
            self.paint(bowel & inner, BOWEL_FLUID, 20.0 + 3.0 * tex)
            level = cy - ab + 2.0 * ab * loop["gas"]
            self.paint(bowel & inner & (Y < level), BOWEL_GAS, -900.0)

        # Pancreas: body and tail curving towards the splenic hilum, in front of the aorta.
        kp = _bell(c, 0.15, 0.45, 0.75)
        if kp > 0:
            pancreas = (self.ellipse(0.14, -0.23, 0.20 * kp ** 0.5, 0.035, 18)
                        | self.ellipse(-0.04, -0.26, 0.07 * kp ** 0.5, 0.04, -10)) & cavity & ~liver
            self.paint(pancreas, PANCREAS, 95.0 + 5.0 * self.fine_texture)

        # Vessels: aorta and IVC in front of the spine, mesenteric vessels, portal veins.
        self.paint(self.ellipse(0.045, -0.07, 0.055, 0.055), VESSELS, 200.0)
        ivc_a = 0.07 - 0.015 * c
        self.paint(self.ellipse(-0.11, -0.06, ivc_a, 0.045), VESSELS, 150.0)
        if c > 0.35:
            mesenteric = self.ellipse(0.05, -0.18, 0.018, 0.018) | self.ellipse(-0.01, -0.19, 0.024, 0.022)
            self.paint(mesenteric, VESSELS, 185.0)
        if k > 0.2:
            portal = ((-0.30, -0.10, 0.030), (-0.45, 0.00, 0.020),
                      (-0.22, -0.22, 0.018), (-0.50, -0.18, 0.016))
            for vx, vy, vr in portal:
                self.paint(self.ellipse(vx, vy, vr * k, vr * k) & liver, VESSELS, 165.0)

        # Hypodense liver lesion, a sphere seen in a few slices.
        kles = 1.0 - ((c - 0.50) / 0.20) ** 2
        if kles > 0:
            r = 0.07 * np.sqrt(kles)
            lesion = self.ellipse(-0.50, -0.10, r, r * 0.9) & liver
            self.paint(lesion, LESION, 45.0 + 3.0 * tex)

        # Vertebra: cortical rim, cancellous centre, posterior arch with spinous and transverse processes.
        vb = self.ellipse(0.0, 0.10, 0.115, 0.095, power=2.2)
        vb_inner = self.ellipse(0.0, 0.10, 0.115 - 2.2 * px, 0.095 - 2.2 * px, power=2.2)
        canal = self.ellipse(0.0, 0.26, 0.052, 0.045)
        arch = self.ellipse(0.0, 0.265, 0.085, 0.075) & ~canal & ~vb & (Y > 0.17)
        spinous = self.ellipse(0.0, 0.37, 0.022, 0.075)
        transverse = self.ellipse(-0.13, 0.21, 0.065, 0.020, 15) | self.ellipse(0.13, 0.21, 0.065, 0.020, -15)
        post = (arch | spinous | transverse) & body
        self.paint(canal, SPINAL_CANAL, 25.0)
        self.paint(post, BONE, 720.0 + 60.0 * self.fine_texture)
        self.paint(vb, BONE, 880.0 + 50.0 * self.fine_texture)
        self.paint(vb & vb_inner, BONE, 270.0 + 25.0 * self.fine_texture)

        # Ribs: small bright ovals in the wall, more and larger cranially.
        kr = _bell(c, -0.6, 0.0, 0.95)
        if kr > 0:
            for ang, when in ((200, 0.9), (222, 0.8), (150, 0.7), (160, 0.95), (128, 0.55),
                              (-20, 0.9), (-42, 0.8), (30, 0.7), (20, 0.95), (52, 0.55)):
                if c > when:
                    continue
                # Walk in from the edge of the image along this angle to the inner part of the wall muscle.
                t = np.deg2rad(ang)
                x0, y0 = self._wall_point(t, cy_body, body, depth, muscle_depth - 2.0 * s)
                if x0 is None:
                    continue
                ra, rb = 0.045 * (0.5 + 0.5 * kr), 0.022 * (0.5 + 0.5 * kr)
                halo = self.ellipse(x0, y0, ra + 2.0 * px, rb + 2.0 * px, ang + 90) & body
                self.paint(halo & (depth >= fat_depth - 1.0 * s), MUSCLE, 50.0)
                rib = self.ellipse(x0, y0, ra, rb, ang + 90) & body
                marrow = self.ellipse(x0, y0, ra - 1.6 * px, rb - 1.6 * px, ang + 90)
                self.paint(rib, BONE, 820.0)
                self.paint(rib & marrow, BONE, 320.0)
        return self.hu, self.labels

    def _wall_point(self, t, cy, body, depth, target):
        """First point from outside along the ray at angle t from (0, cy) whose depth reaches target."""
        n = self.n
        r = np.arange(1.2, 0.0, -self.px * 0.5)
        x, y = r * np.cos(t), cy + r * np.sin(t)
        col = np.rint(x * n / 2.0 + (n - 1) / 2.0).astype(int)
        row = np.rint(y * n / 2.0 + (n - 1) / 2.0).astype(int)
        ok = (row >= 0) & (row < n) & (col >= 0) & (col < n)
        hit = np.zeros(r.shape, bool)
        hit[ok] = body[row[ok], col[ok]] & (depth[row[ok], col[ok]] >= target[row[ok], col[ok]])
        if not hit.any():
            return None, None
        i = int(np.argmax(hit))
        return float(x[i]), float(y[i])
