"""Keras -> ONNX with tf2onnx, NCHW input (no transpose at run time), and the dmsd metadata embedded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx


def keras_to_onnx(model, out: Path, opset: int = 17) -> None:
    import tensorflow as tf
    import tf2onnx

    height, width, channels = model.input_shape[1:]
    spec = (tf.TensorSpec((None, height, width, channels), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, inputs_as_nchw=["input"])
    onnx.save(proto, str(out))


def set_metadata(path: Path, task: str, labels: list[str], input_spec: dict, precision: str, extra: dict) -> None:
    """Write the dmsd model contract (README.md, "Swapping in your own model") into the model's metadata_props."""
    model = onnx.load(str(path))
    props = {
        "dmsd.task": task,
        "dmsd.labels": json.dumps(labels),
        "dmsd.input": json.dumps(input_spec),
        "dmsd.output": "probs",
        "dmsd.precision": precision,
        **{f"dmsd.{k}": str(v) for k, v in extra.items()},
    }
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


# The keys set_metadata writes from its own arguments.
WRITTEN = ("dmsd.task", "dmsd.labels", "dmsd.input", "dmsd.output", "dmsd.precision")


def described(meta: dict[str, str]) -> dict[str, str]:
    """What a model's metadata says of it beyond the contract set_metadata writes (parameters, calibration, members,
    views), as set_metadata's `extra`: for a file made from it, such as its INT8 twin, to say the same."""
    return {key.removeprefix("dmsd."): value for key, value in meta.items() if key not in WRITTEN}


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
