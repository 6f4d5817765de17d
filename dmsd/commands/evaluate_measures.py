"""`dmsd evaluate --task eyes|head-pose`: the face mesh's measures on labelled faces, through the whole pipeline.

    dmsd evaluate --task eyes --data labels.csv|folder [--split valid] [--model LANDMARKS.onnx] [--json]
    dmsd evaluate --task head-pose --data labels.csv|folder [--model LANDMARKS.onnx] [--json]

Every image goes through the daemon's still-image path (face search, face mesh, measures); images without a face,
or whose mesh is not trusted, are counted as such and never guessed. Eyes: accuracy of `closed`, closed
precision and recall, and the accuracy at each openness threshold, so the threshold is chosen on data (choose on a
training split, report on another). Head pose: mean absolute error of yaw and pitch, and the share within 15
degrees, overall and where |yaw| <= 45 and |pitch| <= 30 (the range a frontal face detector covers).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dmsd.config import Config
from dmsd.errors import DmsdError
from dmsd.frames.images import read_image
from dmsd.offline.datasets import load_eye_states, load_head_poses
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.face_measures import EYES_CLOSED_BELOW, Eyes, HeadPose
from dmsd.vision.results import FrameResult

THRESHOLDS = sorted({round(t, 2) for t in np.arange(0.15, 0.36, 0.01)} | {EYES_CLOSED_BELOW})
POSE_RANGE = (45.0, 30.0)  # |yaw|, |pitch| a frontal face detector covers


def mesh_analyzer(config: Config, model_path: str | None) -> Analyzer:
    """The still-image pipeline with the face mesh on (and `model_path` in place of the configured mesh)."""
    landmarks = replace(config.landmarks, enabled=True, path=model_path or config.landmarks.path)
    return Analyzer.from_config(replace(config, landmarks=landmarks), video=False)


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


def evaluate_eyes(config: Config, data: str, split: str | None, model_path: str | None) -> dict:
    images = load_eye_states(data, split)
    analyzer = mesh_analyzer(config, model_path)
    results, unreadable = analyze_all(analyzer, [image.path for image in images])
    faces = sum(1 for r in results if r is not None and r.face is not None)
    measured = [
        (image.closed, r.get(Eyes) if r is not None else None) for image, r in zip(images, results, strict=True)
    ]
    scored = [(closed, eyes) for closed, eyes in measured if eyes is not None]
    truth = np.array([closed for closed, _ in scored], dtype=bool)
    openness = np.array([(eyes.left + eyes.right) / 2 for _, eyes in scored])
    said = np.array([eyes.closed for _, eyes in scored], dtype=bool)
    sweep = [
        {"threshold": t, "accuracy": round(float(((openness < t) == truth).mean()), 4) if len(truth) else 0.0}
        for t in THRESHOLDS
    ]
    true_closed = int((said & truth).sum())
    return {
        "task": "eyes",
        "model": analyzer.models()["landmarks"],
        "data": str(data),
        "split": split,
        "images": len(images),
        "unreadable": len(unreadable),
        "unreadable_files": unreadable,
        "faces": faces,
        "n": len(scored),
        "accuracy": round(float((said == truth).mean()), 4) if len(scored) else 0.0,
        "closed_precision": round(true_closed / max(int(said.sum()), 1), 4),
        "closed_recall": round(true_closed / max(int(truth.sum()), 1), 4),
        "threshold": EYES_CLOSED_BELOW,
        "thresholds": sweep,
        "best_threshold": max(sweep, key=lambda row: row["accuracy"])["threshold"],
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


def evaluate_head_pose(config: Config, data: str, model_path: str | None) -> dict:
    images = load_head_poses(data)
    analyzer = mesh_analyzer(config, model_path)
    results, unreadable = analyze_all(analyzer, [image.path for image in images])
    heads = [(image, r.get(HeadPose) if r is not None else None) for image, r in zip(images, results, strict=True)]
    rows = [(image.yaw, image.pitch, head.yaw, head.pitch) for image, head in heads if head is not None]
    in_range = [row for row in rows if abs(row[0]) <= POSE_RANGE[0] and abs(row[1]) <= POSE_RANGE[1]]
    return {
        "task": "head-pose",
        "model": analyzer.models()["landmarks"],
        "data": str(data),
        "images": len(images),
        "unreadable": len(unreadable),
        "unreadable_files": unreadable,
        "faces": sum(1 for r in results if r is not None and r.face is not None),
        **pose_errors(rows),
        "in_range": {"max_abs_yaw_deg": POSE_RANGE[0], "max_abs_pitch_deg": POSE_RANGE[1], **pose_errors(in_range)},
    }


def format_report(report: dict) -> str:
    lines = [
        f"{report['task']} with {report['model']} on {report['data']}"
        + (f" (split {report['split']})" if report.get("split") else "")
    ]
    lines.append(
        f"images {report['images']}, unreadable {report['unreadable']}, face found in {report['faces']}, "
        f"measured: {report['n']}"
    )
    if report["task"] == "eyes":
        lines.append(
            f"accuracy {report['accuracy']:.2%} at openness < {report['threshold']}   closed precision "
            f"{report['closed_precision']:.3f}, recall {report['closed_recall']:.3f}"
        )
        lines.append(
            "accuracy by threshold: "
            + ", ".join(f"{row['threshold']:.2f} {row['accuracy']:.1%}" for row in report["thresholds"])
        )
        lines.append(f"best threshold here: {report['best_threshold']:.2f} (choose on one split, report on another)")
        return "\n".join(lines)
    for name, part in (("all faces", report), ("|yaw| <= 45, |pitch| <= 30", report["in_range"])):
        if part["n"]:
            lines.append(
                f"{name}: {part['n']} faces, mean error yaw {part['mae_yaw_deg']:.1f} deg, pitch "
                f"{part['mae_pitch_deg']:.1f} deg; both within 15 deg: {part['within_15_deg']:.1%}"
            )
    return "\n".join(lines)
