"""`dmsd evaluate --task events`: the daemon's own pipeline on annotated real clips, scored (dmsd.offline.scorecard).

    dmsd evaluate --task events --data clips.csv [--root DIR] [--jobs N] [--json]

Each clip is played through a fresh pipeline and driver state, as a camera's frames are, on the frames' own clock
(however fast they decode). The vehicle gate is left out: recordings carry no speed. Every annotation and every
clip is checked before anything runs, so a typo costs seconds, not a run.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from pathlib import Path

from dmsd.config import Config
from dmsd.driver.events import EventType
from dmsd.driver.state import DriverStateTracker
from dmsd.errors import DmsdError
from dmsd.frames.sources import count_frames, file_frames
from dmsd.offline.scorecard import ClipAnnotation, ClipScore, load_annotations, score_clip, totals
from dmsd.vision.analyzer import Analyzer

# What the config can switch off, and the events it then cannot raise.
DROWSINESS_AND_ATTENTION = ("asleep", "microsleep", "drowsy", "distracted", "unresponsive", "yawn")


def unraisable(config: Config) -> dict[str, str]:
    """Event types the config cannot raise, with the key that says so: their expectations are not judged."""
    off: dict[str, str] = {}
    if not config.phone.enabled:
        off[str(EventType.PHONE_USE)] = "phone.enabled is false"
    if not config.landmarks.enabled:
        off.update(dict.fromkeys(DROWSINESS_AND_ATTENTION, "landmarks.enabled is false"))
    return off


def clip_length(clip: ClipAnnotation, where: str) -> tuple[int, float]:
    """Frames that decode, and the frame rate."""
    try:
        return count_frames(clip.path)
    except DmsdError as exc:
        raise DmsdError(f"{where}: {exc}") from None


def play(config: Config, clip: ClipAnnotation, name: str, off: dict[str, str]) -> ClipScore:
    """The clip through a fresh pipeline and driver state; its events and face share, scored."""
    analyzer = Analyzer.from_config(config, video=True)
    tracker = DriverStateTracker(config.state, config.alertness, config.phone, config.eyes)
    events, first, frames, visible, with_face, last, step = [], None, 0, 0, 0, 0.0, 0.0
    for frame in file_frames(config.source, clip.path):
        first = frame.ts if first is None else first
        last, step = frame.ts - first, frame.ts - first - last  # step: one frame's time (1 / fps)
        result = analyzer.analyze(frame.image, frame.name, frame.ts)
        frames += 1
        if not clip.face_hidden(last):
            visible += 1
            with_face += result.face is not None
        events += [(event.ts - first, event) for event in tracker.update(result)]
    score = score_clip(clip, name, events, off)
    score.frames, score.visible_frames, score.visible_with_face = frames, visible, with_face
    score.duration_s = last + step
    return score


def evaluate_events(config: Config, data: str, root: str | None, jobs: int = 1) -> dict:
    clips = load_annotations(data, root)
    base = Path(root) if root is not None else Path(data).parent
    for clip in clips:
        where = f"{data} row {clip.row}"
        frames, fps = clip_length(clip, where)
        clip.check_duration(where, frames / fps)
    off = unraisable(config)
    names = [_name(clip.path, base) for clip in clips]
    if jobs > 1:
        # Clips are independent: one process each, sessions made in the worker (never forked from ours).
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            scores = list(pool.map(play, [config] * len(clips), clips, names, [off] * len(clips)))
    else:
        scores = [play(config, clip, name, off) for clip, name in zip(clips, names, strict=True)]
    return {
        "task": "events",
        "data": str(data),
        "not_judged_because": sorted(set(off.values())),
        "totals": totals(scores),
        "clips": [score.to_dict() for score in scores],
    }


def _name(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def format_report(report: dict) -> str:
    lines = [f"events scorecard on {report['data']}"]
    width = max(len(c["path"]) for c in report["clips"])
    lines.append(f"{'clip':<{width}}  {'face':>6}  {'found':>5}  {'missed':>6}  {'false':>5}")
    for clip in report["clips"]:
        share = "-" if clip["face_share"] is None else f"{clip['face_share']:.0%}"
        expected = len(clip["found"]) + len(clip["missed"])
        lines.append(
            f"{clip['path']:<{width}}  {share:>6}  {len(clip['found']):>2}/{expected:<2}  {len(clip['missed']):>6}  "
            f"{len(clip['false']):>5}"
        )
        for key in ("missed", "false", "not_judged"):
            if clip[key]:
                lines.append(f"    {key.replace('_', ' ')}: {', '.join(clip[key])}")
    t = report["totals"]
    share = "-" if t["face_share"] is None else f"{t['face_share']:.1%}"
    lines.append(
        f"total: {t['clips']} clips, {t['frames']} frames; expected events found {t['found']} of {t['expected']}, "
        f"missed {t['missed']}; false alarms {t['false']} (driver_absent while seated {t['false_absent']}); "
        f"a face on {share} of the frames where a person can see it"
    )
    if report["not_judged_because"]:
        lines.append(f"not judged: {t['not_judged']} expected events ({'; '.join(report['not_judged_because'])})")
    return "\n".join(lines)
