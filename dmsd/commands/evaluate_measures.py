"""`dmsd evaluate --task eyes|head-pose|yawn`: the face measures on labelled faces, through the whole pipeline.

    dmsd evaluate --task eyes --data labels.csv|folder [--split valid] [--model EYES.onnx] [--patches] [--json]
    dmsd evaluate --task head-pose --data labels.csv|folder [--landmarks LANDMARKS.onnx] [--json]
    dmsd evaluate --task yawn --data labels.csv|folder [--landmarks LANDMARKS.onnx] [--json]

Every image goes through the daemon's still-image path (face search, face mesh, measures); images without a face,
or whose mesh is not trusted, are counted as such and never guessed. Eyes: the eye-state model's accuracy, closed
precision and recall beside the eye aspect ratio's, and the aspect ratio's accuracy at each openness threshold, so
a threshold is chosen on data (choose on a training split, report on another); `--patches` takes single-eye
images, for the model alone. Yawns: the mouth's openness threshold's recall and false alarms, and a sweep. Head
pose: mean absolute error of yaw and pitch, and the share within 15 degrees, overall and where |yaw| <= 45 and
|pitch| <= 30 (the range a frontal face detector covers).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.driver.eye_closure import EyeVerdict, still_verdict
from dmsd.errors import DmsdError
from dmsd.frames.images import read_image
from dmsd.offline.datasets import load_eye_states, load_head_poses, load_yawns
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.classifier import Classifier
from dmsd.vision.eye_patches import stretch
from dmsd.vision.face_measures import Eyes
from dmsd.vision.results import FrameResult, Product
from dmsd.vision.stages.mesh import BLENDSHAPES, EYES, HEAD, MOUTH

M = TypeVar("M")

THRESHOLDS = [round(t, 2) for t in np.arange(0.15, 0.36, 0.01)]
BLINK_THRESHOLDS = [round(t, 2) for t in np.arange(0.2, 0.75, 0.05)]
EYE_RULES = ("blink_and_model", "blink", "model", "ratio")
POSE_RANGE = (45.0, 30.0)  # |yaw|, |pitch| a frontal face detector covers


def mesh_analyzer(config: Config, landmarks_path: str | None, eye_model_path: str | None = None) -> Analyzer:
    """The still-image pipeline with the face mesh on (`landmarks_path` in place of the configured mesh, and
    `eye_model_path` in place of the configured eye-state model)."""
    landmarks = replace(config.landmarks, enabled=True, path=landmarks_path or config.landmarks.path)
    models = config.models.with_path("eyes", eye_model_path)
    return Analyzer.from_config(replace(config, landmarks=landmarks, models=models), video=False)


def analyze_all(analyzer: Analyzer, paths: list[Path]) -> tuple[list[FrameResult | None], list[str]]:
    """The pipeline's result for each readable image (None where unreadable), and one line per unreadable one."""
    results: list[FrameResult | None] = []
    unreadable: list[str] = []
    for path in paths:
        try:
            results.append(analyzer.analyze(read_image(path), str(path), 0.0))
        except DmsdError as exc:
            results.append(None)
            unreadable.append(str(exc))
    return results, unreadable


def report_head(task: str, analyzer: Analyzer, data: str, images: list, results: list, unreadable: list) -> dict:
    """What every measure's report begins with: the task, the mesh, the data, and what became of the images."""
    return {
        "task": task,
        "model": analyzer.models()["landmarks"],
        "data": str(data),
        "images": len(images),
        "unreadable": len(unreadable),
        "unreadable_files": unreadable,
        "faces": sum(1 for r in results if r is not None and r.face is not None),
    }


def verdicts(truth: np.ndarray, said: np.ndarray) -> dict:
    """Accuracy and closed precision and recall of `said` (closed: True) against `truth`."""
    true_closed = int((said & truth).sum())
    return {
        "accuracy": round(float((said == truth).mean()), 4) if len(truth) else 0.0,
        "closed_precision": round(true_closed / max(int(said.sum()), 1), 4),
        "closed_recall": round(true_closed / max(int(truth.sum()), 1), 4),
    }


