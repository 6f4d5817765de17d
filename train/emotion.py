"""Train the emotion classifier on FER2013 (Training split; PublicTest chooses the checkpoint).

    python -m train emotion --data ../shared/data/fer2013/fer2013.csv.gz --out runs/emotion --epochs 40

The run folder holds everything: config.json, history.csv, curves.png, confusion.png, metrics.json,
best.keras (best PublicTest accuracy) and a resumable backup; run the same command again to resume.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from dmsd.labels import EMOTION_LABELS
from train import fer2013, record
from train.warm_start import init_from, restore_batch_norms

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="../shared/data/fer2013/fer2013.csv.gz",
        help="FER2013 CSV (.csv/.csv.gz) or folder layout with train/ and test/",
    )
    parser.add_argument("--out", default="runs/emotion", help="run folder (resumes if it holds a backup)")
    parser.add_argument("--arch", default="plain", choices=sorted(ARCHITECTURES))
    parser.add_argument("--width", type=int, default=32, help="channels of the first stage")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the cosine schedule")
    parser.add_argument(
        "--optimizer",
        default="adamw",
        choices=sorted(OPTIMIZERS),
        help="; ".join(f"{name}: Keras {keras_name} {settings}" for name, (keras_name, settings) in OPTIMIZERS.items())
        + " (try --lr 0.01 with sgd)",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    parser.add_argument("--ferplus", default=None, help="fer2013new.csv: drop rows FER+ annotators call not-a-face")
    parser.add_argument(
        "--ferplus-soft",
        type=float,
        default=0.0,
        metavar="W",
        help="with --ferplus: train on (1-W) x the FER2013 label + W x the FER+ vote shares",
    )
    parser.add_argument(
        "--teacher",
        action="append",
        default=[],
        metavar="RUN",
        help="distil from this trained run (its best.keras), a .keras file or an FP32 emotion .onnx file (its views "
        "and members included); repeat for an ensemble",
    )
    parser.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="with --teacher: train on (1-W) x the FER2013 label + W x the teachers' mean probabilities",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="go on from this model (a run's best.keras or a shipped FP32 .onnx, e.g. models/emotion.fp32.onnx): "
        "a second schedule over a trained network, with --lr as its new peak",
    )
    parser.add_argument(
        "--mixup",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="blend each batch with itself shuffled, faces and targets alike, by a Beta(ALPHA, ALPHA) share "
        "(0: off; 0.2 is usual)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training faces (smoke tests)")
    parser.add_argument("--seed", type=int, default=1)


# --optimizer: the Keras class and its settings besides the learning rate. config.json records them, and the model
# card describes a run from its config, so this table is the one place they are written.
OPTIMIZERS = {
    "adamw": ("AdamW", {"weight_decay": 1e-4}),
    "sgd": ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
}


def conv_block(x, filters: int, layers, convs: int = 2):
    for _ in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return layers.MaxPooling2D()(x)


def plain_net(width: int, lean: bool = False, dense_head: bool = False):
    """Plain 3x3 convolutions, BN folded at export: the shape ONNX Runtime's INT8 kernels like best.

    lean: one convolution instead of two at full 48x48 resolution, the costliest stage.
    dense_head: flatten the last 3x3 map into a 256-unit layer instead of averaging it away. FER2013 faces are
    roughly aligned, so where on the face a feature fired (brow, mouth) carries meaning; the layer adds parameters
    but almost no computation.
    """
    import keras
    from keras import layers

    inputs = keras.Input((fer2013.SIDE, fer2013.SIDE, 1), name="face")
    x = inputs
    for stage in range(4):
        x = conv_block(x, width * 2**stage, layers, convs=1 if lean and stage == 0 else 2)
    if dense_head:
        x = layers.Permute((3, 1, 2))(x)  # flatten channels-first, as the NCHW export holds it: no Transpose
        x = layers.Dropout(0.4)(layers.Flatten()(x))
        x = layers.Dense(256, activation="relu")(x)
    else:
        x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(len(EMOTION_LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"plain{'lean' if lean else ''}{'_fc' if dense_head else ''}{width}")


def separable_net(width: int):
    """Depthwise-separable stages (mini-Xception style), the `fer` package's design family."""
    import keras
    from keras import layers

    inputs = keras.Input((fer2013.SIDE, fer2013.SIDE, 1), name="face")
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for stage in range(4):
        filters = width * 2**stage
        shortcut = layers.Conv2D(filters, 1, strides=2, use_bias=False)(x)
        for _ in range(2):
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.add([layers.MaxPooling2D(3, strides=2, padding="same")(x), shortcut])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(len(EMOTION_LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"separable{width}")


ARCHITECTURES = {
    "plain": plain_net,
    "plain_lean": lambda width: plain_net(width, lean=True),
    "plain_lean_fc": lambda width: plain_net(width, lean=True, dense_head=True),
    "separable": separable_net,
}


def augmentation():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
            layers.RandomRotation(0.05, fill_mode="nearest"),
            layers.RandomZoom(0.1, fill_mode="nearest"),
            layers.RandomContrast(0.2),
            layers.RandomErasing(factor=0.5, scale=(0.02, 0.12), value_range=(0, 1)),  # occlusion: hands, glasses
        ],
        name="augment",
    )


