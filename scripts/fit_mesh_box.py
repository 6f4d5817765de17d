"""Fit the map from a face mesh to the face box the cascade would give (dmsd.vision.face_mesh.BOX_MAP).

    .venv/bin/python -m scripts.fit_mesh_box [--json]

The emotion model and the chest rule were built on the Haar cascade's boxes, so when the mesh tracks the face, the
box it hands them must be the cascade's. Pairs of (mesh, cascade box) come from the runtime's still-image search
and landmark model on person_crops' train split and Pointing'04 (../shared/data); a ridge regression maps 14 anchor
points (relative to the mesh's centre, in mesh heights) to the box's centre offset and side. The bundled clip is
held out: its median IoU with the cascade's boxes is reported, beside the plain rule (the mesh's bounding box).
Prints the coefficients to paste into BOX_MAP.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np

from dmsd.commands.bench import load_frames
from dmsd.config import Config, DetectorConfig
from dmsd.vision.detectors.haar import HaarFaceDetector
from dmsd.vision.face_finder import SearchEveryFrame
from dmsd.vision.face_mesh import ANCHORS, box_from_mesh, mesh_features
from dmsd.vision.geometry import Box, iou
from dmsd.vision.landmarks import LandmarkModel

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
RIDGE = 1e-2


def pairs(images: list[np.ndarray]) -> list[tuple[np.ndarray, Box]]:
    model = LandmarkModel(ROOT / "models" / "landmarks.fp32.onnx")
    faces = SearchEveryFrame(HaarFaceDetector(DetectorConfig()))
    found = []
    for image in images:
        face = faces.find(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        if face is not None:
            mesh = model.predict(image, face)
            if mesh.presence >= 0.5:
                found.append((mesh.points[:, :2], face))
    return found


def training_images() -> list[np.ndarray]:
    images = []
    with open(SHARED / "seatbelt" / "person_crops" / "labels.csv", newline="", encoding="utf-8") as handle:
        images += [
            cv2.imread(str(SHARED / "seatbelt" / "person_crops" / row["path"]))
            for row in csv.DictReader(handle)
            if row["split"] == "train"
        ]
    with open(SHARED / "head_pose" / "labels.csv", newline="", encoding="utf-8") as handle:
        images += [cv2.imread(str(SHARED / "head_pose" / row["path"])) for row in csv.DictReader(handle)]
    return images


def clip_images() -> list[np.ndarray]:
    return load_frames(Config(), str(ROOT / "samples" / "incabin_belted_driver.mp4"), None, None)[0]


def fit(found: list[tuple[np.ndarray, Box]]) -> np.ndarray:
    features, targets = [], []
    for points, box in found:
        row, cx, cy, height = mesh_features(points)
        features.append(row)
        targets.append(((box.x + box.w / 2 - cx) / height, (box.y + box.h / 2 - cy) / height, box.w / height))
    x, y = np.array(features), np.array(targets)
    return np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)


def plain_box(points: np.ndarray) -> Box:
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    side = y1 - y0
    return Box(round((x0 + x1 - side) / 2), round((y0 + y1) / 2 - 0.07 * side - side / 2), round(side), round(side))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train = pairs(training_images())
    coefficients = fit(train)
    held_out = pairs(clip_images())
    report = {
        "training_pairs": len(train),
        "clip_pairs": len(held_out),
        "anchors": list(ANCHORS),
        "clip_iou_p50": round(float(np.median([iou(box_from_mesh(p, coefficients), b) for p, b in held_out])), 3),
        "clip_iou_p50_plain": round(float(np.median([iou(plain_box(p), b) for p, b in held_out])), 3),
        "coefficients": np.round(coefficients, 4).tolist(),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
