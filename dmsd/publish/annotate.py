"""What dmsd draws on a frame for a person to look at (`--once --annotate`, the preview page): the face box with its
emotion and what found it, the chest region with the belt verdict, the head's direction, the eyes and, when it is
looked for, the phone; with no face, since when and why. Pictures drawn here stay on the device: nothing here
publishes them."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dmsd.config import EyesConfig
from dmsd.driver.eye_closure import EyeVerdict, still_verdict
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.chest import chest_region
from dmsd.vision.results import FaceTrack, FrameResult
from dmsd.vision.stages.emotion import EMOTION
from dmsd.vision.stages.mesh import BLENDSHAPES, EYES, HEAD
from dmsd.vision.stages.phone import PHONE
from dmsd.vision.stages.seatbelt import SEATBELT, SeatbeltStage

FONT = cv2.FONT_HERSHEY_SIMPLEX
RED, GREEN, DARK_GREEN, HEAD_ARROW, FINDER = (0, 0, 255), (0, 255, 0), (0, 200, 0), (255, 200, 0), (255, 255, 255)
NO_FACE = (80, 80, 255)  # a lighter red: it reads on the darkened band
SIDE = 0.8  # the lines beside the face, as a share of the frame's text size
MIN_SIDE_SCALE = 0.4  # under this, small frames' side lines are not legible


def sizes(width: int) -> tuple[int, float]:
    """The frame's line thickness and text scale: both grow with the frame, never below what reads at 450 wide."""
    return max(1, round(width / 400)), max(0.4, width / 1000)


