"""Driver state over time: smoothing, hysteresis and the events a dashboard acts on.

Per-frame results are noisy; the state is not. Emotion probabilities and the belt probability are
exponential moving averages; a new emotion must lead for `emotion_hold_s`, a belt change must hold past its
threshold for `seatbelt_debounce_s`, and the driver is absent only after `absent_after_s` without a face.
Time is the frames' own time (a file replays as it was recorded, however fast it is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dmsd.config import AlertnessConfig, EyesConfig, PhoneConfig, StateConfig
from dmsd.driver.alertness import (
    AlertnessBlocks,
    AlertnessTracker,
    AttentionState,
    DrowsinessState,
    EyesState,
    HeadState,
)
from dmsd.driver.events import (
    CameraHealth,
    Event,
    camera_event,
    driver_absent_event,
    driver_present_event,
    emotion_changed_event,
    seatbelt_event,
)
from dmsd.driver.hold import Hold, seen
from dmsd.driver.phone import PhoneState, PhoneTracker
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.geometry import Box
from dmsd.vision.results import FaceTrack, FrameResult
from dmsd.vision.stages.emotion import EMOTION, EmotionResult
from dmsd.vision.stages.mesh import BLENDSHAPES
from dmsd.vision.stages.phone import PHONE
from dmsd.vision.stages.seatbelt import SEATBELT, SeatbeltResult


@dataclass
class DriverState:
    """The smoothed state, published retained on `<prefix>/state` (its JSON: dmsd.publish.payloads).

    emotion: the held label with its smoothed confidence and probabilities; seatbelt: the debounced verdict with its
    smoothed confidence; eyes, head, attention and drowsiness: the alertness tracker's (dmsd.driver.alertness);
    blendshapes: the latest frame's expression scores (dmsd.vision.blendshapes); phone: the phone use held
    (dmsd.driver.phone). Each None when unknown (no face, no label held yet, no baseline yet, phone use not looked
    for), never guessed.
    """

    source: str = ""
    ts: float = 0.0
    camera_ok: bool = True
    driver_present: bool | None = None
    face: Box | None = None
    track: FaceTrack | None = None  # how the face was found, or since when and why there is none
    emotion: EmotionResult | None = None
    seatbelt: SeatbeltResult | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    eyes: EyesState | None = None
    blendshapes: FaceShapes | None = None
    head: HeadState | None = None
    attention: AttentionState | None = None
    drowsiness: DrowsinessState | None = None
    phone: PhoneState | None = None

    @property
    def camera(self) -> CameraHealth:
        return CameraHealth.of(self.camera_ok)

    def key(self) -> tuple:
        """What counts as a change worth publishing at once (not the face box or a confidence wobble)."""
        attention, drowsiness = self.attention, self.drowsiness
        return (
            self.camera_ok,
            self.driver_present,
            self.emotion and self.emotion.label,
            self.seatbelt and self.seatbelt.worn,
            attention and (attention.state, attention.unresponsive),
            drowsiness and drowsiness.state,
            self.phone and self.phone.use,
        )

    def show(self, blocks: AlertnessBlocks) -> None:
        """The alertness tracker's blocks, as of now."""
        self.eyes, self.head, self.attention, self.drowsiness = (
            blocks.eyes,
            blocks.head,
            blocks.attention,
            blocks.drowsiness,
        )