def with_shapes(
    labels: list[bool], results: list[FrameResult | None], product: Product[M]
) -> list[tuple[bool, M, FaceShapes | None]]:
    """(label, the measure `product`, the blendshapes) of every image where that measure was taken."""
    out: list[tuple[bool, M, FaceShapes | None]] = []
    for label, result in zip(labels, results, strict=True):
        measure = result.get(product) if result is not None else None
        if result is not None and measure is not None:
            out.append((label, measure, result.get(BLENDSHAPES)))
    return out


def rule_verdicts(config: Config, scored: list[tuple[bool, Eyes, FaceShapes | None]], rule: str) -> dict:
    """One eye rule's still verdicts (dmsd.driver.eye_closure) against the labels: how many faces it judged (the
    rest are unseen or beyond it), and its accuracy, closed precision and recall on those."""
    rules = replace(config.eyes, rule=rule)
    said = [still_verdict(eyes, shapes, rules) for _, eyes, shapes in scored]
    judged = [(closed, verdict) for (closed, _, _), verdict in zip(scored, said, strict=True) if verdict is not None]
    seen = [(closed, verdict) for closed, verdict in judged if verdict is not EyeVerdict.UNSEEN]
    truth = np.array([closed for closed, _ in seen], dtype=bool)
    closed = np.array([verdict is EyeVerdict.CLOSED for _, verdict in seen], dtype=bool)
    return {"rule": rule, "judged": len(seen), "unseen": len(judged) - len(seen), **verdicts(truth, closed)}


def evaluate_eyes(
    config: Config,
    data: str,
    split: str | None,
    eye_model_path: str | None,
    landmarks_path: str | None = None,
    subjects: list[str] | None = None,
) -> dict:
    """Faces through the whole still-image pipeline: each eye rule's still verdict (the configured one first), the
    aspect ratio and the blink score at each threshold of a sweep, on the faces whose eyes were measured."""
    images = load_eye_states(data, split, subjects)
    analyzer = mesh_analyzer(config, landmarks_path, eye_model_path)
    results, unreadable = analyze_all(analyzer, [image.path for image in images])
    scored = with_shapes([image.closed for image in images], results, EYES)
    truth = np.array([closed for closed, _, _ in scored], dtype=bool)
    openness = np.array([eyes.ratio for _, eyes, _ in scored])
    ratio_sweep = [
        {"threshold": t, "accuracy": round(float(((openness < t) == truth).mean()), 4) if len(truth) else 0.0}
        for t in THRESHOLDS
    ]
    blink = np.array([shapes.blink if shapes is not None else np.nan for _, _, shapes in scored])
    has_blink = ~np.isnan(blink)
    blink_sweep = (
        [
            {"threshold": t, "accuracy": round(float(((blink[has_blink] >= t) == truth[has_blink]).mean()), 4)}
            for t in BLINK_THRESHOLDS
        ]
        if has_blink.any()
        else []
    )
    order = [config.eyes.rule] + [rule for rule in EYE_RULES if rule != config.eyes.rule]
    models = analyzer.models()
    return {
        **report_head("eyes", analyzer, data, images, results, unreadable),
        "split": split,
        "n": len(scored),
        "judged_share": round(len(scored) / max(len(images) - len(unreadable), 1), 4),
        "eye_model": models.get("eyes"),
        "blendshapes": models.get("blendshapes"),
        "rules": [rule_verdicts(config, scored, rule) for rule in order],
        "ratio_thresholds": ratio_sweep,
        "blink_thresholds": blink_sweep,
    }


