"""Drowsiness and distraction timers on exact sequences of frames (Euro NCAP's numbers as defaults)."""

import numpy as np
import pytest

from dmsd.config import AlertnessConfig, EyesConfig, StateConfig
from dmsd.driver.alertness import AlertnessTracker, Baseline
from dmsd.driver.eye_closure import EyeVerdict
from dmsd.driver.state import DriverStateTracker
from dmsd.publish.payloads import event_json as wire
from dmsd.publish.payloads import state_payload
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes, HeadPose, Mouth
from dmsd.vision.geometry import Box
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.occupancy import SeatOccupancy

FPS = 10
OPEN, SHUT = 0.30, 0.10  # eye aspect ratios; the driver's open level is learned as 0.30
FORWARD = 30.0  # the driver's own forward yaw (a camera off to the side)


def shapes(blink=0.1, jaw=0.05, smile=0.05):
    """Blendshape scores of both eyes and the mouth."""
    return FaceShapes(blink, blink, 0.1, 0.1, 0.1, 0.1, jaw, smile, smile)


# The timers are the same whatever decides a closure: most tests time the aspect ratio against the driver's level
# (`RATIO`), whose frames need nothing but the mesh; `modelled` frames carry the eye-state model and blendshapes.
RATIO = EyesConfig(rule="ratio")


def frame(t, ear=OPEN, yaw=FORWARD, pitch=0.0, mouth=0.05, face=True):
    if not face:
        return FrameResult("test", t, None)
    measures = {"eyes": Eyes(ear, ear), "head": HeadPose(yaw, pitch, 0.0), "mouth": Mouth(mouth)}
    return FrameResult("test", t, Box(100, 80, 90, 90), measures)


def times(start, seconds):
    return [round(start + i / FPS, 3) for i in range(round(seconds * FPS))]


def run(tracker, frames):
    events = []
    for f in frames:
        events += [(round(e.ts, 3), e) for e in tracker.update(f.ts, f)]
    return events


def types(events):
    return [e.type for _, e in events]


