"""ONNX Runtime sessions for the two classifiers, preprocessing driven by each model's own metadata.

The model contract (README.md, "Swapping in your own model"): metadata_props `dmsd.task`, `dmsd.labels` (JSON
list in output order) and `dmsd.input` (JSON: size [w, h], colour grey/bgr/rgb, layout NCHW/NHWC, scale, offset;
pixel * scale + offset). Optional: `dmsd.precision` (fp32/int8, for reports) and `dmsd.output`: "probs" (default)
or "logits". A retrained model that says these things drops in without a code change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort

from dmsd.errors import DmsdError
from dmsd.labels import TASK_LABELS
from dmsd.vision.geometry import Box
from dmsd.vision.int8_weights import for_this_cpu

Colour = Literal["grey", "bgr", "rgb"]
Layout = Literal["NCHW", "NHWC"]
COLOURS: tuple[Colour, ...] = ("grey", "bgr", "rgb")
LAYOUTS: tuple[Layout, ...] = ("NCHW", "NHWC")


@dataclass(frozen=True)
class InputSpec:
    """A model's `dmsd.input`: the picture size it takes, its colour and layout, and pixel * scale + offset. The one
    place a picture becomes a model's input tensor (`encode`)."""

    width: int
    height: int
    colour: Colour
    layout: Layout
    scale: float
    offset: float

    @classmethod
    def parse(cls, text: str, where: str) -> "InputSpec":
        try:
            spec = json.loads(text)
            width, height = (int(v) for v in spec["size"])
            colour, layout, scale, offset = spec["colour"], spec["layout"], float(spec["scale"]), float(spec["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DmsdError(
                f"{where}: dmsd.input must be JSON with size [w, h], colour, layout, scale and offset ({exc!r})"
            ) from None
        if colour not in COLOURS or layout not in LAYOUTS:
            raise DmsdError(f"{where}: dmsd.input colour must be grey/bgr/rgb and layout NCHW/NHWC")
        return cls(width, height, colour, layout, scale, offset)

    def in_colour(self, picture: np.ndarray) -> np.ndarray:
        """A picture (grey H x W, or BGR H x W x 3, uint8) in the model's colour."""
        if picture.ndim == 2:
            return picture if self.colour == "grey" else cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
        if self.colour == "grey":
            return cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB) if self.colour == "rgb" else picture

    def encode(self, picture: np.ndarray) -> np.ndarray:
        """One picture at the model's size (grey, or BGR) as its input: a batch of one."""
        return self.encode_batch(self.in_colour(picture)[None])

    def encode_batch(self, pictures: np.ndarray) -> np.ndarray:
        """Pictures at the model's size already in its colour (N x H x W grey, or N x H x W x 3), scaled and laid out
        as the model says."""
        tensor = pictures.astype(np.float32) * self.scale + self.offset
        if tensor.ndim == 3:
            tensor = tensor[..., None]
        if self.layout == "NCHW":
            tensor = tensor.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(tensor)


def open_session(path: Path, intra_op_threads: int = 1, inter_op_threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for one of our models, or DmsdError naming the file when it cannot be loaded."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Extra threads would otherwise spin between these sub-millisecond runs, taking CPU from the face stage.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for every kind of bad file
        first_line = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DmsdError(f"{path}: not a loadable ONNX model ({first_line})") from None


class Classifier:
    """One ONNX model that classifies an image region."""

    def __init__(
        self,
        path: Path,
        task: str,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        if_missing: str | None = None,
        exact_file: bool = False,
    ):
        """if_missing: what to do when there is no file at `path`, for the one-line error (default: the keys).
        An INT8 `<task>.int8.onnx` opens the file with full 8-bit weights beside it where this CPU runs that exactly
        (dmsd.vision.int8_weights), unless `exact_file`; `self.path` is the file opened."""
        self.path, self.task = Path(path), task
        if not self.path.is_file():
            raise DmsdError(f"{self.path}: no such model file ({if_missing or f'models.{task}.path or models.dir'})")
        if not exact_file:
            self.path = for_this_cpu(self.path)
        self.session = open_session(self.path, intra_op_threads, inter_op_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in ("dmsd.task", "dmsd.labels", "dmsd.input") if k not in meta]
        if missing:
            raise DmsdError(
                f"{self.path}: lacks metadata {', '.join(missing)} (see models/README.md, 'Model contract')"
            )
        if meta["dmsd.task"] != task:
            raise DmsdError(f"{self.path}: is a {meta['dmsd.task']!r} model, expected {task!r}")
        try:
            self.labels: list[str] = [str(label) for label in json.loads(meta["dmsd.labels"])]
        except (ValueError, TypeError):
            raise DmsdError(f"{self.path}: dmsd.labels must be a JSON list") from None
        if set(self.labels) != set(TASK_LABELS[task]):
            raise DmsdError(
                f"{self.path}: dmsd.labels {self.labels} must be {sorted(TASK_LABELS[task])} in output order"
            )
        classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.labels):
            raise DmsdError(f"{self.path}: gives {classes} class scores but dmsd.labels names {len(self.labels)}")
        self.input = InputSpec.parse(meta["dmsd.input"], str(self.path))
        self.logits = meta.get("dmsd.output", "probs") == "logits"
        self.input_name = self.session.get_inputs()[0].name
        self.precision = meta.get("dmsd.precision", "unknown")
        self.meta = dict(meta)  # the whole contract, for what a task's own stage reads from it

    def preprocess(self, image: np.ndarray, grey: np.ndarray, box: Box) -> np.ndarray:
        """Crop `box`, resize, convert colour and scale exactly as the model's metadata says.

        image: the frame as read (BGR, or grey from a grey camera); grey: its grey version.
        """
        spec = self.input
        source = grey if spec.colour == "grey" or image.ndim == 2 else image  # the frame's grey is made once
        crop = source[box.y : box.y + box.h, box.x : box.x + box.w]
        # Resized first: a grey camera's crop, not its frame, is converted to colour.
        return spec.encode(cv2.resize(crop, (spec.width, spec.height), interpolation=cv2.INTER_AREA))

    def prepare_patches(self, patches: np.ndarray) -> np.ndarray:
        """A batch of grey patches (N x H x W uint8, already the model's size) as its input."""
        return self.input.encode_batch(patches)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of preprocessed inputs (N x classes)."""
        out = self.session.run(None, {self.input_name: tensor})[0].astype(np.float32)
        if self.logits:
            out = np.exp(out - out.max(axis=1, keepdims=True))
        # Also for "probs": a model with a quantized softmax gives values that do not quite sum to 1.
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, image: np.ndarray, grey: np.ndarray, box: Box) -> dict[str, float]:
        probs = self.run(self.preprocess(image, grey, box))[0]
        return {label: float(p) for label, p in zip(self.labels, probs, strict=True)}
