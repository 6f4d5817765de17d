"""Train the phone-use model on the region the daemon's phone stage judges (dmsd.vision.stages.phone).

    python -m train phone --out runs/phone --epochs 30

The pictures (train/phone_data.py): the labelled frames of real clips (--clips, a span file
path,frames,label,person: the near-infrared drivers' calls and phone-free clips, and other drivers without a phone),
YawDD's in-car frames as `none` (--negatives), and optionally labelled photos (--data path,phone,subject;
dmsd.offline.datasets.load_phone_uses), each cut to `--region` (face sizes around the daemon's own face box, or the
whole frame), grey, at `--size`, and cached in the run folder as frames.npz. The split is by person, never by frame:
the clips' people named by --test-people and the photos' drivers named by --valid-subjects are never trained on, and
since the last epoch is kept (nothing is chosen on them), their figures are a fair measurement of people the model
has not seen; --test-people nir_A (or nir_C) measures a fold, the model learning from the other person's calls. The
region goes into the model's contract (`dmsd.region`), so the daemon cuts what the model learned from. Classes are
weighted equally. Same training record as the other trainers.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from dmsd.labels import PHONE_LABELS
from dmsd.vision.stages.phone import PhoneRegion
from train import record

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 96, 96
VALID_SUBJECTS = "p002,p026,p049,p064,p081"  # every fourth of State Farm's 17 drivers, sorted (197 of 640 photos)
TEST_PEOPLE = "bundled,incluit,nitymed_1,yawdd_46"  # the shipped model's; add nir_A or nir_C to measure a fold
REGION = "2.4,1.9,0.35"  # face widths wide, face heights tall, face heights above the face's top


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="",
        help="labelled photos too: labels.csv (path,phone,subject) or the folder holding it, e.g. State Farm's "
        "(../shared/data/phone/statefarm_subjects; measured and not kept: models/README.md); default none",
    )
    parser.add_argument(
        "--negatives",
        default="../shared/data/yawn/yawdd_frames",
        help="a folder of photos (searched recursively) of drivers not using a phone, trained on as none; '' for none",
    )
    parser.add_argument(
        "--clips",
        default="train/labels/phone_clips.csv",
        help="a span file (path,frames,label,person) of videos with the phone's truth; '' for none",
    )
    parser.add_argument(
        "--photo-uses",
        default=",".join(PHONE_LABELS),
        help="the --data photos' uses to train on (default %(default)s; e.g. call,none leaves texting out)",
    )
    parser.add_argument("--clips-root", default="../shared/data", help="the folder the span file's paths start from")
    parser.add_argument("--clip-rate", type=float, default=10.0, help="frames a second cut from each clip")
    parser.add_argument("--out", default="runs/phone")
    parser.add_argument(
        "--valid-subjects", default=VALID_SUBJECTS, help="State Farm drivers held out (default %(default)s)"
    )
    parser.add_argument("--test-people", default=TEST_PEOPLE, help="the clips' people held out (default %(default)s)")
    parser.add_argument(
        "--region",
        default=REGION,
        help="WIDTH,HEIGHT,TOP in face sizes around the face (default %(default)s), or 'frame' for the whole frame",
    )
    parser.add_argument("--width", type=int, default=16, help="filters of the first stage")
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help="input WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--limit", type=int, default=0, help="at most this many photos per class and frames per clip (tests)"
    )


def input_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise DmsdError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 96x96") from None
    if not (32 <= width <= 320 and 32 <= height <= 320):
        raise DmsdError(f"--size {text}: allowed 32 to 320 pixels a side")
    return width, height


def uses_of(text: str) -> list[str]:
    uses = [use for use in text.split(",") if use]
    if not uses or set(uses) - set(PHONE_LABELS):
        raise DmsdError(f"--photo-uses {text!r}: a comma-separated list of {', '.join(PHONE_LABELS)}")
    return uses


def region_of(text: str) -> PhoneRegion:
    if text == "frame":
        return PhoneRegion("frame")
    try:
        width, height, top = (float(part) for part in text.split(","))
    except ValueError:
        raise DmsdError(
            f"--region {text!r}: expected WIDTH,HEIGHT,TOP in face sizes (e.g. {REGION}) or frame"
        ) from None
    return PhoneRegion.parse(PhoneRegion("face", width, height, top).to_json(), "--region")


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


def load_frames(args: argparse.Namespace, size: tuple[int, int], region: PhoneRegion, out: Path) -> dict:
    """Every picture's region, grey and at the model's input size, with its class, subject and source; cached in
    the run (a resumed run with the same region, size and data reads it back)."""
    from dmsd.config import load_config
    from dmsd.frames.sources import count_frames
    from dmsd.offline.datasets import load_phone_clips, load_phone_uses
    from train.phone_data import NEGATIVES, RegionSet, add_clips, add_photos

    cache = out / "frames.npz"
    about = json.dumps(
        [region.to_json(), size, args.data, args.photo_uses, args.negatives, args.clips, args.clip_rate, args.limit]
    )
    if cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        if str(data["about"]) == about:
            return data  # the same run resumed
    config = load_config(None)
    regions = RegionSet(region, size)
    if args.data:
        images = [i for i in load_phone_uses(args.data) if i.use in uses_of(args.photo_uses)]
        if args.limit:
            images = [i for label in PHONE_LABELS for i in [i for i in images if i.use == label][: args.limit]]
        if any(image.subject is None for image in images):
            raise DmsdError(f"{args.data}: every row needs a subject (the split is by driver, never by photo)")
        add_photos(regions, [(i.path, i.use, str(i.subject)) for i in images], "photos", config)
    negatives = [(path, "none", NEGATIVES) for path in negative_photos(args.negatives, args.limit)]
    add_photos(regions, negatives, NEGATIVES, config)
    if args.clips:
        clips = load_phone_clips(args.clips, args.clips_root)
        for clip in clips:  # every span checked before anything is cut
            clip.check_length(args.clips, count_frames(clip.path)[0])
        add_clips(regions, clips, config, args.clip_rate, args.limit)
    for source, stats in regions.report.items():
        log.info("%s: %s", source, stats)
    data = {**regions.arrays(), "about": np.array(about), "report": np.array(json.dumps(regions.report))}
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
    from train.phone_data import NEGATIVES

    size, region = input_size(args.size), region_of(args.region)
    uses_of(args.photo_uses)
    held_out = {s for s in args.valid_subjects.split(",") + args.test_people.split(",") if s}
    out = record.start_run(args)
    data = load_frames(args, size, region, out)
    valid = np.isin(data["subject"], sorted(held_out)) & (data["subject"] != NEGATIVES)
    train = ~valid
    if not train.any() or not valid.any():
        raise DmsdError(
            f"--valid-subjects {args.valid_subjects} and --test-people {args.test_people}: leave no "
            f"{'training' if not train.any() else 'held-out'} pictures"
        )
    x = (data["x"].astype(np.float32) / 255.0)[..., None]
    record.write_config(
        out,
        args,
        region_contract=region.to_json(),
        sources=json.loads(str(data["report"])),
        train_pictures=int(train.sum()),
        valid_pictures=int(valid.sum()),
        train_subjects=sorted(set(data["subject"][train].tolist())),
        valid_subjects=sorted(set(data["subject"][valid].tolist())),
    )
    y_train = data["y"][train]
    weights = record.sample_weights(y_train, data["source"][train], "classes")
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
        lambda predicted: {"per_source": per_source(data, valid, predicted)},
        region=json.loads(region.to_json()),
    )
    log.info("held out: %s", json.dumps(metrics["per_source"]))
    return metrics


def per_source(data: dict, valid: np.ndarray, predicted: np.ndarray) -> dict:
    """Each held-out source's pictures: accuracy, calls found, and pictures without a phone read as one (a false
    alarm's raw material). One source the model reads badly is a finding, not noise."""
    none = PHONE_LABELS.index("none")
    call = PHONE_LABELS.index("call")
    result = {}
    truth, source = data["y"][valid], data["source"][valid]
    for name in sorted(set(source.tolist())):
        pick = source == name
        t, p = truth[pick], predicted[pick]
        row: dict[str, object] = {"n": int(pick.sum()), "accuracy": round(float((p == t).mean()), 4)}
        if (t == call).any():
            row["calls_read_call"] = f"{int((p[t == call] == call).sum())} of {int((t == call).sum())}"
        if (t == none).any():
            row["none_read_phone"] = f"{int((p[t == none] != none).sum())} of {int((t == none).sum())}"
        result[name] = row
    return result