@pytest.fixture
def tracker():
    """A driver learned over 5 s of open eyes looking ahead (baseline_min_s 3 s)."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    assert run(t, [frame(s) for s in times(0, 5)]) == []
    return t


def test_nothing_is_judged_before_the_baseline_by_the_aspect_ratio():
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    assert run(t, [frame(s, ear=SHUT, yaw=80) for s in times(0, 2.9)]) == []
    assert t.blocks(2.9).eyes is None and t.blocks(2.9).attention is None


def test_asleep_at_3_seconds_not_at_2_9_then_awake(tracker):
    events = run(tracker, [frame(s, ear=SHUT) for s in times(5.0, 3.0)])  # closed 5.0 .. 7.9
    assert types(events) == []  # 2.9 s closed: not yet
    events = run(tracker, [frame(8.0, ear=SHUT)])
    assert types(events) == ["asleep"] and events[0][0] == 8.0
    assert wire(events[0][1])["before"] == {"drowsiness": "alert"}
    assert wire(events[0][1])["after"] == {"drowsiness": "asleep", "closed_s": 3.0}
    assert tracker.blocks(8.0).drowsiness.state == "asleep"
    events = run(tracker, [frame(s, ear=SHUT) for s in times(8.1, 1)] + [frame(9.1)])
    assert types(events) == ["awake"] and events[0][0] == 9.1
    assert wire(events[0][1])["before"] == {"drowsiness": "asleep"}
    assert wire(events[0][1])["after"] == {"drowsiness": "alert", "closed_s": 4.1}
    assert tracker.blocks(9.1).drowsiness.state == "alert" and tracker.blinks == 0
    assert "microsleep" not in types(events)  # an asleep closure is not also a microsleep


def test_microsleeps_and_blinks_by_duration(tracker):
    events = run(tracker, [frame(s, ear=SHUT) for s in times(5.0, 0.5)] + [frame(5.5)])  # 0.5 s: a blink
    assert events == [] and tracker.blinks == 1
    events = run(tracker, [frame(s, ear=SHUT) for s in times(6.0, 1.5)] + [frame(7.5)])  # 1.5 s: a microsleep
    assert (
        types(events) == ["microsleep"] and wire(events[0][1])["after"] == {"duration_s": 1.5} and events[0][0] == 7.5
    )
    assert wire(events[0][1])["before"] == {} and tracker.blinks == 1  # a microsleep is not a blink
    assert run(tracker, [frame(s, ear=SHUT) for s in times(8.0, 0.3)] + [frame(8.3)]) == [] and tracker.blinks == 2


def test_three_microsleeps_in_a_minute_are_drowsy_and_alert_comes_back(tracker):
    # 30 s of open eyes first, so that PERCLOS stays under 0.15 and the count of microsleeps is what decides.
    events = run(tracker, [frame(s) for s in times(5.0, 30)])
    for start in (36.0, 40.0, 44.0):
        events += run(tracker, [frame(s, ear=SHUT) for s in times(start, 1.2)] + [frame(start + 1.2)])
        events += run(tracker, [frame(s) for s in times(start + 1.3, 2.5)])
    assert types(events) == ["microsleep", "microsleep", "microsleep", "drowsy"]
    assert [wire(e)["after"] for _, e in events[:3]] == [{"duration_s": 1.2}] * 3
    assert events[-1][0] == 45.2 and wire(events[-1][1])["before"] == {"drowsiness": "alert"}
    assert wire(events[-1][1])["after"] == {
        "drowsiness": "drowsy",
        "perclos": 0.116,
        "microsleeps": 3,
    }  # PERCLOS under 0.15
    assert tracker.blocks(45.2).drowsiness.microsleeps == 3
    # Open eyes for a minute: the first microsleep leaves the window at 97.2 (60 s after it), PERCLOS is under 0.10.
    events = run(tracker, [frame(s) for s in times(48.0, 60)])
    assert types(events) == ["alert"] and events[0][0] == 97.2
    assert wire(events[0][1])["before"] == {"drowsiness": "drowsy"}
    assert wire(events[0][1])["after"] == {"drowsiness": "alert", "perclos": 0.047, "microsleeps": 2}


def test_perclos_makes_drowsy_with_hysteresis(tracker):
    # Eyes shut 0.2 s of every second (short blinks, no microsleep): PERCLOS 0.2 over the window.
    pattern = [frame(s, ear=SHUT if (i % 10) < 2 else OPEN) for i, s in enumerate(times(5, 20))]
    events = run(tracker, pattern)
    assert types(events) == ["drowsy"] and events[0][0] == 12.9
    assert wire(events[0][1])["after"] == {"drowsiness": "drowsy", "perclos": 0.16, "microsleeps": 0}
    # PERCLOS between 0.10 and 0.15: still drowsy (hysteresis); under 0.10: alert.
    drowsiness = tracker.blocks(25).drowsiness
    assert drowsiness is not None and drowsiness.state == "drowsy"
    events = run(tracker, [frame(s) for s in times(25, 60)])
    assert types(events) == ["alert"] and events[0][0] == 43.0 and wire(events[0][1])["after"]["perclos"] < 0.1 + 1e-9


def test_a_long_glance_away_is_distracted_at_3_seconds(tracker):
    events = run(tracker, [frame(s, yaw=FORWARD + 45) for s in times(5.0, 3.0)])  # away 5.0 .. 7.9
    assert events == []
    events = run(tracker, [frame(8.0, yaw=FORWARD + 45)])
    assert types(events) == ["distracted"] and wire(events[0][1])["before"] == {"attention": "attentive"}
    # away_s: 5.0 .. 8.0; the window also counts the first away frame's own step (0.1 s).
    after = {"attention": "distracted", "kind": "long", "away_s": 3.0, "away_in_window_s": 3.1}
    assert wire(events[0][1])["after"] == after
    events = run(tracker, [frame(s) for s in times(8.1, 1.9)])  # back on the road 1.9 s: not yet attentive
    assert events == []
    assert tracker.blocks(9.0).attention.kind == "long" and tracker.blocks(9.0).attention.away_s == 0.0
    events = run(tracker, [frame(10.1)])
    assert types(events) == ["attentive"] and tracker.blocks(10.1).attention.away_in_window_s == 0.0
    assert wire(events[0][1])["before"] == {"attention": "distracted", "kind": "long"}
    assert wire(events[0][1])["after"] == {"attention": "attentive"}


def test_time_sharing_adds_up_glances_and_restarts_after_2_seconds_on_the_road(tracker):
    # Glances of 2.5 s away (never 3 s at a stretch), 1.5 s back: 10 s away after the fourth glance.
    events, t = [], 5.0
    for _ in range(5):
        events += run(tracker, [frame(s, yaw=FORWARD - 40) for s in times(t, 2.5)])
        events += run(tracker, [frame(s) for s in times(t + 2.5, 1.5)])
        t += 4.0
    assert types(events) == ["distracted"] and wire(events[0][1])["after"]["kind"] == "time_sharing"
    assert wire(events[0][1])["after"]["away_in_window_s"] >= 10.0
    # The same glances with 2 s back on the road between them: the window restarts every time.
    fresh = AlertnessTracker(AlertnessConfig(), RATIO)
    run(fresh, [frame(s) for s in times(0, 5)])
    events, t = [], 5.0
    for _ in range(8):
        events += run(fresh, [frame(s, yaw=FORWARD - 40) for s in times(t, 2.5)])
        events += run(fresh, [frame(s) for s in times(t + 2.5, 2.5)])  # on the road 2.4 s: past the 2 s reset
        t += 5.0
    assert events == []


def test_unresponsive_after_6_seconds_of_closed_eyes_or_looking_away(tracker):
    frames = (
        [frame(s, ear=SHUT) for s in times(5.0, 3.5)]  # closed (asleep at 8.0)
        + [frame(s, ear=OPEN, yaw=FORWARD + 50) for s in times(8.5, 2.6)]
    )  # then away: 6 s at 11.0
    events = run(tracker, frames)
    assert types(events) == ["asleep", "awake", "unresponsive"] and events[-1][0] == 11.0
    assert wire(events[-1][1])["before"] == {} and wire(events[-1][1])["after"] == {
        "eyes_closed": False,
        "away": True,
        "for_s": 6.0,
    }
    attention = tracker.blocks(11.0).attention
    assert attention is not None and attention.unresponsive is True
    later = types(run(tracker, [frame(s, yaw=FORWARD + 50) for s in times(11.1, 1.0)]))
    assert later == ["distracted"]  # 3 s away at 11.5; unresponsive once while it lasts
    run(tracker, [frame(s) for s in times(12.1, 0.5)])
    assert tracker.blocks(12.5).attention.unresponsive is False  # back on the road: over


@pytest.fixture
def yawn_tracker():
    """A driver learned as `tracker`, with yawn_s 1.5 s (a span exact in binary, so the timings below are exact)."""
    t = AlertnessTracker(AlertnessConfig(yawn_s=1.5), RATIO)
    assert run(t, [frame(s) for s in times(0, 5)]) == []
    return t


def test_a_yawn_is_the_mouth_held_open(yawn_tracker):
    tracker = yawn_tracker
    assert run(tracker, [frame(s, mouth=0.8) for s in times(5.0, 1.4)] + [frame(6.4)]) == []
    events = run(tracker, [frame(s, mouth=0.8) for s in times(7.0, 2.0)])
    assert types(events) == ["yawn"] and events[0][0] == 8.5 and wire(events[0][1])["after"] == {"duration_s": 1.5}


def test_a_face_lost_for_a_moment_is_away_and_keeps_a_closure_going():
    """Looking over the shoulder turns the face from the detector: the driver is away, not absent (until
    state.absent_after_s), and eyes last seen closed stay closed."""
    state = DriverStateTracker(StateConfig(absent_after_s=5.0), AlertnessConfig(), eyes=RATIO)
    events = []
    for f in [frame(s) for s in times(0, 5)] + [frame(s, face=False) for s in times(5, 3.5)]:
        events += state.update(f)
    assert [e.type for e in events] == ["driver_present", "distracted"]
    assert wire(events[-1])["after"]["kind"] == "long" and events[-1].ts == 8.0
    assert state.state.driver_present is True
    # Absent at last: the driver's baseline is forgotten and their timers with it.
    for f in [frame(s, face=False) for s in times(8.5, 2)]:
        events += state.update(f)
    assert [e.type for e in events][-1] == "driver_absent"
    assert state_payload(state.state)["attention"] is None and state.alertness.baseline.started is None


def test_the_state_carries_the_blocks_and_landmarks_off_leaves_them_null():
    state = DriverStateTracker(StateConfig(), AlertnessConfig(), eyes=RATIO)
    for f in [frame(s) for s in times(0, 5)]:
        state.update(f)
    payload = state_payload(state.state)
    assert payload["eyes"]["openness"] == pytest.approx(1.0, abs=0.01) and payload["eyes"]["closed"] is False
    assert payload["head"]["forward"] == {"yaw": FORWARD, "pitch": 0.0} and payload["head"]["on_road"] is True
    assert payload["attention"]["state"] == "attentive" and payload["drowsiness"]["state"] == "alert"
    off = DriverStateTracker(StateConfig(), AlertnessConfig(), eyes=RATIO)
    for t in times(0, 5):
        off.update(FrameResult("test", t, Box(100, 80, 90, 90)))  # no eyes, head or mouth
    blocks = state_payload(off.state)
    assert blocks["eyes"] is None and blocks["head"] is None and blocks["attention"] is None
    assert blocks["drowsiness"] is None


def test_every_number_is_validated(tmp_path):
    from dmsd.config import load_config
    from dmsd.errors import DmsdError

    for text, message in (
        ("alertness:\n  asleep_s: 0\n", "alertness.asleep_s: 0.0 is out of range (0.5..60)"),
        ("alertness:\n  microsleep_s: 4\n", "alertness.microsleep_s must be under alertness.asleep_s"),
        ("alertness:\n  alert_perclos: 0.5\n", "alert_perclos must not exceed alertness.drowsy_perclos"),
    ):
        (tmp_path / "c.yaml").write_text(text)
        with pytest.raises(DmsdError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            load_config(tmp_path / "c.yaml")
    assert np.isclose(AlertnessConfig().asleep_s, 3.0)


def test_eyes_shut_with_the_mouth_open_are_a_laugh_or_a_yawn_not_a_microsleep(tracker):
    """A 1.5 s closure with the mouth open (laughing, yawning) is no microsleep and no PERCLOS; the same closure
    with the mouth shut is a microsleep; and 3 s shut is asleep whatever the mouth does."""
    laugh = [frame(s, ear=SHUT, mouth=0.25) for s in times(5.0, 1.5)] + [frame(6.5)]  # open, not a yawn
    assert run(tracker, laugh) == []
    assert not any(closed for ts, _, closed in tracker.eye_time if 5.0 <= ts < 6.5)  # nothing toward PERCLOS
    shut = [frame(s, ear=SHUT) for s in times(8.0, 1.5)] + [frame(9.5)]
    assert types(run(tracker, shut)) == ["microsleep"]
    agape = [frame(s, ear=SHUT, mouth=0.6) for s in times(11.0, 3.2)]
    assert "asleep" in types(run(tracker, agape))


# -- the documented thresholds, each at its edge (README, "How dmsd decides"; Euro NCAP's numbers) ---------------


@pytest.mark.parametrize("closed_s, microsleep", [(0.9, False), (1.0, True), (2.9, True)])
def test_a_microsleep_is_a_closure_of_1_second_or_more_under_3(tracker, closed_s, microsleep):
    frames = [frame(s, ear=SHUT) for s in times(5.0, closed_s)] + [frame(round(5.0 + closed_s, 3))]
    assert types(run(tracker, frames)) == (["microsleep"] if microsleep else [])


@pytest.mark.parametrize("ear, closed", [(0.197, False), (0.193, True)])
def test_eyes_are_closed_under_0_65_of_the_drivers_open_level(tracker, ear, closed):
    """The driver's open level is 0.30: 0.197 is 0.657 of it (open), 0.193 is 0.643 (closed)."""
    events = run(tracker, [frame(s, ear=ear) for s in times(5.0, 3.5)])
    assert ("asleep" in types(events)) is closed


