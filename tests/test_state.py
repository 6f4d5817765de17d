"""Driver state: smoothing and hysteresis, so one noisy frame changes nothing; and every event type."""

from dmsd.config import StateConfig
from dmsd.driver.state import DriverStateTracker
from dmsd.publish.payloads import event_json as wire
from dmsd.publish.payloads import state_payload
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.geometry import Box
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.emotion import EmotionResult
from dmsd.vision.stages.seatbelt import SeatbeltResult

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FACE = Box(100, 80, 90, 90)


def frame(ts, emotion="neutral", p=0.9, worn=0.95, face=True, belt_visible=True):
    if not face:
        return FrameResult("test", ts, None)
    probs = {label: (1 - p) / 6 for label in LABELS}
    probs[emotion] = p
    belt = SeatbeltResult(worn >= 0.5, max(worn, 1 - worn)) if belt_visible else None
    return FrameResult("test", ts, FACE, {"emotion": EmotionResult(emotion, p, probs), "seatbelt": belt})


def feed(tracker, frames):
    events = []
    for f in frames:
        events += tracker.update(f)
    return events


def types(events):
    return [e.type for e in events]


def config(**overrides):
    return StateConfig(**{"emotion_hold_s": 1.0, "seatbelt_debounce_s": 1.0, "absent_after_s": 2.0, **overrides})


def test_first_frames_announce_driver_emotion_and_belt():
    tracker = DriverStateTracker(config())
    # 2 s of a neutral, belted driver at 10 fps: each new reading holds 1 s (emotion_hold_s, seatbelt_debounce_s).
    events = feed(tracker, [frame(t / 10, p=0.912345, worn=0.951234) for t in range(20)])
    assert [(e.type, e.ts, wire(e)["before"], wire(e)["after"]) for e in events] == [
        ("driver_present", 0.0, {"driver_present": None}, {"driver_present": True}),
        ("emotion_changed", 1.0, {"emotion": None}, {"emotion": "neutral", "confidence": 0.9123}),
        ("seatbelt_fastened", 1.0, {"seatbelt": None}, {"seatbelt": {"worn": True, "confidence": 0.9512}}),
    ]
    payload = state_payload(tracker.state, include_probs=True)
    assert payload["seatbelt"] == {"worn": True, "confidence": 0.9512} and payload["face"] == {"box": [100, 80, 90, 90]}
    assert payload["emotion"]["confidence"] == 0.9123 and payload["emotion"]["probs"]["neutral"] == 0.9123
    # No face from 2.0 s: absent 2 s after the last face (1.9 s), and face, emotion and belt unknown.
    events = feed(tracker, [frame(2 + t / 10, face=False) for t in range(25)])
    assert [(e.type, e.ts, wire(e)["before"], wire(e)["after"]) for e in events] == [
        ("driver_absent", 3.9, {"driver_present": True}, {"driver_present": False})
    ]
    payload = state_payload(tracker.state)
    assert payload["face"] is None and payload["emotion"] is None and payload["seatbelt"] is None


def test_one_noisy_frame_changes_nothing():
    tracker = DriverStateTracker(config())
    feed(tracker, [frame(t / 10) for t in range(30)])
    before = tracker.state.key()
    events = feed(tracker, [frame(3.0, emotion="angry", p=1.0, worn=0.0)])
    events += feed(tracker, [frame(3.1 + t / 10) for t in range(20)])
    assert events == [] and tracker.state.key() == before


def test_emotion_changes_only_after_holding():
    tracker = DriverStateTracker(config(emotion_hold_s=1.0))
    feed(tracker, [frame(t / 10) for t in range(30)])
    held = [frame(3.0 + t / 10, emotion="happy") for t in range(8)]  # 0.7 s: not yet
    assert "emotion_changed" not in types(feed(tracker, held))
    events = feed(tracker, [frame(3.8 + t / 10, emotion="happy") for t in range(10)])
    assert types(events) == ["emotion_changed"]
    assert wire(events[0])["before"] == {"emotion": "neutral"} and wire(events[0])["after"]["emotion"] == "happy"


def test_low_confidence_emotion_does_not_switch():
    tracker = DriverStateTracker(config(emotion_min_confidence=0.5))
    feed(tracker, [frame(t / 10) for t in range(30)])
    # "happy" leads but at 0.3, under the 0.5 floor: the state stays neutral
    events = feed(tracker, [frame(3 + t / 10, emotion="happy", p=0.3) for t in range(50)])
    assert events == [] and tracker.state.emotion.label == "neutral"


