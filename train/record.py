"""The training record written next to every run: config, history CSV, curves, confusion matrix, metrics.

Both trainers begin with `start_run` and `write_config` and end with `finish_run` (predict with the kept
checkpoint, report, export what `python -m convert` needs, plot); in between, `callbacks` keeps the checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dmsd.offline.metrics import balanced_accuracy, classification_report

log = logging.getLogger(__name__)


def start_run(args: argparse.Namespace) -> Path:
    """The run folder `args.out`, created (an existing one resumes), with every random seed set to `args.seed`."""
    import keras

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    return out


def write_config(out: Path, args: argparse.Namespace, **extra: object) -> None:
    """config.json: the command's arguments and what the run measured of its data (the card reads it)."""
    write_json(out / "config.json", {**{k: v for k, v in vars(args).items() if k != "run"}, **extra})


def finish_run(
    out: Path,
    task: str,
    labels: list[str],
    input_spec: dict,
    x_val: np.ndarray,
    y_val: np.ndarray,
    calib: np.ndarray,
    started: float,
    extra_metrics: object = None,
    region: dict | None = None,
) -> dict:
    """Score the kept checkpoint on the validation inputs and write metrics.json, the export files and the plots.

    extra_metrics: a dict, or a function of the predicted classes returning one, merged into metrics.json.
    region: the part of the frame the model judges, where its task's stage reads it from the contract (phone).
    """
    import keras

    best = keras.models.load_model(out / "best.keras")
    predicted = best.predict(x_val, batch_size=256, verbose=0).argmax(axis=1)
    metrics = classification_report(y_val, predicted, labels)
    metrics.update(extra_metrics(predicted) if callable(extra_metrics) else extra_metrics or {})
    metrics.update(parameters=int(best.count_params()), train_seconds_this_session=round(time.time() - started, 1))
    write_json(out / "metrics.json", metrics)
    write_export(out, task, labels, input_spec, calib=calib, verify=x_val, verify_labels=y_val, region=region)
    plot_curves(out / "history.csv", out / "curves.png")
    plot_confusion(metrics["confusion"], labels, out / "confusion.png")
    log.info("%s: validation accuracy %.4f, macro-F1 %.4f", task, metrics["accuracy"], metrics["macro_f1"])
    return metrics


def sample_weights(labels: np.ndarray, sources: np.ndarray, balance: str) -> np.ndarray:
    """Per training example: "classes" gives each class an equal share of the total weight; "sources" also splits
    each class's share equally among the sources it has examples from; "sqrt" splits it among them in proportion to
    the square root of their sizes (a small source, one clip's few unbelted frames, then weighs more per example than
    a large one without taking a large one's share). The weights average 1."""
    weights = np.zeros(len(labels), np.float32)
    classes = len(np.unique(labels))
    for label in np.unique(labels):
        in_class = labels == label
        if balance == "classes":
            cells = [in_class]
        else:
            cells = [in_class & (sources == source) for source in np.unique(sources[in_class])]
        shares = np.array([np.sqrt(cell.sum()) if balance == "sqrt" else 1.0 for cell in cells])
        for cell, share in zip(cells, shares / shares.sum(), strict=True):
            weights[cell] = len(labels) * share / (classes * cell.sum())
    return weights


def datasets(
    x_train: np.ndarray,
    y_train: np.ndarray,
    weights: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    classes: int,
    batch: int,
    seed: int,
    augment: Callable,
) -> tuple:
    """The training set (shuffled, batched, with per-example weights, `augment`ed on the fly) and the validation
    set, as tf.data pipelines; labels are class indices."""
    import keras
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices((x_train, keras.utils.to_categorical(y_train, classes), weights))
        .shuffle(len(x_train), seed=seed)
        .batch(batch)
        .map(lambda a, b, w: (augment(a, training=True), b, w))
        .prefetch(2)
    )
    valid = tf.data.Dataset.from_tensor_slices((x_valid, keras.utils.to_categorical(y_valid, classes))).batch(256)
    return train, valid