@pytest.mark.parametrize(
    "offset, away",
    [
        ({"yaw": FORWARD + 29.5}, False),
        ({"yaw": FORWARD + 30.5}, True),
        ({"yaw": FORWARD - 30.5}, True),
        ({"pitch": 19.5}, False),
        ({"pitch": 20.5}, True),
    ],
    ids=["yaw+29.5", "yaw+30.5", "yaw-30.5", "pitch+19.5", "pitch+20.5"],
)
def test_the_head_is_away_past_30_degrees_of_yaw_or_20_of_pitch(tracker, offset, away):
    events = run(tracker, [frame(s, **offset) for s in times(5.0, 3.5)])
    assert (types(events) == ["distracted"]) is away


def glances(away_s: float, back_s: float, total_s: float, start: float = 5.0) -> list:
    """Glances of `away_s` away from the road, `back_s` back on it between them (under the 2 s that restart the
    time-sharing window), for `total_s`."""
    frames, t = [], start
    while t < start + total_s:
        frames += [frame(s, yaw=FORWARD + 60) for s in times(t, away_s)] + [frame(s) for s in times(t + away_s, back_s)]
        t = round(t + away_s + back_s, 3)
    return frames


def test_time_sharing_is_10_seconds_away_within_30(tracker):
    """1 s away, 1.5 s back: 10 s away is reached after 25 s, inside the 30 s window: distracted, kind
    time_sharing, and never a long one (no glance lasts 3 s)."""
    events = run(tracker, glances(1.0, 1.5, 27.0))
    assert types(events) == ["distracted"] and wire(events[0][1])["after"]["kind"] == "time_sharing"
    assert wire(events[0][1])["after"]["away_in_window_s"] >= 10.0 and events[0][0] <= 5.0 + 25.0


def test_away_time_spread_beyond_30_seconds_is_no_distraction(tracker):
    """0.5 s away, 1.5 s back: at most 7.5 s away in any 30 s, however long it goes on."""
    assert run(tracker, glances(0.5, 1.5, 60.0)) == []


def test_drowsy_at_perclos_0_15_and_alert_again_only_under_0_10(tracker):
    """PERCLOS hysteresis, on the frames' own clock: blinks of 0.9 s (no microsleeps) every 5 s put PERCLOS at 0.18:
    drowsy. Then every 7.5 s: PERCLOS settles at 0.12, between the two levels: still drowsy. Then eyes open: alert
    once PERCLOS falls under 0.10, not before."""

    def blinks(every: float, start: float, total: float) -> list:
        frames, t = [], start
        while t < start + total:
            frames += [frame(s, ear=SHUT) for s in times(t, 0.9)] + [frame(s) for s in times(t + 0.9, every - 0.9)]
            t = round(t + every, 3)
        return frames

    events = run(tracker, blinks(5.0, 5.0, 60.0))
    assert types(events) == ["drowsy"] and wire(events[0][1])["after"]["perclos"] >= 0.15
    assert run(tracker, blinks(7.5, 65.0, 90.0)) == []  # a whole window at about 0.12: no all-clear
    assert 0.10 <= tracker.perclos < 0.15
    last = tracker.perclos
    for f in [frame(s) for s in times(155.0, 60.0)]:
        events = tracker.update(f.ts, f)
        if events:
            assert [e.type for e in events] == ["alert"] and tracker.perclos < 0.10 <= last
            break
        last = tracker.perclos
    else:
        pytest.fail("never alert again")


def test_the_state_blocks_say_what_is_going_on(tracker):
    """Mid-blink count, PERCLOS, a closure in progress and a glance in progress, as the state shows them."""
    run(tracker, [frame(s, ear=SHUT) for s in times(5.0, 0.3)] + [frame(s) for s in times(5.3, 10.7)])
    blocks = tracker.blocks(15.9)
    # Measured from 3.0 s (the baseline is ready) to 15.9 s: 13 s, 0.3 of them shut.
    assert blocks.eyes.blinks == 1 and blocks.eyes.closed is False and blocks.eyes.closed_s == 0.0
    assert blocks.eyes.perclos == pytest.approx(0.3 / 13.0) and blocks.drowsiness.perclos == blocks.eyes.perclos
    assert blocks.drowsiness.state == "alert" and blocks.drowsiness.microsleeps == 0
    run(tracker, [frame(s, ear=SHUT) for s in times(16.0, 1.05)])
    eyes = tracker.blocks(17.0).eyes
    assert eyes.closed is True and eyes.closed_s == pytest.approx(1.0) and eyes.openness == pytest.approx(1 / 3)
    run(tracker, [frame(s) for s in times(17.1, 2.9)] + [frame(s, yaw=FORWARD + 45) for s in times(20.0, 1.55)])
    blocks = tracker.blocks(21.5)
    assert blocks.attention.state == "attentive" and blocks.attention.away_s == pytest.approx(1.5)
    assert blocks.head.on_road is False and blocks.head.forward_yaw == FORWARD and blocks.head.pose.yaw == 75.0


def test_the_eye_models_probabilities_reach_the_state(tracker):
    measures = {"eyes": Eyes(0.3, 0.3, 0.01, 0.02), "head": HeadPose(FORWARD, 0.0, 0.0), "mouth": Mouth(0.05)}
    run(tracker, [FrameResult("test", 5.0, Box(100, 80, 90, 90), measures)])
    eyes = tracker.blocks(5.0).eyes
    assert (eyes.measured.p_closed_left, eyes.measured.p_closed_right) == (0.01, 0.02)
    assert AlertnessTracker(AlertnessConfig(), RATIO).blocks(0.0) == AlertnessTracker(AlertnessConfig(), RATIO).blocks(
        9.0
    )
    fresh = AlertnessTracker(AlertnessConfig(), RATIO)
    run(fresh, [frame(0.0)])
    blocks = fresh.blocks(0.0)
    assert (blocks.eyes, blocks.head, blocks.attention, blocks.drowsiness) == (None, None, None, None)


