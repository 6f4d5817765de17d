"""Train the seatbelt classifier on chest regions cut by the daemon's own face detector and geometry.

    python -m train seatbelt --data ../shared/data/seatbelt --out runs/seatbelt --epochs 30

Builds (and caches in the run folder as regions.npz) the chest regions of every source in
train/seatbelt_data.py, trains a small CNN on the train split, keeps the best on the valid split, and writes
the same training record as the emotion trainer (config, history, curves, confusion, metrics per source).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from dmsd.commands.evaluate import is_span_file
from dmsd.config import load_config
from dmsd.errors import DmsdError
from dmsd.labels import SEATBELT_LABELS
from dmsd.offline.datasets import load_belt_clips
from dmsd.vision.geometry import Box
from train import record, seatbelt_data
from train.record import sample_weights
from train.seatbelt_synth import KINDS as SYNTH_KINDS
from train.warm_start import init_from, restore_batch_norms

log = logging.getLogger(__name__)
SIZE = 64  # default input side; --size changes it (the model's metadata tells the runtime)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="../shared/data/seatbelt", help="folder holding the seatbelt sources")
    parser.add_argument(
        "--sources",
        default=",".join(seatbelt_data.SOURCES),
        help="comma-separated sources under --data to use (default: all; '' for none)",
    )
    parser.add_argument(
        "--own",
        metavar="PATH",
        action="append",
        default=[],
        help="your own labelled images: a labels.csv (path,label[,split]) or worn/ and not_worn/ "
        "folders, or your own videos: a span file (path,frames,label[,person][,split]), as `dmsd evaluate "
        "--task seatbelt` reads them (repeatable)",
    )
    parser.add_argument(
        "--clips",
        default=str(seatbelt_data.BELT_CLIPS),
        metavar="CSV",
        help="videos with the belt's truth per span of frames (path,frames,label[,person][,split], as `dmsd "
        "evaluate --task seatbelt` reads them; '' for none): default the shared real clips",
    )
    parser.add_argument(
        "--clips-root", default="../shared/data", metavar="DIR", help="the --clips file's paths are relative to this"
    )
    parser.add_argument(
        "--test-people",
        default=",".join(seatbelt_data.CLIP_TEST_PEOPLE),
        metavar="A,B",
        help="people of the clips never trained on (their frames are the validation split)",
    )
    parser.add_argument("--out", default="runs/seatbelt")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--size", type=int, default=SIZE, help="input side in pixels (the region is resized to it)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--profile-fallback",
        action="store_true",
        help="where no frontal face is found, try the profile cascade (training data only; adds "
        "nothing while detector.still_profile is on, as by default: the still search runs it)",
    )
    parser.add_argument(
        "--person-box-fallback",
        action="store_true",
        help="where no face is found in a one-person training crop, take the region where chests lie "
        "in such crops (training data only)",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="cut regions with this daemon configuration's detector.*, chest.* and landmarks.* (the "
        "camera's own settings); default: the built-in defaults, as the daemon's",
    )
    parser.add_argument(
        "--chest-from-landmarks",
        action="store_true",
        help="hang the chest region from the neck where the face mesh confirms the face, as the "
        "daemon does with chest.from_landmarks: true",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="start from a trained model of the same shape: the emotion model's convolutions "
        "(models/emotion.fp32.onnx or its run's best.keras: features learnt on 28k faces), or a "
        "whole seatbelt model to fine-tune (models/seatbelt.fp32.onnx, with a lower --lr)",
    )
    parser.add_argument(
        "--freeze-stages",
        type=int,
        default=0,
        metavar="N",
        help="with --init-from: keep the first N of the 4 stages as copied (the model card measures "
        "2: steadier on infrared frames, fewer unbelted drivers caught)",
    )
    parser.add_argument(
        "--select",
        default="balanced",
        choices=["balanced", "accuracy", "last"],
        help="keep the checkpoint with the best validation balanced accuracy (default) or plain "
        "accuracy, or the last epoch's (validation then chooses nothing: an unbiased measure)",
    )
    parser.add_argument(
        "--synthesize",
        type=int,
        default=0,
        metavar="N",
        help="add N synthesized training regions of each kind in --synth-kinds (belts painted out of "
        "incabin_belt_boxes, belts drawn on unbelted chests, and the same edits on the other "
        "class; see train/seatbelt_synth.py); a contact sheet goes to synthesized.png",
    )
    parser.add_argument(
        "--synth-kinds",
        default=",".join(SYNTH_KINDS),
        help=f"which edits to synthesize (default all: {', '.join(SYNTH_KINDS)})",
    )
    parser.add_argument(
        "--balance",
        default="classes",
        choices=["classes", "sources", "sqrt", "domains"],
        help="weigh the two classes equally (default), or also, within each class, each source "
        "equally (synthesized regions count as one source): the belted class then leans less on "
        "incabin_belt_boxes, the one source with belts only; or by the square root of each source's size (sqrt: "
        "a clip's few unbelted frames count for more than their number, a large source for less); or colour and "
        "grey pictures equally within each class (domains: neither the infrared look nor colour can stand for a "
        "class, though only one belted infrared driver and a few unbelted ones are there to learn from)",
    )
    parser.add_argument(
        "--nir-look",
        action="store_true",
        help="also train on the red channel of every colour training region, the visible light nearest infrared "
        "(skin and many dyed cloths turn light under infrared as in red): colour pictures made to look infrared",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use only N images per source, N frames per clip (smoke tests)"
    )
    parser.add_argument("--seed", type=int, default=1)


def build_model(width: int, size: int = SIZE):
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 1), name="region")
    x = inputs
    for stage in range(4):
        for _ in range(2 if stage else 1):
            x = layers.Conv2D(width * 2**stage, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(len(SEATBELT_LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"belt{width}")


def freeze_stages(model, stages: int) -> int:
    """Keep the convolutions and batch norms of the first `stages` stages as they are (batch norm then runs in
    inference mode); returns how many layers were frozen."""
    from keras import layers

    frozen, pools = 0, 0
    for layer in model.layers:
        if pools >= stages:
            break
        if isinstance(layer, (layers.Conv2D, layers.BatchNormalization)):
            layer.trainable, frozen = False, frozen + 1
        pools += isinstance(layer, layers.MaxPooling2D)
    return frozen


def augmentation():
    """What cabins do to a picture: light, contrast, blur, sensor noise, small tilts and shifts (grey in, like
    infrared)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),  # left- and right-hand drive
            layers.RandomBrightness(0.3, value_range=(0, 1)),
            layers.RandomContrast(0.4),
            layers.RandomRotation(0.04, fill_mode="nearest"),
            layers.RandomTranslation(0.08, 0.08, fill_mode="nearest"),
            layers.RandomZoom(0.15, fill_mode="nearest"),
            layers.RandomGaussianBlur(factor=0.5, kernel_size=3, sigma=1.0, value_range=(0, 1)),  # focus, motion
            layers.GaussianNoise(0.03),  # sensor noise of a dim or infrared-lit cabin
            # Under infrared light a dark belt on a light shirt can turn light on dark: the band is the cue, not
            # its shade.
            layers.RandomInvert(factor=0.3, value_range=(0, 1)),
        ],
        name="augment",
    )