def test_seatbelt_debounce_and_hysteresis():
    tracker = DriverStateTracker(config(seatbelt_debounce_s=2.0))
    feed(tracker, [frame(t / 10) for t in range(30)])
    # Belt probability in the dead band between the thresholds: nothing changes however long it lasts.
    assert feed(tracker, [frame(3 + t / 10, worn=0.5) for t in range(50)]) == []
    assert tracker.state.seatbelt.worn is True
    # Unfastened: reported once it has held for 2 s, not before.
    early = feed(tracker, [frame(8 + t / 10, worn=0.02) for t in range(15)])
    assert "seatbelt_unfastened" not in types(early)
    late = feed(tracker, [frame(9.5 + t / 10, worn=0.02) for t in range(15)])
    assert types(late) == ["seatbelt_unfastened"]
    assert (
        wire(late[0])["before"] == {"seatbelt": {"worn": True}} and wire(late[0])["after"]["seatbelt"]["worn"] is False
    )
    fastened = feed(tracker, [frame(11 + t / 10, worn=0.98) for t in range(40)])
    assert types(fastened) == ["seatbelt_fastened"]


def test_seatbelt_is_unknown_without_a_face_never_not_worn():
    tracker = DriverStateTracker(config(absent_after_s=1.0))
    feed(tracker, [frame(t / 10) for t in range(30)])
    events = feed(tracker, [frame(3 + t / 10, face=False) for t in range(15)])
    assert types(events) == ["driver_absent"]
    state = state_payload(tracker.state)
    assert state["seatbelt"] is None and state["emotion"] is None and state["face"] is None
    assert state["driver_present"] is False


def test_short_face_loss_is_not_absence():
    tracker = DriverStateTracker(config(absent_after_s=2.0))
    feed(tracker, [frame(t / 10) for t in range(30)])
    events = feed(tracker, [frame(3 + t / 10, face=False) for t in range(10)])  # 1 s gap
    events += feed(tracker, [frame(4 + t / 10) for t in range(10)])
    assert events == []


def test_driver_returns():
    tracker = DriverStateTracker(config(absent_after_s=1.0))
    feed(tracker, [frame(t / 10) for t in range(30)])
    feed(tracker, [frame(3 + t / 10, face=False) for t in range(20)])
    events = feed(tracker, [frame(5 + t / 10) for t in range(20)])
    assert types(events)[0] == "driver_present"
    assert wire(events[0])["before"] == {"driver_present": False}  # back after driver_absent, not from nowhere
    assert wire(events[0])["after"] == {"driver_present": True}


def test_belt_region_out_of_frame_is_unknown():
    tracker = DriverStateTracker(config())
    feed(tracker, [frame(t / 10, belt_visible=False) for t in range(30)])
    assert tracker.state.seatbelt is None


def test_camera_lost_and_restored():
    tracker = DriverStateTracker(config())
    feed(tracker, [frame(t / 10) for t in range(30)])
    lost = tracker.camera(False, 3.5)
    assert types(lost) == ["camera_lost"] and lost[0].ts == 3.5
    assert wire(lost[0])["before"] == {"camera": "ok"} and wire(lost[0])["after"] == {"camera": "lost"}
    assert state_payload(tracker.state)["camera"] == "lost" and tracker.state.driver_present is None
    assert tracker.camera(False, 4.0) == []
    restored = tracker.camera(True, 9.0)
    assert types(restored) == ["camera_restored"] and restored[0].ts == 9.0 and tracker.state.ts == 9.0
    assert wire(restored[0])["before"] == {"camera": "lost"} and wire(restored[0])["after"] == {"camera": "ok"}
    assert tracker.camera(True, 9.5) == []
    assert types(feed(tracker, [frame(9 + t / 10) for t in range(20)]))[0] == "driver_present"


def test_no_face_ever_means_absent_after_the_timeout():
    tracker = DriverStateTracker(config(absent_after_s=2.0))
    events = feed(tracker, [frame(t / 10, face=False) for t in range(25)])
    assert types(events) == ["driver_absent"] and wire(events[0])["before"] == {"driver_present": None}


def test_probs_in_state_only_when_asked():
    tracker = DriverStateTracker(config())
    feed(tracker, [frame(t / 10) for t in range(20)])
    assert "probs" not in state_payload(tracker.state)["emotion"]
    assert set(state_payload(tracker.state, include_probs=True)["emotion"]["probs"]) == set(LABELS)


def test_readings_are_smoothed_as_documented():
    """state.smoothing 0.3: each frame weighs 0.3 in the moving averages of the emotion and belt probabilities."""
    tracker = DriverStateTracker(config())
    feed(tracker, [frame(t / 10, p=0.9, worn=0.95) for t in range(20)])
    feed(tracker, [frame(2.0, p=0.5, worn=0.05)])  # one noisy frame
    payload = state_payload(tracker.state, include_probs=True)
    assert payload["emotion"]["confidence"] == round(0.7 * 0.9 + 0.3 * 0.5, 4)  # 0.78
    assert payload["emotion"]["probs"]["neutral"] == payload["emotion"]["confidence"]
    assert payload["seatbelt"] == {"worn": True, "confidence": round(0.7 * 0.95 + 0.3 * 0.05, 4)}  # 0.68
    for t in range(20):
        events = feed(tracker, [frame(2.1 + t / 10, emotion="happy", p=0.95)])
        if events:
            break
    # At the change itself, the state holds the new emotion with its smoothed confidence and probabilities.
    assert types(events) == ["emotion_changed"]
    emotion = state_payload(tracker.state, include_probs=True)["emotion"]
    assert emotion["label"] == "happy" and emotion["confidence"] == wire(events[0])["after"]["confidence"] > 0.5
    assert emotion["probs"]["happy"] == emotion["confidence"]


