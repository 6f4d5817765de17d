"""Synthesized chest regions, both ways, so that neither class carries a tell of its own.

There is no public in-cabin set of unbelted drivers, and our belted and unbelted regions come from different kinds
of photo. So each class is also made from the other, and every kind of edit is applied to both classes:

  belt removed      an incabin_belt_boxes region with its marked belt painted out (OpenCV inpainting along the
                    belt's diagonal inside its box)                                         -> not_worn
  band painted out  the same inpainting along a band away from the belt, in a belted region    -> worn
  belt drawn        a diagonal band from a shoulder to the opposite hip, on a not-worn region: varied width, angle,
                    shade (dark or light, as under infrared), weave texture, soft edges and a shadow -> worn
  strap drawn       the same kind of band, but upright or level (a zip, a bag's edge, an arm), on a not-worn
                    region                                                                   -> not_worn
  belt pasted       a real marked belt cut from an incabin_belt_boxes region along its diagonal and laid on a
                    not-worn region's shoulder-to-hip diagonal: real webbing, folds and light, with feathered
                    edges, its shade varied, sometimes cut short where an arm or the region's edge would hide it
                                                                                             -> worn
  strap pasted      the same real belt laid level (within 15 degrees) on a not-worn region   -> not_worn

The pasted kinds came after the drawn ones looked too clean on the contact sheet; they draw from the random
generator after the first four, so a run asking for those four makes the same regions as before. A pasted belt
lies as steep as it did in its photo; a pasted strap lies level only, never upright: real belts in chest regions
reach 76 degrees, and with upright straps as "not worn" (the model card's recipe F) the models saw the infrared
clip's steep belt in only a quarter to a half of its frames.

So "was inpainted" and "has a drawn band" predict nothing; only a band on the shoulder-to-hip diagonal does.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dmsd.vision.geometry import Box

NOT_WORN, WORN = 0, 1  # indices into dmsd.labels.SEATBELT_LABELS
# Each kind of synthesized region and the class it carries.
KINDS = {
    "belt_removed": NOT_WORN,
    "band_painted_out": WORN,
    "belt_drawn": WORN,
    "strap_drawn": NOT_WORN,
    "belt_pasted": WORN,
    "strap_pasted": NOT_WORN,
}


def belt_direction(grey: np.ndarray, box: Box) -> int:
    """+1 if the belt in `box` runs from top-left to bottom-right, -1 for top-right to bottom-left: the diagonal
    whose line crosses the stronger edges at right angles (a band's edges run along it)."""
    patch = grey[box.y : box.y + box.h, box.x : box.x + box.w].astype(np.float32)
    if patch.size < 16:
        return 1
    gx, gy = cv2.Sobel(patch, cv2.CV_32F, 1, 0), cv2.Sobel(patch, cv2.CV_32F, 0, 1)
    # Along a "\" band the gradient points along (1, -1); along a "/" band along (1, 1).
    back = np.abs(gx - gy).sum()
    forward = np.abs(gx + gy).sum()
    return 1 if back >= forward else -1


def band_mask(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float], width: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.line(
        mask,
        (round(start[0]), round(start[1])),
        (round(end[0]), round(end[1])),
        255,
        thickness=max(1, round(width)),
        lineType=cv2.LINE_AA,
    )
    return mask


def paint_out(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's Telea inpainting over the mask, grown a little so no edge of the band is left."""
    grown = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return cv2.inpaint(grey, grown, 5, cv2.INPAINT_TELEA)


def belt_line(grey: np.ndarray, box: Box) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Where the belt in a marked box runs: its centre line (top end first, along the box's diagonal that
    `belt_direction` picks) and the width of a band that covers it (a belt fills a thin box's short side and
    about a third of a squarer one's)."""
    x0, x1 = (box.x, box.x + box.w) if belt_direction(grey, box) > 0 else (box.x + box.w, box.x)
    width = max(4.0, 0.35 * min(box.w, box.h), 0.08 * max(box.w, box.h))
    return (float(x0), float(box.y)), (float(x1), float(box.y + box.h)), width


def remove_belt(grey: np.ndarray, belts: list[Box], rng: np.random.Generator) -> np.ndarray:
    """The image with each marked belt painted out along its diagonal (the box is a belt's bounding box)."""
    out = grey
    for box in belts:
        start, end, width = belt_line(out, box)
        out = paint_out(out, band_mask(out.shape, start, end, width * rng.uniform(1.0, 1.3)))
    return out


def paint_out_elsewhere(grey: np.ndarray, belts: list[Box], rng: np.random.Generator) -> np.ndarray:
    """The same inpainting on a band that misses the belts: a belted image stays belted, edited all the same."""
    height, width = grey.shape
    for _ in range(20):
        angle = rng.uniform(0, math.pi)
        length = rng.uniform(0.3, 0.7) * min(height, width)
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        band = max(4.0, rng.uniform(0.05, 0.12) * min(height, width))
        mask = band_mask(grey.shape, (cx - dx, cy - dy), (cx + dx, cy + dy), band)
        touches = any(mask[b.y : b.y + b.h, b.x : b.x + b.w].any() for b in belts)
        if not touches:
            return paint_out(grey, mask)
    return grey.copy()


def draw_band(region: np.ndarray, angle_deg: float, rng: np.random.Generator, infrared: bool) -> np.ndarray:
    """A belt-like band through the region at `angle_deg` (0: level; 45: top-left to bottom-right): webbing shade
    dark or light, a weave texture, soft edges and a shadow on one side."""
    size = region.shape[0]
    out = region.astype(np.float32)
    width = rng.uniform(0.10, 0.22) * size
    angle = math.radians(angle_deg)
    # The band's centre line passes near the region's centre (a shoulder strap crosses the chest).
    cx, cy = size / 2 + rng.uniform(-0.15, 0.15) * size, size / 2 + rng.uniform(-0.15, 0.15) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # Signed distance from the centre line, and the position along it.
    across = (xx - cx) * -math.sin(angle) + (yy - cy) * math.cos(angle)
    along = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
    softness = rng.uniform(0.5, 2.5)
    inside = np.clip((width / 2 - np.abs(across)) / softness + 0.5, 0, 1)
    base = out.mean()
    shade = rng.uniform(20, 70) if (infrared and rng.random() < 0.5) or base > 110 else rng.uniform(150, 235)
    weave = 1 + rng.uniform(0.02, 0.10) * np.sin(along * rng.uniform(1.0, 2.5))
    texture = shade * weave + rng.normal(0, rng.uniform(1, 6), out.shape)
    shadow_side = rng.choice([-1.0, 1.0])
    shadow = np.clip((np.abs(across - shadow_side * width * 0.6) < width * 0.25) * (1 - inside), 0, 1)
    out = out * (1 - 0.35 * shadow * rng.uniform(0.3, 1.0))
    out = out * (1 - inside) + texture * inside
    return np.clip(out, 0, 255).astype(np.uint8)


def belt_angle(box: Box, rng: np.random.Generator) -> float:
    """The steepness a real belt lies at in a chest region (degrees from level): its marked box's diagonal, a few
    degrees either way. Real belts here lie at 35-76 degrees (5th-95th percentile, median 55), steeper than a
    drawn 35-65 range allowed: a pasted belt keeps its own."""
    return float(np.clip(math.degrees(math.atan2(box.h, box.w)) + rng.uniform(-5, 5), 25, 85))


def paste_belt(
    region: np.ndarray, source: np.ndarray, belt: Box, angle_deg: float, rng: np.random.Generator
) -> np.ndarray:
    """The real belt marked by `belt` in `source`, cut along its centre line and laid across `region` at
    `angle_deg` (0: level; 45: top-left to bottom-right; 90: upright) through a point near the centre: scaled to
    a belt's width there, feathered edges, shade varied, and in a third of cases cut short (an arm or a fold hides the
    rest)."""
    size = region.shape[0]
    (sx0, sy0), (sx1, sy1), source_width = belt_line(source, belt)
    angle = math.radians(angle_deg)
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    centre = np.array([size / 2, size / 2]) + rng.uniform(-0.15, 0.15, 2) * size
    length = rng.uniform(0.9, 1.5) * size  # a strap crosses the whole region, or nearly
    width = rng.uniform(0.10, 0.22) * size
    q0, q1 = centre - direction * length / 2, centre + direction * length / 2
    # The source belt's top end goes to the band's start; its side to the band's side, so the weave keeps its
    # orientation. Three point pairs fix the affine map.
    p0, p1 = np.array([sx0, sy0]), np.array([sx1, sy1])
    along = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-6)
    side = np.array([-along[1], along[0]])
    src = np.float32([p0, p1, p0 + side * source_width / 2])
    dst = np.float32([q0, q1, q0 + normal * width / 2])
    matrix = cv2.getAffineTransform(src, dst)
    belt_pixels = cv2.warpAffine(
        source.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    across = (xx - centre[0]) * normal[0] + (yy - centre[1]) * normal[1]
    position = (xx - q0[0]) * direction[0] + (yy - q0[1]) * direction[1]
    softness = rng.uniform(0.6, 2.0)
    alpha = np.clip((width / 2 - np.abs(across)) / softness + 0.5, 0, 1)
    alpha *= np.clip(position / softness, 0, 1) * np.clip((length - position) / softness, 0, 1)
    if rng.random() < 0.33:  # hidden past a point along it
        cut = rng.uniform(0.35, 0.8) * length
        alpha *= (
            np.clip((cut - position) / (2 * softness), 0, 1)
            if rng.random() < 0.5
            else np.clip((position - (length - cut)) / (2 * softness), 0, 1)
        )
    belt_pixels = belt_pixels * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25)
    out = region.astype(np.float32) * (1 - alpha) + belt_pixels * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def synthesize(
    regions: np.ndarray,
    labels: np.ndarray,
    belted_regions: list[tuple[np.ndarray, list[Box]]],
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` synthesized regions per kind of edit: (images, labels, kinds).

    regions/labels: the real training regions (size x size, grey); belted_regions: chest regions of
    incabin_belt_boxes images with their belt boxes in region coordinates (the belts to paint out).
    """
    unbelted = regions[labels == NOT_WORN]
    if not len(unbelted):
        raise ValueError("no not-worn training regions to draw belts on")
    if not belted_regions:
        raise ValueError("no regions with marked belts to paint out")
    size = regions.shape[1]
    images, classes, kinds = [], [], []

    def add(image: np.ndarray, kind: str) -> None:
        images.append(
            cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) if image.shape[0] != size else image
        )
        classes.append(KINDS[kind])
        kinds.append(kind)

    for i in range(count):
        grey, belts = belted_regions[i % len(belted_regions)]
        add(remove_belt(grey, belts, rng), "belt_removed")
        add(paint_out_elsewhere(grey, belts, rng), "band_painted_out")
        base = unbelted[rng.integers(len(unbelted))]
        infrared = rng.random() < 0.5
        side = rng.choice([-1.0, 1.0])  # the driver's outer shoulder is left or right in the picture
        add(draw_band(base, side * rng.uniform(35, 65), rng, infrared), "belt_drawn")
        base = unbelted[rng.integers(len(unbelted))]
        upright = rng.choice([rng.uniform(-12, 12), 90 + rng.uniform(-12, 12)])
        add(draw_band(base, upright, rng, infrared), "strap_drawn")
    # Belts long enough to lay across a region (a corner's worth of belt stretched over the chest looks like
    # nothing); the pasted kinds draw after the first four so their regions stay as they were.
    every_belt = [(grey, box) for grey, belts in belted_regions for box in belts]
    long_belts = [(grey, box) for grey, box in every_belt if max(box.w, box.h) >= 0.3 * grey.shape[0]] or every_belt
    for _ in range(count):
        grey, box = long_belts[rng.integers(len(long_belts))]
        side = rng.choice([-1.0, 1.0])  # either shoulder: left- and right-hand drive
        add(
            paste_belt(unbelted[rng.integers(len(unbelted))], grey, box, side * belt_angle(box, rng), rng),
            "belt_pasted",
        )
        grey, box = long_belts[rng.integers(len(long_belts))]
        add(paste_belt(unbelted[rng.integers(len(unbelted))], grey, box, rng.uniform(-15, 15), rng), "strap_pasted")
    return np.stack(images), np.array(classes, np.int64), np.array(kinds)


def contact_sheet(
    real: np.ndarray, real_labels: np.ndarray, synth: np.ndarray, kinds: np.ndarray, per_row: int = 12
) -> np.ndarray:
    """A PNG-ready grid, each row named on its left: real not-worn, real worn, then a row per kind of edit made."""
    from dmsd.labels import SEATBELT_LABELS

    rows = [("real", NOT_WORN, real[real_labels == NOT_WORN]), ("real", WORN, real[real_labels == WORN])]
    rows += [(kind, KINDS[kind], synth[kinds == kind]) for kind in KINDS if (kinds == kind).any()]
    size, margin = real.shape[1], 150
    sheet = np.full((len(rows) * (size + 4), margin + per_row * (size + 4)), 255, np.uint8)
    for r, (name, label, images) in enumerate(rows):
        top = r * (size + 4)
        for line, text in enumerate((name, f"-> {SEATBELT_LABELS[label]}")):
            cv2.putText(
                sheet, text, (4, top + size // 2 - 4 + 16 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA
            )
        for c, image in enumerate(images[:per_row]):
            sheet[top : top + size, margin + c * (size + 4) : margin + c * (size + 4) + size] = image
    return sheet