def test_a_closure_partly_excused_counts_only_its_unexcused_time(tracker):
    """1.5 s shut, the first 0.8 s with the mouth open (the end of a laugh): 0.7 s counts, a blink. A closure that
    begins with the head down for 1.5 s: asleep once 3 s have been judged, 4.5 s in, not at 3 s."""
    laugh = [frame(s, ear=SHUT, mouth=0.6) for s in times(5.0, 0.8)] + [frame(s, ear=SHUT) for s in times(5.8, 0.7)]
    assert run(tracker, laugh + [frame(6.5)]) == [] and tracker.blinks == 1
    down = [frame(s, ear=SHUT, pitch=-40.0) for s in times(10.0, 1.5)] + [frame(s, ear=SHUT) for s in times(11.5, 3.5)]
    asleep = [(ts, wire(e)["after"]["closed_s"]) for ts, e in run(tracker, down) if e.type == "asleep"]
    assert asleep == [(14.5, 4.5)]  # head down 10.0 to 11.5 (each frame's time runs to the next); 3 s judged at 14.5


def test_eyes_unknown_mid_closure_are_not_judged(tracker):
    """The mesh loses its trust in the eyes (face found, no eyes) for 1 s of a closure: that second is not counted,
    so 2.5 s shut around it is a microsleep, not asleep; and eyes unknown with no closure going change nothing."""
    unknown = [
        FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(6.0, 1.0)
    ]
    assert run(tracker, unknown[:3]) == [] and tracker.blocks(6.2).eyes is None
    closure = [frame(s, ear=SHUT) for s in times(7.0, 1.5)] + [
        FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(8.5, 1.0)
    ]
    closure += [frame(s, ear=SHUT) for s in times(9.5, 1.5)] + [frame(11.0)]
    events = run(tracker, closure)
    assert types(events) == ["microsleep"] and wire(events[0][1])["after"] == {"duration_s": 4.0}


def test_times_are_rounded_to_hundredths_on_an_uneven_clock(tracker):
    """A camera at 7 frames/s: durations are rounded to 0.01 s, as documented."""
    clock = [round(5.0 + i / 7, 4) for i in range(55)]  # 5.0 .. 12.714
    events = run(tracker, [frame(s, ear=SHUT) for s in clock[:30]] + [frame(clock[30])])  # shut 5.0 .. 9.143
    assert [(e.type, wire(e)["after"]["closed_s"]) for _, e in events] == [("asleep", 3.0), ("awake", 4.29)]
    away = [frame(s, yaw=FORWARD + 50) for s in clock[31:53]]  # from 9.429 on; 3 s away at 12.429
    distracted = [e for _, e in run(tracker, away) if e.type == "distracted"]
    # The window also counts the first away frame's own step (1/7 s): 3.143.
    assert wire(distracted[0])["after"]["away_s"] == 3.0 and wire(distracted[0])["after"]["away_in_window_s"] == 3.14


def test_the_pitch_limit_is_against_the_drivers_own_forward_pitch():
    """A driver whose forward pitch is -10 (a camera above the face): -25 is 15 below forward (on the road), -35 is
    25 below (away)."""
    for pitch, away in ((-25.0, False), (-35.0, True), (5.0, False), (15.0, True)):
        t = AlertnessTracker(AlertnessConfig(), RATIO)
        run(t, [frame(s, pitch=-10.0) for s in times(0, 5)])
        events = run(t, [frame(s, pitch=pitch) for s in times(5.0, 3.5)])
        assert ("distracted" in types(events)) is away, pitch


def test_time_sharing_is_counted_the_same_late_in_a_drive(tracker):
    """The time-sharing window slides with the drive: the same glances as at the start, 60 s later."""
    run(tracker, [frame(s) for s in times(5.0, 60.0)])
    events = run(tracker, glances(1.0, 1.5, 27.0, start=65.0))
    assert types(events) == ["distracted"] and wire(events[0][1])["after"]["kind"] == "time_sharing"
    assert events[0][0] <= 65.0 + 25.0


def test_unresponsive_with_the_eyes_shut_says_so_on_an_uneven_clock(tracker):
    clock = [round(5.0 + i * 0.123, 4) for i in range(52)]  # frames 0.123 s apart: 3 s at 8.075, 6 s at 11.027
    events = run(tracker, [frame(s, ear=SHUT) for s in clock])
    assert [(ts, e.type) for ts, e in events] == [(8.075, "asleep"), (11.027, "unresponsive")]
    assert wire(events[0][1])["after"] == {"drowsiness": "asleep", "closed_s": 3.07}  # 3.0749...: to 0.01 s
    assert wire(events[1][1])["after"] == {"eyes_closed": True, "away": False, "for_s": 6.03}


def test_a_glance_away_on_an_uneven_clock():
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    run(t, [frame(s) for s in times(0, 5)])
    clock = [round(5.0 + i * 0.123, 4) for i in range(30)]
    events = run(t, [frame(s, yaw=FORWARD + 50) for s in clock])
    assert [(ts, e.type) for ts, e in events] == [(8.075, "distracted")]
    assert wire(events[0][1])["after"]["away_s"] == 3.07 and wire(events[0][1])["after"]["away_in_window_s"] == 3.17


def test_eyes_unknown_mid_closure_are_excused_from_a_microsleep(tracker):
    """0.6 s shut, 1 s unknown (the mesh lost its trust), 0.3 s shut: 0.9 s judged, a blink, not a microsleep."""
    unknown = [
        FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(5.6, 1.0)
    ]
    frames = [frame(s, ear=SHUT) for s in times(5.0, 0.6)] + unknown + [frame(s, ear=SHUT) for s in times(6.6, 0.3)]
    assert run(tracker, frames + [frame(6.9)]) == [] and tracker.blinks == 1


def test_a_drive_that_starts_late_on_the_clock_learns_its_baseline_first():
    """Frame times are wall-clock seconds: a baseline learned from t=1000 is ready 3 s later, not at once, and its
    open level is the 80th percentile of the driver's eye aspect ratio (closed frames are the minority)."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    ears = [0.20 + 0.005 * (i % 20) for i in range(50)]  # 0.20 .. 0.295, evenly
    assert run(t, [frame(1000 + i / 10, ear=ear) for i, ear in enumerate(ears[:29])]) == []
    assert t.blocks(1002.8).eyes is None  # 2.8 s in: not ready
    run(t, [frame(1000 + i / 10, ear=ear) for i, ear in enumerate(ears) if i >= 29])
    assert t.blocks(1004.9).eyes is not None
    t.baseline._estimate(1004.9)  # the estimate is refreshed at most once a second; now, on every sample
    assert t.baseline.eye_level == pytest.approx(float(np.percentile(ears, 80)))


def test_a_yawn_on_an_uneven_clock_and_a_face_without_a_head_pose(yawn_tracker):
    tracker = yawn_tracker
    clock = [round(5.0 + i * 0.123, 4) for i in range(14)]  # the mouth open 1.5 s at 6.599
    events = run(tracker, [frame(s, mouth=0.8) for s in clock])
    assert [(ts, wire(e)["before"], wire(e)["after"]) for ts, e in events] == [(6.599, {}, {"duration_s": 1.6})]
    no_head = FrameResult("test", 7.0, Box(100, 80, 90, 90), {"eyes": Eyes(OPEN, OPEN), "mouth": Mouth(0.05)})
    assert run(tracker, [no_head]) == [] and tracker.blocks(7.0).head is None
    assert tracker.blocks(7.0).attention is None  # no head pose: on the road or not, unknown


def test_head_down_against_a_non_zero_forward_pitch_excuses_a_closure():
    """Forward pitch -10: eyes shut with the head at -25 (15 below forward, not down) is a microsleep; at -35 (25
    below, looking down) it is excused."""
    for pitch, microsleep in ((-25.0, True), (-35.0, False)):
        t = AlertnessTracker(AlertnessConfig(), RATIO)
        run(t, [frame(s, pitch=-10.0) for s in times(0, 5)])
        events = run(t, [frame(s, ear=SHUT, pitch=pitch) for s in times(5.0, 1.5)] + [frame(6.5, pitch=-10.0)])
        assert ("microsleep" in types(events)) is microsleep, pitch


def test_eyes_unknown_for_a_while_keep_the_drowsiness_level(tracker):
    """The mesh stops trusting the eyes (face and head still there): the drowsiness level stays known."""
    unknown = [
        FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(5.0, 2)
    ]
    run(tracker, unknown)
    assert tracker.blocks(6.9).eyes is None and tracker.blocks(6.9).drowsiness.state == "alert"


def lost(t, similarity):
    """A frame without a face, the seat region compared with the last face's (dmsd.vision.stages.occupancy)."""
    return FrameResult("test", t, None, {"occupancy": None if similarity is None else SeatOccupancy(similarity)})


