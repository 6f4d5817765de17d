"""Average the weights of several runs of one network into a new run folder (a "model soup").

    python -m train soup runs/a runs/b runs/c --out runs/soup

Runs that went on from one trained network (`--init-from`) with other seeds or schedules stay in one basin of the
loss, so the mean of their weights is itself a network, and often a better one than each run (Wortsman et al.,
2022, "Model soups"): what an ensemble of the runs gains, at the cost of one. Runs trained from scratch do not
share a basin, and their mean is noise: compare the soup's accuracy with its ingredients' in metrics.json.

A batch norm's moving mean and variance are not averaged: the mean network's layers see other inputs than each
run's did, so each batch norm's statistics are measured again, layer after layer as the network runs, on the
runs' calibration inputs (their training data, from samples.npz). The folder holds what `python -m convert` reads
of any run (best.keras, export.json, samples.npz with the first run's held-out inputs), config.json naming the
ingredients, and metrics.json on the held-out inputs with each ingredient's accuracy beside the soup's.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from train import record

log = logging.getLogger(__name__)

RUN_FILES = ("best.keras", "export.json", "samples.npz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="finished training runs of one network (two or more)")
    parser.add_argument("--out", required=True, help="the soup's run folder")
    parser.add_argument("--seed", type=int, default=1, help="seeds Keras (the soup itself draws nothing)")


def read_runs(runs: list[str]) -> tuple[list, dict, list[np.lib.npyio.NpzFile]]:
    """Each run's network, the contract they share (export.json) and their samples; refuses what cannot be averaged."""
    import keras

    if len(runs) < 2:
        raise DmsdError(f"a soup needs two or more runs, got {len(runs)}")
    networks, samples, contract = [], [], None
    for run in map(Path, runs):
        missing = [name for name in RUN_FILES if not (run / name).is_file()]
        if missing:
            raise DmsdError(f"{run}: no {', '.join(missing)}; is it a finished training run?")
        spec = json.loads((run / "export.json").read_text())
        if contract is not None and spec != contract:
            raise DmsdError(f"{run}: its export.json (task, labels, input) differs from {runs[0]}'s")
        contract = spec
        network = keras.models.load_model(run / "best.keras", compile=False)
        shapes = [w.shape for w in network.get_weights()]
        if networks and shapes != [w.shape for w in networks[0].get_weights()]:
            raise DmsdError(f"{run}: not the same network as {runs[0]} ({network.name}, {len(shapes)} weight arrays)")
        networks.append(network)
        samples.append(np.load(run / "samples.npz"))
    assert contract is not None
    return networks, contract, samples


def mean_network(networks: list):
    """A copy of the first network holding the mean of every weight (batch norms' statistics too, until measured)."""
    import keras

    soup = keras.models.clone_model(networks[0])
    weights = [network.get_weights() for network in networks]
    soup.set_weights([np.mean(arrays, axis=0) for arrays in zip(*weights, strict=True)])
    return soup


def measure_batch_norms(network, inputs: np.ndarray) -> int:
    """Set each batch norm's moving mean and variance to those of its input on `inputs`, in the order the network
    runs them (a later layer's input depends on the earlier ones' statistics). Returns how many were measured."""
    import keras
    from keras import layers

    norms = [layer for layer in network.layers if isinstance(layer, layers.BatchNormalization)]
    for norm in norms:
        seen = keras.Model(network.inputs, norm.input).predict(inputs, batch_size=256, verbose=0)
        axes = tuple(a for a in range(seen.ndim) if a != norm.axis % seen.ndim)
        norm.moving_mean.assign(seen.mean(axis=axes))
        norm.moving_variance.assign(seen.var(axis=axes))
    return len(norms)


def run(args: argparse.Namespace) -> dict:
    started = time.time()
    networks, contract, samples = read_runs(args.runs)
    out = record.start_run(args)
    calib = np.concatenate([s["calib"] for s in samples])
    verify, verify_labels = samples[0]["verify"], samples[0]["verify_labels"]
    soup = mean_network(networks)
    norms = measure_batch_norms(soup, calib)
    log.info("%d runs averaged; %d batch norms measured on %d training inputs", len(networks), norms, len(calib))
    soup.save(out / "best.keras")
    ingredients = {
        str(run): round(float((net.predict(verify, batch_size=256, verbose=0).argmax(1) == verify_labels).mean()), 4)
        for run, net in zip(args.runs, networks, strict=True)
    }
    record.write_config(out, args, task=contract["task"], batch_norm_inputs=len(calib), batch_norms=norms)
    return record.finish_run(
        out,
        contract["task"],
        contract["labels"],
        contract["input"],
        verify,
        verify_labels,
        samples[0]["calib"],
        started,
        {"ingredients_accuracy": ingredients},
        region=contract.get("region"),
    )
