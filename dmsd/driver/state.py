"""Driver state over time: smoothing, hysteresis and the events a dashboard acts on.

Per-frame results are noisy; the state is not. Emotion probabilities and the belt probability are
exponential moving averages; a new emotion must lead for `emotion_hold_s`, a belt change must hold past its
threshold for `seatbelt_debounce_s`, and the driver is absent only after `absent_after_s` without a face.
Time is the frames' own time (a file replays as it was recorded, however fast it is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dmsd.config import AlertnessConfig, StateConfig
from dmsd.driver.alertness import AlertnessTracker
from dmsd.driver.events import Event
from dmsd.vision.geometry import Box
from dmsd.vision.results import EmotionResult, FrameResult, SeatbeltResult, latency_dict, observation_dict


@dataclass
class DriverState:
    """The smoothed state, published retained on `<prefix>/state`.

    emotion: the held label with its smoothed confidence and probabilities; seatbelt: the debounced verdict with its
    smoothed confidence. Both None when unknown (no face, or no label held yet), never guessed.
    """

    source: str = ""
    ts: float = 0.0
    camera_ok: bool = True
    driver_present: bool | None = None
    face: Box | None = None
    emotion: EmotionResult | None = None
    seatbelt: SeatbeltResult | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    alertness: dict = field(default_factory=dict)  # eyes, head, attention, drowsiness (dmsd.driver.alertness)

    def key(self) -> tuple:
        """What counts as a change worth publishing at once (not the face box or a confidence wobble)."""
        attention, drowsiness = self.alertness.get("attention"), self.alertness.get("drowsiness")
        return (
            self.camera_ok,
            self.driver_present,
            self.emotion and self.emotion.label,
            self.seatbelt and self.seatbelt.worn,
            attention and (attention["state"], attention["unresponsive"]),
            drowsiness and drowsiness["state"],
        )

    def to_dict(self, include_probs: bool = False) -> dict:
        return {
            "source": self.source,
            "ts": round(self.ts, 3),
            **observation_dict(self.face, self.emotion, self.seatbelt, include_probs),
            **{block: self.alertness.get(block) for block in ("eyes", "head", "attention", "drowsiness")},
            "driver_present": self.driver_present,
            "camera": "ok" if self.camera_ok else "lost",
            "latency_ms": latency_dict(self.latency_ms),
        }


class DriverStateTracker:
    def __init__(self, config: StateConfig, alertness: AlertnessConfig | None = None):
        self.config = config
        self.state = DriverState()
        self.alertness = AlertnessTracker(alertness or AlertnessConfig())
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
        return [
            Event(
                "camera_restored" if healthy else "camera_lost",
                now,
                {"camera": before},
                {"camera": "ok" if healthy else "lost"},
            )
        ]

    def update(self, result: FrameResult) -> list[Event]:
        now = result.ts
        if self._started_at is None:
            self._started_at = now
        state = self.state
        state.source, state.ts, state.latency_ms = result.source, now, result.latency_ms
        events: list[Event] = []
        if result.face is None:
            state.face = None
            if state.driver_present:
                events += self.alertness.update(now, result)  # a face lost for a moment: away, not absent
                state.alertness = self.alertness.blocks(now)
            return events + self._check_absent(now)

        self._last_face_at = now
        state.face = result.face
        if state.driver_present is not True:
            events.append(
                Event("driver_present", now, {"driver_present": state.driver_present}, {"driver_present": True})
            )
            state.driver_present = True
        if result.emotion is not None:
            events += self._update_emotion(result.emotion.probs, now)
        if result.seatbelt is not None:
            events += self._update_seatbelt(result.seatbelt.p_worn, now)
        events += self.alertness.update(now, result)
        state.alertness = self.alertness.blocks(now)
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
        self.state.face, self.state.emotion, self.state.seatbelt = None, None, None
        self.alertness.reset()  # the next driver's eyes and forward pose are learned afresh
        self.state.alertness = {}

    def _update_emotion(self, probs: dict[str, float], now: float) -> list[Event]:
        alpha = self.config.smoothing
        if self._probs is None:
            self._probs = dict(probs)
        else:
            self._probs = {k: (1 - alpha) * self._probs[k] + alpha * probs[k] for k in probs}
        held = self.state.emotion.label if self.state.emotion else None
        self._show_emotion(held)  # the held label, with this frame's smoothed confidence
        leader = max(self._probs, key=self._probs.get)
        if leader == held or self._probs[leader] < self.config.emotion_min_confidence:
            self._candidate = None
            return []
        if self._candidate is None or self._candidate[0] != leader:
            self._candidate = (leader, now)
        if now - self._candidate[1] < self.config.emotion_hold_s:
            return []
        self._show_emotion(leader)
        self._candidate = None
        return [
            Event(
                "emotion_changed",
                now,
                {"emotion": held},
                {"emotion": leader, "confidence": round(self.state.emotion.confidence, 4)},
            )
        ]

    def _show_emotion(self, label: str | None) -> None:
        self.state.emotion = None if label is None else EmotionResult(label, self._probs[label], self._probs)

    def _update_seatbelt(self, p_worn: float, now: float) -> list[Event]:
        alpha = self.config.smoothing
        self._p_worn = p_worn if self._p_worn is None else (1 - alpha) * self._p_worn + alpha * p_worn
        if self._p_worn > self.config.seatbelt_worn_above:
            reading: bool | None = True
        elif self._p_worn < self.config.seatbelt_unworn_below:
            reading = False
        else:
            reading = None  # between the thresholds: hysteresis keeps what we had
        held = self.state.seatbelt.worn if self.state.seatbelt else None
        if held is not None:
            self._show_seatbelt(held)  # the held verdict, with this frame's smoothed confidence
        if reading is None or reading == held:
            self._belt_pending = None
            return []
        if self._belt_pending is None or self._belt_pending[0] != reading:
            self._belt_pending = (reading, now)
        if now - self._belt_pending[1] < self.config.seatbelt_debounce_s:
            return []
        self._show_seatbelt(reading)
        self._belt_pending = None
        return [
            Event(
                "seatbelt_fastened" if reading else "seatbelt_unfastened",
                now,
                {"seatbelt": None if held is None else {"worn": held}},
                {"seatbelt": self.state.seatbelt.to_dict()},
            )
        ]

    def _show_seatbelt(self, worn: bool) -> None:
        self.state.seatbelt = SeatbeltResult(worn, self._p_worn if worn else 1 - self._p_worn)