def put(
    out: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int], thick: int
) -> None:
    """Text with a dark outline, legible on a bright or dark picture alike."""
    cv2.putText(out, text, org, FONT, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(out, text, org, FONT, scale, colour, thick, cv2.LINE_AA)


def text_width(text: str, scale: float, thickness: int) -> int:
    return int(cv2.getTextSize(text, FONT, scale, thickness + 2)[0][0])


def draw(image: np.ndarray, result: FrameResult, analyzer: Analyzer, eyes: EyesConfig | None = None) -> np.ndarray:
    """The face box with its emotion and what found it, the chest region with the belt verdict, the head's direction,
    the eyes' still verdict (`eyes`: the eye rule's config) and, when it is looked for, the phone; with no face, since
    when and why."""
    out = image.copy()
    height, width = out.shape[:2]
    thickness, scale = sizes(width)
    if result.face is None:
        draw_no_face(out, result, thickness, scale)
        return out
    f = result.face
    cv2.rectangle(out, (f.x, f.y), (f.x + f.w, f.y + f.h), GREEN, thickness)
    emotion, seatbelt, belt_stage = result.get(EMOTION), result.get(SEATBELT), analyzer.stage(SeatbeltStage)
    if emotion is not None:
        put(out, f"{emotion.label} {emotion.confidence:.2f}", (f.x, max(f.y - 6, 12)), scale, GREEN, thickness)
    region = chest_region(f, width, height, belt_stage.chest) if belt_stage is not None else None
    if region is not None and seatbelt is not None:
        colour = DARK_GREEN if seatbelt.worn else RED
        text = f"belt {'worn' if seatbelt.worn else 'NOT worn'} {seatbelt.confidence:.2f}"
        cv2.rectangle(out, (region.x, region.y), (region.x + region.w, region.y + region.h), colour, thickness)
        put(out, text, (region.x + 4, region.y + round(22 * scale)), scale, colour, thickness)
    draw_alertness(out, result, thickness, scale, eyes or EyesConfig())
    phone = result.get(PHONE)
    if phone is not None:  # judged around the face, or the last face: its answer goes in the corner
        colour = RED if phone.in_use else DARK_GREEN
        put(out, f"phone {phone.use} {phone.confidence:.2f}", (10, round(30 * scale)), scale, colour, thickness)
    return out


def no_face_text(result: FrameResult) -> str:
    """The no-face line: for how long on the frame clock when it is known, and why ("no face for 1.2 s: no detector
    found a face"). A still (or the first frame without one) says no time: "no face: no detector found a face"."""
    track = result.track
    if track is None or track.lost_since is None:
        return "no face"
    gone = result.ts - track.lost_since
    head = f"no face for {gone:.1f} s" if gone >= 0.05 else "no face"
    return f"{head}: {track.lost_why}" if track.lost_why else head


def wrap(text: str, width: int, scale: float, thickness: int) -> list[str]:
    """The text in lines no wider than `width` pixels, broken between words (a word too long stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(lines[-1] + " " + word, scale, thickness) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def draw_no_face(out: np.ndarray, result: FrameResult, thickness: int, scale: float) -> None:
    """The no-face line at the top left, wrapped to the frame's width, on a darkened band."""
    lines = wrap(no_face_text(result), out.shape[1] - 20, scale, thickness)
    step, first = round(28 * scale), round(30 * scale)
    bottom = min(out.shape[0], first + (len(lines) - 1) * step + round(12 * scale))
    right = min(out.shape[1], 20 + max(text_width(line, scale, thickness) for line in lines))
    out[:bottom, :right] = (out[:bottom, :right] * 0.35).astype(out.dtype)
    for i, line in enumerate(lines):
        put(out, line, (10, first + i * step), scale, NO_FACE, thickness)


def finder_text(track: FaceTrack | None) -> str | None:
    """What found the face: the face mesh following the last frame's (`mesh`), or a detector (`haar`, ...)."""
    return None if track is None or track.found_by is None else f"found by {track.found_by}"


def draw_alertness(out: np.ndarray, result: FrameResult, thickness: int, scale: float, eyes_config: EyesConfig) -> None:
    """Beside the face, what found it, and the eyes' verdict with the head's angles; the head's direction as an arrow
    from the face's centre.

    A still photo has no time, so no driver baseline: the eyes are the eye rule's still verdict and the
    arrow shows the angle to the camera (a camera off to the side makes "ahead" an angle too).
    """
    if result.face is None:
        return
    eyes, head = result.get(EYES), result.get(HEAD)
    f = result.face
    cx, cy = f.x + f.w // 2, f.y + f.h // 2
    lines = []
    finder = finder_text(result.track)
    if finder is not None:
        lines.append((finder, FINDER))
    if head is not None:
        # yaw > 0: the face turns toward the image's left; pitch > 0: looking up. The arrow is where the nose points.
        length = f.w * 0.8
        tip = (
            round(cx - length * math.sin(math.radians(head.yaw))),
            round(cy - length * math.sin(math.radians(head.pitch))),
        )
        cv2.arrowedLine(out, (cx, cy), tip, HEAD_ARROW, thickness + 1, tipLength=0.25)
        lines.append((f"yaw {head.yaw:.0f} pitch {head.pitch:.0f}", HEAD_ARROW))
    verdict = still_verdict(eyes, result.get(BLENDSHAPES), eyes_config)
    if verdict is not None:
        closed = verdict is EyeVerdict.CLOSED
        lines.append((f"eyes {verdict.upper() if closed else verdict}", RED if closed else DARK_GREEN))
    if not lines:
        return
    side = max(MIN_SIDE_SCALE, scale * SIDE)
    widest = max(text_width(text, side, thickness) for text, _ in lines)
    tall = int(cv2.getTextSize("Ag", FONT, side, thickness)[0][1]) + thickness + 1  # a line's letters and outline
    step = tall + thickness + 4
    for i, (text, colour) in enumerate(lines):
        put(out, text, beside(f.x, f.y, f.w, f.h, widest, out.shape[1], tall + i * step), side, colour, thickness)


def beside(x: int, y: int, w: int, h: int, widest: int, width: int, down: int) -> tuple[int, int]:
    """Where a line `down` pixels under the first line's top goes beside the face: right of the face if the lines fit
    there, else left of it, else below it (below the face is the belt's place, so last)."""
    if x + w + 6 + widest <= width:
        return x + w + 6, y + down
    if x - 6 - widest >= 0:
        return x - 6 - widest, y + down
    return x, y + h + 4 + down
