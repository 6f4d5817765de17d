"""Start a network from a trained one: the convolutional trunk (and the classifier, where it fits) of a run's Keras
checkpoint or of a shipped FP32 ONNX model, whose batch norms were folded into its convolutions at export.

The seatbelt trainer starts from the emotion network's trunk; the emotion trainer goes on from a shipped model (a
second schedule: the model card's "longer schedules").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError


def init_from(model, path: str) -> int:
    """Copy the convolution and batch-norm weights of the model at `path`, layer by layer in order; returns how
    many layers were copied. The two must share the convolutional trunk (the emotion net's plain_lean shape).

    `path` is a Keras file (an emotion run's best.keras) or a shipped FP32 ONNX model (models/emotion.fp32.onnx),
    whose convolutions have their batch norm folded in: each comes back as its convolution and an identity batch
    norm carrying the folded bias, the same function. A seatbelt model (models/seatbelt.fp32.onnx, or a seatbelt
    run's best.keras) also gives its classifier, so training goes on from that model: a fine-tune."""
    import keras
    from keras import layers

    path = Path(path)
    if not path.is_file():
        raise DmsdError(f"--init-from {path}: no such model file (a .keras run checkpoint or an FP32 .onnx model)")
    trunk = (layers.Conv2D, layers.BatchNormalization)
    target = [layer for layer in model.layers if isinstance(layer, trunk)]
    if path.suffix == ".onnx":
        weights, found = onnx_weights(path)
    else:
        source = keras.models.load_model(path, compile=False).layers
        weights = [layer.get_weights() for layer in source if isinstance(layer, trunk)]
        dense = [layer for layer in source if isinstance(layer, layers.Dense)]
        found = dense[-1].get_weights() if dense else None
    shapes = lambda found: [tuple(w.shape for w in layer) for layer in found]  # noqa: E731
    if shapes(weights) != shapes([layer.get_weights() for layer in target]):
        raise DmsdError(
            f"--init-from {path}: its convolutions do not match this network's "
            f"({len(weights)} vs {len(target)} layers; the same --width as its run?)"
        )
    for values, dst in zip(weights, target, strict=True):
        dst.set_weights(values)
    head = model.get_layer("probs")  # a seatbelt model's classifier fits it; an emotion model's has 7 classes
    if found is not None and [w.shape for w in found] == [w.shape for w in head.get_weights()]:
        head.set_weights(found)
        return len(target) + 1
    return len(target)


def onnx_weights(path: Path) -> tuple[list[list[np.ndarray]], list[np.ndarray] | None]:
    """The convolutions of an FP32 ONNX export in graph order, each as Keras weights: [kernel] for the Conv2D and
    [gamma, beta, mean, variance] for a batch norm that adds the folded bias and changes nothing else; and the
    classifier, [kernel, bias] from the last MatMul and the Add after it (tf2onnx's export of a Dense layer), or
    None."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises its own DecodeError types
        raise DmsdError(f"--init-from {path}: not a readable ONNX model ({exc})") from None
    graph = model.graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = list(graph.node)
    if any(p.key == "dmsd.members" for p in model.metadata_props):  # an ensemble (convert/ensemble.py): its first
        nodes = [node for node in nodes if node.name.startswith("m0_")]  # member, the network it was grown from
    trunk = []
    for node in nodes:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in initializers:
            raise DmsdError(f"--init-from {path}: a quantized model; use the FP32 file")
        kernel = initializers[node.input[1]].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        channels = kernel.shape[-1]
        bias = initializers[node.input[2]] if len(node.input) > 2 else np.zeros(channels, np.float32)
        epsilon = 1e-3  # Keras' default: variance 1 - epsilon makes the batch norm an identity
        trunk += [
            [kernel],
            [
                np.ones(channels, np.float32),
                bias.astype(np.float32),
                np.zeros(channels, np.float32),
                np.full(channels, 1 - epsilon, np.float32),
            ],
        ]
    matmuls = [n for n in nodes if n.op_type == "MatMul" and n.input[1] in initializers]
    if not matmuls:
        return trunk, None
    kernel = initializers[matmuls[-1].input[1]]
    adds = [n for n in nodes if n.op_type == "Add" and matmuls[-1].output[0] in n.input]
    bias = next(
        (initializers[i] for n in adds for i in n.input if i in initializers), np.zeros(kernel.shape[1], np.float32)
    )
    return trunk, [kernel.astype(np.float32), bias.astype(np.float32)]


def restore_batch_norms(model, samples: np.ndarray) -> None:
    """Give the identity batch norms of an ONNX start the statistics of their inputs on our data, keeping the same
    function: mean and variance measured, gamma = sqrt(variance + epsilon), beta = mean + the folded bias. In
    training, a batch norm normalises by its batch: with gamma 1 and beta the folded bias, it would not give back
    the convolution's own scale and offset, and the copied features would be lost on the first step."""
    import keras
    from keras import layers

    norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    probe = keras.Model(model.inputs, [conv.output for conv in convs])
    outputs = probe.predict(samples, verbose=0, batch_size=128)
    for norm, output in zip(norms, outputs, strict=True):
        mean = output.mean(axis=(0, 1, 2))
        variance = output.var(axis=(0, 1, 2))
        _, bias, _, _ = norm.get_weights()
        norm.set_weights([np.sqrt(variance + norm.epsilon), mean + bias, mean, variance])
