"""Whether the driver's eyes are closed, open or cannot be seen in one frame: the one place it is decided.

The vision stages measure (dmsd.vision.face_measures, dmsd.vision.blendshapes); this rule weighs what they measured:
- the blendshapes' blink score (`eyes.blink_above`),
- the eye-state model's closed probability (`eyes.closed_above`, with the aspect ratio's agreement `ratio_below`),
- the eye aspect ratio, against the driver's own open level on video (`alertness.eyes_closed_below`) or against a
  fixed threshold on a still (`eyes.still_ratio_below`).
`eyes.rule` says which of them decide (`blink_and_model`: both, where both are measured; either alone where only it
is); which won, and by how much, is in README.md ("Eyes closed: the rule").

Eyes that cannot be seen are `unseen`, never closed: the far eye of a head turned until it is under half the near
eye's width is left out, an eye darker than `eyes.dark_lens_below` of its cheek's brightness is behind a dark lens,
and an eye whose middle is `eyes.glare_above` saturated is behind glare. With neither eye seen, the eyes are
`unseen`: no closure is timed.

`still_verdict` is the same rule with no history (no driver's open level): what `dmsd --once` prints.
"""

from __future__ import annotations

from enum import StrEnum

from dmsd.config import EyesConfig
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes

FAR_EYE_WIDTH = 0.5  # an eye under this share of the other's apparent width is the far eye of a turned head


class EyeVerdict(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    UNSEEN = "unseen"


def seen_eyes(eyes: Eyes, config: EyesConfig) -> tuple[bool, bool]:
    """Whether each eye (left, right: the person's own) can be judged: not the far eye of a turned head, not behind a
    dark lens or glare."""
    left = eyes.width_left >= FAR_EYE_WIDTH * eyes.width_right
    right = eyes.width_right >= FAR_EYE_WIDTH * eyes.width_left
    if eyes.lens_left is not None and eyes.lens_left < config.dark_lens_below:
        left = False
    if eyes.lens_right is not None and eyes.lens_right < config.dark_lens_below:
        right = False
    left = left and eyes.glare_left < config.glare_above
    right = right and eyes.glare_right < config.glare_above
    return left, right


def _of_seen(left: float, right: float, seen: tuple[bool, bool]) -> float:
    """A score of the seen eyes: the lower of both (a blink or a sleep closes both; glare or a rim fools a score on
    one eye alone), or the one seen eye's."""
    seen_left, seen_right = seen
    if seen_left and seen_right:
        return min(left, right)
    return left if seen_left else right


def judge(
    eyes: Eyes | None,
    shapes: FaceShapes | None,
    config: EyesConfig,
    ratio_closed_below: float | None,
) -> EyeVerdict | None:
    """This frame's verdict; None when nothing was measured of the eyes (no mesh on the face).

    ratio_closed_below: the aspect ratio under which the eyes are shut for the `ratio` rule (on video, a share of the
    driver's own open level; on a still, `eyes.still_ratio_below`); None: not known yet, so that rule cannot judge.
    """
    if eyes is None:
        return None
    seen = seen_eyes(eyes, config)
    if not any(seen):
        return EyeVerdict.UNSEEN
    rule = config.rule
    blink = _of_seen(shapes.blink_left, shapes.blink_right, seen) if shapes is not None else None
    model: bool | None = None
    if eyes.p_closed_left is not None and eyes.p_closed_right is not None:
        p_closed = _of_seen(eyes.p_closed_left, eyes.p_closed_right, seen)
        # The aspect ratio must agree that the eyes are narrow: a glasses rim can look like shut lids to the model.
        model = p_closed >= config.closed_above and eyes.ratio < config.ratio_below
    blinked = None if blink is None else blink >= config.blink_above
    if rule == "blink":
        closed = blinked
    elif rule == "model":
        closed = model
    elif rule == "blink_and_model":  # both where both are measured, else the one that is
        closed = model if blinked is None else blinked if model is None else blinked and model
    else:  # ratio
        closed = None if ratio_closed_below is None else eyes.ratio < ratio_closed_below
    if closed is None:
        return None
    return EyeVerdict.CLOSED if closed else EyeVerdict.OPEN


def still_verdict(eyes: Eyes | None, shapes: FaceShapes | None, config: EyesConfig) -> EyeVerdict | None:
    """The rule on one still image: no history, so no driver's own open level (the `ratio` rule's fixed
    threshold stands in for it)."""
    return judge(eyes, shapes, config, config.still_ratio_below)
