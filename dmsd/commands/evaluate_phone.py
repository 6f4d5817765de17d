"""`dmsd evaluate --task phone`: the phone model through the daemon's own pipeline.

Photos (labels.csv `path,phone[,subject]` or a folder per class): each photo through the whole pipeline with phone
use looked for. A face-anchored model (the region in its contract) judges only photos where a face is found, as
`--once` does; the others are counted, never guessed.

Clips (a span file `path,frames,label[,person]`, label call, texting or none): every frame tracked as a camera's,
the phone model on its interval, and its readings through the phone rule (dmsd.driver.phone) with the configured
`phone.min_s` and `phone.clear_s`. Each clip says whether `phone_use` was raised; clips with a call or texting span
should raise it, clips with none only should not. Frames inside spans are scored too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dmsd.config import Config
from dmsd.driver.events import EventType
from dmsd.driver.phone import PhoneTracker
from dmsd.errors import DmsdError
from dmsd.frames.images import read_image
from dmsd.frames.sources import count_frames, file_frames
from dmsd.labels import PHONE_LABELS
from dmsd.offline.datasets import load_phone_clips, load_phone_uses
from dmsd.offline.metrics import classification_report
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.stages.phone import NONE, PHONE, PhoneResult, PhoneStage


def phone_analyzer(config: Config, model_path: str | None, video: bool) -> tuple[Analyzer, PhoneStage]:
    """The daemon's pipeline with phone use looked for, and `model_path` in place of the configured model."""
    models = config.models.with_path("phone", model_path)
    analyzer = Analyzer.from_config(replace(config, phone=replace(config.phone, enabled=True), models=models), video)
    stage = analyzer.stage(PhoneStage)
    assert stage is not None  # enabled above
    return analyzer, stage


@dataclass
class PhoneTally:
    """Pictures labelled, pictures with no region to judge (no face), and the readings of the rest."""

    labelled: int = 0
    no_region: int = 0
    truth: list[int] = field(default_factory=list)
    said: list[int] = field(default_factory=list)

    def add(self, reading: PhoneResult | None, label: str) -> None:
        self.labelled += 1
        if reading is None:
            self.no_region += 1
            return
        self.truth.append(PHONE_LABELS.index(label))
        self.said.append(PHONE_LABELS.index(reading.use))

    def summary(self) -> dict:
        """Calls and texting read as a phone in use, and pictures without a phone read as one."""
        truth, said = np.array(self.truth, dtype=np.int64), np.array(self.said, dtype=np.int64)
        none = PHONE_LABELS.index(NONE)
        phone, empty = truth != none, truth == none
        return {
            "labelled": self.labelled,
            "judged": len(truth),
            "phone_frames": int(phone.sum()),
            "phone_read_phone": int((said[phone] != none).sum()),
            "none_frames": int(empty.sum()),
            "none_read_phone": int((said[empty] != none).sum()),
        }

    def report(self) -> dict:
        return classification_report(
            np.array(self.truth, dtype=np.int64), np.array(self.said, dtype=np.int64), PHONE_LABELS
        )


def evaluate_photos(config: Config, data: str, model_path: str | None) -> dict:
    analyzer, stage = phone_analyzer(config, model_path, video=False)
    tally, unreadable, with_face = PhoneTally(), [], 0
    for image in load_phone_uses(data):
        try:
            pixels = read_image(image.path)
        except DmsdError as exc:
            unreadable.append(str(exc))
            continue
        result = analyzer.analyze(pixels, str(image.path), 0.0)
        with_face += result.face is not None
        tally.add(result.get(PHONE), image.use)
    report = tally.report()
    summary = tally.summary()
    report.update(
        task="phone",
        model=str(stage.classifier.path),
        data=str(data),
        region=stage.region.to_json(),
        min_confidence=config.phone.min_confidence,
        images=tally.labelled + len(unreadable),
        unreadable=len(unreadable),
        unreadable_files=unreadable,
        with_face=with_face,
        face_share=round(with_face / tally.labelled, 4) if tally.labelled else 0.0,
        no_region=tally.no_region,
        false_alarms_on_none=(
            round(summary["none_read_phone"] / summary["none_frames"], 4) if summary["none_frames"] else None
        ),
    )
    return report