def evaluate_eye_patches(
    config: Config, data: str, split: str | None, eye_model_path: str | None, subjects: list[str] | None = None
) -> dict:
    """Eye images (one eye each, as eye-patch sets come): the eye-state model alone, each image resized to its
    input. No face search and no aspect ratio: there is no face."""
    images = load_eye_states(data, split, subjects)
    models = config.models
    path = Path(eye_model_path) if eye_model_path else models.resolve("eyes")
    model = Classifier(path, "eyes", models.intra_op_threads, models.inter_op_threads)
    side = model.input.width
    patches, truth, unreadable = [], [], []
    for image in images:
        try:
            grey = cv2.cvtColor(read_image(image.path), cv2.COLOR_BGR2GRAY)
        except DmsdError as exc:
            unreadable.append(str(exc))
            continue
        interpolation = cv2.INTER_AREA if grey.shape[0] > side else cv2.INTER_LINEAR
        patches.append(stretch(cv2.resize(grey, (side, side), interpolation=interpolation)))
        truth.append(image.closed)
    closed_column = model.labels.index("closed")
    p_closed = (
        np.concatenate(
            [
                model.run(model.prepare_patches(np.stack(patches[i : i + 256])))[:, closed_column]
                for i in range(0, len(patches), 256)
            ]
        )
        if patches
        else np.zeros(0)
    )
    said = p_closed >= config.eyes.closed_above
    return {
        "task": "eyes",
        "patches": True,
        "model": str(path),
        "data": str(data),
        "split": split,
        "subjects": subjects,
        "images": len(images),
        "unreadable": len(unreadable),
        "unreadable_files": unreadable,
        "n": len(patches),
        **verdicts(np.array(truth, dtype=bool), said),
    }


def pose_errors(rows: list[tuple[float, float, float, float]]) -> dict:
    """Mean absolute errors and the share with both angles within 15 degrees, of (yaw, pitch, yaw', pitch') rows."""
    if not rows:
        return {"n": 0, "mae_yaw_deg": None, "mae_pitch_deg": None, "within_15_deg": None}
    errors = np.abs(np.array([(y - yt, p - pt) for yt, pt, y, p in rows]))
    return {
        "n": len(rows),
        "mae_yaw_deg": round(float(errors[:, 0].mean()), 2),
        "mae_pitch_deg": round(float(errors[:, 1].mean()), 2),
        "within_15_deg": round(float((errors.max(axis=1) <= 15).mean()), 4),
    }


def evaluate_head_pose(config: Config, data: str, landmarks_path: str | None) -> dict:
    images = load_head_poses(data)
    analyzer = mesh_analyzer(config, landmarks_path)
    results, unreadable = analyze_all(analyzer, [image.path for image in images])
    heads = [(image, r.get(HEAD) if r is not None else None) for image, r in zip(images, results, strict=True)]
    rows = [(image.yaw, image.pitch, head.yaw, head.pitch) for image, head in heads if head is not None]
    in_range = [row for row in rows if abs(row[0]) <= POSE_RANGE[0] and abs(row[1]) <= POSE_RANGE[1]]
    return {
        **report_head("head-pose", analyzer, data, images, results, unreadable),
        **pose_errors(rows),
        "in_range": {"max_abs_yaw_deg": POSE_RANGE[0], "max_abs_pitch_deg": POSE_RANGE[1], **pose_errors(in_range)},
    }


def format_report(report: dict) -> str:
    lines = [
        f"{report['task']} with {report['model']} on {report['data']}"
        + (f" (split {report['split']})" if report.get("split") else "")
        + (f" (subjects {', '.join(report['subjects'])})" if report.get("subjects") else "")
    ]
    if report.get("patches"):
        lines.append(f"eye images {report['images']}, unreadable {report['unreadable']}, judged: {report['n']}")
        lines.append(
            f"eye-state model: accuracy {report['accuracy']:.2%}   closed precision {report['closed_precision']:.3f}, "
            f"recall {report['closed_recall']:.3f}"
        )
        return "\n".join(lines)
    lines.append(
        f"images {report['images']}, unreadable {report['unreadable']}, face found in {report['faces']}, "
        f"measured: {report['n']}"
    )
    if report["task"] == "yawn":
        others = report["n"] - report["yawns"]
        parts = [("lips' openness", "openness", report["lips"])]
        if report["jaw"] is not None:
            smile = report["jaw"]["smile_below"]
            parts.insert(0, (f"jaw rule (smile < {smile})", "jaw_open", report["jaw"]))
        for name, measure, part in parts:
            lines.append(
                f"{name} at {measure} >= {part['threshold']}: yawns caught {part['recall']:.1%} of {report['yawns']}, "
                f"false alarms {part['false_alarms']:.1%} of {others}"
            )
            lines.append(
                "  by threshold (caught / false alarms): "
                + ", ".join(
                    f"{r['threshold']:.2f} {r['recall']:.0%}/{r['false_alarms']:.0%}" for r in part["thresholds"]
                )
            )
        return "\n".join(lines)
    if report["task"] == "eyes":
        lines[1] += f" ({report['judged_share']:.1%} of the readable images)"
        for i, part in enumerate(report["rules"]):
            lines.append(
                f"rule {part['rule']}{' (configured)' if i == 0 else ''}: accuracy {part['accuracy']:.2%} on "
                f"{part['judged']} judged, {part['unseen']} unseen   closed precision {part['closed_precision']:.3f}, "
                f"recall {part['closed_recall']:.3f}"
            )
        lines.append(
            "aspect ratio alone, accuracy by threshold: "
            + ", ".join(f"{row['threshold']:.2f} {row['accuracy']:.1%}" for row in report["ratio_thresholds"])
        )
        if report["blink_thresholds"]:
            lines.append(
                "blink score alone, accuracy by threshold: "
                + ", ".join(f"{row['threshold']:.2f} {row['accuracy']:.1%}" for row in report["blink_thresholds"])
            )
        lines.append("choose thresholds on one split, report on another")
        return "\n".join(lines)
    for name, part in (("all faces", report), ("|yaw| <= 45, |pitch| <= 30", report["in_range"])):
        if part["n"]:
            lines.append(
                f"{name}: {part['n']} faces, mean error yaw {part['mae_yaw_deg']:.1f} deg, pitch "
                f"{part['mae_pitch_deg']:.1f} deg; both within 15 deg: {part['within_15_deg']:.1%}"
            )
    return "\n".join(lines)


