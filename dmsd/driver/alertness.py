"""Drowsiness and distraction over time, from the face mesh's eyes and head, on Euro NCAP's clock.

Every judgement is against the driver's own baseline, learned over their first `baseline_s` present (after
`baseline_min_s`): their open-eye level (the 80th percentile of their eye aspect ratio: closed frames are the
minority) and their forward pose (the median yaw and pitch: a camera off to the side puts "ahead" at 30 degrees of
yaw, not 0). A new driver (after `driver_absent`) is learned afresh. What needs no baseline is judged before it is
ready: the eye rule's verdicts from the blink score and the eye-state model, and the jaw, so a driver who dozes off
or yawns as the drive starts is timed from the first frame.

- Whether the eyes are closed, open or unseen is the eye rule's (dmsd.driver.eye_closure; its `ratio` rule uses
  `eyes_closed_below` of the open-eye level). Unseen eyes time nothing. A closure shorter than `microsleep_s` is a
  blink; up to `asleep_s` a `microsleep` (sent when the eyes reopen, with its duration); reaching `asleep_s`,
  `asleep`, then `awake` when they reopen. PERCLOS is the share of the last `perclos_window_s` with eyes closed;
  `drowsy` at `drowsy_perclos` or `drowsy_microsleeps` microsleeps in that window, `alert` again under
  `alert_perclos` with fewer microsleeps.
- The head is away when yaw or pitch differ from forward by more than `away_yaw_deg` / `away_pitch_deg`. Away for
  `long_distraction_s` at a stretch (which ends once the head is back on the road for `road_glance_s`: a head
  sweeping from one side to the other crosses it) is `distracted` of kind `long`; away for `time_sharing_s` in all
  within `time_sharing_window_s` is kind `time_sharing`; the window restarts once the head has been back on the
  road for `time_sharing_reset_s`, and then `attentive` ends a distraction. Eyes closed or away for
  `unresponsive_s` at a stretch is `unresponsive`.
- The jaw open past `yawn_jaw_open` without a smile past `yawn_smile_below` (without the blendshapes: the lips past
  `yawn_openness`), held `yawn_s`, is a `yawn`. A closure with the mouth open, the jaw dropped or a wide smile is
  excused from PERCLOS and microsleeps; each frame's excuse holds until the next frame.

A face lost while the driver is still present (looking over the shoulder turns the face from the frontal
detector) counts as away, and leaves the eyes as they were last seen: a closure goes on, its lost time neither
judged nor excused. Unless the driver is nodding off: the face was lost with the eyes closed or the head pitched past
`away_pitch_deg` (dropped or tipped back), and the head-and-chest region still looks as it did then
(`nodding_seat_similarity`, measured by dmsd.vision.stages.occupancy). Then the closure is timed on to `asleep`, and the
driver stays present (dmsd.driver.state) for as long as that holds. Time is the frames' own.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from dmsd.config import AlertnessConfig, EyesConfig
from dmsd.driver.events import (
    Attention,
    Distraction,
    Drowsiness,
    Event,
    alert_event,
    asleep_event,
    attentive_event,
    awake_event,
    distracted_event,
    drowsy_event,
    microsleep_event,
    unresponsive_event,
    yawn_event,
)
from dmsd.driver.eye_closure import EyeVerdict, judge
from dmsd.driver.hold import Hold
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes, HeadPose
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.mesh import BLENDSHAPES, EYES, HEAD, MOUTH
from dmsd.vision.stages.occupancy import OCCUPANCY

MAX_STEP_S = 1.0  # a gap between frames counts at most this long (a stalled camera is not time spent)


@dataclass(frozen=True)
class EyesState:
    """The state's `eyes`: the eye rule's verdict (dmsd.driver.eye_closure) and the measures behind it."""

    measured: Eyes  # this frame's aspect ratios and the eye-state model's closed probabilities
    verdict: EyeVerdict
    openness: float  # the mean aspect ratio over the driver's open-eye level
    closed_s: float  # how long the current closure has lasted (0 while open)
    blinks: int
    perclos: float | None  # None until the eyes have been measured perclos_min_s in the window
    shapes: FaceShapes | None = None  # this frame's blendshapes (their blink score), None without them

    @property
    def closed(self) -> bool:
        return self.verdict is EyeVerdict.CLOSED


@dataclass(frozen=True)
class HeadState:
    """The state's `head`: this frame's pose, this driver's forward pose, and whether the head is on the road."""

    pose: HeadPose
    forward_yaw: float
    forward_pitch: float
    on_road: bool | None


