"""`dmsd evaluate`: accuracy of a model on a labeled set, through the daemon's own code path (eyes, head pose and yawns:
dmsd.commands.evaluate_measures).

    dmsd evaluate --task emotion --data fer2013.csv.gz --usage PublicTest [--model PATH] [--json]
    dmsd evaluate --task seatbelt --data labels.csv|folder [--model PATH] [--json]
    dmsd evaluate --task seatbelt --data clip.mp4 --label worn [--model PATH] [--json]
    dmsd evaluate --task seatbelt --data spans.csv [--root DIR] [--model PATH] [--json]
    dmsd evaluate --task eyes --data labels.csv|folder [--split valid] [--subjects A,B] [--model EYES.onnx] [--patches]
                  [--json]
    dmsd evaluate --task head-pose|yawn --data labels.csv|folder [--landmarks LANDMARKS.onnx] [--json]
    dmsd evaluate --task phone --data labels.csv|folder [--model PATH] [--json]
    dmsd evaluate --task phone --data spans.csv [--root DIR] [--model PATH] [--json]
    dmsd evaluate --task events --data clips.csv [--root DIR] [--jobs N] [--json]

Emotion: every face goes through Classifier.preprocess, exactly as a face crop does in the daemon.
Seatbelt: every image goes through the whole pipeline (face, chest region, model); images where no face is
found are counted as such, never guessed. A video is one label throughout (`--label`), and its frames are
tracked as the daemon tracks a camera's: what a fleet engineer records from their own cabin camera. Videos whose
label changes come as a span file (`path,frames,label[,person]`: dmsd.offline.datasets.load_belt_clips): every frame
is tracked, the frames inside a span are scored, and the report gives each clip and each person apart.
Phone: photos and span files of clips through the whole pipeline with phone use looked for
(dmsd.commands.evaluate_phone).
Events: annotated real clips through the whole daemon, scored (dmsd.commands.evaluate_events).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from dmsd.commands import evaluate_phone
from dmsd.commands.command import Override
from dmsd.config import Config
from dmsd.errors import DmsdError
from dmsd.frames.images import read_image
from dmsd.frames.sources import count_frames, file_frames
from dmsd.labels import EMOTION_LABELS, SEATBELT_LABELS
from dmsd.offline.datasets import (
    USAGES,
    load_belt_clips,
    load_fer2013,
    load_labeled_images,
)
from dmsd.offline.metrics import classification_report
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.seatbelt import SEATBELT


@dataclass(frozen=True)
class Task:
    """What `--task NAME` scores and what its `--data` takes, as `dmsd evaluate --help` lists it."""

    name: str
    scores: str
    data: str


TASKS = {
    task.name: task
    for task in (
        Task(
            "emotion",
            "the emotion model, every face through the daemon's own preprocessing",
            "a FER2013 .csv/.csv.gz (--usage picks a split), or a folder per class",
        ),
        Task(
            "seatbelt",
            "the whole pipeline (face, chest region, belt model); images without a face counted, not guessed",
            "labels.csv (path,label: worn or not_worn) or a folder with worn/ and not_worn/; a video of one "
            "label (with --label); or a span file of videos (path,frames,label[,person])",
        ),
        Task(
            "eyes",
            "the face mesh's eye state through the whole pipeline, and the eye-state model's",
            "labels.csv (path,eye_state[,split][,subject]) or a folder with closed/ and open/; with --patches, "
            "single eyes",
        ),
        Task(
            "head-pose",
            "the face mesh's yaw and pitch against labelled angles",
            "labels.csv (path,yaw_deg,pitch_deg)",
        ),
        Task(
            "yawn",
            "the mouth's openness against labelled yawns",
            "labels.csv (path,label: yawn or no_yawn) or a folder with yawn/ and no_yawn/",
        ),
        Task(
            "phone",
            "phone use through the whole pipeline, on photos or tracked clips",
            "labels.csv (path,phone: call, texting or none; at_ear is a call), a folder with call/, texting/ and "
            "none/, or a span file of videos (path,frames,label[,person])",
        ),
        Task(
            "events",
            "the whole daemon's events on annotated clips, on each clip's own clock (the scorecard)",
            "an annotation CSV (path,seated,expected,tolerated,no_face,notes; README 'Scoring dmsd on your own "
            "recordings')",
        ),
    )
}


def tasks_help(width: int = 78) -> str:
    """Every task in TASKS: what it scores and what its --data takes (the epilog of `dmsd evaluate --help`)."""
    indent = " " * (2 + max(len(name) for name in TASKS) + 2)
    lines = ["tasks (--task NAME --data PATH):"]
    for task in TASKS.values():
        head = f"  {task.name:<{len(indent) - 4}}  "
        lines += textwrap.wrap(task.scores, width, initial_indent=head, subsequent_indent=indent)
        lines += textwrap.wrap(f"--data: {task.data}", width, initial_indent=indent, subsequent_indent=indent + "  ")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = tasks_help()
    parser.add_argument(
        "--task", required=True, choices=list(TASKS), metavar="TASK", help="what to score: " + ", ".join(TASKS)
    )
    parser.add_argument("--data", required=True, metavar="PATH", help="the labelled set (what each task takes: below)")
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="the ONNX model (default: the configured one; eyes: the eye-state model; head-pose: the landmarks model)",
    )
    parser.add_argument(
        "--landmarks", metavar="PATH", help="eyes and head-pose: this face mesh model instead of the configured one"
    )
    parser.add_argument(
        "--patches",
        action="store_true",
        help="eyes: the images are single eyes (an eye-patch set), judged by the eye-state model alone",
    )
    parser.add_argument("--usage", choices=USAGES, help="emotion CSV: only rows of this split")
    parser.add_argument("--split", metavar="NAME", help="eyes labels.csv: only rows of this split (e.g. valid)")
    parser.add_argument(
        "--subjects",
        metavar="A,B",
        help="eyes labels.csv: only rows of these people (its subject column), e.g. those a model never saw",
    )
    parser.add_argument(
        "--label", choices=SEATBELT_LABELS, help="seatbelt, a video file as --data: the truth for every frame"
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="events and a span file: clip paths are relative to this folder (default: the CSV's folder)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="events: score this many clips at once (one process each)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def overrides(args: argparse.Namespace) -> list[Override]:
    return []  # --model and --landmarks replace a model for one run (ModelsConfig.with_path), not the config's keys


def evaluate_emotion(config: Config, data: str, model_path: str | None, usage: str | None) -> dict:
    models = config.models
    model = Classifier(
        Path(model_path) if model_path else models.resolve("emotion"),
        "emotion",
        models.intra_op_threads,
        models.inter_op_threads,
    )
    faces = load_fer2013(data, usage)
    # The model may order its labels differently from FER2013: compare by name.
    to_fer = np.array([EMOTION_LABELS.index(label) for label in model.labels])
    predicted = np.empty(len(faces), dtype=np.int64)
    for i, grey in enumerate(faces.images):
        box = Box(0, 0, grey.shape[1], grey.shape[0])
        bgr = grey if model.input.colour == "grey" else cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        predicted[i] = to_fer[model.run(model.preprocess(bgr, grey, box))[0].argmax()]
    report = classification_report(faces.labels, predicted, EMOTION_LABELS)
    report.update(
        task="emotion",
        model=str(model.path),
        precision_of_model=model.precision,
        data=str(data),
        usage=usage,
        skipped_rows=len(faces.problems),
    )
    return report


def seatbelt_analyzer(config: Config, model_path: str | None, video: bool) -> Analyzer:
    """The daemon's own pipeline (face, chest region, model), with `model_path` in place of the configured model."""
    return Analyzer.from_config(replace(config, models=config.models.with_path("seatbelt", model_path)), video=video)