def test_time_without_frames_makes_the_driver_absent():
    tracker = DriverStateTracker(config(absent_after_s=2.0))
    feed(tracker, [frame(t / 10) for t in range(10)])
    assert tracker.tick(2.8) == []
    assert [(e.type, e.ts) for e in tracker.tick(2.9)] == [("driver_absent", 2.9)]


def test_a_new_reading_right_after_a_change_is_timed_afresh():
    """Without smoothing, an emotion and a belt change at 1.0 s, then at once other readings: each is timed from its
    own start (1.1 s) and raised 1 s later, not taken for the one before."""
    tracker = DriverStateTracker(config(smoothing=1.0))
    events = feed(tracker, [frame(t / 10) for t in range(11)])  # neutral and belted, both held at 1.0 s
    assert types(events) == ["driver_present", "emotion_changed", "seatbelt_fastened"] and events[-1].ts == 1.0
    events = feed(tracker, [frame(1.1 + t / 10, emotion="sad", p=0.99, worn=0.01) for t in range(11)])
    assert [(e.type, e.ts) for e in events] == [("emotion_changed", 2.1), ("seatbelt_unfastened", 2.1)]


def test_the_state_carries_the_frames_blendshapes_and_none_without_a_face():
    tracker = DriverStateTracker(config())
    shapes = FaceShapes(0.5, 0.25, 0.125, 0.125, 0.0, 0.0, 0.75, 0.25, 0.25)
    feed(tracker, [FrameResult("test", 0.0, FACE, {"blendshapes": shapes})])
    assert tracker.state.blendshapes == shapes
    assert state_payload(tracker.state)["blendshapes"]["jaw_open"] == 0.75
    feed(tracker, [frame(0.1, face=False)])
    assert tracker.state.blendshapes is None and state_payload(tracker.state)["blendshapes"] is None


def test_an_emotion_at_exactly_the_minimum_confidence_may_switch():
    """emotion_min_confidence: a new emotion leads with at least this smoothed probability (no smoothing here, so
    the frame's own probability is the smoothed one)."""
    tracker = DriverStateTracker(config(smoothing=1.0, emotion_hold_s=0.0))
    events = feed(tracker, [frame(0.0, emotion="happy", p=0.4)])
    assert types(events) == ["driver_present", "emotion_changed"] and tracker.state.emotion.label == "happy"
    below = DriverStateTracker(config(smoothing=1.0, emotion_hold_s=0.0))
    assert types(feed(below, [frame(0.0, emotion="happy", p=0.39)])) == ["driver_present"]


def test_a_new_leader_restarts_the_emotion_hold():
    """Happy leads for 0.6 s, then sad for 0.6 s: neither has led for emotion_hold_s (1 s), so nothing changes; sad
    changes the emotion 1 s after it began to lead."""
    tracker = DriverStateTracker(config(smoothing=1.0))
    feed(tracker, [frame(t / 10) for t in range(11)])  # neutral held at 1.0 s
    events = feed(tracker, [frame(round(1.1 + t / 10, 3), emotion="happy") for t in range(6)])
    events += feed(tracker, [frame(round(1.7 + t / 10, 3), emotion="sad") for t in range(10)])
    assert events == [] and tracker.state.emotion.label == "neutral"
    events = feed(tracker, [frame(2.7, emotion="sad")])
    assert [(e.type, e.ts) for e in events] == [("emotion_changed", 2.7)]


def test_a_belt_probability_exactly_at_a_threshold_is_not_past_it():
    """Worn above seatbelt_worn_above (0.6), not worn below seatbelt_unworn_below (0.4): exactly at either is the
    dead band between them, and nothing is announced however long it lasts."""
    for worn in (0.6, 0.4):
        tracker = DriverStateTracker(config(smoothing=1.0))
        events = feed(tracker, [frame(t / 10, worn=worn) for t in range(30)])
        assert "seatbelt_fastened" not in types(events) and "seatbelt_unfastened" not in types(events), worn
        assert tracker.state.seatbelt is None


def test_a_belt_reading_that_flips_restarts_the_debounce():
    """Read worn for 0.6 s, then not worn: the unfastened reading is timed from its own start, not the worn one's."""
    tracker = DriverStateTracker(config(smoothing=1.0))
    events = feed(tracker, [frame(t / 10, worn=0.95) for t in range(6)])
    events += feed(tracker, [frame(round(0.6 + t / 10, 3), worn=0.02) for t in range(10)])
    assert [e for e in events if e.type.startswith("seatbelt")] == []  # 0.6 .. 1.5 not worn: 0.9 s, under 1 s
    events = feed(tracker, [frame(1.6, worn=0.02)])
    assert [(e.type, e.ts) for e in events] == [("seatbelt_unfastened", 1.6)]