@pytest.mark.parametrize(
    "last_seen, similarity, nodding",
    [
        ({"ear": SHUT}, 0.95, True),  # eyes closing as the head falls out of the detectors' reach
        ({"pitch": -35.0}, 0.95, True),  # head dropped
        ({"pitch": 30.0}, 0.95, True),  # head tipped back
        ({"pitch": -15.0}, 0.95, False),  # within away_pitch_deg, eyes open: a face lost, nothing more
        ({"ear": SHUT}, 0.5, False),  # the seat looks different: gone, not nodding
        ({"ear": SHUT}, None, False),  # nothing to compare (another frame size): not nodding
    ],
)
def test_nodding_off_is_decided_on_how_the_face_was_last_seen_and_the_seat(tracker, last_seen, similarity, nodding):
    run(tracker, [frame(5.0, **last_seen)])
    run(tracker, [lost(5.1, similarity)])
    assert tracker.nodding is nodding


def test_a_driver_nodding_off_is_asleep_and_present_an_empty_seat_is_absent():
    config = AlertnessConfig()
    nodding = DriverStateTracker(StateConfig(absent_after_s=2.0), config, eyes=RATIO)
    gone = DriverStateTracker(StateConfig(absent_after_s=2.0), config, eyes=RATIO)
    for state in (nodding, gone):
        for s in times(0, 5):
            state.update(frame(s))
        for s in times(5.0, 1.0):
            state.update(frame(s, ear=SHUT, pitch=-10.0))  # eyes close, the head starts to fall
    asleep = [e for s in times(6.0, 4.0) for e in nodding.update(lost(s, 0.9))]
    assert [(e.type, e.ts) for e in asleep] == [("asleep", 8.0)]  # the closure from 5.0 timed through the loss
    assert nodding.state.driver_present is True
    left = [e for s in times(6.0, 4.0) for e in gone.update(lost(s, 0.3))]  # the region changed: nobody there
    assert [e.type for e in left] == ["driver_absent"] and left[0].ts == 7.9  # 2 s after the last face


def modelled(t, closed, ear=None, pitch=0.0, mouth=0.05, blink=None, smile=0.05, lens=0.8):
    """A frame as the daemon's pipeline measures it: the eye-state model's p_closed and the blendshapes' blink score
    (both saying `closed` unless `blink` is given), the jaw as open as the lips."""
    p = 0.95 if closed else 0.05
    ear = (SHUT if closed else OPEN) if ear is None else ear
    eyes = Eyes(ear, ear, p, p, 30.0, 30.0, lens, lens)
    blink = (0.9 if closed else 0.1) if blink is None else blink
    measures = {
        "eyes": eyes,
        "blendshapes": shapes(blink, min(mouth, 1.0), smile),
        "head": HeadPose(FORWARD, pitch, 0.0),
        "mouth": Mouth(mouth),
    }
    return FrameResult("test", t, Box(100, 80, 90, 90), measures)


def test_the_eye_models_verdict_and_a_yawn_are_judged_before_the_baseline():
    """A driver asleep from the first frame is asleep at 3 s, though their baseline (3 s) is not learned then;
    the aspect ratio alone (no model) still waits for it, and so does the head."""
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [modelled(s, closed=True) for s in times(0, 3.1)])
    assert [(e.type, ts) for ts, e in events] == [("asleep", 3.0)]
    assert t.blocks(3.0).drowsiness.state == "asleep" and t.blocks(2.9).head is None  # the head waits
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    assert run(t, [frame(s, ear=SHUT) for s in times(0, 2.9)]) == []  # no model: nothing judged yet
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [modelled(s, closed=False, mouth=0.7) for s in times(0, 2.0)])
    assert [(e.type, ts) for ts, e in events] == [("yawn", 1.2)]  # yawn_s 1.2


def test_eyes_measured_as_nothing_do_not_crash_the_tracker(tracker):
    """A degenerate mesh (both eyes' aspect ratio 0) made the open-eye level 0, and its division a traceback."""
    t = AlertnessTracker(AlertnessConfig())
    run(t, [modelled(s, closed=False, ear=0.0) for s in times(0, 4)])
    assert t.blocks(4.0).eyes is not None and t.blocks(4.0).eyes.closed is False
    run(t, [modelled(4.0, closed=False, ear=0.3)])  # no open level to compare with: the openness is the ratio itself
    assert t.baseline.eye_level == 0.0 and t.blocks(4.0).eyes.openness == pytest.approx(0.3)


def test_a_head_sweeping_across_the_road_stays_away_a_real_look_back_ends_the_stretch(tracker):
    """Looking out of one side window, then the other: the head crosses the road for 0.3 s on the way (incluit's
    video1), which is no look at it; frames 0.5 s apart on the road (`road_glance_s`) are, and the stretch starts
    again."""
    sweep = [frame(s, yaw=FORWARD + 60) for s in times(5.0, 1.5)] + [frame(s) for s in times(6.5, 0.3)]
    sweep += [frame(s, yaw=FORWARD - 60) for s in times(6.8, 1.3)]
    events = run(tracker, sweep)
    assert [(e.type, ts) for ts, e in events] == [("distracted", 8.0)]  # 3 s from 5.0, the crossing counted
    looked = AlertnessTracker(AlertnessConfig(), RATIO)
    run(looked, [frame(s) for s in times(0, 5)])
    back = [frame(s, yaw=FORWARD + 60) for s in times(5.0, 1.5)] + [frame(s) for s in times(6.5, 0.6)]
    back += [frame(s, yaw=FORWARD - 60) for s in times(7.1, 2.9)]
    assert run(looked, back) == []  # 1.5 s away, a real look at the road, then 2.9 s away: two short stretches


def test_the_default_rule_needs_the_blink_score_and_the_model_to_agree():
    """The model calls narrow open eyes shut (a squint, a laugh) while the blink score reads them open: no closure.
    Where both read shut, asleep at 3 s."""
    t = AlertnessTracker(AlertnessConfig())
    assert run(t, [modelled(s, closed=True, blink=0.2) for s in times(0, 4)]) == []
    assert t.blocks(4.0).eyes.verdict == "open"
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [modelled(s, closed=True) for s in times(0, 3.1)])
    assert [(e.type, ts) for ts, e in events] == [("asleep", 3.0)]