@dataclass
class SeatbeltTally:
    """What the pipeline made of each image or frame: no face, no chest region, or a prediction to score."""

    images: int = 0
    no_face: int = 0
    no_region: int = 0
    truth: list[int] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def add(self, result: FrameResult, label: str) -> None:
        self.images += 1
        if result.face is None:
            self.no_face += 1
        elif (seatbelt := result.get(SEATBELT)) is None:
            self.no_region += 1
        else:
            self.truth.append(SEATBELT_LABELS.index(label))
            self.predicted.append(SEATBELT_LABELS.index("worn" if seatbelt.worn else "not_worn"))

    def summary(self) -> dict:
        """Frames labelled, judged (a face and a chest region), right; and unbelted frames read as belted."""
        truth, predicted = np.array(self.truth), np.array(self.predicted)
        worn, not_worn = SEATBELT_LABELS.index("worn"), SEATBELT_LABELS.index("not_worn")
        unbelted = truth == not_worn
        return {
            "labelled": self.images,
            "judged": len(self.truth),
            "right": int((truth == predicted).sum()),
            "right_share": round(float((truth == predicted).mean()), 4) if len(truth) else None,
            "unbelted_read_worn": int((predicted[unbelted] == worn).sum()),
            "unbelted_judged": int(unbelted.sum()),
        }

    def report(self, **about: object) -> dict:
        report = classification_report(
            np.array(self.truth, dtype=np.int64), np.array(self.predicted, dtype=np.int64), SEATBELT_LABELS
        )
        with_face = self.images - self.no_face
        report.update(
            task="seatbelt",
            **about,
            images=self.images + len(self.unreadable),
            unreadable=len(self.unreadable),
            with_face=with_face,
            face_share=round(with_face / self.images, 4) if self.images else 0.0,
            no_chest_region=self.no_region,
            unreadable_files=self.unreadable,
        )
        return report