def mixup(alpha: float):
    """Mixup (Zhang et al., 2018) on a batch: faces and their targets blended with the batch shuffled, by one share
    drawn from Beta(alpha, alpha), so the network learns between classes rather than memorising faces."""
    import tensorflow as tf

    def blend(x, y):
        a = tf.random.gamma([], alpha)
        share = a / (a + tf.random.gamma([], alpha))
        order = tf.random.shuffle(tf.range(tf.shape(x)[0]))
        return share * x + (1 - share) * tf.gather(x, order), share * y + (1 - share) * tf.gather(y, order)

    return blend


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 N x 48 x 48 -> float32 N x 48 x 48 x 1 in [0, 1]; must match the exported dmsd.input metadata."""
    return (images.astype(np.float32) / 255.0)[..., None]


INPUT_METADATA = record.grey_input(fer2013.SIDE)


def teacher_probabilities(paths: list[str], x: np.ndarray) -> np.ndarray:
    """The teachers' mean probabilities on `x` and its mirror image: the soft targets a small student distils.

    A teacher is a run (its best.keras), a .keras file, or an FP32 emotion .onnx file as `python -m convert` makes
    it, so several networks with their views in one graph teach as one. Computed once on the un-augmented faces
    (offline distillation): running the teachers on every augmented batch would double an epoch's time on this CPU.
    """
    total = np.zeros((len(x), len(EMOTION_LABELS)), dtype=np.float32)
    for path in paths:
        predict = onnx_teacher(path, x) if path.endswith(".onnx") else keras_teacher(path, x)
        for view in (x, x[:, :, ::-1]):
            total += predict(view)
    return total / (2 * len(paths))


def keras_teacher(path: str, x: np.ndarray):
    import keras

    file = Path(path) / "best.keras" if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise DmsdError(f"--teacher {path}: no such run folder with best.keras, or .keras file")
    teacher = keras.models.load_model(file, compile=False)
    if tuple(teacher.input_shape[1:]) != x.shape[1:] or teacher.output_shape[-1] != len(EMOTION_LABELS):
        raise DmsdError(
            f"--teacher {path}: takes {teacher.input_shape[1:]} and gives {teacher.output_shape[-1]} "
            f"classes; the student needs {x.shape[1:]} and {len(EMOTION_LABELS)}"
        )
    return lambda view: teacher.predict(view, batch_size=512, verbose=0)


def onnx_teacher(path: str, x: np.ndarray):
    """An emotion model file's probabilities (its own views and members included) on NHWC faces."""
    from dmsd.vision.classifier import Classifier, InputSpec

    if not Path(path).is_file():
        raise DmsdError(f"--teacher {path}: no such model file")
    try:
        model = Classifier(Path(path), "emotion", intra_op_threads=2)
    except DmsdError as exc:
        raise DmsdError(f"--teacher {exc}") from None
    if model.precision != "fp32" or model.input != InputSpec.parse(json.dumps(INPUT_METADATA), "the student"):
        raise DmsdError(
            f"--teacher {path}: needs an FP32 emotion model whose dmsd.input is the student's, {INPUT_METADATA}"
        )
    return lambda view: np.concatenate(
        [model.run(np.ascontiguousarray(view[i : i + 256].transpose(0, 3, 1, 2))) for i in range(0, len(view), 256)]
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse contradictory or out-of-range options before anything is created."""
    if args.ferplus_soft and not args.ferplus:
        raise DmsdError("--ferplus-soft needs --ferplus (the FER+ votes file)")
    if not 0.0 <= args.ferplus_soft <= 1.0:
        raise DmsdError(f"--ferplus-soft must be between 0 and 1, not {args.ferplus_soft}")
    if not 0.0 <= args.teacher_weight <= 1.0:
        raise DmsdError(f"--teacher-weight must be between 0 and 1, not {args.teacher_weight}")
    if args.mixup < 0:
        raise DmsdError(f"--mixup must be 0 (off) or a positive Beta alpha, not {args.mixup}")
    if args.teacher and args.ferplus_soft:
        raise DmsdError("--teacher and --ferplus-soft both set soft targets; choose one")


def load_faces(args: argparse.Namespace) -> tuple[fer2013.FaceSet, fer2013.FaceSet, np.ndarray | None]:
    """Training faces (FER+ not-a-face rows dropped with --ferplus, the first --limit kept), PublicTest, and the
    training faces' FER+ votes (None without --ferplus)."""
    train = fer2013.load(args.data, "Training")
    val = fer2013.load(args.data, "PublicTest")
    votes = None
    if args.ferplus:
        votes = fer2013.ferplus_votes(args.ferplus, train)
        keep = votes.sum(axis=1) > 0
        log.info("FER+: dropping %d not-a-face training rows", int((~keep).sum()))
        train, votes = train.subset(np.flatnonzero(keep)), votes[keep]
    if args.limit:
        train = train.subset(np.arange(min(args.limit, len(train))))
        votes = None if votes is None else votes[: len(train)]
    return train, val, votes


def training_targets(
    args: argparse.Namespace, train: fer2013.FaceSet, x_train: np.ndarray, votes: np.ndarray | None
) -> np.ndarray:
    """One-hot FER2013 labels, blended with the teachers' probabilities (--teacher) or FER+ votes (--ferplus-soft)."""
    if args.teacher:
        taught = teacher_probabilities(args.teacher, x_train)
        log.info(
            "teachers agree with the FER2013 label on %.1f%% of training faces",
            100 * float((taught.argmax(axis=1) == train.labels).mean()),
        )
        return fer2013.soft_targets(train.labels, taught, args.teacher_weight)
    return fer2013.soft_targets(train.labels, votes if args.ferplus_soft else None, args.ferplus_soft)


def class_weights(args: argparse.Namespace, labels: np.ndarray) -> dict[int, float] | None:
    """Inverse class frequency with --class-weights, else None."""
    if not args.class_weights:
        return None
    counts = np.bincount(labels, minlength=len(EMOTION_LABELS))
    return {i: float(len(labels) / (len(counts) * max(c, 1))) for i, c in enumerate(counts)}


def compiled_model(args: argparse.Namespace, training_faces: int, samples: np.ndarray):
    """The --arch network (started from --init-from) with the --optimizer on a cosine schedule warmed up to --lr,
    and label smoothing. samples: training inputs, for the batch norms of an ONNX start (`restore_batch_norms`)."""
    import keras

    model = ARCHITECTURES[args.arch](args.width)
    if args.init_from:
        log.info("initialised %d layers from %s", init_from(model, args.init_from), args.init_from)
        if args.init_from.endswith(".onnx"):
            restore_batch_norms(model, samples)
    steps = args.epochs * int(np.ceil(training_faces / args.batch))
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr * 0.1, steps, warmup_target=args.lr, warmup_steps=min(steps // 10, 1000)
    )
    keras_name, settings = OPTIMIZERS[args.optimizer]
    model.compile(
        optimizer=getattr(keras.optimizers, keras_name)(schedule, **settings),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"],
    )
    log.info("%s: %d parameters, %d training faces", model.name, model.count_params(), training_faces)
    return model


def run(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    check_arguments(args)
    out = record.start_run(args)
    train, val, votes = load_faces(args)
    augment = augmentation()
    record.write_config(
        out,
        args,
        optimizer_settings=OPTIMIZERS[args.optimizer],
        train_faces=len(train),
        val_faces=len(val),
        augmentation=[layer.name for layer in augment.layers],
    )
    x_train = to_input(train.images)
    y_train = training_targets(args, train, x_train, votes)
    x_val, y_val = to_input(val.images), keras.utils.to_categorical(val.labels, len(EMOTION_LABELS))
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=args.seed)
        .batch(args.batch)
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=2)
    )
    if args.mixup:
        train_ds = train_ds.map(mixup(args.mixup), num_parallel_calls=2)
    train_ds = train_ds.prefetch(2)
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256)
    model = compiled_model(args, len(x_train), x_train[:2000])
    started = time.time()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=args.epochs,
        class_weight=class_weights(args, train.labels),
        verbose=2,
        callbacks=record.callbacks(out),
    )
    calib = x_train[np.random.default_rng(args.seed).permutation(len(x_train))[:1000]]
    return record.finish_run(
        out, "emotion", EMOTION_LABELS, INPUT_METADATA, x_val, val.labels, calib, started, {"split": "PublicTest"}
    )