def test_eyes_behind_dark_lenses_are_unseen_never_closed():
    """Sunglasses: the model and the blink score may read anything there; the eyes are unseen, and no closure is
    timed however long it lasts."""
    t = AlertnessTracker(AlertnessConfig())
    assert run(t, [modelled(s, closed=True, lens=0.1) for s in times(0, 8)]) == []
    eyes = t.blocks(8.0).eyes
    assert eyes.verdict == "unseen" and eyes.closed is False and eyes.closed_s == 0.0


def test_a_wide_smile_excuses_a_closure_from_microsleeps():
    """Eyes squeezed shut in a laugh for 1.5 s, the mouth closed but smiling: not a microsleep; the same closure
    without the smile is one."""
    for smile, microsleep in ((0.8, False), (0.05, True)):
        t = AlertnessTracker(AlertnessConfig())
        run(t, [modelled(s, closed=False) for s in times(0, 5)])
        closure = [modelled(s, closed=True, smile=smile) for s in times(5.0, 1.5)] + [modelled(6.5, closed=False)]
        assert ("microsleep" in types(run(t, closure))) is microsleep, smile


def test_a_yawn_is_a_wide_jaw_without_a_smile_held_long_enough():
    """Jaw open 0.7 for 2 s: a yawn once held yawn_s (1.2 s). The same in a wide smile (laughing, singing): none. Jaw
    open in short bursts (talking): none."""
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [modelled(s, closed=False, mouth=0.7) for s in times(0, 2)])
    assert [(e.type, ts) for ts, e in events] == [("yawn", 1.2)]
    t = AlertnessTracker(AlertnessConfig())
    assert run(t, [modelled(s, closed=False, mouth=0.7, smile=0.7) for s in times(0, 3)]) == []
    t = AlertnessTracker(AlertnessConfig())
    talking = [modelled(s, closed=False, mouth=0.7 if int(s * 10) % 8 < 5 else 0.1) for s in times(0, 6)]
    assert run(t, talking) == []


def test_a_yawning_closure_seen_on_one_still_is_excused():
    """Stills a second apart (YawDD's frames played as a folder): eyes shut on one of them in a yawn, open on the next.
    The second between them is the yawn's, excused: no microsleep. The same closure with the mouth shut is one."""
    for jaw, microsleep in ((0.6, False), (0.0, True)):
        t = AlertnessTracker(AlertnessConfig())
        frames = [modelled(0.0, closed=False), modelled(1.0, closed=True, mouth=jaw), modelled(2.0, closed=False)]
        assert ("microsleep" in types(run(t, frames))) is microsleep, jaw


# -- the baseline's learning, and the tracker's first frames ---------------------------------------------------


def posed(t, yaw, pitch=0.0):
    return FrameResult("test", t, Box(100, 80, 90, 90), {"eyes": Eyes(OPEN, OPEN), "head": HeadPose(yaw, pitch, 0.0)})


def test_the_baseline_is_estimated_once_a_second_and_on_the_last_sample_it_learns():
    """The forward pose is the median of the samples so far, worked out at most once a second while learning
    (Baseline.REFRESH_S) and once more on the last sample of baseline_s, which is learned; later samples are not."""
    baseline = Baseline(AlertnessConfig(baseline_s=1.5, baseline_min_s=0.5))
    forward = []
    for t, yaw in ((1000.0, 10.0), (1000.5, 20.0), (1001.0, 30.0), (1001.5, 40.0), (1002.0, 50.0)):
        baseline.add(t, posed(t, yaw))
        forward.append(baseline.forward[0])
    assert forward == [10.0, 10.0, 20.0, 25.0, 25.0]
    assert len(baseline.pose_samples) == 4 and baseline.ready(1002.0)


def test_a_drive_whose_face_is_found_before_the_mesh_is_learned_from_the_meshs_frames():
    """The face is found from the start, the face mesh only from 2.5 s (no eyes, no head before): the baseline is
    learned from the mesh's frames, and a driver looking ahead (at a camera 45 degrees off) is on the road."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    frames = [FrameResult("test", 0.0, Box(100, 80, 90, 90))]
    frames += [FrameResult("test", s, None) for s in times(0.1, 1.0)]  # the face lost for a moment
    frames += [FrameResult("test", s, Box(100, 80, 90, 90)) for s in times(1.1, 1.4)]
    frames += [frame(s, yaw=45.0) for s in times(2.5, 3.5)]
    assert run(t, frames) == []
    head = t.blocks(5.9).head
    assert (head.forward_yaw, head.on_road) == (45.0, True) and t.blocks(5.9).eyes.closed is False


def test_a_glance_away_from_the_moment_the_baseline_is_ready_is_timed_from_then():
    """The head turns away on the very frame the baseline is ready: the glance is timed from that frame, and the
    driver is attentive and not unresponsive until it has lasted long_distraction_s."""
    t = AlertnessTracker(AlertnessConfig(long_distraction_s=1.0), RATIO)
    run(t, [frame(s) for s in times(0, 3.0)])
    assert run(t, [frame(3.0, yaw=FORWARD + 45)]) == []
    attention = t.blocks(3.0).attention
    assert (attention.state, attention.away_s, attention.unresponsive) == ("attentive", 0.0, False)
    events = run(t, [frame(s, yaw=FORWARD + 45) for s in times(3.1, 1.0)])
    assert [(e.type, ts) for ts, e in events] == [("distracted", 4.0)]


def test_a_driver_on_the_road_since_the_baseline_has_no_time_away(tracker):
    attention = tracker.blocks(4.9).attention
    assert (attention.away_s, attention.away_in_window_s, attention.unresponsive) == (0.0, 0.0, False)


def test_perclos_is_known_once_10_seconds_of_eyes_are_measured_from_the_first_frame():
    """The eye-state model's verdicts count from the first frame (before the baseline); the first frame has no time
    before it, so 10 s of eyes are measured at 10 s."""
    t = AlertnessTracker(AlertnessConfig())
    perclos = {}
    for i in range(21):  # frames 0.5 s apart, so that the sums are exact
        run(t, [modelled(i / 2, closed=False)])
        perclos[i / 2] = t.blocks(i / 2).eyes.perclos
    assert perclos[9.5] is None and perclos[10.0] == 0.0


def test_with_the_ratio_rule_nothing_is_judged_before_the_baseline_not_even_nodding():
    """The aspect ratio needs the driver's open level, and the head their forward pose: before the baseline, with
    the ratio rule, a face lost with the head last seen dropped is not a driver nodding off."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    run(t, [modelled(s, closed=False) for s in times(0, 2.0)] + [modelled(2.0, closed=True, pitch=-35.0)])
    run(t, [lost(2.1, 0.95)])
    assert t.nodding is False


@pytest.mark.parametrize("pitch, microsleep", [(-40.0, False), (0.0, True)])
def test_before_the_baseline_a_closure_with_the_head_down_is_excused(pitch, microsleep):
    """Judged against the forward pose learned so far: eyes shut 1.4 s looking down (at the lap) is no
    microsleep; the same closure with the head up is one."""
    t = AlertnessTracker(AlertnessConfig())
    frames = [modelled(s, closed=False) for s in times(0, 1.5)]
    frames += [modelled(s, closed=True, pitch=pitch) for s in times(1.5, 1.4)] + [modelled(2.9, closed=False)]
    assert ("microsleep" in types(run(t, frames))) is microsleep