def evaluate_seatbelt(config: Config, data: str, model_path: str | None) -> dict:
    analyzer = seatbelt_analyzer(config, model_path, video=False)
    tally = SeatbeltTally()
    for image in load_labeled_images(data):
        try:
            pixels = read_image(image.path)
        except DmsdError as exc:
            tally.unreadable.append(str(exc))
            continue
        tally.add(analyzer.analyze(pixels, str(image.path), 0.0), image.label)
    return tally.report(model=analyzer.models()["seatbelt"], data=str(data))


def evaluate_seatbelt_video(config: Config, data: str, model_path: str | None, label: str) -> dict:
    analyzer = seatbelt_analyzer(config, model_path, video=True)
    tally = SeatbeltTally()
    for frame in file_frames(config.source, data):
        tally.add(analyzer.analyze(frame.image, frame.name, frame.ts), label)
    return tally.report(model=analyzer.models()["seatbelt"], data=str(data), label=label)


def is_span_file(data: str) -> bool:
    """A CSV whose header has a frames column names videos and spans of their frames (seatbelt and phone)."""
    path = Path(data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, newline="", encoding="utf-8") as handle:
        return "frames" in next(csv.reader(handle), [])


def evaluate_seatbelt_clips(config: Config, data: str, root: str | None, model_path: str | None) -> dict:
    """Every frame of every clip tracked as a camera's; the frames inside a span scored against its label. Each clip
    and each person is reported apart, with the error a fleet must never see: an unbelted driver read as belted."""
    clips = load_belt_clips(data, root)
    for clip in clips:  # every span checked before anything runs
        clip.check_length(data, count_frames(clip.path)[0])
    tally, per_clip = SeatbeltTally(), []
    per_person: dict[str, SeatbeltTally] = {}
    model = ""
    for clip in clips:
        analyzer = seatbelt_analyzer(config, model_path, video=True)
        model = str(analyzer.models()["seatbelt"])
        own = SeatbeltTally()
        for index, frame in enumerate(file_frames(config.source, clip.path)):
            result = analyzer.analyze(frame.image, frame.name, frame.ts)
            label = clip.label_at(index)
            if label is not None:
                for counted in (tally, own, per_person.setdefault(clip.person or "-", SeatbeltTally())):
                    counted.add(result, label)
        per_clip.append({"path": clip.name, "person": clip.person, **own.summary()})
    report = tally.report(model=model, data=str(data))
    report.update(
        clips=per_clip,
        people={person: counted.summary() for person, counted in sorted(per_person.items())},
        **tally.summary(),
    )
    return report


