"""Write models/README.md, the model card, from measured numbers only.

    python -m convert.card --emotion runs/emotion-X --seatbelt runs/seatbelt-Y \\
        [--candidates runs/emotion-A runs/emotion-B ...] [--models models] [--out models/README.md]

Numbers come from the run folders (config.json, metrics.json, conversion.json, dataset.json, int8_study.json)
and from timing the shipped models here and now, FP32 beside INT8 in one run. Each candidate architecture is
exported and quantized by the real convert/ code and timed the same way, for the accuracy-per-millisecond table.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

from dmsd.offline.timing import machine, time_models, time_pair

ARCH_TEXT = {
    "plain": "four stages of two 3x3 convolutions with batch norm and ReLU (width, 2x, 4x, 8x channels), max pooling "
    "between stages, global average pooling, dropout 0.3, softmax over 7 classes",
    "plain_lean": "as `plain`, but one 3x3 convolution instead of two in the first stage, at full 48x48 resolution, "
    "where convolutions cost most",
    "plain_lean_fc": "as `plain_lean`, but the last 3x3 map is flattened (channels first, so the NCHW graph needs no "
    "Transpose) into a 256-unit ReLU layer with dropout 0.4, instead of averaged: where on the face a "
    "feature fired is kept, for 4% more INT8 time here",
    "separable": "mini-Xception style: depthwise-separable convolutions with residual 1x1 shortcuts",
}


def load(run: Path, name: str) -> dict:
    path = run / name
    return json.loads(path.read_text()) if path.is_file() else {}


def machine_text() -> str:
    described = machine()
    return described["cpu"] + (" with AVX-512 VNNI" if described["avx512_vnni"] else "")


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def candidate_rows(candidates: list[Path], runs: int) -> list[dict]:
    """Accuracy (from each run's record) and latency (measured now) of each trained candidate."""
    import keras

    from convert.export import keras_to_onnx, nhwc_to_nchw, set_metadata
    from convert.quantize import quantize

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in candidates:
            config, metrics = load(run, "config.json"), load(run, "metrics.json")
            spec = load(run, "export.json")
            model = keras.models.load_model(run / "best.keras", compile=False)
            fp32, int8 = Path(tmp) / "emotion.fp32.onnx", Path(tmp) / "emotion.int8.onnx"
            keras_to_onnx(model, fp32)
            quantize(fp32, int8, nhwc_to_nchw(np.load(run / "samples.npz")["calib"][:200]))
            for path, precision in ((fp32, "fp32"), (int8, "int8")):
                set_metadata(path, "emotion", spec["labels"], spec["input"], precision, {})
            timed = time_models({"fp32": fp32, "int8": int8}, "emotion", runs)
            f, q = timed["fp32"]["p50_ms"], timed["int8"]["p50_ms"]
            rows.append(
                {
                    "run": run.name,
                    "arch": f"{config['arch']}{config['width']}",
                    "epochs": config["epochs"],
                    "parameters": model.count_params(),
                    "accuracy": metrics["accuracy"],
                    "fp32_ms": f,
                    "int8_ms": q,
                }
            )
    return rows


def optimizer_text(config: dict) -> str:
    """The training line's words for the optimizer, from the settings the run recorded (train/emotion.OPTIMIZERS).
    Runs from before --optimizer recorded none; they used AdamW."""
    name, settings = config.get("optimizer_settings", ["AdamW", {}])
    momentum = (
        f" with {'Nesterov ' if settings.get('nesterov') else ''}momentum {settings['momentum']:g}"
        if settings.get("momentum")
        else ""
    )
    decay = f" (weight decay {settings['weight_decay']:g})" if settings.get("weight_decay") else ""
    return name + momentum + decay


def soft_targets_text(config: dict) -> str:
    """The training line's words for soft targets (train/fer2013.soft_targets), if the run used any."""
    if config.get("teacher"):
        weight = config["teacher_weight"]
        blended = (
            f"the mean probabilities of teacher{'s' if len(config['teacher']) > 1 else ''} "
            + ", ".join(f"`{t}`" for t in config["teacher"])
            + " (distillation)"
        )
    elif config.get("ferplus_soft"):
        weight, blended = config["ferplus_soft"], "the FER+ annotators' vote shares"
    else:
        return ""
    return f"targets {1 - weight:g} x the FER2013 label + {weight:g} x {blended}, "


def emotion_section(run: Path, timing: dict, candidates: list[dict], study_run: Path | None = None) -> str:
    config, metrics, conversion = load(run, "config.json"), load(run, "metrics.json"), load(run, "conversion.json")
    fp32, int8 = conversion["fp32"], conversion["int8"]
    dropped = 28709 - config["train_faces"] if config.get("ferplus") else 0
    minutes = metrics.get("train_seconds_this_session", 0) / 60
    lines = [
        "## Emotion",
        f"- **Data.** FER2013 (`{config['data']}`): trained on **Training** ({config['train_faces']:,} faces"
        + (f', after dropping {dropped} that most FER+ annotators call "not a face"' if dropped else "")
        + f"), checkpoint chosen on **PublicTest**, reported on **PublicTest** ({config['val_faces']:,} faces). "
        "PrivateTest, the final held-out split, is not in this repository's data and was never used.",
        f"- **Model.** `{config['arch']}{config['width']}`, {conversion['parameters']:,} parameters: "
        + ARCH_TEXT.get(config["arch"], "see train/emotion.py")
        + ".",
        f"- **Training.** {config['epochs']} epochs, batch {config['batch']}, "
        + optimizer_text(config)
        + " with a cosine schedule and warm-up "
        f"to {config['lr']}, label smoothing {config['label_smoothing']}, "
        + soft_targets_text(config)
        + "class weights "
        f"{'on' if config['class_weights'] else 'off'}; augmentation: "
        + ", ".join(config.get("augmentation", ["flip", "translation", "rotation", "zoom", "contrast"]))
        + f". {minutes:.0f} minutes of training on this 2-core CPU (shared with other work while it ran).",
        f"- **Conversion.** tf2onnx, opset 17, NCHW input, no Transpose left in the graph. On all "
        f"{conversion['verify_inputs']:,} PublicTest faces, ONNX FP32 vs Keras: max abs difference "
        f"{fp32['max_abs_diff_vs_keras']:.1e}, same top-1 on {pct(fp32['top1_agreement_vs_keras'])}. Static INT8: "
        f"`quant_pre_process`, {conversion['format'].upper()}, "
        f"{'per-channel' if conversion['per_channel'] else 'per-tensor'}"
        f" s8 weights, u8 activations, {conversion['method']} calibration over {conversion['calibration_inputs']} "
        "training faces, Softmax kept in float. INT8 vs Keras: max abs difference "
        f"{int8['max_abs_diff_vs_keras']:.3f}, same top-1 on {pct(int8['top1_agreement_vs_keras'])}.",
        "",
        "| PublicTest | FP32 | INT8 |",
        "| --- | --- | --- |",
        f"| accuracy | {pct(fp32['accuracy'])} | {pct(int8['accuracy'])} |",
        f"| macro-F1 | {fp32['report']['macro_f1']:.4f} | {int8['report']['macro_f1']:.4f} |",
        f"| latency p50, batch 1, 1 thread | {timing['fp32']['p50_ms']:.3f} ms | {timing['int8']['p50_ms']:.3f} ms "
        f"({timing['int8_speedup']:.2f}x faster) |",
        f"| size on disk | {timing['fp32']['bytes'] / 1e6:.2f} MB | {timing['int8']['bytes'] / 1e6:.2f} MB |",
        "",
        "| class | precision (INT8) | recall (INT8) | F1 (INT8) | F1 (FP32) | faces |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in int8["report"]["per_class"].items():
        lines.append(
            f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
            f"{fp32['report']['per_class'][name]['f1']:.3f} | {row['support']} |"
        )
    if candidates:
        lines += [
            "",
            "### Architectures compared (accuracy per millisecond)",
            "Each trained candidate, exported and quantized by `convert/`, its FP32 and INT8 timed here "
            "interleaved (batch 1, one thread, p50). Accuracy is the Keras checkpoint's on PublicTest.",
            "",
            "| run | architecture | parameters | epochs | PublicTest | FP32 ms | INT8 ms | INT8 speed-up | "
            "accuracy points per INT8 ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in candidates:
            lines.append(
                f"| {c['run']} | {c['arch']} | {c['parameters']:,} | {c['epochs']} | {pct(c['accuracy'])} | "
                f"{c['fp32_ms']:.3f} | {c['int8_ms']:.3f} | {c['fp32_ms'] / c['int8_ms']:.2f}x | "
                f"{100 * c['accuracy'] / c['int8_ms']:.0f} |"
            )
    study_run = study_run or run
    study = load(study_run, "int8_study.json")
    if study:
        lines += [
            "",
            "### What makes INT8 faster here",
            f"`python -m scripts.int8_study {study_run}`: every variant quantized from the same FP32 model and "
            "timed in one "
            "run (batch 1, one thread, p50), accuracy on PublicTest.",
            "",
            "| variant | p50 ms | speed-up vs FP32 | accuracy | bytes |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['variant']} | {r['p50_ms']:.3f} | {r['speedup']:.2f}x | {pct(r['accuracy'])} | {r['bytes']:,} |"
            for r in study
        ]
    return "\n".join(lines)


def imbalance_section(runs: list[Path]) -> str:
    """The same training with and without class weights: what weighting buys and costs, per class."""
    rows = [(load(r, "config.json"), load(r, "metrics.json")) for r in runs]
    labels = list(rows[0][1]["per_class"])
    lines = [
        "### Class imbalance, measured",
        "The same architecture and epochs, trained with and without inverse-frequency class weights (label "
        "smoothing in both); Keras checkpoints on PublicTest.",
        "",
        "| run | class weights | accuracy | macro-F1 | " + " | ".join(f"{n} recall" for n in labels) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in labels) + " |",
    ]
    for run, (config, metrics) in zip(runs, rows, strict=True):
        recalls = " | ".join(f"{metrics['per_class'][n]['recall']:.3f}" for n in labels)
        lines.append(
            f"| {run.name} | {'on' if config['class_weights'] else 'off'} | {pct(metrics['accuracy'])} | "
            f"{metrics['macro_f1']:.4f} | {recalls} |"
        )
    return "\n".join(lines)


def valid_labels(crops: Path, folder: Path) -> Path:
    """person_crops' valid rows as a labels file of their own in `folder` (absolute paths: it lies elsewhere)."""
    crops = crops.resolve()
    with open(crops / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "valid"]
    path = folder / "labels.csv"
    path.write_text("path,label\n" + "".join(f"{crops / r['path']},{r['label']}\n" for r in rows))
    return path


def seatbelt_targets(models: Path, data: Path, clips: Path | None = None) -> dict:
    """The issue's targets, measured through the daemon's own pipeline (`dmsd evaluate`'s code), per precision:
    accuracy on person_crops' valid split where a face is found, and the real clips' frames against their true labels
    (`clips`, default train/labels/belt_clips.csv, paths under `data`), per person."""
    from dataclasses import replace

    from dmsd.commands.evaluate import evaluate_seatbelt, evaluate_seatbelt_clips
    from dmsd.config import Config
    from train.seatbelt_data import BELT_CLIPS

    config = Config()
    config = replace(config, models=replace(config.models, intra_op_threads=1))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        valid = valid_labels(data / "seatbelt" / "person_crops", Path(tmp))
        for precision in ("fp32", "int8"):
            model = str(models / f"seatbelt.{precision}.onnx")
            results[precision] = {
                "crops": evaluate_seatbelt(config, str(valid), model),
                "clips": evaluate_seatbelt_clips(config, str(clips or BELT_CLIPS), str(data), model),
            }
    return results


def person_rows(run_config: dict, targets: dict) -> list[str]:
    """One row per person of the clips: frames right against their true labels, FP32 and INT8, held out or not."""
    held_out = set(run_config.get("test_people", "").split(","))
    fp32, int8 = targets["fp32"]["clips"]["people"], targets["int8"]["clips"]["people"]
    rows = []
    for person, row in fp32.items():
        if not row["judged"]:
            rows.append(f"| `{person}`: no frame judged ({row['labelled']} labelled; chest out of view) | - | - |")
            continue
        unbelted = row["unbelted_judged"]
        truth = "unbelted" if unbelted == row["judged"] else "" if unbelted else "belted"
        seen = "held out" if person in held_out else "trained on"
        rows.append(
            f"| `{person}` ({truth + ', ' if truth else ''}{seen}): frames right ({row['judged']} of "
            f"{row['labelled']} judged) | {pct(row['right_share'])} | {pct(int8[person]['right_share'])} |"
        )
    return rows


def seatbelt_section(run: Path, timing: dict, targets: dict) -> str:
    config, metrics, conversion = load(run, "config.json"), load(run, "metrics.json"), load(run, "conversion.json")
    dataset = load(run, "dataset.json")
    fp32, int8 = conversion["fp32"], conversion["int8"]
    side = load(run, "export.json")["input"]["size"][0]
    lines = [
        "## Seatbelt",
        "- **Data.** Chest regions cut by the daemon's own face detector and `dmsd.vision.chest.chest_region` (one "
        "function, imported by both) from `../shared/data/seatbelt`, sources "
        f"`{config['sources']}`:",
        "",
        "| source | images | face found | usable chest region | training-only person-box regions |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source, row in dataset.items():
        lines.append(f"| `{source}` | {row['images']} | {row['face']} | {row['region']} | {row.get('person_box', 0)} |")
    covered = next(
        (row["belt_area_in_region_median"] for row in dataset.values() if "belt_area_in_region_median" in row), None
    )
    lines += [""]
    if covered is not None:
        lines.append(
            f"  On `incabin_belt_boxes`, the median share of a marked belt's area inside the chest region is "
            f"{pct(covered)}."
        )
    lines += [
        f"- **Model.** {conversion['parameters']:,} parameters, {side}x{side} grey input"
        + (f", convolutions started from `{config['init_from']}`" if config.get("init_from") else "")
        + (f", its first {config['freeze_stages']} stages kept as copied" if config.get("freeze_stages") else "")
        + f"; {config['epochs']} epochs, "
        f"{config['train_regions']} training and {config['valid_regions']} validation regions; "
        f"{metrics.get('train_seconds_this_session', 0):.0f} s of training.",
        f"- **Conversion.** FP32 vs Keras max abs difference {fp32['max_abs_diff_vs_keras']:.1e}; INT8 ("
        f"{conversion['method']}, {conversion['calibration_inputs']} training regions) agrees with Keras on "
        f"{pct(int8['top1_agreement_vs_keras'])} of validation regions.",
        "",
        "| validation regions | FP32 | INT8 |",
        "| --- | --- | --- |",
        f"| accuracy | {pct(fp32['accuracy'])} | {pct(int8['accuracy'])} |",
        f"| not-worn recall | {pct(fp32['report']['per_class']['not_worn']['recall'])} | "
        f"{pct(int8['report']['per_class']['not_worn']['recall'])} |",
        f"| worn recall | {pct(fp32['report']['per_class']['worn']['recall'])} | "
        f"{pct(int8['report']['per_class']['worn']['recall'])} |",
        f"| latency p50, batch 1, 1 thread | {timing['fp32']['p50_ms']:.3f} ms | {timing['int8']['p50_ms']:.3f} ms "
        f"({timing['int8_speedup']:.2f}x faster) |",
        f"| size on disk | {timing['fp32']['bytes'] / 1e6:.2f} MB | {timing['int8']['bytes'] / 1e6:.2f} MB |",
        "",
        "| source (validation, Keras) | regions | accuracy |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{s}` | {r['n']} | {pct(r['accuracy'])} |" for s, r in metrics.get("per_source", {}).items()]
    fp32_t, int8_t = targets["fp32"], targets["int8"]
    crops = fp32_t["crops"]
    lines += [
        "",
        "Targets, through the daemon's own pipeline (`dmsd evaluate --task seatbelt`; face, chest region, model):",
        "",
        "| target | FP32 | INT8 |",
        "| --- | --- | --- |",
        f"| `person_crops` valid, accuracy where a face is found ({crops['n']} of {crops['images']} images scored; "
        f"target 85%) | {pct(crops['accuracy'])} | {pct(int8_t['crops']['accuracy'])} |",
        f"| ... not-worn recall | {pct(crops['per_class']['not_worn']['recall'])} | "
        f"{pct(int8_t['crops']['per_class']['not_worn']['recall'])} |",
        f"| ... worn recall | {pct(crops['per_class']['worn']['recall'])} | "
        f"{pct(int8_t['crops']['per_class']['worn']['recall'])} |",
        *person_rows(config, targets),
        f"| the bundled clip's unbelted end (frames 141-149), read not worn | "
        f"{unbelted_share(fp32_t['clips']['people']['bundled'])} | "
        f"{unbelted_share(int8_t['clips']['people']['bundled'])} |",
    ]
    return "\n".join(lines)


def unbelted_share(row: dict) -> str:
    judged = row["unbelted_judged"]
    return f"{pct(1 - row['unbelted_read_worn'] / judged)} of {judged}" if judged else "-"


def convert_flags(conversion: dict) -> str:
    flags = f"--calib-size {conversion['calibration_inputs']} --method {conversion['method']}"
    if conversion.get("format", "qdq") != "qdq":
        flags += f" --format {conversion['format']}"
    if not conversion.get("per_channel", True):
        flags += " --per-tensor"
    return flags


def reproduce(emotion: Path, seatbelt: Path, candidates: list[Path], imbalance: list[Path], study: Path) -> str:
    """The commands that made the shipped models, with every choice taken from the runs' own records."""
    e, s = load(emotion, "config.json"), load(seatbelt, "config.json")
    ferplus = f" \\\n    --ferplus {e['ferplus']}" if e.get("ferplus") else ""
    ferplus += f" --ferplus-soft {e['ferplus_soft']}" if e.get("ferplus_soft") else ""
    if e.get("teacher"):  # the teachers are earlier runs, trained with the same command and their own flags
        teachers = " ".join(f"--teacher {t}" for t in e["teacher"])
        ferplus += " \\\n    " + teachers + f" --teacher-weight {e['teacher_weight']}"
    weights = " --class-weights" if e.get("class_weights") else ""
    # Runs from before --select existed chose their checkpoint on plain accuracy.
    belt_extra = f" --select {s.get('select', 'accuracy')}"
    belt_extra += " --profile-fallback" if s.get("profile_fallback") else ""
    belt_extra += " --person-box-fallback" if s.get("person_box_fallback") else ""
    belt_extra += f" --size {s['size']}" if s.get("size", 64) != 64 else ""
    belt_extra += f" --seed {s['seed']}" if s.get("seed", 1) != 1 else ""
    belt_extra += f" \\\n    --init-from {s['init_from']}" if s.get("init_from") else ""
    belt_extra += f" --freeze-stages {s['freeze_stages']}" if s.get("freeze_stages") else ""
    return "\n".join(
        [
            "## Reproduce",
            "```sh",
            '.venv/bin/pip install -e ".[train]"',
            f".venv/bin/python -m train emotion --out runs/{emotion.name} --arch {e['arch']} --width {e['width']} "
            f"--epochs {e['epochs']} --batch {e['batch']} --lr {e['lr']} --label-smoothing {e['label_smoothing']}"
            + (f" --optimizer {e['optimizer']}" if e.get("optimizer", "adamw") != "adamw" else "")
            + f"{weights}{ferplus}",
            f".venv/bin/python -m convert runs/{emotion.name} --out models "
            f"{convert_flags(load(emotion, 'conversion.json'))}",
            f".venv/bin/python -m train seatbelt --out runs/{seatbelt.name} --sources {s['sources']} "
            f"--epochs {s['epochs']} --lr {s['lr']} --width {s['width']}{belt_extra}",
            f".venv/bin/python -m convert runs/{seatbelt.name} --out models "
            f"{convert_flags(load(seatbelt, 'conversion.json'))}",
            f".venv/bin/python -m scripts.int8_study runs/{study.name}",
            f".venv/bin/python -m convert.card --emotion runs/{emotion.name} --seatbelt runs/{seatbelt.name}"
            + (f" --study runs/{study.name}" if study != emotion else "")
            + (" \\\n    --candidates " + " ".join(f"runs/{c.name}" for c in candidates) if candidates else "")
            + (" \\\n    --imbalance " + " ".join(f"runs/{r.name}" for r in imbalance) if imbalance else ""),
            "```",
            "Each run folder keeps its training record: `config.json`, `history.csv`, `curves.png`, "
            "`confusion.png`, `metrics.json`, `conversion.json`. A run started again resumes from its `backup/`.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m convert.card", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emotion", type=Path, required=True)
    parser.add_argument("--seatbelt", type=Path, required=True)
    parser.add_argument("--candidates", type=Path, nargs="*", default=[])
    parser.add_argument(
        "--imbalance",
        type=Path,
        nargs="*",
        default=[],
        help="runs that differ only in --class-weights, for the imbalance table",
    )
    parser.add_argument("--study", type=Path, help="the run whose int8_study.json to show (default: --emotion)")
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument(
        "--notes",
        type=Path,
        default=Path("convert/card_notes.md"),
        help="hand-written sections (weaknesses, contract) appended as they are",
    )
    parser.add_argument("--out", type=Path, default=Path("models/README.md"))
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="holds seatbelt/person_crops and driver_video/, for the seatbelt targets",
    )
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    timing = {task: time_pair(args.models, task, args.runs) for task in ("emotion", "seatbelt")}
    candidates = candidate_rows(args.candidates, args.runs)
    header = "\n".join(
        [
            "# Model card — dmsd's shipped models",
            "",
            "Generated by `python -m convert.card` from the training runs' records and from timing the shipped "
            f"models on this machine ({machine_text()}, {platform.machine()}): FP32 and INT8 timed interleaved in "
            f"blocks of 100 calls, so a noisy neighbour slows both alike; batch 1, one thread, p50 over {args.runs} "
            "calls each after a warm-up.",
        ]
    )
    study = args.study or args.emotion
    parts = [header, emotion_section(args.emotion, timing["emotion"], candidates, study)]
    if args.imbalance:
        parts.append(imbalance_section(args.imbalance))
    parts += [
        seatbelt_section(args.seatbelt, timing["seatbelt"], seatbelt_targets(args.models, args.data)),
        reproduce(args.emotion, args.seatbelt, args.candidates, args.imbalance, study),
    ]
    if args.notes.is_file():
        parts.append(args.notes.read_text().strip())
    args.out.write_text("\n\n".join(parts) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
