"""The one eye rule (dmsd.driver.eye_closure) at its edges: which measures decide, and eyes that cannot be seen."""

import pytest

from dmsd.config import EyesConfig
from dmsd.driver.eye_closure import EyeVerdict, judge, seen_eyes, still_verdict
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes

CONFIG = EyesConfig()


def eyes(p_closed=(0.95, 0.95), ear=0.15, widths=(30.0, 30.0), lens=(0.8, 0.8), glare=(0.0, 0.0)):
    """Both eyes (left, right: the person's own) as the eyes stage measures them."""
    return Eyes(ear, ear, p_closed[0], p_closed[1], widths[0], widths[1], lens[0], lens[1], glare[0], glare[1])


def shapes(blink=(0.6, 0.6)):
    return FaceShapes(blink[0], blink[1], 0.2, 0.2, 0.3, 0.3, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "rule, p_closed, blink, ear, verdict",
    [
        ("blink_and_model", (0.95, 0.95), (0.6, 0.6), 0.15, "closed"),
        ("blink_and_model", (0.95, 0.95), (0.1, 0.1), 0.15, "open"),  # the model alone: a squint, a laugh
        ("blink_and_model", (0.05, 0.05), (0.6, 0.6), 0.15, "open"),  # the blink score alone: a glance down
        ("blink_and_model", (0.95, 0.95), (0.6, 0.6), 0.35, "open"),  # the aspect ratio says the eyes are wide
        ("blink", (0.05, 0.05), (0.6, 0.6), 0.35, "closed"),
        ("model", (0.95, 0.95), (0.1, 0.1), 0.15, "closed"),
        ("blink_and_model", (0.95, 0.2), (0.6, 0.6), 0.15, "open"),  # one eye only: glare or a rim, not a closure
        ("blink_and_model", (0.95, 0.95), (0.6, 0.1), 0.15, "open"),
    ],
)
def test_which_measures_decide(rule, p_closed, blink, ear, verdict):
    config = EyesConfig(rule=rule)
    assert judge(eyes(p_closed, ear), shapes(blink), config, None) == verdict


def test_without_the_blendshapes_the_model_decides_and_the_ratio_rule_needs_a_level():
    assert judge(eyes(), None, CONFIG, None) is EyeVerdict.CLOSED
    assert judge(eyes(p_closed=(None, None)), shapes(), CONFIG, None) is EyeVerdict.CLOSED  # eyes.model: false
    assert judge(eyes(p_closed=(None, None)), None, CONFIG, None) is None  # nothing that can judge
    ratio = EyesConfig(rule="ratio")
    assert judge(eyes(ear=0.15), None, ratio, None) is None  # no open level learned yet
    assert judge(eyes(ear=0.15), None, ratio, 0.2) is EyeVerdict.CLOSED
    assert still_verdict(eyes(ear=0.25), None, ratio) is EyeVerdict.CLOSED  # still_ratio_below 0.2625
    assert still_verdict(eyes(ear=0.3), None, ratio) is EyeVerdict.OPEN
    assert judge(None, shapes(), CONFIG, None) is None


def test_the_far_eye_of_a_turned_head_is_left_out_and_the_near_eye_decides():
    turned = eyes(p_closed=(0.95, 0.1), widths=(30.0, 14.0))  # the right eye is the far one
    assert seen_eyes(turned, CONFIG) == (True, False)
    assert judge(turned, shapes((0.6, 0.1)), CONFIG, None) is EyeVerdict.CLOSED
    just_over_half = eyes(p_closed=(0.95, 0.1), widths=(30.0, 16.0))
    assert judge(just_over_half, shapes((0.6, 0.1)), CONFIG, None) is EyeVerdict.OPEN


@pytest.mark.parametrize(
    "measures, seen",
    [
        ({"lens": (0.1, 0.1)}, (False, False)),  # dark lenses
        ({"lens": (0.1, 0.8)}, (False, True)),
        ({"glare": (0.5, 0.0)}, (False, True)),  # glare on the left lens
        ({"glare": (0.3, 0.3)}, (False, False)),
        ({"lens": (0.16, 0.16), "glare": (0.19, 0.19)}, (True, True)),  # just inside both limits
    ],
)
def test_eyes_behind_dark_lenses_or_glare_are_unseen_never_closed(measures, seen):
    measured = eyes(**measures)
    assert seen_eyes(measured, CONFIG) == seen
    verdict = judge(measured, shapes(), CONFIG, None)
    assert verdict is (EyeVerdict.UNSEEN if seen == (False, False) else EyeVerdict.CLOSED)
    never = EyesConfig(dark_lens_below=0.0, glare_above=1.0)
    assert judge(measured, shapes(), never, None) is EyeVerdict.CLOSED


def test_an_eye_exactly_half_as_wide_as_the_other_is_still_seen():
    """Under half the near eye's width is the far eye of a turned head; exactly half is not yet."""
    assert seen_eyes(eyes(widths=(30.0, 15.0)), CONFIG) == (True, True)
    assert seen_eyes(eyes(widths=(15.0, 30.0)), CONFIG) == (True, True)


def test_the_near_right_eye_decides_when_the_left_is_the_far_one():
    turned = eyes(p_closed=(0.95, 0.1), widths=(14.0, 30.0))  # the left eye is the far one: the right decides
    assert seen_eyes(turned, CONFIG) == (False, True)
    assert judge(turned, shapes((0.6, 0.1)), CONFIG, None) is EyeVerdict.OPEN
    shut = eyes(p_closed=(0.1, 0.95), widths=(14.0, 30.0))
    assert judge(shut, shapes((0.1, 0.6)), CONFIG, None) is EyeVerdict.CLOSED


@pytest.mark.parametrize(
    "measures, seen",
    [
        ({"lens": (0.15, 0.15)}, (True, True)),  # as bright as dark_lens_below: not darker, so seen
        ({"glare": (0.2, 0.2)}, (False, False)),  # glare_above's share saturated: behind glare
    ],
)
def test_the_lens_and_glare_limits_at_their_edges(measures, seen):
    assert seen_eyes(eyes(**measures), CONFIG) == seen


@pytest.mark.parametrize(
    "rule, blink, p_closed, ear, verdict",
    [
        ("blink", (0.25, 0.25), (0.05, 0.05), 0.15, "closed"),  # blink_above: closed at least this
        ("model", (0.1, 0.1), (0.5, 0.5), 0.15, "closed"),  # closed_above: at least this
        ("model", (0.1, 0.1), (0.95, 0.95), 0.3, "open"),  # ratio_below: the ratio must be under it
    ],
)
def test_the_rules_thresholds_at_their_edges(rule, blink, p_closed, ear, verdict):
    assert judge(eyes(p_closed, ear), shapes(blink), EyesConfig(rule=rule), None) == verdict


def test_the_ratio_rule_is_closed_under_its_threshold_not_at_it():
    ratio = EyesConfig(rule="ratio")
    assert judge(eyes(ear=0.25), None, ratio, 0.25) is EyeVerdict.OPEN
    assert judge(eyes(ear=0.25), None, ratio, 0.2501) is EyeVerdict.CLOSED


def test_a_still_is_judged_by_the_blink_score_where_the_rule_says_so():
    blink = EyesConfig(rule="blink")
    assert still_verdict(eyes(), shapes((0.6, 0.6)), blink) is EyeVerdict.CLOSED
    assert still_verdict(eyes(), shapes((0.1, 0.1)), blink) is EyeVerdict.OPEN
    assert still_verdict(eyes(), None, blink) is None  # no blendshapes: nothing that can judge
