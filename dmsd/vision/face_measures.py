"""What the face mesh says about one frame: how open each eye and the mouth are, and where the head points.

Eyes: the eye aspect ratio (EAR) of each eye, the eyelids' two vertical gaps over the eye's width, and each eye's
apparent width. Left and right are the person's own. Whether the eyes are closed is not decided here: one rule in
dmsd.driver.eye_closure weighs these with the eye-state model and the blendshapes.

Head: yaw, pitch and roll in degrees from six mesh points fitted to a generic 3D face (`cv2.solvePnP`): yaw > 0
when the face turns toward the image's left (the person's own right), pitch > 0 looking up, roll > 0 when the head
tilts toward the image's right (clockwise in the image), the convention of the head-pose data `dmsd evaluate --task
head-pose` reads. These are angles to the camera: a camera off to the side puts "ahead" at an angle, so "on the
road" is judged against each driver's own forward pose, not against zero.

Mouth: the inner lips' gap over the mouth's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dmsd.vision.eye_patches import eye_widths

# MediaPipe face mesh indices. Each eye: corner, upper lid x2, other corner, lower lid x2 (EAR's p1..p6).
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # the person's right eye (the image's left, camera facing them)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
MOUTH = (13, 14, 61, 291)  # inner upper lip, inner lower lip, left and right corners
# Nose tip, chin, the eyes' outer corners (person's left, then right), the mouth's corners (left, right), and a
# generic face in the same order (millimetre-like units, y up, z toward the camera).
POSE_POINTS = (1, 152, 263, 33, 291, 61)
GENERIC_FACE = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -330.0, -65.0),
        (-225.0, 170.0, -135.0),
        (225.0, 170.0, -135.0),
        (-150.0, -150.0, -125.0),
        (150.0, -150.0, -125.0),
    ]
)
# The generic face mirrored left to right: a right-handed frame, so that a rotation (not a mirror image) turns it
# into the mesh's points, for the rough pose and the fit started from it.
FACE_FRAME = GENERIC_FACE * np.array([-1.0, 1.0, 1.0])
FACE_HEIGHT = 500.0  # the generic face from the eyes' level to the chin
FIT_APART_DEG = 30.0  # yaw and pitch differences summed: a fit this far from the rough pose is fitted again


@dataclass(frozen=True)
class Eyes:
    """What the mesh and the eye-state model measure of both eyes in one frame (whether they are closed is decided
    in dmsd.driver.eye_closure). left, right: the eye aspect ratios; p_closed_*: the eye-state model's closed
    probability per eye (None without the model); width_*: each eye's apparent width, corner to corner, in pixels (a
    turned head shows the far eye narrow); lens_*: the eye region's brightness over the cheeks' (dark lenses: low;
    None without the pixels); glare_*: the share of the eye's middle that is saturated (glare on glasses)."""

    left: float  # eye aspect ratio: about 0.3 open, under 0.2 shut
    right: float
    p_closed_left: float | None = None
    p_closed_right: float | None = None
    width_left: float = 0.0
    width_right: float = 0.0
    lens_left: float | None = None
    lens_right: float | None = None
    glare_left: float = 0.0
    glare_right: float = 0.0

    @property
    def ratio(self) -> float:
        """The mean aspect ratio of both eyes."""
        return (self.left + self.right) / 2

    @property
    def p_closed(self) -> float | None:
        """The model's closed probability of the face's eyes: the mean of both (None without the model)."""
        if self.p_closed_left is None or self.p_closed_right is None:
            return None
        return (self.p_closed_left + self.p_closed_right) / 2


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Mouth:
    openness: float


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    corner, top1, top2, other_corner, bottom2, bottom1 = (points[i, :2] for i in eye)
    width = np.linalg.norm(corner - other_corner)
    if width == 0:
        return 0.0
    return float((np.linalg.norm(top1 - bottom1) + np.linalg.norm(top2 - bottom2)) / (2 * width))


