"""One eye as the eye-state model sees it: a square around the eye's two corners from the face mesh, turned so the
corners lie level, in grey, its contrast stretched (`stretch`: a dim infrared cabin and a sunlit face give the
model the same range).

The daemon, `dmsd evaluate` and the trainer (train/eyes_data.py) all cut eyes with `eye_patches`, so the model is
trained on exactly the crop it sees at run time. The person's right eye comes first.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Mesh points of each eye's corners, the one nearer the image's left first (camera facing the person).
RIGHT_EYE_CORNERS = (33, 133)  # the person's right eye: outer corner, inner corner
LEFT_EYE_CORNERS = (362, 263)  # the person's left eye: inner corner, outer corner
SPAN = 1.5  # the square's side over the distance between the corners: the lids and a margin of skin around them


def eye_transform(points: np.ndarray, corners: tuple[int, int], side: int) -> np.ndarray:
    """The 2 x 3 affine map from frame pixels to a side x side patch of the eye whose corners are `corners`."""
    (x0, y0), (x1, y1) = points[corners[0], :2], points[corners[1], :2]
    distance = max(math.hypot(x1 - x0, y1 - y0), 1.0)
    angle = math.atan2(y1 - y0, x1 - x0)
    scale = side / (SPAN * distance)
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # Rotate by -angle about the corners' midpoint, scale, and put the midpoint at the patch's centre.
    return np.array(
        [[cos, sin, side / 2 - cos * cx - sin * cy], [-sin, cos, side / 2 + sin * cx - cos * cy]], dtype=np.float32
    )


def stretch(patch: np.ndarray) -> np.ndarray:
    """The patch's contrast stretched so its 2nd and 98th percentiles become 0 and 255 (uint8 in, uint8 out)."""
    low, high = np.percentile(patch, (2, 98))
    if high - low < 1:
        return patch
    return np.clip((patch.astype(np.float32) - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def eye_widths(points: np.ndarray) -> tuple[float, float]:
    """How wide each eye appears (corner to corner, frame pixels), the person's right eye first: a turned head
    shows the far eye narrower, and partly hidden by the nose."""
    return tuple(  # type: ignore[return-value]
        float(np.linalg.norm(points[a, :2] - points[b, :2])) for a, b in (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS)
    )


def cut_eyes(grey: np.ndarray, points: np.ndarray, side: int) -> np.ndarray:
    """Both eyes as they are in `grey` (not stretched): 2 x side x side uint8, the person's right eye first. Parts
    outside the frame repeat its edge."""
    return np.stack(
        [
            cv2.warpAffine(
                grey,
                eye_transform(points, corners, side),
                (side, side),
                flags=cv2.INTER_AREA if side < 24 else cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for corners in (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS)
        ]
    )


def stretched(raw: np.ndarray) -> np.ndarray:
    """`cut_eyes`' patches as the eye-state model sees them: each stretched."""
    return np.stack([stretch(patch) for patch in raw])


def eye_patches(grey: np.ndarray, points: np.ndarray, side: int) -> np.ndarray:
    """Both eyes of the face whose mesh is `points` (frame pixels) in `grey`, as the eye-state model sees them:
    2 x side x side uint8, the person's right eye first, each stretched."""
    return stretched(cut_eyes(grey, points, side))


# Cheek points below each eye (the person's right cheek first): bare skin in almost every face, lit as the eyes are.
RIGHT_CHEEK = (50, 101, 118, 205, 36)
LEFT_CHEEK = (280, 330, 347, 425, 266)


SATURATED = 245  # a grey level this bright in an eye patch is glare (a lamp or the sun on glasses), not the eye


def middle(patch: np.ndarray) -> np.ndarray:
    """The patch's middle half, each way: the eye itself, without the brows and the skin around it."""
    side = patch.shape[0]
    return patch[side // 4 : side - side // 4, side // 4 : side - side // 4]


def glare_share(raw: np.ndarray) -> tuple[float, float]:
    """Each eye's share of saturated pixels in its middle, the person's right eye first (raw: `cut_eyes`' patches)."""
    right, left = (float((middle(patch) >= SATURATED).mean()) for patch in raw)
    return right, left


WINDOW = np.arange(-2, 3)  # a 5x5-pixel window around a point
CHEEKS = np.array([RIGHT_CHEEK, LEFT_CHEEK])


def lens_brightness(grey: np.ndarray, points: np.ndarray, raw: np.ndarray) -> tuple[float, float]:
    """Each eye's brightness over its cheek's, the person's right eye first (about 0.25-0.9 for a bare eye; dark
    lenses read lower). raw: `cut_eyes`' patches; the eye's middle is what counts, the cheek's brightness is the median
    of 5x5-pixel means at its mesh points."""
    height, width = grey.shape
    xy = np.clip(points[CHEEKS, :2].round().astype(int), 0, [width - 1, height - 1])
    rows = np.clip(xy[..., 1, None, None] + WINDOW[:, None], 0, height - 1)
    cols = np.clip(xy[..., 0, None, None] + WINDOW[None, :], 0, width - 1)
    skin = np.sort(grey[rows, cols].mean(axis=(2, 3)), axis=1)[:, len(RIGHT_CHEEK) // 2]  # each cheek's median
    right, left = (float(middle(patch).mean()) / max(float(s), 1.0) for patch, s in zip(raw, skin, strict=True))
    return right, left