def format_report(report: dict) -> str:
    lines = [f"{report['task']} model {report['model']} on {report['data']}"]
    if report["task"] == "seatbelt" and "clips" in report:
        lines += _span_lines(report)
    elif report["task"] == "seatbelt" and report.get("label"):
        lines.append(
            f"frames {report['images']}, all {report['label']}; face found in {report['with_face']} "
            f"({report['face_share']:.1%}), chest region out of frame {report['no_chest_region']}; "
            f"scored: {report['n']}"
        )
    elif report["task"] == "seatbelt":
        lines.append(
            f"images {report['images']}, unreadable {report['unreadable']}, face found in "
            f"{report['with_face']} ({report['face_share']:.1%}), chest region out of frame "
            f"{report['no_chest_region']}; scored: {report['n']}"
        )
    elif report["task"] == "phone":
        lines += evaluate_phone.format_lines(report)
    else:
        lines.append(f"faces {report['n']}" + (f" ({report['usage']})" if report.get("usage") else ""))
    lines.append(f"accuracy {report['accuracy']:.2%}   macro-F1 {report['macro_f1']:.4f}")
    lines.append(f"{'class':<10}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9}")
    width = max(len(label) for label in report["labels"])
    lines.append("confusion (rows: true, columns: predicted)")
    lines.append(" " * (width + 1) + " ".join(f"{label:>{width}}" for label in report["labels"]))
    for label, row in zip(report["labels"], report["confusion"], strict=True):
        lines.append(f"{label:<{width + 1}}" + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def _span_lines(report: dict) -> list[str]:
    def line(name: str, row: dict) -> str:
        share = "-" if row["right_share"] is None else f"{row['right_share']:.1%}"
        return (
            f"{name}: {row['labelled']} frames labelled, {row['judged']} judged, {row['right']} right ({share}); "
            f"unbelted read as worn {row['unbelted_read_worn']} of {row['unbelted_judged']}"
        )

    lines = [line(f"{clip['path']} ({clip['person'] or '-'})", clip) for clip in report["clips"]]
    lines += [line(f"person {person}", row) for person, row in report["people"].items()]
    lines.append(line("all clips", report))
    return lines


def run(config: Config, args: argparse.Namespace) -> int:
    if args.task != "emotion" and args.usage:
        raise DmsdError("--usage only applies to --task emotion")
    if args.task != "eyes" and args.split:
        raise DmsdError("--split only applies to --task eyes (--usage picks emotion's split)")
    if args.task != "eyes" and args.subjects:
        raise DmsdError("--subjects only applies to --task eyes")
    if args.patches and args.task != "eyes":
        raise DmsdError("--patches only applies to --task eyes")
    if args.landmarks and args.task not in ("eyes", "head-pose", "yawn"):
        raise DmsdError("--landmarks only applies to --task eyes, head-pose and yawn")
    spans = args.task in ("seatbelt", "phone") and is_span_file(args.data)
    if args.jobs != 1 and args.task != "events":
        raise DmsdError("--jobs only applies to --task events")
    if args.root and args.task != "events" and not spans:
        raise DmsdError("--root only applies to --task events and a seatbelt or phone span file (path,frames,label)")
    if args.task == "events":
        return run_events(config, args)
    if args.task in ("eyes", "head-pose", "yawn"):
        return run_measures(config, args)
    video = args.task == "seatbelt" and Path(args.data).is_file() and Path(args.data).suffix.lower() != ".csv"
    if args.label and not video:
        raise DmsdError(
            "--label only applies to --task seatbelt with a video file as --data "
            "(a labels.csv, a span file or a worn/ and not_worn/ folder carries its own labels)"
        )
    if video and not args.label:
        raise DmsdError(f"{args.data}: a video needs --label worn or --label not_worn (the truth for every frame)")
    if args.task == "emotion":
        report = evaluate_emotion(config, args.data, args.model, args.usage)
    elif args.task == "phone" and spans:
        report = evaluate_phone.evaluate_clips(config, args.data, args.root, args.model)
    elif args.task == "phone":
        report = evaluate_phone.evaluate_photos(config, args.data, args.model)
        for problem in report["unreadable_files"]:
            print(f"dmsd evaluate: {problem} (skipped)", file=sys.stderr)
    elif video:
        report = evaluate_seatbelt_video(config, args.data, args.model, args.label)
    elif spans:
        report = evaluate_seatbelt_clips(config, args.data, args.root, args.model)
    else:
        report = evaluate_seatbelt(config, args.data, args.model)
        for problem in report["unreadable_files"]:
            print(f"dmsd evaluate: {problem} (skipped)", file=sys.stderr)
    if report["n"] == 0:
        raise DmsdError(f"{args.data}: nothing to score (no faces found in any image or frame)")
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def run_measures(config: Config, args: argparse.Namespace) -> int:
    """--task eyes and head-pose: the face mesh's measures (dmsd.commands.evaluate_measures)."""
    from dmsd.commands import evaluate_measures

    if args.label:
        raise DmsdError("--label only applies to --task seatbelt")
    if args.task == "eyes":
        subjects = [name.strip() for name in args.subjects.split(",") if name.strip()] if args.subjects else None
        if args.patches:
            report = evaluate_measures.evaluate_eye_patches(config, args.data, args.split, args.model, subjects)
        else:
            report = evaluate_measures.evaluate_eyes(
                config, args.data, args.split, args.model, args.landmarks, subjects
            )
    elif args.task == "yawn":
        report = evaluate_measures.evaluate_yawns(config, args.data, args.landmarks or args.model)
    else:
        report = evaluate_measures.evaluate_head_pose(config, args.data, args.landmarks or args.model)
    for problem in report["unreadable_files"]:
        print(f"dmsd evaluate: {problem} (skipped)", file=sys.stderr)
    if report["n"] == 0:
        raise DmsdError(f"{args.data}: nothing to score (no face the mesh could measure in any image)")
    print(json.dumps(report) if args.json else evaluate_measures.format_report(report))
    return 0


def run_events(config: Config, args: argparse.Namespace) -> int:
    """--task events: the scorecard on annotated clips (dmsd.commands.evaluate_events)."""
    from dmsd.commands import evaluate_events

    if args.model or args.label:
        raise DmsdError("--model and --label do not apply to --task events (the config names the models)")
    if not 1 <= args.jobs <= 64:
        raise DmsdError(f"--jobs {args.jobs}: must be from 1 to 64")
    report = evaluate_events.evaluate_events(config, args.data, args.root, args.jobs)
    print(json.dumps(report) if args.json else evaluate_events.format_report(report))
    return 0
