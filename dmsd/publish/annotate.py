"""What dmsd draws on a frame for a person to look at (`--once --annotate`, the preview page): the face box with its
emotion, the chest region with the belt verdict, the head's direction, the eyes and, when it is looked for, the phone.
Pictures drawn here stay on the device: nothing here publishes them."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dmsd.vision.analyzer import Analyzer
from dmsd.vision.face_measures import Eyes, HeadPose
from dmsd.vision.geometry import chest_region
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.emotion import EmotionResult
from dmsd.vision.stages.phone import PhoneResult
from dmsd.vision.stages.seatbelt import SeatbeltResult, SeatbeltStage


def draw(image: np.ndarray, result: FrameResult, analyzer: Analyzer) -> np.ndarray:
    """The face box with its emotion, the chest region with the belt verdict, the head's direction, the eyes and, when
    it is looked for, the phone."""
    out = image.copy()
    height, width = out.shape[:2]
    thickness = max(1, round(width / 400))
    scale = max(0.4, width / 1000)
    if result.face is None:
        cv2.putText(out, "no face", (10, round(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), thickness)
        return out
    f = result.face
    cv2.rectangle(out, (f.x, f.y), (f.x + f.w, f.y + f.h), (0, 255, 0), thickness)
    emotion, seatbelt, belt_stage = result.get(EmotionResult), result.get(SeatbeltResult), analyzer.stage(SeatbeltStage)
    if emotion is not None:
        label = f"{emotion.label} {emotion.confidence:.2f}"
        cv2.putText(out, label, (f.x, max(f.y - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), thickness)
    region = chest_region(f, width, height, belt_stage.chest) if belt_stage is not None else None
    if region is not None and seatbelt is not None:
        colour = (0, 200, 0) if seatbelt.worn else (0, 0, 255)
        text = f"belt {'worn' if seatbelt.worn else 'NOT worn'} {seatbelt.confidence:.2f}"
        cv2.rectangle(out, (region.x, region.y), (region.x + region.w, region.y + region.h), colour, thickness)
        cv2.putText(
            out, text, (region.x + 4, region.y + round(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness
        )
    draw_alertness(out, result, thickness, scale)
    phone = result.get(PhoneResult)
    if phone is not None:  # the whole frame was judged: its answer goes in the corner
        colour = (0, 0, 255) if phone.in_use else (0, 200, 0)
        text = f"phone {phone.use} {phone.confidence:.2f}"
        cv2.putText(out, text, (10, round(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness)
    return out


def draw_alertness(out: np.ndarray, result: FrameResult, thickness: int, scale: float) -> None:
    """The head's direction as an arrow from the face's centre, and the eyes' verdict with the head's angles.

    A still photo has no time, so no driver baseline: the eyes are judged by the still-photo threshold and the
    arrow shows the angle to the camera (a camera off to the side makes "ahead" an angle too).
    """
    eyes, head = result.get(Eyes), result.get(HeadPose)
    if result.face is None or (eyes is None and head is None):
        return
    f = result.face
    cx, cy = f.x + f.w // 2, f.y + f.h // 2
    lines = []
    if head is not None:
        # yaw > 0: the face turns toward the image's left; pitch > 0: looking up. The arrow is where the nose points.
        length = f.w * 0.8
        tip = (
            round(cx - length * math.sin(math.radians(head.yaw))),
            round(cy - length * math.sin(math.radians(head.pitch))),
        )
        cv2.arrowedLine(out, (cx, cy), tip, (255, 200, 0), thickness + 1, tipLength=0.25)
        lines.append((f"yaw {head.yaw:.0f} pitch {head.pitch:.0f}", (255, 200, 0)))
    if eyes is not None:
        closed = eyes.closed
        lines.append((f"eyes {'CLOSED' if closed else 'open'}", (0, 0, 255) if closed else (0, 200, 0)))
    widest = max(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, thickness)[0][0] for text, _ in lines)
    beside = f.x + f.w + 6 + widest <= out.shape[1]  # right of the face if it fits: below it is the belt's place
    for i, (text, colour) in enumerate(lines):
        x, y = (
            (f.x + f.w + 6, f.y + round((14 + 20 * i) * scale))
            if beside
            else (f.x, f.y + f.h + round((18 + 20 * i) * scale))
        )
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, colour, thickness)