def test_the_head_last_seen_stays_in_the_state_while_a_nodding_face_is_lost():
    """Eyes shut, then the face lost with the seat unchanged (nodding off), before the baseline is ready and on past
    it: the state keeps the head as last seen, and the attention is unknown (a head asleep is no glance away)."""
    t = AlertnessTracker(AlertnessConfig())
    run(t, [modelled(s, closed=False) for s in times(0, 2.0)])
    run(t, [modelled(s, closed=True, pitch=-10.0) for s in times(2.0, 0.5)] + [lost(s, 0.9) for s in times(2.5, 1.5)])
    blocks = t.blocks(3.9)
    assert blocks.head.pose.pitch == -10.0 and blocks.head.on_road is None and blocks.attention is None
    assert blocks.eyes.closed is True and t.nodding is True


def test_a_closure_timed_through_a_nodding_face_loss_is_a_microsleep(tracker):
    """Eyes shut 0.5 s, then the face lost 1 s with the seat unchanged, then open: 1.5 s shut, a microsleep."""
    frames = [frame(s, ear=SHUT) for s in times(5.0, 0.5)] + [lost(s, 0.95) for s in times(5.5, 1.0)]
    events = run(tracker, frames + [frame(6.5)])
    assert [(e.type, ts, wire(e)["after"]) for ts, e in events] == [("microsleep", 6.5, {"duration_s": 1.5})]


def test_a_closure_lost_with_the_face_from_a_changed_seat_is_not_judged(tracker):
    """Eyes shut 0.5 s, then the face lost 3 s and the seat region no longer alike (not a driver nodding off): the
    lost time is not judged, so no asleep and no microsleep, however the head was last seen."""
    frames = [frame(s, ear=SHUT) for s in times(5.0, 0.5)] + [lost(s, 0.3) for s in times(5.5, 3.0)]
    events = types(run(tracker, frames + [frame(8.5)]))
    assert "asleep" not in events and "microsleep" not in events and tracker.blinks == 1


def test_nodding_is_judged_against_the_drivers_own_forward_pitch():
    """A driver whose forward pitch is -10 (a camera above the face): the face lost at -25 (15 below forward) is not
    nodding; at -35 (25 below) it is."""
    for pitch, nodding in ((-25.0, False), (-35.0, True)):
        t = AlertnessTracker(AlertnessConfig(), RATIO)
        run(t, [frame(s, pitch=-10.0) for s in times(0, 5)] + [frame(5.0, pitch=pitch)])
        run(t, [lost(5.1, 0.95)])
        assert t.nodding is nodding, pitch


@pytest.mark.parametrize(
    "last_seen, similarity, nodding",
    [
        ({"pitch": -20.0}, 0.95, False),  # exactly away_pitch_deg: not past it
        ({"ear": SHUT}, 0.7, True),  # exactly nodding_seat_similarity: still alike
    ],
)
def test_the_nodding_limits_at_their_edges(tracker, last_seen, similarity, nodding):
    run(tracker, [frame(5.0, **last_seen)])
    run(tracker, [lost(5.1, similarity)])
    assert tracker.nodding is nodding


def test_once_the_seat_looked_different_the_driver_is_not_nodding_again(tracker):
    """The nodding rule is decided on the frame the face is lost and kept while the seat stays alike: once it looked
    different, the driver has gone, whatever the next frames look like."""
    run(tracker, [frame(5.0, ear=SHUT)])
    nodding = []
    for t, similarity in ((5.1, 0.95), (5.2, 0.3), (5.3, 0.95), (5.4, 0.95)):
        run(tracker, [lost(t, similarity)])
        nodding.append(tracker.nodding)
    assert nodding == [True, False, False, False]


def test_a_closed_frame_leaves_perclos_exactly_one_window_later(tracker):
    """PERCLOS is the share of the last 60 s: a frame's closed time is in it until exactly 60 s after the frame."""
    run(tracker, [frame(5.0, ear=SHUT)])
    perclos = {}
    for f in [frame(s) for s in times(5.1, 60.0)]:
        tracker.update(f.ts, f)
        perclos[f.ts] = tracker.perclos
    assert perclos[64.9] > 0.0 and perclos[65.0] == 0.0


def excuse_frame(t, closed, mouth=0.05, jaw=0.05, smile=0.05, pitch=0.0):
    """A frame with the eye-state model and the blendshapes, the mouth's openness and the jaw set apart."""
    p = 0.95 if closed else 0.05
    measures = {
        "eyes": Eyes(SHUT if closed else OPEN, SHUT if closed else OPEN, p, p, 30.0, 30.0, 0.8, 0.8),
        "blendshapes": shapes(0.9 if closed else 0.1, jaw, smile),
        "head": HeadPose(FORWARD, pitch, 0.0),
        "mouth": Mouth(mouth),
    }
    return FrameResult("test", t, Box(100, 80, 90, 90), measures)


@pytest.mark.parametrize(
    "excuse, microsleep",
    [
        ({"mouth": 0.2}, False),  # excuse_mouth_open: the mouth open at least this
        ({"smile": 0.5}, False),  # excuse_smile: a smile at least this wide
        ({"jaw": 0.25}, False),  # yawn_jaw_open: the jaw dropped at least this
        ({"pitch": -20.0}, True),  # away_pitch_deg: the head down past it excuses, exactly at it does not
    ],
    ids=["mouth", "smile", "jaw", "pitch"],
)
def test_the_excuses_of_a_closure_at_their_edges(excuse, microsleep):
    t = AlertnessTracker(AlertnessConfig())
    run(t, [excuse_frame(s, closed=False) for s in times(0, 5)])
    closure = [excuse_frame(s, closed=True, **excuse) for s in times(5.0, 1.5)] + [excuse_frame(6.5, closed=False)]
    assert ("microsleep" in types(run(t, closure))) is microsleep


@pytest.mark.parametrize(
    "offset", [{"yaw": FORWARD + 30.0}, {"yaw": FORWARD - 30.0}, {"pitch": 20.0}], ids=["yaw+30", "yaw-30", "pitch+20"]
)
def test_the_head_exactly_at_the_limits_is_on_the_road(tracker, offset):
    """Away is more than away_yaw_deg (30) or away_pitch_deg (20) from forward: exactly at them is on the road."""
    assert run(tracker, [frame(s, **offset) for s in times(5.0, 3.5)]) == []
    assert tracker.blocks(8.4).head.on_road is True


def test_the_time_sharing_window_holds_at_most_30_seconds():
    """A head away for 30 s and more: the window counts the last 30 s of it, not a frame more."""
    t = AlertnessTracker(AlertnessConfig(baseline_s=5.0), RATIO)
    run(t, [frame(s) for s in times(0, 5)])
    run(t, [frame(s, yaw=FORWARD + 60) for s in times(5.0, 30.1)])
    assert t.blocks(35.0).attention.away_in_window_s == pytest.approx(30.0, abs=1e-6)