def per_source(data: dict, valid: np.ndarray, predicted: np.ndarray) -> dict[str, dict]:
    """Validation accuracy of each source apart (`data["source"]`, `data["y"]`): the sources are different kinds of
    picture."""
    result = {}
    for source in sorted(set(data["source"][valid])):
        pick = data["source"][valid] == source
        result[str(source)] = {
            "n": int(pick.sum()),
            "accuracy": round(float((predicted[pick] == data["y"][valid][pick]).mean()), 4),
        }
    return result


def callbacks(out: Path, monitor: str | None = "val_accuracy", validation: tuple | None = None) -> list:
    """Resume from `out/backup`, keep the best checkpoint as `out/best.keras`, log history to `out/history.csv`.

    monitor None: keep the last epoch's weights instead (the validation split then chooses nothing, so its
    accuracy is an unbiased measurement; the kept file is still called best.keras, which convert/ reads).

    With `validation` (inputs, integer labels), `val_balanced_accuracy` (the mean of per-class recalls) is added
    to each epoch's logs, so `monitor` can choose on it: plain accuracy rewards always answering the majority class.
    """
    import keras

    class BalancedAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            x, y = validation
            if logs is not None:
                logs["val_balanced_accuracy"] = balanced_accuracy(y, self.model.predict(x, verbose=0).argmax(1))

    extra = [BalancedAccuracy()] if validation is not None else []
    return extra + [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(out / "best.keras"),
            monitor=monitor or "loss",
            mode="max",
            save_best_only=monitor is not None,
            initial_value_threshold=best_so_far(out / "history.csv", monitor),
        ),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]


def compile_cosine(model, lr: float, steps: int) -> None:
    """Adam with a cosine decay of the learning rate over `steps`, categorical cross-entropy: what the eye and phone
    trainers compile with."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )


def fit(out: Path, model, train: object, valid: object, epochs: int, monitor: str | None, validation: tuple) -> float:
    """Train with the record's callbacks (resume, keep by `monitor`, history); returns when it started (time.time),
    for finish_run."""
    started = time.time()
    model.fit(train, validation_data=valid, epochs=epochs, verbose=2, callbacks=callbacks(out, monitor, validation))
    return started


def read_history(history_csv: Path) -> list[dict]:
    """The epochs logged so far (CSVLogger's rows), none if the run has not started."""
    if not history_csv.exists():
        return []
    with open(history_csv, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def best_so_far(history_csv: Path, monitor: str | None) -> float | None:
    """The best `monitor` among epochs already run: a resumed run starts ModelCheckpoint from it, or the first
    epoch after resuming would overwrite best.keras however much worse it is."""
    if monitor is None:
        return None
    return max((float(row[monitor]) for row in read_history(history_csv) if row.get(monitor)), default=None)


def grey_input(width: int, height: int | None = None) -> dict:
    """The dmsd.input contract of a grey width x height (default square) model fed pixels / 255, channels first
    (the model contract: README.md, "Swapping in your own model")."""
    size = [width, height or width]
    return {"size": size, "colour": "grey", "layout": "NCHW", "scale": 1 / 255.0, "offset": 0.0}


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_export(
    out: Path,
    task: str,
    labels: list[str],
    input_spec: dict,
    calib: np.ndarray,
    verify: np.ndarray,
    verify_labels: np.ndarray,
    region: dict | None = None,
) -> None:
    """What `python -m convert` needs besides the model: the contract and real inputs to calibrate and verify."""
    contract = {"task": task, "labels": list(labels), "input": input_spec}
    write_json(out / "export.json", contract if region is None else {**contract, "region": region})
    np.savez_compressed(
        out / "samples.npz",
        calib=calib.astype(np.float32),
        verify=verify.astype(np.float32),
        verify_labels=verify_labels,
    )


def plot_curves(history_csv: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_history(history_csv)
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ["loss", "accuracy"], strict=True):
        for prefix in ("", "val_"):
            if prefix + key in rows[0]:
                ax.plot(epochs, [float(r[prefix + key]) for r in rows], label=prefix + key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_confusion(confusion: list[list[int]], labels: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(confusion, dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                int(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shares[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