@dataclass(frozen=True)
class AttentionState:
    """The state's `attention`."""

    state: Attention
    kind: Distraction | None  # while distracted
    away_s: float  # the current glance away (0 while on the road)
    away_in_window_s: float
    unresponsive: bool


@dataclass(frozen=True)
class DrowsinessState:
    """The state's `drowsiness`."""

    state: Drowsiness
    perclos: float | None
    microsleeps: int  # within perclos_window_s


@dataclass(frozen=True)
class AlertnessBlocks:
    """What the tracker knows now, each None while nothing is known (before the baseline, without the mesh)."""

    eyes: EyesState | None = None
    head: HeadState | None = None
    attention: AttentionState | None = None
    drowsiness: DrowsinessState | None = None


class Baseline:
    """The driver's own open-eye level and forward pose, learned while they are present."""

    REFRESH_S = 1.0  # the estimates are recomputed at most this often while learning: a percentile a frame is waste

    def __init__(self, config: AlertnessConfig):
        self.config = config
        self.started: float | None = None
        self.eye_samples: list[float] = []
        self.pose_samples: list[tuple[float, float]] = []
        self.eye_level = 0.0
        self.forward = (0.0, 0.0)
        self._estimated_at: float | None = None
        self._estimated_kinds = (False, False)  # what the estimate has seen: _sampled_kinds() when it was made

    def add(self, now: float, result: FrameResult) -> None:
        if self.started is None:
            self.started = now
        if now - self.started > self.config.baseline_s:
            return  # learned: kept for as long as this driver stays
        eyes, head = result.get(EYES), result.get(HEAD)
        if eyes is not None:
            self.eye_samples.append((eyes.left + eyes.right) / 2)
        if head is not None:
            self.pose_samples.append((head.yaw, head.pitch))
        if (
            self._estimated_at is None
            or now - self._estimated_at >= self.REFRESH_S
            or now - self.started >= self.config.baseline_s
            or self._estimated_kinds != self._sampled_kinds()
        ):
            self._estimate(now)

    def _sampled_kinds(self) -> tuple[bool, bool]:
        """Whether eyes, and a head pose, have been sampled: ready() needs both, and the estimate must have seen
        them, or a driver first measured between two refreshes is judged against the placeholders (level 0, straight
        ahead) until the next."""
        return bool(self.eye_samples), bool(self.pose_samples)

    def _estimate(self, now: float) -> None:
        if self.eye_samples:
            self.eye_level = float(np.percentile(self.eye_samples, 80))
        if self.pose_samples:
            yaws, pitches = zip(*self.pose_samples, strict=True)
            self.forward = float(np.median(yaws)), float(np.median(pitches))
        self._estimated_at = now
        self._estimated_kinds = self._sampled_kinds()

    def ready(self, now: float) -> bool:
        return (
            self.started is not None
            and now - self.started >= self.config.baseline_min_s
            and bool(self.eye_samples)
            and bool(self.pose_samples)
        )


@dataclass
class Span(Hold[None]):
    """Something that started at `since` and is still going (a closure, a glance away, a yawn), timed as a Hold."""

    reported: bool = False
    excused_s: float = 0.0  # of a closure: the time it had an excuse (the mouth open, the head away)
    unjudged_s: float = 0.0  # of a closure: the time the head looked down (eyes cannot be read then)
    # Of a closure: whether its latest frame was excused, and with the head down. The time from one frame to the
    # next takes the earlier frame's excuse, so a closure seen on one frame only (stills a second apart) keeps it.
    last_excused: bool = False
    last_head_down: bool = False

    def carry_excuse(self, step: float) -> None:
        """Count the time since the latest frame as that frame was: excused (and unjudged, head down) or not."""
        if self.last_excused:
            self.excused_s += step
            self.unjudged_s += step if self.last_head_down else 0.0


