"""MediaPipe's BlazeFace short-range face detector as a face detector plugin (`detector.type: blazeface`).

The model (models/blazeface.fp32.onnx, made by `python -m convert.blazeface`) takes a 128x128 RGB square and gives,
for each of 896 SSD anchors, a face-score logit and 16 numbers: the box's centre offset and size, and six keypoints
(eyes, nose tip, mouth, ears), in input pixels from the anchor's centre. The frame is letterboxed into that square
(aspect kept, black bars, as MediaPipe does); the anchors are laid out as MediaPipe's SsdAnchorsCalculator lays them
out from the options in the model's `dmsd.detector` metadata; scores pass a sigmoid and `detector.blazeface.min_score`;
overlapping boxes are blended, weighted by score, as MediaPipe's weighted non-max suppression does.

BlazeFace's boxes are tight around the eyes, nose and mouth. The rest of the pipeline (the face mesh's crop, the chest
region, the emotion model's input) was built on the Haar cascade's larger boxes, which reach higher up the head, so
each box is mapped to the box Haar gives the same face (HAAR_LIKE, fitted by scripts/fit_blazeface_box.py).

`detect_near` runs the model on a square around the known face, grown by the margin: the face then fills much of the
input, so a face too small to be found in the whole letterboxed frame is found there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import DetectorConfig, ModelsConfig, option
from dmsd.errors import DmsdError
from dmsd.vision.classifier import InputSpec, open_session
from dmsd.vision.detectors import register, settings_of
from dmsd.vision.detectors.base import FaceDetector
from dmsd.vision.geometry import Box


@dataclass(frozen=True)
class BoxMap:
    """From a BlazeFace detection to a square box: centred `dx` right of the eyes' midpoint and `dy` below the
    box's centre, its side `scale` times the box's size (the mean of its width and height; dx and dy in that size
    too). Horizontally the eyes, not the box, say where Haar centres a face: on a turned head BlazeFace's box
    swings out with the nose and chin while Haar's stays on the eyes (the bundled clip's driver, 33 degrees of yaw:
    mean IoU with Haar 0.61 from the box's centre, 0.86 from the eyes)."""

    dx: float
    dy: float
    scale: float


# BlazeFace detection -> the box the Haar plugin gives the same face. Fitted by `python -m scripts.fit_blazeface_box`
# (medians over 243 frames where both find one face: the bundled clip, YawDD's in-car frames, the near-infrared
# clips): mean IoU with Haar's boxes 0.605 for BlazeFace's own boxes, 0.772 for these (the clip 0.594 -> 0.863).
HAAR_LIKE = BoxMap(dx=-0.0008, dy=-0.1013, scale=1.1344)
# MediaPipe's own overlap for blending boxes of one face (face_detector_graph's default min_suppression_threshold),
# where a model's dmsd.detector names no "nms".
NMS_IOU = 0.3
# Raw scores are clipped to this before the sigmoid, as MediaPipe does (score_clipping_thresh).
SCORE_CLIP = 100.0


@dataclass(frozen=True)
class Detection:
    """One detection in frame pixels, as the model gives it: box (x0, y0, x1, y1, floats), score (0-1), keypoints
    (K x 2; BlazeFace's 6: the eyes, nose tip, mouth centre and the ear tragions, as MediaPipe orders them)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


@dataclass(frozen=True)
class Square:
    """Where a square region of the frame went in the model's input: input = (frame - origin) * scale."""

    origin_x: float
    origin_y: float
    scale: float

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        return xy / self.scale + np.array([self.origin_x, self.origin_y], np.float32)