class DriverStateTracker:
    def __init__(
        self,
        config: StateConfig,
        alertness: AlertnessConfig | None = None,
        phone: PhoneConfig | None = None,
        eyes: EyesConfig | None = None,
    ):
        self.config = config
        self.state = DriverState()
        self.alertness = AlertnessTracker(alertness or AlertnessConfig(), eyes or EyesConfig())
        self.phone = PhoneTracker(phone or PhoneConfig())
        self._probs: dict[str, float] | None = None  # smoothed emotion probabilities
        self._candidate: Hold[str] | None = None  # the emotion leading, not yet for long enough
        self._p_worn: float | None = None  # smoothed belt probability
        self._belt_pending: Hold[bool] | None = None  # the belt reading past its threshold, not yet for long enough
        self._last_face_at: float | None = None
        self._started_at: float | None = None

    def camera(self, healthy: bool, now: float) -> list[Event]:
        if healthy == self.state.camera_ok:
            return []
        self.state.camera_ok = healthy
        self.state.ts = now
        if not healthy:
            self._forget_driver()  # nothing is known about the driver without a picture
            self.state.driver_present = None
        return [camera_event(now, healthy)]

    def update(self, result: FrameResult) -> list[Event]:
        now = result.ts
        if self._started_at is None:
            self._started_at = now
        state = self.state
        state.source, state.ts, state.latency_ms, state.track = result.source, now, result.latency_ms, result.track
        state.blendshapes = result.get(BLENDSHAPES) if result.face is not None else None
        events: list[Event] = []
        if result.face is None:
            state.face = None
            if state.driver_present:
                events += self.alertness.update(now, result)  # a face lost for a moment: away, not absent
                state.show(self.alertness.blocks(now))
                events += self._update_phone(result, now)  # a phone at the ear can hide the face
            return events + self._check_absent(now)

        self._last_face_at = now
        state.face = result.face
        if state.driver_present is not True:
            events.append(driver_present_event(now, state.driver_present))
            state.driver_present = True
        emotion, seatbelt = result.get(EMOTION), result.get(SEATBELT)
        if emotion is not None:
            events += self._update_emotion(emotion.probs, now)
        if seatbelt is not None:
            events += self._update_seatbelt(seatbelt.p_worn, now)
        events += self.alertness.update(now, result)
        state.show(self.alertness.blocks(now))
        return events + self._update_phone(result, now)

    def tick(self, now: float) -> list[Event]:
        """Time passing without a frame (a slow camera): only absence can change."""
        return self._check_absent(now)

    def _check_absent(self, now: float) -> list[Event]:
        since = self._last_face_at if self._last_face_at is not None else self._started_at
        if self.alertness.nodding:
            return []  # a driver nodding off in their seat is asleep, not absent (dmsd.driver.alertness)
        if since is None or self.state.driver_present is False or now - since < self.config.absent_after_s:
            return []
        before = self.state.driver_present
        self._forget_driver()
        self.state.driver_present = False
        self.state.ts = now
        return [driver_absent_event(now, before)]

    def _forget_driver(self) -> None:
        """Without a face, emotion and belt are unknown (null), never guessed, and smoothing starts afresh."""
        self._probs, self._candidate, self._p_worn, self._belt_pending = None, None, None, None
        self.state.face, self.state.emotion, self.state.seatbelt = None, None, None
        self.alertness.reset()  # the next driver's eyes and forward pose are learned afresh
        self.state.show(AlertnessBlocks())
        self.phone.reset()
        self.state.phone = None

    def _update_phone(self, result: FrameResult, now: float) -> list[Event]:
        reading = result.get(PHONE)
        if reading is None:
            return []
        events = self.phone.update(now, reading)
        self.state.phone = self.phone.state
        return events

    def _update_emotion(self, probs: dict[str, float], now: float) -> list[Event]:
        alpha = self.config.smoothing
        smoothed = (
            dict(probs) if self._probs is None else {k: (1 - alpha) * self._probs[k] + alpha * probs[k] for k in probs}
        )
        self._probs = smoothed
        held = self.state.emotion.label if self.state.emotion else None
        # The held label, with this frame's smoothed confidence.
        self.state.emotion = None if held is None else EmotionResult(held, smoothed[held], smoothed)
        leader = max(smoothed, key=lambda label: smoothed[label])
        if leader == held or smoothed[leader] < self.config.emotion_min_confidence:
            self._candidate = None
            return []
        self._candidate = seen(self._candidate, leader, now)
        if not self._candidate.lasted(now, self.config.emotion_hold_s):
            return []
        self.state.emotion = EmotionResult(leader, smoothed[leader], smoothed)
        self._candidate = None
        return [emotion_changed_event(now, held, leader, smoothed[leader])]

    def _update_seatbelt(self, p_worn: float, now: float) -> list[Event]:
        alpha = self.config.smoothing
        smoothed = p_worn if self._p_worn is None else (1 - alpha) * self._p_worn + alpha * p_worn
        self._p_worn = smoothed
        if smoothed > self.config.seatbelt_worn_above:
            reading: bool | None = True
        elif smoothed < self.config.seatbelt_unworn_below:
            reading = False
        else:
            reading = None  # between the thresholds: hysteresis keeps what we had
        held = self.state.seatbelt.worn if self.state.seatbelt else None
        if held is not None:
            self.state.seatbelt = SeatbeltResult.held(held, smoothed)  # with this frame's smoothed confidence
        if reading is None or reading == held:
            self._belt_pending = None
            return []
        self._belt_pending = seen(self._belt_pending, reading, now)
        if not self._belt_pending.lasted(now, self.config.seatbelt_debounce_s):
            return []
        self.state.seatbelt = SeatbeltResult.held(reading, smoothed)
        self._belt_pending = None
        return [seatbelt_event(now, held, self.state.seatbelt)]
