"""Train the eye-state model on eye patches cut as the daemon cuts them (dmsd.vision.eye_patches).

    python -m train eyes --data ../shared/data --out runs/eyes --epochs 30

Builds (and caches in the run folder as patches.npz) the patches of every source in train/eyes_data.py, trains a
small CNN on the train split with infrared-like augmentation (grey, contrast, blur, low resolution, noise, glare),
keeps the best on the valid split by balanced accuracy, and writes the same training record as the other trainers
(config, history, curves, confusion, metrics per source, and `test_per_source`: the kept model on the people held
out as test, eyes_data.MRL_TEST and CAR_TEST, which choose nothing). The model says how likely one eye is open or
closed; the daemon runs both eyes of a face as one batch.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from dmsd.config import load_config
from dmsd.errors import DmsdError
from dmsd.labels import EYE_LABELS
from train import eyes_data, record

log = logging.getLogger(__name__)
SIZE = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="../shared/data", help="the shared data folder (eyes/, driver_video/)")
    parser.add_argument(
        "--sources",
        default=",".join(eyes_data.SOURCES),
        help=f"comma-separated sources (default all: {', '.join(eyes_data.SOURCES)})",
    )
    parser.add_argument("--out", default="runs/eyes")
    parser.add_argument("--width", type=int, default=16, help="filters of the first stage (doubling per stage)")
    parser.add_argument("--size", type=int, default=SIZE, help="patch side in pixels")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--balance",
        choices=("classes", "sources"),
        default="classes",
        help="sample weights: each class an equal share, or also each source an equal share of its class",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="cut eyes with this daemon configuration's detector.* and landmarks.* (default: built-in)",
    )
    parser.add_argument(
        "--landmarks",
        choices=("v1", "v2"),
        default="v2",
        help="the face mesh that cuts the eyes (landmarks.model; default v2, the mesh the daemon ships with)",
    )
    parser.add_argument("--limit", type=int, default=0, help="at most this many patches per source (tests)")


def check_arguments(args: argparse.Namespace) -> list[str]:
    """The sources asked for; refuses bad options before the run folder is made."""
    sources = [name for name in args.sources.split(",") if name]
    unknown = [name for name in sources if name not in eyes_data.SOURCES]
    if unknown:
        raise DmsdError(f"--sources: {', '.join(unknown)} not allowed (allowed: {', '.join(eyes_data.SOURCES)})")
    if not sources:
        raise DmsdError("--sources: nothing to train on")
    if not 16 <= args.size <= 96:
        raise DmsdError(f"--size {args.size}: allowed 16 to 96 pixels")
    if args.config:
        load_config(Path(args.config))
    return sources


def build_model(width: int, size: int = SIZE):
    """Three stages of plain 3x3 convolutions (the shape that quantizes well on ONNX Runtime's CPU kernels)."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 1), name="eye")
    x = inputs
    for stage in range(3):
        for _ in range(2):
            x = layers.Conv2D(width * 2**stage, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(len(EYE_LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"eyes{width}")


def augmentation(size: int):
    """What a cabin camera does to an eye that the visible-light training sets lack: infrared's flat grey and
    contrast, focus and motion blur, low resolution (a small face far from the camera), sensor noise, glare (a
    bright spot, as from glasses under infrared light) and the rims of glasses; plus small tilts, shifts and either
    eye's orientation."""
    import keras
    import tensorflow as tf
    from keras import layers

    class LowResolution(layers.Layer):
        """Down to a random 30-100% of the side and back up: the detail a distant face loses."""

        def call(self, x, training=None):
            if not training:
                return x
            small = tf.cast(tf.random.uniform([], 0.3, 1.0) * size, tf.int32)
            return tf.image.resize(tf.image.resize(x, [small, small], "area"), [size, size], "bilinear")

    class Glare(layers.Layer):
        """A bright soft spot somewhere on a third of the patches."""

        def call(self, x, training=None):
            if not training:
                return x
            batch = tf.shape(x)[0]
            grid = tf.cast(tf.range(size), tf.float32)[None, :] / size
            cx = tf.random.uniform([batch, 1, 1, 1])
            cy = tf.random.uniform([batch, 1, 1, 1])
            radius = tf.random.uniform([batch, 1, 1, 1], 0.04, 0.15)
            strength = tf.random.uniform([batch, 1, 1, 1], 0.3, 1.0)
            strength *= tf.cast(tf.random.uniform([batch, 1, 1, 1]) < 0.33, tf.float32)
            dx = tf.reshape(grid, [1, 1, size, 1]) - cx
            dy = tf.reshape(grid, [1, size, 1, 1]) - cy
            spot = strength * tf.exp(-(dx**2 + dy**2) / (2 * radius**2))
            return tf.clip_by_value(x + spot, 0.0, 1.0)

    class GlassesRim(layers.Layer):
        """On 40% of the patches, a thin straight band across the patch above or below the eye's middle, dark or
        bright: the rim of a pair of glasses, drawn on open and closed eyes alike, so that a line across the patch
        is no evidence of a shut eye."""

        def call(self, x, training=None):
            if not training:
                return x
            batch = tf.shape(x)[0]
            shape = [batch, 1, 1, 1]
            grid = (tf.cast(tf.range(size), tf.float32) + 0.5) / size
            gx, gy = tf.reshape(grid, [1, 1, size, 1]), tf.reshape(grid, [1, size, 1, 1])
            above = tf.random.uniform(shape) < 0.5
            level = tf.where(above, tf.random.uniform(shape, 0.08, 0.33), tf.random.uniform(shape, 0.67, 0.92))
            slope = tf.random.uniform(shape, -0.25, 0.25)
            half = tf.random.uniform(shape, 0.5, 1.6) / size
            band = tf.cast(tf.abs(gy - level - slope * (gx - 0.5)) < half, tf.float32)
            shade = tf.where(tf.random.uniform(shape) < 0.7, tf.random.uniform(shape, 0.0, 0.2), 0.9)
            alpha = tf.random.uniform(shape, 0.5, 1.0) * tf.cast(tf.random.uniform(shape) < 0.4, tf.float32)
            return x * (1 - alpha * band) + shade * alpha * band

    return keras.Sequential(
        [
            GlassesRim(),
            layers.RandomFlip("horizontal"),  # a left eye looks like a mirrored right one
            layers.RandomRotation(0.05, fill_mode="nearest"),
            layers.RandomTranslation(0.08, 0.08, fill_mode="nearest"),
            layers.RandomZoom(0.12, fill_mode="nearest"),
            layers.RandomBrightness(0.35, value_range=(0, 1)),
            layers.RandomContrast(0.5),
            LowResolution(),
            layers.RandomGaussianBlur(factor=0.5, kernel_size=3, sigma=1.0, value_range=(0, 1)),
            Glare(),
            layers.GaussianNoise(0.03),
        ],
        name="augment",
    )


def load_patches(args: argparse.Namespace, sources: list[str], out: Path) -> dict:
    cache = out / "patches.npz"
    if cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        if data["x"].shape[1:] == (args.size, args.size):  # the same run resumed
            data["report"] = json.loads((out / "dataset.json").read_text())
            return data
    config = load_config(Path(args.config) if args.config else None)
    config = replace(config, landmarks=replace(config.landmarks, model=args.landmarks))
    data = eyes_data.build(Path(args.data), args.size, config, sources)
    if args.limit:
        keep = np.concatenate([np.flatnonzero(data["source"] == s)[: args.limit] for s in np.unique(data["source"])])
        data = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in data.items()}
    np.savez_compressed(cache, **{k: v for k, v in data.items() if k != "report"})
    record.write_json(out / "dataset.json", data["report"])
    return data


def per_source(data: dict, valid: np.ndarray, predicted: np.ndarray) -> dict:
    """Each source's validation accuracy (train.record.per_source) and its recall of closed eyes."""
    result = record.per_source(data, valid, predicted)
    for source, part in result.items():
        pick = data["source"][valid] == source
        closed = data["y"][valid][pick] == EYE_LABELS.index("closed")
        part["closed_recall"] = (
            round(float((predicted[pick][closed] == EYE_LABELS.index("closed")).mean()), 4) if closed.any() else None
        )
    return result


def held_out(out: Path, data: dict, x: np.ndarray) -> dict:
    """The kept checkpoint on the test split (people never trained on and never used to choose), per source."""
    import keras

    test = data["split"] == "test"
    if not test.any():
        return {}
    predicted = keras.models.load_model(out / "best.keras").predict(x[test], batch_size=256, verbose=0).argmax(axis=1)
    return per_source(data, test, predicted)


def run(args: argparse.Namespace) -> dict:
    sources = check_arguments(args)
    out = record.start_run(args)
    data = load_patches(args, sources, out)
    log.info("patches per source: %s", data["report"])
    x = (data["x"].astype(np.float32) / 255.0)[..., None]
    train, valid = data["split"] == "train", data["split"] == "valid"
    if not train.any() or not valid.any():
        raise DmsdError(f"no eye patches in the {'training' if not train.any() else 'validation'} split")
    record.write_config(out, args, train_patches=int(train.sum()), valid_patches=int(valid.sum()))
    y_train = data["y"][train]
    weights = record.sample_weights(y_train, data["source"][train], args.balance)
    train_ds, valid_ds = record.datasets(
        x[train],
        y_train,
        weights,
        x[valid],
        data["y"][valid],
        len(EYE_LABELS),
        args.batch,
        args.seed,
        augmentation(args.size),
    )
    model = build_model(args.width, args.size)
    record.compile_cosine(model, args.lr, args.epochs * int(np.ceil(train.sum() / args.batch)))
    validation = (x[valid], data["y"][valid])
    started = record.fit(out, model, train_ds, valid_ds, args.epochs, "val_balanced_accuracy", validation)
    metrics = record.finish_run(
        out,
        "eyes",
        EYE_LABELS,
        record.grey_input(args.size),
        x[valid],
        data["y"][valid],
        x[train][:: max(1, int(train.sum()) // 1000)][:1000],
        started,
        lambda predicted: {
            "per_source": per_source(data, valid, predicted),
            "test_per_source": held_out(out, data, x),
            "dataset": data["report"],
        },
    )
    log.info("validation per source %s", metrics["per_source"])
    return metrics