YAWN_THRESHOLDS = [round(t, 2) for t in np.arange(0.2, 0.85, 0.05)]  # swept for the lips and the jaw alike


def evaluate_yawns(config: Config, data: str, landmarks_path: str | None) -> dict:
    """Faces labelled yawn/no_yawn through the still-image pipeline, each frame as the yawn rule sees it
    (dmsd.driver.alertness): the jaw rule (the blendshapes' jaw opening at `alertness.yawn_jaw_open`, without a
    smile past `yawn_smile_below`) and the lips' openness at `alertness.yawn_openness`, each with a sweep: the share of
    yawns it catches (recall) and of other faces it calls a yawn (false alarms). A still has no duration:
    `alertness.yawn_s` is not tested here."""
    images = load_yawns(data)
    analyzer = mesh_analyzer(config, landmarks_path)
    results, unreadable = analyze_all(analyzer, [image.path for image in images])
    measured = with_shapes([image.yawn for image in images], results, MOUTH)
    truth = np.array([yawn for yawn, _, _ in measured], dtype=bool)
    openness = np.array([mouth.openness for _, mouth, _ in measured])
    a = config.alertness

    def rates(said: np.ndarray, threshold: float) -> dict:
        return {
            "threshold": threshold,
            "recall": round(float(said[truth].mean()), 4) if truth.any() else None,
            "false_alarms": round(float(said[~truth].mean()), 4) if (~truth).any() else None,
        }

    def best(sweep: list[dict]) -> float | None:
        balanced = [((row["recall"] or 0) + 1 - (row["false_alarms"] or 0)) / 2 for row in sweep]
        return sweep[int(np.argmax(balanced))]["threshold"] if sweep else None

    lips_sweep = [rates(openness >= t, t) for t in YAWN_THRESHOLDS]
    jaw = None
    if measured and all(shapes is not None for _, _, shapes in measured):
        jaw_open = np.array([shapes.jaw_open for _, _, shapes in measured if shapes is not None])
        smile = np.array([shapes.smile for _, _, shapes in measured if shapes is not None])
        unsmiling = smile < a.yawn_smile_below
        jaw_sweep = [rates((jaw_open >= t) & unsmiling, t) for t in YAWN_THRESHOLDS]
        jaw = {
            **rates((jaw_open >= a.yawn_jaw_open) & unsmiling, a.yawn_jaw_open),
            "smile_below": a.yawn_smile_below,
            "thresholds": jaw_sweep,
            "best_threshold": best(jaw_sweep),
        }
    return {
        **report_head("yawn", analyzer, data, images, results, unreadable),
        "n": len(measured),
        "yawns": int(truth.sum()),
        "jaw": jaw,
        "lips": {
            **rates(openness >= a.yawn_openness, a.yawn_openness),
            "thresholds": lips_sweep,
            "best_threshold": best(lips_sweep),
        },
    }