def evaluate_clips(config: Config, data: str, root: str | None, model_path: str | None) -> dict:
    """Each clip through the pipeline and the phone rule: was `phone_use` raised, and how were its frames read."""
    clips = load_phone_clips(data, root)
    for clip in clips:  # every span checked before anything runs
        clip.check_length(data, count_frames(clip.path)[0])
    tally, per_clip, model, region = PhoneTally(), [], "", ""
    for clip in clips:
        analyzer, stage = phone_analyzer(config, model_path, video=True)
        model, region = str(stage.classifier.path), stage.region.to_json()
        rule, own, raised = PhoneTracker(config.phone), PhoneTally(), []
        start: float | None = None
        for index, frame in enumerate(file_frames(config.source, clip.path)):
            start = frame.ts if start is None else start
            reading = analyzer.analyze(frame.image, frame.name, frame.ts).get(PHONE)
            if reading is not None:  # raised at: seconds into the clip
                events = rule.update(frame.ts, reading)
                raised += [round(e.ts - start, 2) for e in events if e.type is EventType.PHONE_USE]
            if (label := clip.label_at(index)) is not None:
                for counted in (tally, own):
                    counted.add(reading, label)
        expects = any(span.label != NONE for span in clip.spans)
        row = {
            "path": clip.name,
            "person": clip.person,
            "phone_expected": expects,
            "phone_use_at": raised,
            **own.summary(),
        }
        per_clip.append(row)
    people = {
        person: clip_totals([row for row in per_clip if (row["person"] or "-") == person])
        for person in sorted({row["person"] or "-" for row in per_clip})
    }
    report = tally.report()
    report.update(
        task="phone",
        model=model,
        data=str(data),
        region=region,
        min_confidence=config.phone.min_confidence,
        min_s=config.phone.min_s,
        clips=per_clip,
        people=people,
        **tally.summary(),
    )
    totals = clip_totals(per_clip)
    report.update(
        call_clips=totals["call_clips"],
        call_clips_found=totals["found"],
        free_clips=totals["free_clips"],
        free_clips_false=totals["false"],
    )
    return report


def clip_totals(rows: list[dict]) -> dict:
    """Clips' rows summed: call clips and those that raised `phone_use`, phone-free clips and those that raised it
    (false), and their frame counts."""
    calls = [row for row in rows if row["phone_expected"]]
    free = [row for row in rows if not row["phone_expected"]]
    frames = ("labelled", "judged", "phone_frames", "phone_read_phone", "none_frames", "none_read_phone")
    return {
        "call_clips": len(calls),
        "found": sum(bool(row["phone_use_at"]) for row in calls),
        "free_clips": len(free),
        "false": sum(bool(row["phone_use_at"]) for row in free),
        **{key: sum(row[key] for row in rows) for key in frames},
    }


def format_lines(report: dict) -> list[str]:
    """The phone report's own lines, above the common accuracy table."""
    if "clips" not in report:
        return [
            f"images {report['images']}, unreadable {report['unreadable']}, face found in {report['with_face']} "
            f"({report['face_share']:.1%}); judged {report['n']} (region {report['region']}; no region to judge "
            f"{report['no_region']})",
            f"a phone called on {report['false_alarms_on_none'] or 0:.1%} of the none images judged (call or "
            f"texting at {report['min_confidence']:g} or more)",
        ]
    lines = []
    for clip in report["clips"]:
        verdict = (
            "phone_use at " + ", ".join(f"{t:g} s" for t in clip["phone_use_at"])
            if clip["phone_use_at"]
            else "no phone_use"
        )
        lines.append(
            f"{clip['path']} ({clip['person'] or '-'}): {'a call' if clip['phone_expected'] else 'no phone'}; "
            f"{verdict}; phone frames read as one {clip['phone_read_phone']} of {clip['phone_frames']}, phone-free "
            f"frames read as one {clip['none_read_phone']} of {clip['none_frames']}"
        )
    for person, row in report["people"].items():
        lines.append(
            f"person {person}: phone_use on {row['found']} of {row['call_clips']} call clips, on {row['false']} of "
            f"{row['free_clips']} phone-free clips; phone-free frames read as a phone {row['none_read_phone']} of "
            f"{row['none_frames']}"
        )
    lines.append(
        f"all clips: phone_use on {report['call_clips_found']} of {report['call_clips']} call clips, on "
        f"{report['free_clips_false']} of {report['free_clips']} phone-free clips; phone-free frames read as a phone "
        f"{report['none_read_phone']} of {report['none_frames']} (phone.min_s {report['min_s']:g})"
    )
    return lines
