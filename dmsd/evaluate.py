"""`dmsd evaluate`: accuracy of a model on a labeled set, through the daemon's own code path.

    dmsd evaluate --task emotion --data fer2013.csv.gz --usage PublicTest [--model PATH] [--json]
    dmsd evaluate --task seatbelt --data labels.csv|folder [--model PATH] [--json]
    dmsd evaluate --task seatbelt --data clip.mp4 --label worn [--model PATH] [--json]

Emotion: every face goes through Classifier.preprocess, exactly as a face crop does in the daemon.
Seatbelt: every image goes through the whole pipeline (face, chest region, model); images where no face is
found are counted as such, never guessed. A video is one label throughout (`--label`), and its frames are
tracked as the daemon tracks a camera's: what a fleet engineer records from their own cabin camera.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.datasets import LABELS, SEATBELT_LABELS, USAGES, load_fer2013, load_labeled_images
from dmsd.errors import DmsdError
from dmsd.geometry import Box
from dmsd.images import read_image
from dmsd.metrics import classification_report
from dmsd.models import Classifier


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=["emotion", "seatbelt"])
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="emotion: FER2013 .csv/.csv.gz or folder per class; seatbelt: labels.csv or a folder "
                             "with worn/ and not_worn/")
    parser.add_argument("--model", metavar="PATH", help="the ONNX model (default: the configured one)")
    parser.add_argument("--usage", choices=USAGES, help="emotion CSV: only rows of this split")
    parser.add_argument("--label", choices=SEATBELT_LABELS,
                        help="seatbelt, a video file as --data: the truth for every frame")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def evaluate_emotion(config: Config, data: str, model_path: str | None, usage: str | None) -> dict:
    models = config.models
    model = Classifier(Path(model_path) if model_path else models.resolve("emotion"), "emotion",
                       models.intra_op_threads, models.inter_op_threads)
    faces = load_fer2013(data, usage)
    # The model may order its labels differently from FER2013: compare by name.
    to_fer = np.array([LABELS.index(label) for label in model.labels])
    predicted = np.empty(len(faces), dtype=np.int64)
    for i, grey in enumerate(faces.images):
        box = Box(0, 0, grey.shape[1], grey.shape[0])
        bgr = grey if model.input.colour == "grey" else cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        predicted[i] = to_fer[model.run(model.preprocess(bgr, grey, box))[0].argmax()]
    report = classification_report(faces.labels, predicted, LABELS)
    report.update(task="emotion", model=str(model.path), precision_of_model=model.precision, data=str(data),
                  usage=usage, skipped_rows=len(faces.problems))
    return report


def evaluate_seatbelt(config: Config, data: str, model_path: str | None) -> dict:
    from dmsd.pipeline import Analyzer

    if model_path:
        config = replace(config, models=replace(config.models, seatbelt=replace(config.models.seatbelt,
                                                                                 path=model_path)))
    analyzer = Analyzer.from_config(config, video=False)
    images = load_labeled_images(data)
    truth, predicted, unreadable, no_face, no_region = [], [], [], 0, 0
    for image in images:
        try:
            pixels = read_image(image.path)
        except DmsdError as exc:
            unreadable.append(str(exc))
            continue
        result = analyzer.analyze(pixels, str(image.path), 0.0)
        if result.face is None:
            no_face += 1
        elif result.seatbelt is None:
            no_region += 1
        else:
            truth.append(SEATBELT_LABELS.index(image.label))
            predicted.append(SEATBELT_LABELS.index("worn" if result.seatbelt.worn else "not_worn"))
    report = classification_report(np.array(truth, dtype=np.int64), np.array(predicted, dtype=np.int64),
                                   SEATBELT_LABELS)
    read = len(images) - len(unreadable)
    report.update(task="seatbelt", model=str(analyzer.seatbelt.path), data=str(data), images=len(images),
                  unreadable=len(unreadable), with_face=read - no_face,
                  face_share=round((read - no_face) / read, 4) if read else 0.0,
                  no_chest_region=no_region, unreadable_files=unreadable)
    return report


def evaluate_seatbelt_video(config: Config, data: str, model_path: str | None, label: str) -> dict:
    from dmsd.pipeline import Analyzer
    from dmsd.sources import EndOfSource, VideoFileSource

    if model_path:
        config = replace(config, models=replace(config.models, seatbelt=replace(config.models.seatbelt,
                                                                                 path=model_path)))
    analyzer = Analyzer.from_config(config, video=True)
    source = VideoFileSource(data, replace(config.source, uri=data, realtime=False, loop=False))
    source.open()
    frames, no_face, no_region, predicted = 0, 0, 0, []
    try:
        while True:
            try:
                frame = source.read(1.0)
            except EndOfSource:
                break
            frames += 1
            result = analyzer.analyze(frame.image, frame.name, frame.ts)
            if result.face is None:
                no_face += 1
            elif result.seatbelt is None:
                no_region += 1
            else:
                predicted.append(SEATBELT_LABELS.index("worn" if result.seatbelt.worn else "not_worn"))
    finally:
        source.close()
    truth = np.full(len(predicted), SEATBELT_LABELS.index(label), dtype=np.int64)
    report = classification_report(truth, np.array(predicted, dtype=np.int64), SEATBELT_LABELS)
    report.update(task="seatbelt", model=str(analyzer.seatbelt.path), data=str(data), label=label, images=frames,
                  unreadable=0, with_face=frames - no_face, face_share=round((frames - no_face) / frames, 4),
                  no_chest_region=no_region, unreadable_files=[])
    return report


def format_report(report: dict) -> str:
    lines = [f"{report['task']} model {report['model']} on {report['data']}"]
    if report["task"] == "seatbelt" and report.get("label"):
        lines.append(f"frames {report['images']}, all {report['label']}; face found in {report['with_face']} "
                     f"({report['face_share']:.1%}), chest region out of frame {report['no_chest_region']}; "
                     f"scored: {report['n']}")
    elif report["task"] == "seatbelt":
        lines.append(f"images {report['images']}, unreadable {report['unreadable']}, face found in "
                     f"{report['with_face']} ({report['face_share']:.1%}), chest region out of frame "
                     f"{report['no_chest_region']}; scored: {report['n']}")
    else:
        lines.append(f"faces {report['n']}" + (f" ({report['usage']})" if report.get("usage") else ""))
    lines.append(f"accuracy {report['accuracy']:.2%}   macro-F1 {report['macro_f1']:.4f}")
    lines.append(f"{'class':<10}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9}")
    width = max(len(label) for label in report["labels"])
    lines.append("confusion (rows: true, columns: predicted)")
    lines.append(" " * (width + 1) + " ".join(f"{label:>{width}}" for label in report["labels"]))
    for label, row in zip(report["labels"], report["confusion"]):
        lines.append(f"{label:<{width + 1}}" + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def run(config: Config, args: argparse.Namespace) -> int:
    if args.task == "seatbelt" and args.usage:
        raise DmsdError("--usage only applies to --task emotion")
    video = args.task == "seatbelt" and Path(args.data).is_file() and Path(args.data).suffix.lower() != ".csv"
    if args.label and not video:
        raise DmsdError("--label only applies to --task seatbelt with a video file as --data "
                        "(a labels.csv or a worn/ and not_worn/ folder carries its own labels)")
    if video and not args.label:
        raise DmsdError(f"{args.data}: a video needs --label worn or --label not_worn (the truth for every frame)")
    if args.task == "emotion":
        report = evaluate_emotion(config, args.data, args.model, args.usage)
    elif video:
        report = evaluate_seatbelt_video(config, args.data, args.model, args.label)
    else:
        report = evaluate_seatbelt(config, args.data, args.model)
        for problem in report["unreadable_files"]:
            print(f"dmsd evaluate: {problem} (skipped)", file=sys.stderr)
    if report["n"] == 0:
        raise DmsdError(f"{args.data}: nothing to score (no faces found in any image)")
    print(json.dumps(report) if args.json else format_report(report))
    return 0
