"""The events scorecard: annotated real clips, and how the events dmsd raised on them are scored.

An annotation file is a CSV, one row per clip (README.md, "Scoring dmsd on your own recordings"):

    path,seated,expected,tolerated,no_face,notes
    cabin/doze_03.mp4,yes,asleep@2.5-5.7 yawn@8.0-11.5,microsleep drowsy,12.0-13.5,"eyes shut 0-4.7 s, ..."

- `expected`: `event@START-END` items, seconds from the clip's first frame: each must be raised in its window.
- `tolerated`: `event` (anywhere) or `event@START-END`: alarms that may come without counting as false.
- `seated`: `yes` when the driver is in the seat throughout (a `driver_absent` is then a false alarm), else `no`.
- `no_face`: `START-END` spans where a person cannot see the driver's face; the face share leaves them out.

A false alarm is any alert (an event with a vehicle gate, dmsd.driver.events) that is neither expected nor tolerated
at its time, and `driver_absent` while the driver is seated. An alert in the window of an expected event of its type
is never false (the first one matches, later ones repeat it). Other events (`driver_present`, all-clears, emotion)
are not scored.
"""

from __future__ import annotations

import collections
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from dmsd.driver.events import Event, EventType
from dmsd.errors import DmsdError

COLUMNS = ("path", "seated", "expected", "tolerated", "no_face", "notes")
# The events an annotation may name: the alerts, and absence.
SCORED = tuple(str(t) for t in EventType if t.is_alert) + (str(EventType.DRIVER_ABSENT),)
WINDOW_SLACK_S = 0.5  # an annotated window may end this far past the clip's last frame (timings read by eye)
_ITEM = re.compile(r"^(?P<event>[a-z_]+)(?:@(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?))?$")
_SPAN = re.compile(r"^(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Window:
    """An event type, and where it may be (None: anywhere in the clip)."""

    event: str
    start: float | None = None
    end: float | None = None

    def holds(self, event: str, t: float) -> bool:
        return event == self.event and (self.start is None or self.end is None or self.start <= t <= self.end)

    def __str__(self) -> str:
        return self.event if self.start is None else f"{self.event}@{self.start:g}-{self.end:g}"


@dataclass(frozen=True)
class ClipAnnotation:
    path: Path
    row: int  # the line in the annotation file, for error messages
    seated: bool
    expected: tuple[Window, ...]
    tolerated: tuple[Window, ...]
    no_face: tuple[tuple[float, float], ...]
    notes: str = ""

    def face_hidden(self, t: float) -> bool:
        return any(start <= t <= end for start, end in self.no_face)

    def check_duration(self, where: str, duration: float) -> None:
        """A window that starts after the clip, or ends well past it, is a typo in the annotation."""
        spans = [(str(w), w.start, w.end) for w in self.expected + self.tolerated if w.start is not None]
        spans += [(f"no_face {a:g}-{b:g}", a, b) for a, b in self.no_face]
        for name, start, end in spans:
            assert start is not None and end is not None
            if start >= duration or end > duration + WINDOW_SLACK_S:
                raise DmsdError(f"{where}: {name} lies outside the clip, which is {duration:.2f} s long")


def load_annotations(path: str | Path, root: str | Path | None = None) -> list[ClipAnnotation]:
    """Parse an annotation CSV; clip paths are relative to `root` (default: the CSV's folder). Every problem is a
    one-line DmsdError naming the file and row."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DmsdError(f"{path}: cannot read the annotations ({exc.__class__.__name__})") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if header not in (list(COLUMNS), list(COLUMNS[:-1])):
        raise DmsdError(f"{path}: the header must be {','.join(COLUMNS)} (notes optional)")
    clips: list[ClipAnnotation] = []
    seen: dict[Path, int] = {}
    for line, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        where = f"{path} row {line}"
        if len(row) < 5 or len(row) > len(COLUMNS):
            raise DmsdError(f"{where}: expected {len(COLUMNS)} columns ({','.join(COLUMNS)}), got {len(row)}")
        clip = _parse_row(row, base, line, where)
        if clip.path in seen:
            raise DmsdError(f"{where}: {row[0]} is annotated twice (also row {seen[clip.path]})")
        seen[clip.path] = line
        clips.append(clip)
    if not clips:
        raise DmsdError(f"{path}: no clips annotated")
    return clips


def _parse_row(row: list[str], base: Path, line: int, where: str) -> ClipAnnotation:
    name, seated, expected, tolerated, no_face = (cell.strip() for cell in row[:5])
    notes = row[5].strip() if len(row) > 5 else ""
    if not name:
        raise DmsdError(f"{where}: the path is empty")
    clip = Path(name) if Path(name).is_absolute() else base / name
    if not clip.is_file():
        raise DmsdError(f"{where}: {clip} is not a file")
    if seated not in ("yes", "no"):
        raise DmsdError(f"{where}: seated must be yes or no, not {seated!r}")
    return ClipAnnotation(
        clip,
        line,
        seated == "yes",
        _windows(expected, where, "expected", need_window=True),
        _windows(tolerated, where, "tolerated", need_window=False),
        tuple(_span(item, where) for item in no_face.split()),
        notes,
    )


def _windows(cell: str, where: str, column: str, need_window: bool) -> tuple[Window, ...]:
    windows = []
    for item in cell.split():
        match = _ITEM.match(item)
        if match is None:
            form = "event@START-END" if need_window else "event or event@START-END"
            raise DmsdError(f"{where}: {column} item {item!r} is not {form} (seconds, e.g. asleep@2.5-6)")
        event = match["event"]
        if event not in SCORED:
            raise DmsdError(f"{where}: {column} names unknown event {event!r}; allowed: {', '.join(SCORED)}")
        if match["start"] is None:
            if need_window:
                raise DmsdError(f"{where}: expected {event} needs a window, e.g. {event}@2.5-6")
            windows.append(Window(event))
            continue
        start, end = float(match["start"]), float(match["end"])
        if end < start:
            raise DmsdError(f"{where}: {column} item {item!r} ends before it starts")
        windows.append(Window(event, start, end))
    return tuple(windows)


def _span(item: str, where: str) -> tuple[float, float]:
    match = _SPAN.match(item)
    if match is None or float(match["end"]) < float(match["start"]):
        raise DmsdError(f"{where}: no_face item {item!r} is not START-END in seconds (e.g. 3.0-4.5)")
    return float(match["start"]), float(match["end"])


@dataclass
class ClipScore:
    """One clip's result: expected events found and missed, false alarms, and the face share."""

    path: str
    frames: int = 0
    duration_s: float = 0.0
    visible_frames: int = 0  # frames where a person can see the face
    visible_with_face: int = 0
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)  # "event@t"
    not_judged: list[str] = field(default_factory=list)  # expected events of a feature the config turns off
    raised: list[str] = field(default_factory=list)  # every scored event, "event@t"

    @property
    def face_share(self) -> float | None:
        return self.visible_with_face / self.visible_frames if self.visible_frames else None

    def to_dict(self) -> dict:
        share = self.face_share
        return {
            "path": self.path,
            "frames": self.frames,
            "duration_s": round(self.duration_s, 2),
            "face_share": None if share is None else round(share, 4),
            "found": self.found,
            "missed": self.missed,
            "false": self.false,
            "not_judged": self.not_judged,
            "raised": self.raised,
        }