def test_time_sharing_is_distracted_at_exactly_10_seconds_away():
    """Frames 0.5 s apart (exact sums): glances of 2 s away (four frames), 1 s back between them; the fifth glance's
    last frame makes 10 s away in the window, and that frame is distracted, kind time_sharing."""
    t = AlertnessTracker(AlertnessConfig(baseline_s=5.0), RATIO)
    frames = [frame(i / 2) for i in range(10)]
    for start in (5.0, 8.0, 11.0, 14.0, 17.0, 20.0):
        frames += [frame(start + i / 2, yaw=FORWARD + 60) for i in range(4)]
        frames += [frame(start + 2.0 + i / 2) for i in range(2)]
    events = run(t, frames)
    assert [(e.type, ts, wire(e)["after"]["kind"]) for ts, e in events] == [("distracted", 18.5, "time_sharing")]
    assert wire(events[0][1])["after"]["away_in_window_s"] == 10.0


def test_drowsiness_is_unknown_until_the_eyes_are_judged():
    """The baseline learned, then the mesh stops trusting the eyes (face and head still there) before any was
    judged: nothing is known of drowsiness."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    run(t, [frame(s) for s in times(0, 3.0)])
    run(t, [FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(3.0, 1)])
    blocks = t.blocks(3.9)
    assert blocks.eyes is None and blocks.drowsiness is None and blocks.attention.state == "attentive"


def test_drowsy_at_exactly_drowsy_perclos_and_alert_only_under_alert_perclos():
    """Frames 0.5 s apart, so that PERCLOS is exact: one closed frame, then open ones. PERCLOS 0.5 / 2.0 = 0.25 at
    4.5 s is drowsy (drowsy_perclos 0.25: at least); 0.5 / 4.0 = 0.125 at 6.5 s is not yet alert (alert_perclos
    0.125: under it), 0.5 / 4.5 at 7.0 s is."""
    config = AlertnessConfig(drowsy_perclos=0.25, alert_perclos=0.125, perclos_min_s=2.0)
    t = AlertnessTracker(config, RATIO)
    frames = [frame(i / 2) for i in range(6)] + [frame(3.0, ear=SHUT)] + [frame(3.5 + i / 2) for i in range(8)]
    events = run(t, frames)
    assert [(e.type, ts, wire(e)["after"]["perclos"]) for ts, e in events] == [
        ("drowsy", 4.5, 0.25),
        ("alert", 7.0, 0.111),
    ]


@pytest.mark.parametrize(
    "measures, yawn",
    [
        ({"jaw": 0.25}, True),  # yawn_jaw_open: at least this
        ({"jaw": 0.7, "smile": 0.5}, False),  # yawn_smile_below: a smile this wide is a laugh, not a yawn
    ],
    ids=["jaw", "smile"],
)
def test_the_yawn_limits_at_their_edges(measures, yawn):
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [excuse_frame(s, closed=False, **measures) for s in times(0, 2)])
    assert ("yawn" in types(events)) is yawn


def test_without_the_blendshapes_a_yawn_is_the_lips_at_least_yawn_openness_apart(yawn_tracker):
    events = run(yawn_tracker, [frame(s, mouth=0.3) for s in times(5.0, 2.0)])
    assert types(events) == ["yawn"]


def test_before_the_baseline_the_state_shows_the_eyes_only_while_the_model_reads_them():
    """The eye-state model and the blink score need no baseline: their verdict, blink score and drowsiness are in the
    state from the first frame, the head and attention not. Eyes the mesh stops trusting in the middle of a closure
    before the baseline leave the eyes and drowsiness unknown again."""
    t = AlertnessTracker(AlertnessConfig())
    run(t, [modelled(s, closed=False) for s in times(0, 1.0)])
    blocks = t.blocks(0.9)
    assert blocks.eyes.verdict == "open" and blocks.eyes.shapes.blink == pytest.approx(0.1)
    assert blocks.drowsiness.state == "alert" and blocks.head is None and blocks.attention is None
    run(t, [modelled(s, closed=True) for s in times(1.0, 0.5)])
    assert t.blocks(1.4).eyes.closed is True
    run(t, [FrameResult("test", s, Box(100, 80, 90, 90), {"head": HeadPose(FORWARD, 0.0, 0.0)}) for s in times(1.5, 1)])
    blocks = t.blocks(2.4)
    assert blocks.eyes is None and blocks.drowsiness is None


def test_eyes_no_rule_can_judge_are_unknown():
    """The default rule with neither the eye-state model nor the blendshapes (both off): the aspect ratio is
    measured, but nothing can judge it, so the eyes and drowsiness are unknown."""
    t = AlertnessTracker(AlertnessConfig())
    assert run(t, [frame(s, ear=SHUT) for s in times(0, 5)]) == []
    blocks = t.blocks(4.9)
    assert blocks.eyes is None and blocks.drowsiness is None and blocks.attention.state == "attentive"


@pytest.mark.parametrize("measured", ["model", "blendshapes"])
def test_either_measure_alone_judges_the_eyes_before_the_baseline(measured):
    """The default rule with only the eye-state model (blendshapes off) or only the blink score (eyes.model off):
    either alone needs no baseline, so a driver asleep from the first frame is asleep at 3 s."""
    p = (0.95, 0.95) if measured == "model" else (None, None)
    measures = {"eyes": Eyes(SHUT, SHUT, *p, 30.0, 30.0, 0.8, 0.8), "head": HeadPose(FORWARD, 0.0, 0.0)}
    if measured == "blendshapes":
        measures["blendshapes"] = shapes(blink=0.9)
    t = AlertnessTracker(AlertnessConfig())
    events = run(t, [FrameResult("test", s, Box(100, 80, 90, 90), measures) for s in times(0, 3.1)])
    assert [(e.type, ts) for ts, e in events] == [("asleep", 3.0)]


@pytest.mark.parametrize("first", ["eyes and head", "eyes", "head"])
def test_a_face_found_before_the_mesh_is_judged_against_its_own_baseline_from_the_first_ready_frame(first):
    """The face is found 2.5 s before the mesh measures it (an off-axis camera: forward yaw 45, open eyes 0.30), and
    lost for a moment, so the baseline's once-a-second estimates fall between the frames it is ready on; for 0.9 s
    the mesh gives the eyes or the head alone. Once ready, every frame is judged against the driver's own forward
    pose and open level, never against the placeholders the baseline holds before its first sample of each (straight
    ahead, level 0)."""
    t = AlertnessTracker(AlertnessConfig(), RATIO)
    events = run(t, [FrameResult("test", 0.0, Box(100, 80, 90, 90))])
    events += run(t, [FrameResult("test", s, None) for s in times(0.1, 1.0)])
    events += run(t, [FrameResult("test", s, Box(100, 80, 90, 90)) for s in times(1.1, 1.4)])
    partial = {"eyes": Eyes(OPEN, OPEN), "head": HeadPose(45.0, 0.0, 0.0)}.get(first)
    judged = 0
    for s in times(2.5, 3.0):
        measured = frame(s, yaw=45.0)
        if s < 3.4 and partial is not None:
            measured = FrameResult("test", s, measured.face, {first: partial, "mouth": Mouth(0.05)})
        events += run(t, [measured])
        blocks = t.blocks(s)
        if blocks.head is None:
            assert s < 3.0 or first == "eyes" or (first == "head" and s < 3.4), s
            continue
        judged += 1
        assert (blocks.head.forward_yaw, blocks.head.on_road) == (45.0, True), s
        if blocks.eyes is not None:
            assert blocks.eyes.verdict is not EyeVerdict.CLOSED and blocks.eyes.openness == pytest.approx(1.0), s
    assert judged == (25 if first == "eyes and head" else 21) and events == []