def load_regions(args: argparse.Namespace, out: Path) -> dict:
    cache = out / "regions.npz"
    sources = [name for name in args.sources.split(",") if name]
    if not sources and not args.own and not args.clips:
        raise DmsdError("nothing to train on: give --sources, --clips, --own PATH, or more than one")
    if cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        # the same run resumed; another --size, or a cache from before the red-channel cuts, builds anew
        if data["x"].shape[1:] == (args.size, args.size) and "x_red" in data:
            data["report"] = json.loads((out / "dataset.json").read_text())
            return data
    samples, clips = [], []
    if args.clips:
        clips += load_belt_clips(args.clips, args.clips_root)
    for path in args.own:
        if is_span_file(path):
            clips += load_belt_clips(path)
        else:
            samples += seatbelt_data.own_images(Path(path))
    for name in sources:
        if name not in seatbelt_data.SOURCES:
            raise DmsdError(f"unknown source {name!r} (allowed: {', '.join(seatbelt_data.SOURCES)})")
        found = seatbelt_data.SOURCES[name](Path(args.data) / name)
        if args.limit:  # both classes and both splits, spread over the source
            found = found[:: max(1, len(found) // args.limit)][: args.limit]
        samples += found
    config = load_config(Path(args.config) if args.config else None)
    chest = replace(config.chest, from_landmarks=config.chest.from_landmarks or args.chest_from_landmarks)
    landmarks = None
    if chest.from_landmarks and config.landmarks.enabled:  # the daemon runs no mesh with landmarks off
        from dmsd.vision.landmarks import LandmarkModel

        landmarks = LandmarkModel(config.landmarks.resolve(config.models), 1)
    data = seatbelt_data.build(
        samples, config.detector, chest, args.size, args.profile_fallback, args.person_box_fallback, landmarks
    )
    if clips:
        people = tuple(p for p in args.test_people.split(",") if p)
        cut = seatbelt_data.build_clips(clips, replace(config, chest=chest), args.size, people, limit=args.limit)
        data = seatbelt_data.merged(data, cut)
    np.savez_compressed(cache, **{k: v for k, v in data.items() if k != "report"})
    record.write_json(out / "dataset.json", data["report"])
    return data


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse contradictory or out-of-range options before the run folder is created."""
    if args.config:
        load_config(Path(args.config))  # a bad file or key is named in one line
    if args.freeze_stages and not args.init_from:
        raise DmsdError("--freeze-stages keeps copied weights: it needs --init-from")
    if not 0 <= args.freeze_stages <= 4:
        raise DmsdError(f"--freeze-stages {args.freeze_stages}: allowed 0 to 4 (the network has 4 stages)")
    if args.synthesize < 0:
        raise DmsdError(f"--synthesize {args.synthesize}: allowed 0 (none) or more regions per kind")
    kinds = synth_kinds(args)
    unknown = [k for k in kinds if k not in SYNTH_KINDS]
    if unknown:
        raise DmsdError(f"--synth-kinds: {', '.join(unknown)} not allowed (allowed: {', '.join(SYNTH_KINDS)})")
    if args.synthesize and len({SYNTH_KINDS[k] for k in kinds}) < 2:
        made = SEATBELT_LABELS[SYNTH_KINDS[kinds[0]]] if kinds else "nothing"
        raise DmsdError(
            f"--synth-kinds {args.synth_kinds}: every synthesized region would be {made}; the mix must "
            f"make both classes"
        )
    if not 16 <= args.size <= 256:  # four 2x poolings need at least 16 pixels; beyond 256 is not a small CNN
        raise DmsdError(f"--size {args.size}: allowed 16 to 256 pixels")


def synth_kinds(args: argparse.Namespace) -> list[str]:
    return [kind for kind in args.synth_kinds.split(",") if kind]


def synthesized(
    args: argparse.Namespace, data: dict, train: np.ndarray, out: Path
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The --synthesize regions (N x size x size x 1 in [0, 1]) and labels, their mix, and the contact sheet."""
    import cv2

    from train import seatbelt_synth

    boxes: dict[int, list] = {}
    for index, (x, y, w, h) in zip(data["belt_index"], data["belt_box"], strict=True):
        if train[index]:
            boxes.setdefault(int(index), []).append(Box(int(x), int(y), int(w), int(h)))
    if not boxes:
        raise DmsdError(
            "--synthesize: no training region with a marked belt; include incabin_belt_boxes in "
            "--sources (the only source with belt boxes)"
        )
    if not (data["y"][train] == 0).any():
        raise DmsdError("--synthesize: no not-worn training regions to draw belts on")
    rng = np.random.default_rng(args.seed)
    belted = [(data["x"][i], found) for i, found in boxes.items()]
    images, labels, kinds = seatbelt_synth.synthesize(data["x"][train], data["y"][train], belted, args.synthesize, rng)
    keep = np.isin(kinds, synth_kinds(args))
    images, labels, kinds = images[keep], labels[keep], kinds[keep]
    cv2.imwrite(
        str(out / "synthesized.png"), seatbelt_synth.contact_sheet(data["x"][train], data["y"][train], images, kinds)
    )
    mix = {kind: int((kinds == kind).sum()) for kind in SYNTH_KINDS if (kinds == kind).any()}
    return (images.astype(np.float32) / 255.0)[..., None], labels, mix


def split_regions(data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The regions as the model takes them (N x size x size x 1 in [0, 1]), and the train and valid masks."""
    x = (data["x"].astype(np.float32) / 255.0)[..., None]
    train, valid = data["split"] == "train", data["split"] != "train"
    if not train.any() or not valid.any():
        raise DmsdError(
            f"no chest regions in the {'training' if not train.any() else 'validation'} split "
            f"(per source: {data['report']}); a labels.csv can name the split of each image"
        )
    return x, train, valid


def compiled_model(args: argparse.Namespace, training_regions: int, samples: np.ndarray | None = None):
    """The belt network, started from --init-from with --freeze-stages kept, Adam on a cosine schedule.

    samples: training inputs, for the batch norms of an ONNX start (see `restore_batch_norms`)."""
    import keras

    model = build_model(args.width, args.size)
    if args.init_from:
        log.info("initialised %d layers from %s", init_from(model, args.init_from), args.init_from)
        if args.init_from.endswith(".onnx") and samples is not None:
            restore_batch_norms(model, samples)
        log.info("froze %d layers (%d stages)", freeze_stages(model, args.freeze_stages), args.freeze_stages)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.lr, args.epochs * int(np.ceil(training_regions / args.batch)))
        ),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run(args: argparse.Namespace) -> dict:

    check_arguments(args)
    out = record.start_run(args)
    data = load_regions(args, out)
    log.info("regions per source: %s", data["report"])
    x, train, valid = split_regions(data)
    x_train, y_train, sources = x[train], data["y"][train], data["source"][train]
    mix = {}
    if args.synthesize:
        synth_x, synth_y, mix = synthesized(args, data, train, out)
        x_train, y_train = np.concatenate([x_train, synth_x]), np.concatenate([y_train, synth_y])
        sources = np.concatenate([sources, np.full(len(synth_x), "synthesized")])
        log.info("synthesized training regions: %s (contact sheet: %s)", mix, out / "synthesized.png")
    if args.nir_look:
        red = train & data["colour"]
        x_train = np.concatenate([x_train, (data["x_red"][red].astype(np.float32) / 255.0)[..., None]])
        y_train = np.concatenate([y_train, data["y"][red]])
        sources = np.concatenate([sources, data["source"][red]])  # a copy weighs in with its own source
        mix["nir_look"] = int(red.sum())
        log.info("red-channel copies of colour training regions: %d", int(red.sum()))
    record.write_config(out, args, train_regions=len(x_train), valid_regions=int(valid.sum()), synthesized=mix)
    balance = args.balance
    if balance == "domains":  # each class split equally between colour and grey, as "sources" splits it by source
        grey = np.concatenate([~data["colour"][train], np.ones(len(x_train) - int(train.sum()), bool)])
        sources, balance = np.where(grey, "grey", "colour"), "sources"  # red-channel copies count as grey
    weights = sample_weights(y_train, sources, balance)
    train_ds, valid_ds = record.datasets(
        x_train,
        y_train,
        weights,
        x[valid],
        data["y"][valid],
        len(SEATBELT_LABELS),
        args.batch,
        args.seed,
        augmentation(),
    )
    probe = np.random.default_rng(args.seed).permutation(len(x_train))[:512]  # for an ONNX start's batch norms
    model = compiled_model(args, len(x_train), x_train[probe])
    monitor = {"balanced": "val_balanced_accuracy", "accuracy": "val_accuracy", "last": None}[args.select]
    started = record.fit(out, model, train_ds, valid_ds, args.epochs, monitor, (x[valid], data["y"][valid]))
    metrics = record.finish_run(
        out,
        "seatbelt",
        SEATBELT_LABELS,
        record.grey_input(args.size),
        x[valid],
        data["y"][valid],
        x[train][:1000],
        started,
        lambda predicted: {"per_source": record.per_source(data, valid, predicted), "dataset": data["report"]},
    )
    log.info("validation accuracy per source %s", metrics["per_source"])
    return metrics