def score_clip(clip: ClipAnnotation, name: str, events: list[tuple[float, Event]], off: dict[str, str]) -> ClipScore:
    """events: (seconds from the clip's first frame, event); off: event types the config cannot raise, with why."""
    score = ClipScore(name)
    raised = [(t, str(e.type)) for t, e in events if str(e.type) in SCORED]
    score.raised = [f"{kind}@{t:.1f}" for t, kind in raised]
    matched: set[int] = set()
    for window in clip.expected:
        if window.event in off:
            score.not_judged.append(f"{window} ({off[window.event]})")
            continue
        hit = next((i for i, (t, kind) in enumerate(raised) if i not in matched and window.holds(kind, t)), None)
        if hit is None:
            score.missed.append(str(window))
        else:
            matched.add(hit)
            score.found.append(f"{window} at {raised[hit][0]:.1f}")
    for i, (t, kind) in enumerate(raised):
        if i in matched or any(w.holds(kind, t) for w in clip.expected + clip.tolerated):
            continue
        if kind == EventType.DRIVER_ABSENT and not clip.seated:
            continue
        score.false.append(f"{kind}@{t:.1f}")
    return score


def totals(scores: list[ClipScore]) -> dict:
    visible = sum(s.visible_frames for s in scores)
    with_face = sum(s.visible_with_face for s in scores)
    false = [f for s in scores for f in s.false]
    by_event = collections.Counter(f.split("@")[0] for f in false)
    return {
        "clips": len(scores),
        "frames": sum(s.frames for s in scores),
        "expected": sum(len(s.found) + len(s.missed) for s in scores),
        "found": sum(len(s.found) for s in scores),
        "missed": sum(len(s.missed) for s in scores),
        "not_judged": sum(len(s.not_judged) for s in scores),
        "false": len(false),
        "false_absent": sum(1 for f in false if f.startswith(f"{EventType.DRIVER_ABSENT}@")),
        "face_share": round(with_face / visible, 4) if visible else None,
        "false_by_event": {kind: by_event[kind] for kind in SCORED if by_event[kind]},
    }
