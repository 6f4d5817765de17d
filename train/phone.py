"""Train the phone-use model on whole in-car frames, as the daemon feeds it (dmsd.vision.stages.phone).

    python -m train phone --data ../shared/data/phone/statefarm_subjects --out runs/phone --epochs 50

Every photo of the labels file (path,phone,subject; dmsd.offline.datasets.load_phone_uses) is made grey and shrunk
to the model's input as the daemon's Classifier does, and cached in the run folder as frames.npz. --negatives adds
photos of drivers with no phone in hand, seen as a cabin camera in front of them sees them (State Farm's camera is
beside the driver; dmsd's is in front), for training only: they are `none`, of drivers unnamed. The drivers named
by --valid-subjects are held out: they are never trained on, and since the last epoch is kept (nothing is chosen on
them), their figures are a fair measurement of drivers the model has not seen. Classes are weighted equally (none
has as many photos as call and texting together). Same training record as the other trainers.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from dmsd.labels import PHONE_LABELS
from train import record

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 128, 96
NEGATIVES = "negatives"  # the subject of every --negatives photo: always trained on, never held out
VALID_SUBJECTS = "p002,p026,p049,p064,p081"  # every fourth of State Farm's 17 drivers, sorted (197 of 640 photos)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="../shared/data/phone/statefarm_subjects",
        help="labels.csv (path,phone,subject) or the folder holding it",
    )
    parser.add_argument(
        "--negatives",
        default="../shared/data/yawn/yawdd_frames",
        help="a folder of photos (searched recursively) of drivers not using a phone, trained on as none; '' for none",
    )
    parser.add_argument("--out", default="runs/phone")
    parser.add_argument(
        "--valid-subjects", default=VALID_SUBJECTS, help="comma-separated subjects held out (default %(default)s)"
    )
    parser.add_argument("--width", type=int, default=16, help="filters of the first stage")
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help="input WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos per class (tests)")


def input_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise DmsdError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 128x96") from None
    if not (32 <= width <= 320 and 32 <= height <= 320):
        raise DmsdError(f"--size {text}: allowed 32 to 320 pixels a side")
    return width, height


def build_model(width: int, size: tuple[int, int]):
    """A strided 5x5 entry (the frame is large and the phone need not be sharp), then plain 3x3 convolutions with
    pooling (the shape that quantizes well on ONNX Runtime's CPU kernels), global average pooling and softmax."""
    import keras
    from keras import layers

    inputs = keras.Input((size[1], size[0], 1), name="frame")
    x = layers.Conv2D(width, 5, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.MaxPooling2D()(layers.ReLU()(layers.BatchNormalization()(x)))
    for filters, convs in ((width * 2, 1), (width * 4, 2), (width * 6, 2)):
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(width * 8, 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Dropout(0.4)(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(len(PHONE_LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"phone{width}")


def augmentation():
    """A camera placed a little differently (shift, zoom, tilt, or on the other side: a mirror image), another
    light (brightness, contrast) and sensor noise."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.04, fill_mode="nearest"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
            layers.RandomZoom(0.15, fill_mode="nearest"),
            layers.RandomBrightness(0.3, value_range=(0, 1)),
            layers.RandomContrast(0.4),
            layers.GaussianNoise(0.02),
        ],
        name="augment",
    )


def load_frames(args: argparse.Namespace, size: tuple[int, int], out: Path) -> dict:
    """Every photo, grey and at the model's input size, with its class index and subject; cached in the run."""
    import cv2

    from dmsd.frames.images import read_image
    from dmsd.offline.datasets import load_phone_uses

    cache = out / "frames.npz"
    if cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        if data["x"].shape[1:] == (size[1], size[0]) and str(data["negatives"]) == args.negatives:
            return data  # the same run resumed
    images = load_phone_uses(args.data)
    if args.limit:
        images = [i for label in PHONE_LABELS for i in [i for i in images if i.use == label][: args.limit]]
    if any(image.subject is None for image in images):
        raise DmsdError(f"{args.data}: every row needs a subject (the split is by driver, never by photo)")

    def shrink(path: Path) -> np.ndarray:
        """The whole photo, grey, at the model's input size, as Classifier.preprocess makes it."""
        grey = cv2.cvtColor(read_image(path), cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)

    frames = [shrink(image.path) for image in images]
    uses = [image.use for image in images]
    subjects = [str(image.subject) for image in images]
    paths = [str(image.path) for image in images]
    for path in negative_photos(args.negatives, args.limit):
        frames.append(shrink(path))
        uses.append("none")
        subjects.append(NEGATIVES)
        paths.append(str(path))
    data = {
        "x": np.stack(frames),
        "y": np.array([PHONE_LABELS.index(use) for use in uses]),
        "subject": np.array(subjects),
        "path": np.array(paths),
        "negatives": np.array(args.negatives),
    }
    np.savez_compressed(cache, **data)
    return data


def negative_photos(folder: str, limit: int) -> list[Path]:
    """The photos under `folder` (none if it is ''), sorted; at most `limit` (0: all)."""
    from dmsd.frames.images import IMAGE_SUFFIXES

    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        raise DmsdError(f"--negatives {folder}: no such folder")
    photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise DmsdError(f"--negatives {folder}: no photos in it")
    return photos[:limit] if limit else photos


def run(args: argparse.Namespace) -> dict:
    size = input_size(args.size)
    held_out = [s for s in args.valid_subjects.split(",") if s]
    out = record.start_run(args)
    data = load_frames(args, size, out)
    valid = np.isin(data["subject"], held_out) & (data["subject"] != NEGATIVES)
    train = ~valid
    if not train.any() or not valid.any():
        raise DmsdError(
            f"--valid-subjects {args.valid_subjects}: leaves no {'training' if not train.any() else 'held-out'} photos"
        )
    x = (data["x"].astype(np.float32) / 255.0)[..., None]
    record.write_config(
        out,
        args,
        train_photos=int(train.sum()),
        negative_photos=int((data["subject"] == NEGATIVES).sum()),
        valid_photos=int(valid.sum()),
        train_subjects=sorted(set(data["subject"][train].tolist())),
        valid_subjects=sorted(set(data["subject"][valid].tolist())),
    )
    y_train = data["y"][train]
    weights = record.sample_weights(y_train, data["subject"][train], "classes")
    train_ds, valid_ds = record.datasets(
        x[train], y_train, weights, x[valid], data["y"][valid], len(PHONE_LABELS), args.batch, args.seed, augmentation()
    )
    model = build_model(args.width, size)
    record.compile_cosine(model, args.lr, args.epochs * int(np.ceil(train.sum() / args.batch)))
    validation = (x[valid], data["y"][valid])
    started = record.fit(out, model, train_ds, valid_ds, args.epochs, None, validation)
    metrics = record.finish_run(
        out,
        "phone",
        PHONE_LABELS,
        record.grey_input(*size),
        x[valid],
        data["y"][valid],
        x[train],
        started,
        lambda predicted: {"per_subject": per_subject(data, valid, predicted)},
    )
    log.info("held-out drivers: %s", json.dumps(metrics["per_subject"]))
    return metrics


def per_subject(data: dict, valid: np.ndarray, predicted: np.ndarray) -> dict:
    """Each held-out driver's accuracy: one driver the model reads badly is a finding, not noise."""
    result = {}
    for subject in sorted(set(data["subject"][valid].tolist())):
        pick = data["subject"][valid] == subject
        result[subject] = {
            "n": int(pick.sum()),
            "accuracy": round(float((predicted[pick] == data["y"][valid][pick]).mean()), 4),
        }
    return result