class AlertnessTracker:
    def __init__(self, config: AlertnessConfig, eyes: EyesConfig | None = None):
        self.config, self.eyes_config = config, eyes or EyesConfig()
        self.reset()

    def reset(self) -> None:
        """A new driver, or none: everything is learned and timed afresh."""
        self.baseline = Baseline(self.config)
        self.last_ts: float | None = None
        self.verdict: EyeVerdict | None = None  # the eye rule's, as last measured (dmsd.driver.eye_closure)
        self.openness: float | None = None
        self.on_road: bool | None = None
        self.closure: Span | None = None
        self.away: Span | None = None
        self.back: Span | None = None  # the head back on the road, since
        self.inattentive: Span | None = None
        self.yawn: Span | None = None
        self.blinks = 0
        self.eye_time: collections.deque[tuple[float, float, bool]] = collections.deque()  # (ts, dt, closed)
        self.away_time: collections.deque[tuple[float, float]] = collections.deque()  # (ts, dt) since the restart
        self.perclos: float | None = None  # of eye_time, worked out once a frame
        self.away_in_window = 0.0  # of away_time, likewise
        self.microsleeps: collections.deque[float] = collections.deque()
        self.asleep = self.drowsy = self.unresponsive = False
        self.distracted: Distraction | None = None
        self.head: HeadPose | None = None
        self.eyes: Eyes | None = None
        self.shapes: FaceShapes | None = None
        self.face_seen = False  # on the last frame
        self.nodding = False  # the face lost while nodding off, the seat still taken (the module's rule)

    def update(self, now: float, result: FrameResult) -> list[Event]:
        """One frame while the driver is present (result.face may be None: a face lost for a moment)."""
        step = min(max(now - self.last_ts, 0.0), MAX_STEP_S) if self.last_ts is not None else 0.0
        self.last_ts = now
        self._nodding(result)
        if result.face is not None:
            self.baseline.add(now, result)
        if not self.baseline.ready(now):
            # The eye-state model's verdict is the driver's own from the first frame (unlike the aspect ratio, it
            # needs no open-eye level): a driver who dozes off as the drive starts is timed at once. The head and
            # everything timed against the forward pose wait for the baseline.
            eyes = self._eyes(now, step, result, early=True) if self._judged_without_baseline(result) else []
            return eyes + self._yawn(now, result)  # the mouth's openness is absolute too
        head_events = self._head(now, step, result)  # first: whether the head is away decides what the eyes mean
        events = self._eyes(now, step, result) + head_events
        return events + self._drowsiness(now) + self._unresponsive(now) + self._yawn(now, result)

    # -- eyes ------------------------------------------------------------------------------------------------
    def _nodding(self, result: FrameResult) -> None:
        """The nodding rule: decided on the frame the face is lost, kept while the seat region stays alike."""
        if result.face is not None:
            self.nodding, self.face_seen = False, True
            return
        if self.face_seen:  # the face was lost on this frame: how was it last seen?
            pitch = None if self.head is None else self.head.pitch - self.baseline.forward[1]
            self.nodding = bool(self.closed) or (pitch is not None and abs(pitch) > self.config.away_pitch_deg)
        self.face_seen = False
        seat = result.get(OCCUPANCY)
        if seat is None or seat.similarity < self.config.nodding_seat_similarity:
            self.nodding = False  # the seat looks different (or cannot be compared): not a driver nodding there

    @property
    def closed(self) -> bool | None:
        """Whether the eyes are closed, as last measured; None: unknown or unseen (nothing is timed then)."""
        if self.verdict is None or self.verdict is EyeVerdict.UNSEEN:
            return None
        return self.verdict is EyeVerdict.CLOSED

    def _judged_without_baseline(self, result: FrameResult) -> bool:
        """Whether the eyes can be judged with no baseline: the blink score or the eye-state model is measured (only
        the aspect ratio needs the driver's own open level)."""
        if self.closure is not None:
            return True
        if result.face is None or self.eyes_config.rule == "ratio":
            return False
        eyes = result.get(EYES)
        return eyes is not None and (eyes.p_closed is not None or result.get(BLENDSHAPES) is not None)

    def _eyes(self, now: float, step: float, result: FrameResult, early: bool = False) -> list[Event]:
        """early: before the baseline is ready, when only the verdicts that need no open-eye level count and a head
        down is judged against the forward pose learned so far."""
        if early:
            self.head = result.get(HEAD) if result.face is not None else self.head
        if result.face is not None:
            self.eyes, self.shapes = result.get(EYES), result.get(BLENDSHAPES)
            if self.eyes is None:
                self.openness, self.verdict = None, None
            else:
                level = self.baseline.eye_level or 1.0  # 0 only before any eye was measured
                self.openness = self.eyes.ratio / level
                ratio_below = None if early else level * self.config.eyes_closed_below
                self.verdict = judge(self.eyes, self.shapes, self.eyes_config, ratio_below)
        if self.closed is None:
            if self.closure is not None:  # eyes unknown mid-closure (the mesh lost its trust): not judged
                self.closure.excused_s += step
                self.closure.unjudged_s += step
            return []
        # Eyes squeezed in a laugh or shut in a yawn come with an open mouth; eyes looking down with the head (at
        # the lap, a phone) look shut from a camera at face height, and so do eyes lost with the face. Such time
        # counts toward neither PERCLOS nor a microsleep; asleep still counts the open mouth (a sleeping driver's
        # jaw may drop) but not the head down, which the distraction and unresponsive rules time instead.
        head_down = not self.nodding if result.face is None else self._looking_down()
        excused = self.closed and (head_down or self._mouth_excuses(result))
        self.eye_time.append((now, step, self.closed and not excused))
        while self.eye_time and self.eye_time[0][0] <= now - self.config.perclos_window_s:
            self.eye_time.popleft()
        measured = sum(dt for _, dt, _ in self.eye_time)
        self.perclos = (
            sum(dt for _, dt, closed in self.eye_time if closed) / measured
            if measured >= self.config.perclos_min_s
            else None
        )
        if self.closed:
            if self.closure is None:
                self.closure = Span(now)
            else:
                self.closure.carry_excuse(step)
            self.closure.last_excused, self.closure.last_head_down = bool(excused), bool(excused and head_down)
            if not self.closure.reported and self.closure.lasted(now, self.config.asleep_s, self.closure.unjudged_s):
                self.closure.reported, self.asleep = True, True
                return [asleep_event(now, self._drowsiness_state(sleeping=False), self.closure.length(now))]
            return []
        if self.closure is None:
            return []
        closure, self.closure = self.closure, None
        closure.carry_excuse(step)
        if closure.reported:
            self.asleep = False
            return [awake_event(now, self._drowsiness_state(), closure.length(now))]
        if closure.lasted(now, self.config.microsleep_s, closure.excused_s):
            self.microsleeps.append(now)
            return [microsleep_event(now, closure.length(now))]
        self.blinks += 1
        return []

    def _mouth_excuses(self, result: FrameResult) -> bool:
        """The mouth open (a yawn, a laugh, talking), the jaw dropped as in a yawn, or a wide smile: eyes shut in
        them are not drowsiness."""
        if result.face is None:
            return False
        mouth, shapes = result.get(MOUTH), result.get(BLENDSHAPES)
        if mouth is not None and mouth.openness >= self.config.excuse_mouth_open:
            return True
        return shapes is not None and (
            shapes.smile >= self.config.excuse_smile or shapes.jaw_open >= self.config.yawn_jaw_open
        )

    def _looking_down(self) -> bool:
        """This frame's head pitched down past `away_pitch_deg` from the driver's forward."""
        return self.head is not None and self.head.pitch - self.baseline.forward[1] < -self.config.away_pitch_deg

    # -- head ------------------------------------------------------------------------------------------------
    def _head(self, now: float, step: float, result: FrameResult) -> list[Event]:
        if result.face is None and self.nodding and self.closed:
            self.on_road = None  # a head fallen asleep is timed as a closure, not as a glance away
            return []
        if result.face is None:
            away = True  # the face turned from the detector: looking over the shoulder, not ahead
        elif (head := result.get(HEAD)) is None:
            self.head, self.on_road = None, None
            return []
        else:
            self.head = head
            yaw, pitch = self.baseline.forward
            away = (
                abs(head.yaw - yaw) > self.config.away_yaw_deg or abs(head.pitch - pitch) > self.config.away_pitch_deg
            )
        self.on_road = not away
        events: list[Event] = []
        if away:
            self.back = None
            if self.away is None:
                self.away = Span(now)
            self.away_time.append((now, step))
            while self.away_time and self.away_time[0][0] <= now - self.config.time_sharing_window_s:
                self.away_time.popleft()
            self.away_in_window = sum(dt for _, dt in self.away_time)
            if self.distracted is None:
                if self.away.lasted(now, self.config.long_distraction_s):
                    self.distracted = Distraction.LONG
                elif self.away_in_window >= self.config.time_sharing_s:
                    self.distracted = Distraction.TIME_SHARING
                if self.distracted:
                    events.append(distracted_event(now, self.distracted, self.away.length(now), self.away_in_window))
            return events
        if self.back is None:
            self.back = Span(now)
        if self.away is not None and not self.back.lasted(now, self.config.road_glance_s):
            return events  # a head crossing the road on its way elsewhere has not looked at it yet
        self.away = None
        if self.back.lasted(now, self.config.time_sharing_reset_s):
            self.away_time.clear()  # the time-sharing window restarts
            self.away_in_window = 0.0
            if self.distracted is not None:
                kind, self.distracted = self.distracted, None
                events.append(attentive_event(now, kind))
        return events

    # -- drowsiness, unresponsiveness, yawns -----------------------------------------------------------------
    def _drowsiness_state(self, sleeping: bool | None = None) -> Drowsiness | None:
        if self.closed is None and not self.eye_time:
            return None
        asleep = self.asleep if sleeping is None else sleeping
        return Drowsiness.ASLEEP if asleep else Drowsiness.DROWSY if self.drowsy else Drowsiness.ALERT

    def _drowsiness(self, now: float) -> list[Event]:
        while self.microsleeps and self.microsleeps[0] <= now - self.config.perclos_window_s:
            self.microsleeps.popleft()
        perclos, sleeps = self.perclos, len(self.microsleeps)
        over = (
            perclos is not None and perclos >= self.config.drowsy_perclos
        ) or sleeps >= self.config.drowsy_microsleeps
        under = (perclos is None or perclos < self.config.alert_perclos) and sleeps < self.config.drowsy_microsleeps
        if not self.drowsy and over:
            self.drowsy = True
            return [drowsy_event(now, perclos, sleeps)]
        if self.drowsy and under:
            self.drowsy = False
            return [alert_event(now, perclos, sleeps)]
        return []

    def _unresponsive(self, now: float) -> list[Event]:
        if not (self.closed or self.on_road is False):
            self.inattentive, self.unresponsive = None, False
            return []
        if self.inattentive is None:
            self.inattentive = Span(now)
        if self.inattentive.reported or not self.inattentive.lasted(now, self.config.unresponsive_s):
            return []
        self.inattentive.reported, self.unresponsive = True, True
        return [unresponsive_event(now, bool(self.closed), self.on_road is False, self.inattentive.length(now))]

    def _yawning(self, result: FrameResult) -> bool:
        """This frame's mouth as a yawn's: the jaw wide open without a smile where the blendshapes are measured, else
        the lips far apart."""
        shapes = result.get(BLENDSHAPES)
        if shapes is not None:
            return shapes.jaw_open >= self.config.yawn_jaw_open and shapes.smile < self.config.yawn_smile_below
        mouth = result.get(MOUTH)
        return mouth is not None and mouth.openness >= self.config.yawn_openness

    def _yawn(self, now: float, result: FrameResult) -> list[Event]:
        if not self._yawning(result):
            self.yawn = None
            return []
        if self.yawn is None:
            self.yawn = Span(now)
        if self.yawn.reported or not self.yawn.lasted(now, self.config.yawn_s):
            return []
        self.yawn.reported = True
        return [yawn_event(now, self.yawn.length(now))]

    # -- the state's blocks ----------------------------------------------------------------------------------
    def blocks(self, now: float) -> AlertnessBlocks:
        """The state's `eyes`, `head`, `attention` and `drowsiness` (None while nothing is known)."""
        ready = self.baseline.ready(now) if self.last_ts is not None else False
        # The eyes (and so drowsiness) are known early where the eye-state model reads them.
        eyes_ready = ready or self.verdict is not None  # known early where the verdict needs no open level
        eyes = None
        if eyes_ready and self.eyes is not None and self.verdict is not None and self.openness is not None:
            eyes = EyesState(
                self.eyes,
                self.verdict,
                self.openness,
                self.closure.length(now) if self.closure else 0.0,
                self.blinks,
                self.perclos,
                self.shapes,
            )
        head = None
        if ready and self.head is not None:
            head = HeadState(self.head, *self.baseline.forward, on_road=self.on_road)
        attention = None
        if ready and self.on_road is not None:
            attention = AttentionState(
                Attention.DISTRACTED if self.distracted else Attention.ATTENTIVE,
                self.distracted,
                self.away.length(now) if self.away else 0.0,
                self.away_in_window,
                self.unresponsive,
            )
        drowsiness = None
        level = self._drowsiness_state()
        if eyes_ready and level is not None:
            drowsiness = DrowsinessState(level, self.perclos, len(self.microsleeps))
        return AlertnessBlocks(eyes, head, attention, drowsiness)
