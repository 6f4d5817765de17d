"""Driver state over time: smoothing, hysteresis and the events a dashboard acts on.

Per-frame results are noisy; the state is not. Emotion probabilities and the belt probability are
exponential moving averages; a new emotion must lead for `emotion_hold_s`, a belt change must hold past its
threshold for `seatbelt_debounce_s`, and the driver is absent only after `absent_after_s` without a face.
Time is the frames' own time (a file replays as it was recorded, however fast it is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dmsd.config import StateConfig
from dmsd.geometry import Box
from dmsd.results import FrameResult

EVENT_TYPES = ("emotion_changed", "seatbelt_unfastened", "seatbelt_fastened", "driver_absent", "driver_present",
               "camera_lost", "camera_restored")


@dataclass(frozen=True)
class Event:
    type: str
    ts: float
    before: dict
    after: dict

    def to_dict(self) -> dict:
        return {"type": self.type, "ts": round(self.ts, 3), "before": self.before, "after": self.after}


@dataclass
class DriverState:
    """The smoothed state, published retained on `<prefix>/state`."""

    source: str = ""
    ts: float = 0.0
    camera_ok: bool = True
    driver_present: bool | None = None
    face: Box | None = None
    emotion: str | None = None
    emotion_confidence: float = 0.0
    probs: dict[str, float] = field(default_factory=dict)
    seatbelt: bool | None = None
    seatbelt_confidence: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)

    def key(self) -> tuple:
        """What counts as a change worth publishing at once (not the face box or a confidence wobble)."""
        return (self.camera_ok, self.driver_present, self.emotion, self.seatbelt)

    def to_dict(self, include_probs: bool = False) -> dict:
        emotion = None
        if self.emotion is not None:
            emotion = {"label": self.emotion, "confidence": round(self.emotion_confidence, 4)}
            if include_probs:
                emotion["probs"] = {k: round(v, 4) for k, v in self.probs.items()}
        seatbelt = None
        if self.seatbelt is not None:
            seatbelt = {"worn": self.seatbelt, "confidence": round(self.seatbelt_confidence, 4)}
        return {
            "source": self.source,
            "ts": round(self.ts, 3),
            "face": {"box": self.face.as_list()} if self.face else None,
            "emotion": emotion,
            "seatbelt": seatbelt,
            "driver_present": self.driver_present,
            "camera": "ok" if self.camera_ok else "lost",
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
        }


class DriverStateTracker:
    def __init__(self, config: StateConfig):
        self.config = config
        self.state = DriverState()
        self._probs: dict[str, float] | None = None  # smoothed emotion probabilities
        self._candidate: tuple[str, float] | None = None  # (emotion, since) leading but not yet held long enough
        self._p_worn: float | None = None  # smoothed belt probability
        self._belt_pending: tuple[bool, float] | None = None  # (worn, since) past its threshold, not yet held
        self._last_face_at: float | None = None
        self._started_at: float | None = None

    def camera(self, healthy: bool, now: float) -> list[Event]:
        if healthy == self.state.camera_ok:
            return []
        before = "ok" if self.state.camera_ok else "lost"
        self.state.camera_ok = healthy
        self.state.ts = now
        if not healthy:
            self._forget_driver()  # nothing is known about the driver without a picture
            self.state.driver_present = None
        return [Event("camera_restored" if healthy else "camera_lost", now, {"camera": before},
                      {"camera": "ok" if healthy else "lost"})]

    def update(self, result: FrameResult) -> list[Event]:
        now = result.ts
        if self._started_at is None:
            self._started_at = now
        state = self.state
        state.source, state.ts, state.latency_ms = result.source, now, result.latency_ms
        events: list[Event] = []
        if result.face is None:
            state.face = None
            return events + self._check_absent(now)

        self._last_face_at = now
        state.face = result.face
        if state.driver_present is not True:
            events.append(Event("driver_present", now, {"driver_present": state.driver_present},
                                {"driver_present": True}))
            state.driver_present = True
        if result.emotion is not None:
            events += self._update_emotion(result.emotion.probs, now)
        if result.seatbelt is not None:
            events += self._update_seatbelt(result.seatbelt.p_worn, now)
        return events

    def tick(self, now: float) -> list[Event]:
        """Time passing without a frame (a slow camera): only absence can change."""
        return self._check_absent(now)

    def _check_absent(self, now: float) -> list[Event]:
        since = self._last_face_at if self._last_face_at is not None else self._started_at
        if since is None or self.state.driver_present is False or now - since < self.config.absent_after_s:
            return []
        before = self.state.driver_present
        self._forget_driver()
        self.state.driver_present = False
        self.state.ts = now
        return [Event("driver_absent", now, {"driver_present": before}, {"driver_present": False})]

    def _forget_driver(self) -> None:
        """Without a face, emotion and belt are unknown (null), never guessed, and smoothing starts afresh."""
        self._probs, self._candidate, self._p_worn, self._belt_pending = None, None, None, None
        state = self.state
        state.face, state.emotion, state.emotion_confidence, state.probs = None, None, 0.0, {}
        state.seatbelt, state.seatbelt_confidence = None, 0.0

    def _update_emotion(self, probs: dict[str, float], now: float) -> list[Event]:
        alpha = self.config.smoothing
        if self._probs is None:
            self._probs = dict(probs)
        else:
            self._probs = {k: (1 - alpha) * self._probs[k] + alpha * probs[k] for k in probs}
        state = self.state
        state.probs = self._probs
        leader = max(self._probs, key=self._probs.get)
        if leader == state.emotion:
            self._candidate = None
            state.emotion_confidence = self._probs[leader]
            return []
        if self._probs[leader] < self.config.emotion_min_confidence:
            self._candidate = None
            if state.emotion is not None:
                state.emotion_confidence = self._probs[state.emotion]
            return []
        if self._candidate is None or self._candidate[0] != leader:
            self._candidate = (leader, now)
        if now - self._candidate[1] < self.config.emotion_hold_s:
            if state.emotion is not None:
                state.emotion_confidence = self._probs[state.emotion]
            return []
        before = state.emotion
        state.emotion, state.emotion_confidence = leader, self._probs[leader]
        self._candidate = None
        return [Event("emotion_changed", now, {"emotion": before},
                      {"emotion": leader, "confidence": round(state.emotion_confidence, 4)})]

    def _update_seatbelt(self, p_worn: float, now: float) -> list[Event]:
        alpha = self.config.smoothing
        self._p_worn = p_worn if self._p_worn is None else (1 - alpha) * self._p_worn + alpha * p_worn
        state = self.state
        if self._p_worn > self.config.seatbelt_worn_above:
            reading: bool | None = True
        elif self._p_worn < self.config.seatbelt_unworn_below:
            reading = False
        else:
            reading = None  # between the thresholds: hysteresis keeps what we had
        if state.seatbelt is not None:
            state.seatbelt_confidence = self._p_worn if state.seatbelt else 1 - self._p_worn
        if reading is None or reading == state.seatbelt:
            self._belt_pending = None
            return []
        if self._belt_pending is None or self._belt_pending[0] != reading:
            self._belt_pending = (reading, now)
        if now - self._belt_pending[1] < self.config.seatbelt_debounce_s:
            return []
        before = state.seatbelt
        state.seatbelt = reading
        state.seatbelt_confidence = self._p_worn if reading else 1 - self._p_worn
        self._belt_pending = None
        return [Event("seatbelt_fastened" if reading else "seatbelt_unfastened", now,
                      {"seatbelt": None if before is None else {"worn": before}},
                      {"seatbelt": {"worn": reading, "confidence": round(state.seatbelt_confidence, 4)}})]