def eyes(points: np.ndarray) -> Eyes:
    """The aspect ratios and apparent widths of both eyes (the model's and the pixels' measures are added by the
    eyes stage)."""
    left, right = eye_aspect_ratio(points, LEFT_EYE), eye_aspect_ratio(points, RIGHT_EYE)
    width_right, width_left = eye_widths(points)
    return Eyes(left, right, width_left=width_left, width_right=width_right)


def mouth(points: np.ndarray) -> Mouth:
    upper, lower, left, right = (points[i, :2] for i in MOUTH)
    width = np.linalg.norm(left - right)
    return Mouth(float(np.linalg.norm(upper - lower) / width) if width else 0.0)


def head_pose(points: np.ndarray, frame_width: int, frame_height: int) -> HeadPose | None:
    """Yaw, pitch and roll of the face whose mesh is `points` (frame pixels); None if the fit fails.

    Six points can fit two poses about equally well, and the fit sometimes settles on the wrong one (on some
    near-infrared clips the head seemed to turn 20 degrees and tip 35 back and forth while it sat still). The mesh's
    own depth gives a rough pose (its points aligned with the generic face's, `rough_rotation`); a fit further than
    `FIT_APART_DEG` of yaw and pitch from it is fitted again, starting from the rough pose.
    """
    image_points = np.array([points[i, :2] for i in POSE_POINTS], dtype=np.float64)
    focal = float(frame_width)  # a typical cabin lens; the angles depend little on it
    camera = np.array([[focal, 0, frame_width / 2], [0, focal, frame_height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rotation, _ = cv2.solvePnP(GENERIC_FACE, image_points, camera, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    pose = pose_angles(GENERIC_FACE, rotation)
    rough = rough_rotation(points[list(POSE_POINTS)].astype(np.float64))
    start, _ = cv2.Rodrigues(rough)
    guide = pose_angles(FACE_FRAME, start)
    if abs(pose.yaw - guide.yaw) + abs(pose.pitch - guide.pitch) <= FIT_APART_DEG:
        return pose
    span = float(np.linalg.norm((image_points[2] + image_points[3]) / 2 - image_points[1])) or 1.0
    depth = focal * FACE_HEIGHT / span
    centre = image_points.mean(axis=0) - (frame_width / 2, frame_height / 2)
    guess = np.array([[centre[0] * depth / focal], [centre[1] * depth / focal], [depth]])
    ok, again, _ = cv2.solvePnP(
        FACE_FRAME, image_points, camera, None, start, guess, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    return pose_angles(FACE_FRAME, again) if ok else pose


def pose_angles(model: np.ndarray, rotation: np.ndarray) -> HeadPose:
    """Yaw, pitch and roll of a fitted rotation of `model` (GENERIC_FACE or FACE_FRAME: the same angles)."""
    matrix, _ = cv2.Rodrigues(rotation)
    yaw = math.degrees(math.atan2(-matrix[2, 0], math.hypot(matrix[0, 0], matrix[1, 0])))
    pitch = math.degrees(math.atan2(matrix[2, 1], matrix[2, 2]))
    roll = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    # The generic face has y up and the image y down: a level face comes out at +-180 degrees of pitch. Fold it
    # to -90..90 and turn it so that looking up is positive, as in the head_pose data's labels.
    pitch = pitch - 180 if pitch > 90 else pitch + 180 if pitch < -90 else pitch
    return HeadPose(yaw, -pitch, roll)


def rough_rotation(mesh: np.ndarray) -> np.ndarray:
    """The rotation that best turns FACE_FRAME into these mesh points (x, y and the mesh's depth: the camera's
    frame), by the Kabsch method: a rough pose, from the mesh's own depth."""
    model = FACE_FRAME - FACE_FRAME.mean(axis=0)
    seen = mesh - mesh.mean(axis=0)
    u, _, vt = np.linalg.svd(model.T @ seen)
    sign = float(np.sign(np.linalg.det(vt.T @ u.T))) or 1.0
    return vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