def ssd_anchors(options: dict) -> np.ndarray:
    """Anchor centres and sizes (N x 4: x, y, w, h, relative to the input) as MediaPipe's SsdAnchorsCalculator
    makes them: consecutive layers of one stride share a feature map, each cell of it holding every anchor of
    those layers (one per aspect ratio, plus one at the interpolated scale)."""
    strides = [int(s) for s in options["strides"]]
    layers, min_scale, max_scale = int(options["num_layers"]), options["min_scale"], options["max_scale"]
    ratios = [float(r) for r in options.get("aspect_ratios", [1.0])]
    interpolated = float(options.get("interpolated_scale_aspect_ratio", 1.0))
    width, height = int(options["input_size_width"]), int(options["input_size_height"])
    offset_x, offset_y = float(options.get("anchor_offset_x", 0.5)), float(options.get("anchor_offset_y", 0.5))
    if options.get("reduce_boxes_in_lowest_layer") or len(strides) != layers:
        raise DmsdError("dmsd.detector: reduce_boxes_in_lowest_layer and strides other than one a layer are not read")

    def scale_of(layer: int) -> float:
        if layers == 1:
            return (min_scale + max_scale) / 2
        return min_scale + (max_scale - min_scale) * layer / (layers - 1)

    anchors: list[np.ndarray] = []
    layer = 0
    while layer < layers:
        sizes: list[tuple[float, float]] = []  # (w, h) of each anchor in a cell
        last = layer
        while last < layers and strides[last] == strides[layer]:
            scale = scale_of(last)
            sizes += [(scale * np.sqrt(r), scale / np.sqrt(r)) for r in ratios]
            if interpolated > 0:
                between = np.sqrt(scale * (1.0 if last == layers - 1 else scale_of(last + 1)))
                sizes.append((between * np.sqrt(interpolated), between / np.sqrt(interpolated)))
            last += 1
        cols, rows = int(np.ceil(width / strides[layer])), int(np.ceil(height / strides[layer]))
        ys, xs = np.meshgrid((np.arange(rows) + offset_y) / rows, (np.arange(cols) + offset_x) / cols, indexing="ij")
        for_cell = np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), len(sizes), axis=0)
        wh = np.tile(np.array(sizes), (rows * cols, 1))
        if options.get("fixed_anchor_size", False):
            wh = np.ones_like(wh)
        anchors.append(np.concatenate([for_cell, wh], axis=1))
        layer = last
    return np.concatenate(anchors).astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, threshold: float) -> list[Detection]:
    """MediaPipe's weighted non-max suppression: the best box takes every box overlapping it by more than
    `threshold` (IoU), itself included, and becomes their score-weighted mean (keypoints too), keeping its own
    score; then the best of the rest, until none is left."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    left = np.arange(len(scores))
    found: list[Detection] = []
    while len(left):
        top = boxes[left[0]]
        x0, y0 = np.maximum(boxes[left, 0], top[0]), np.maximum(boxes[left, 1], top[1])
        x1, y1 = np.minimum(boxes[left, 2], top[2]), np.minimum(boxes[left, 3], top[3])
        inter = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
        union = areas[left] + areas[left[0]] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        group = left[overlap > threshold]
        if not len(group):  # a degenerate top box overlaps nothing, not even itself
            group = left[:1]
        weights = scores[group] / scores[group].sum()
        found.append(
            Detection(
                (boxes[group] * weights[:, None]).sum(axis=0),
                float(scores[left[0]]),
                (keypoints[group] * weights[:, None, None]).sum(axis=0),
            )
        )
        left = left[~np.isin(left, group)]
    return found


class SsdModel:
    """A MediaPipe SSD detector (BlazeFace, the palm detector) on ONNX Runtime: the model, its `dmsd.input` and
    `dmsd.detector` metadata, the input for a square of the frame, the raw outputs and their decoding. `key` names
    the file's config key or role in error messages; `command` the converter that makes the file."""

    min_score: float

    def __init__(self, path: Path, threads: int, task: str, key: str, what: str, command: str):
        self.path = path
        if not self.path.is_file():
            raise DmsdError(f"{key}: {self.path}: no such model file ({command} makes it)")
        self.session = open_session(self.path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("dmsd.task") != task or "dmsd.input" not in meta or "dmsd.detector" not in meta:
            raise DmsdError(
                f"{key}: {self.path}: not {what} with the dmsd metadata (dmsd.task {task}, dmsd.input, dmsd.detector; "
                "see models/README.md, 'Model contract')"
            )
        self.input = InputSpec.parse(meta["dmsd.input"], str(self.path))
        try:
            layout = json.loads(meta["dmsd.detector"])
            self.outputs = [str(layout["boxes"]), str(layout["scores"])]
            self.box_scale = np.array([float(s) for s in layout["box_scale"]], np.float32)  # x, y, w, h
            self.keypoints = int(layout["keypoints"])
            self.anchors = ssd_anchors(layout["anchors"])
            self.nms_iou = float(layout.get("nms", {}).get("iou", NMS_IOU))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DmsdError(
                f"{key}: {self.path}: dmsd.detector must be JSON with boxes, scores, box_scale, "
                f"keypoints and anchors ({exc!r})"
            ) from None
        names = {o.name for o in self.session.get_outputs()}
        if not set(self.outputs) <= names:
            raise DmsdError(f"{key}: {self.path}: outputs {self.outputs} named; it has {sorted(names)}")
        self.input_name = self.session.get_inputs()[0].name
        self.side = self.input.width  # a square input
        self.canvas = np.zeros((self.side, self.side), np.uint8)
        self.colour_canvas = np.zeros((self.side, self.side, 3), np.uint8)

    # -- the model on one square of the frame -------------------------------------------------------------------

    def square_input(self, image: np.ndarray, x0: float, y0: float, side: float) -> tuple[np.ndarray, Square]:
        """The model's input for the square (x0, y0, side) of the frame (grey, or BGR), black where it leaves the
        frame."""
        height, width = image.shape[:2]
        left, top, size = round(x0), round(y0), max(round(side), 1)  # whole pixels
        scale, origin_x, origin_y = self.side / size, float(left), float(top)
        # The part of the square inside the frame, shrunk to its place in the input (INTER_AREA: no aliasing).
        fx0, fy0 = max(left, 0), max(top, 0)
        fx1, fy1 = min(left + size, width), min(top + size, height)
        canvas = self.canvas if image.ndim == 2 else self.colour_canvas
        canvas[:] = 0
        if fx1 > fx0 and fy1 > fy0:
            tx0, ty0 = round((fx0 - left) * scale), round((fy0 - top) * scale)
            tx1, ty1 = min(round((fx1 - left) * scale), self.side), min(round((fy1 - top) * scale), self.side)
            if tx1 > tx0 and ty1 > ty0:
                part = image[fy0:fy1, fx0:fx1]
                canvas[ty0:ty1, tx0:tx1] = cv2.resize(part, (tx1 - tx0, ty1 - ty0), interpolation=cv2.INTER_AREA)
                # The exact map of what was placed, so boxes land where the pixels came from.
                sx, sy = (tx1 - tx0) / (fx1 - fx0), (ty1 - ty0) / (fy1 - fy0)
                scale = (sx + sy) / 2
                origin_x, origin_y = fx0 - tx0 / scale, fy0 - ty0 / scale
        return self.input.encode(canvas), Square(origin_x, origin_y, scale)

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, Square]:
        """The whole frame in the input, aspect kept, centred between black bars."""
        height, width = image.shape[:2]
        side = max(width, height)
        return self.square_input(image, (width - side) / 2, (height - side) / 2, side)

    def run(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The raw outputs for one input: a row of box numbers and a score logit for each anchor."""
        boxes, scores = self.session.run(self.outputs, {self.input_name: tensor})
        return boxes.reshape(len(self.anchors), -1), scores.reshape(-1)

    def decode(self, raw: np.ndarray, logits: np.ndarray, square: Square) -> list[Detection]:
        """Detections scoring at least min_score, blended by weighted non-max suppression, in frame pixels."""
        scores = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.flatnonzero(scores >= self.min_score)
        if not len(keep):
            return []
        anchors, raw = self.anchors[keep], raw[keep]
        # x, y, w, h in input pixels from the anchor (MediaPipe's reverse_output_order: x before y).
        centre = raw[:, 0:2] / self.box_scale[0:2] * anchors[:, 2:4] + anchors[:, 0:2]
        size = raw[:, 2:4] / self.box_scale[2:4] * anchors[:, 2:4]
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * self.side
        points = raw[:, 4 : 4 + 2 * self.keypoints].reshape(len(keep), self.keypoints, 2)
        points = (points / self.box_scale[0:2] * anchors[:, None, 2:4] + anchors[:, None, 0:2]) * self.side
        found = weighted_nms(boxes, scores[keep], points, self.nms_iou)
        return [
            Detection(
                np.concatenate([square.to_frame(d.box[:2]), square.to_frame(d.box[2:])]),
                d.score,
                square.to_frame(d.keypoints),
            )
            for d in found
        ]


@dataclass
class BlazefaceConfig:
    """`detector.blazeface`: the BlazeFace plugin's own keys (MediaPipe's short-range face detector)."""

    path: str | None = option(
        None,
        doc=(
            "A model file of your own; null: models/blazeface.fp32.onnx (python -m convert.blazeface makes it). It "
            "must carry the dmsd metadata."
        ),
    )
    min_score: float = option(
        0.5, low=0.1, high=0.99, doc="A face is kept at this detection score or more (0.1-0.99; MediaPipe's: 0.5)."
    )

    def resolve(self, models: ModelsConfig | None = None) -> Path:
        """The model file; `models`: where the shipped models are (None: the default models.dir)."""
        models = models or ModelsConfig()
        return models.locate(Path(self.path) if self.path else Path(models.dir) / "blazeface.fp32.onnx")


@register("blazeface", BlazefaceConfig, doc="The BlazeFace plugin's own keys (detector.type: blazeface).")
class BlazefaceDetector(FaceDetector[None], SsdModel):
    """BlazeFace short range on ONNX Runtime (`detector.threads` threads), its boxes mapped to Haar-like boxes."""

    def __init__(self, config: DetectorConfig, models: ModelsConfig | None = None):
        self.config = config
        self.blazeface = settings_of(config, "blazeface", BlazefaceConfig)
        self.min_score = self.blazeface.min_score
        SsdModel.__init__(
            self,
            self.blazeface.resolve(models),
            config.threads,
            "face_detector",
            "detector.blazeface.path",
            "a face detector",
            "python -m convert.blazeface",
        )

    def detections(self, grey: np.ndarray) -> list[Detection]:
        """BlazeFace's own faces in the whole frame (tight boxes, scores and keypoints), best first."""
        tensor, square = self.letterbox(grey)
        return self.decode(*self.run(tensor), square)

    # -- the plugin interface ------------------------------------------------------------------------------------

    def detect(self, grey: np.ndarray) -> list[Box]:
        smallest = self.config.min_face * grey.shape[0]
        return [b for b in map(haar_like, self.detections(grey)) if b.h >= smallest]

    def detect_near(
        self, grey: np.ndarray, face: Box, margin: float, sizes: tuple[float, float], prepared: None = None
    ) -> list[Box]:
        # A square around the face grown by `margin` on every side: the face fills much of the input, so a face
        # too small for the whole letterboxed frame is found here.
        side = max(face.w, face.h) * (1 + 2 * margin)
        cx, cy = face.x + face.w / 2, face.y + face.h / 2
        tensor, square = self.square_input(grey, cx - side / 2, cy - side / 2, side)
        found = [haar_like(d) for d in self.decode(*self.run(tensor), square)]
        region = face.grown(margin)
        return [
            f
            for f in found
            if sizes[0] * face.w <= f.w <= sizes[1] * face.w and region.intersection_area(f) >= f.area / 2
        ]


def haar_like(detection: Detection, mapping: BoxMap = HAAR_LIKE) -> Box:
    """The box the Haar cascade would give this face (see BoxMap)."""
    x0, y0, x1, y1 = (float(v) for v in detection.box)
    size = ((x1 - x0) + (y1 - y0)) / 2
    eyes_x = float(detection.keypoints[:2, 0].mean())  # MediaPipe's keypoints 0 and 1: the eyes
    cx, cy = eyes_x + mapping.dx * size, (y0 + y1) / 2 + mapping.dy * size
    side = mapping.scale * size
    return Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side))
