"""Several converted models of one task as one ONNX graph that averages their probabilities, on the input alone or
on the input and its mirror image.

Seeds of one recipe trained on few people disagree where the data says little (model card, "Phone use"); their
average is steadier than any one of them. A face and its mirror image show one expression, and a network trained on
flipped faces reads the two a little differently: the mean of both is better than either (model card, "Emotion:
levers"). The members share the input and the dmsd contract (checked here), so the daemon runs the ensemble as one
model, one call a look; the mirror image is made inside the graph and runs in the same call, as a batch of two.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import compose, helper

from dmsd.errors import DmsdError

CONTRACT = ("dmsd.task", "dmsd.labels", "dmsd.input", "dmsd.output", "dmsd.region", "dmsd.precision")


def contract_of(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def average(members: list[Path], out: Path, mirror: bool = False) -> None:
    """Write to `out` one graph running every member on the same input and averaging their outputs; the first
    member's metadata, with `dmsd.members` (how many), `dmsd.parameters` (all of them) and, with `mirror`,
    `dmsd.mirror`: each member also sees the input flipped left to right, and the mean is over both views."""
    models = [onnx.load(str(path)) for path in members]
    first = contract_of(models[0])
    for path, model in zip(members[1:], models[1:], strict=True):
        other = contract_of(model)
        differs = [key for key in CONTRACT if first.get(key) != other.get(key)]
        if differs:
            raise DmsdError(f"{path}: its {', '.join(differs)} differ from {members[0]}'s; an ensemble shares them")
    prefixed = [compose.add_prefix(model, f"m{i}_") for i, model in enumerate(models)]
    shared_input = prefixed[0].graph.input[0]
    classes = len(json.loads(first["dmsd.labels"]))
    nodes, initializers, value_info, outputs = [], [], [], []
    seen = shared_input.name
    if mirror:
        nodes, initializers, seen = mirror_views(shared_input.name, json.loads(first["dmsd.input"])["layout"])
    for model in prefixed:
        own_input = model.graph.input[0].name
        for node in model.graph.node:
            node.input[:] = [seen if name == own_input else name for name in node.input]
        nodes += model.graph.node
        initializers += model.graph.initializer
        value_info += model.graph.value_info
        outputs.append(model.graph.output[0].name)
    weight = helper.make_tensor("ensemble_weight", onnx.TensorProto.FLOAT, [], [1.0 / len(models)])
    nodes += [
        helper.make_node("Sum", outputs, ["ensemble_sum"]),
        helper.make_node("Mul", ["ensemble_sum", "ensemble_weight"], ["ensemble_mean" if mirror else "probs"]),
    ]
    if mirror:  # rows [input..., mirrored...] -> [2, N, classes] -> the mean of the two views
        initializers.append(helper.make_tensor("mirror_split", onnx.TensorProto.INT64, [3], [2, -1, classes]))
        nodes += [
            helper.make_node("Reshape", ["ensemble_mean", "mirror_split"], ["mirror_views"]),
            helper.make_node("ReduceMean", ["mirror_views"], ["probs"], axes=[0], keepdims=0),
        ]
    output = helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(
        nodes, "ensemble", [shared_input], [output], initializer=[*initializers, weight], value_info=value_info
    )
    merged = helper.make_model(graph, opset_imports=models[0].opset_import)
    merged.ir_version = models[0].ir_version
    parameters = sum(int(contract_of(model).get("dmsd.parameters", 0)) for model in models)
    extra = {"dmsd.members": str(len(models)), "dmsd.parameters": str(parameters)}
    if mirror:
        extra["dmsd.mirror"] = "true"
    for key, value in {**first, **extra}.items():
        merged.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(merged)
    onnx.save(merged, str(out))


def mirror_views(image: str, layout: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Nodes that stack a batch of images on top of their mirror images (flipped along the width axis of the
    `layout`): the members then see 2N rows in one call. Returns the nodes, their constants and the stacked name."""
    width_axis = {"NCHW": 3, "NHWC": 2}[layout]
    constants = [
        helper.make_tensor("mirror_starts", onnx.TensorProto.INT64, [1], [-1]),
        helper.make_tensor("mirror_ends", onnx.TensorProto.INT64, [1], [-(2**62)]),  # past the first column
        helper.make_tensor("mirror_axes", onnx.TensorProto.INT64, [1], [width_axis]),
        helper.make_tensor("mirror_steps", onnx.TensorProto.INT64, [1], [-1]),
    ]
    nodes = [
        helper.make_node(
            "Slice", [image, "mirror_starts", "mirror_ends", "mirror_axes", "mirror_steps"], ["mirror_image"]
        ),
        helper.make_node("Concat", [image, "mirror_image"], ["mirror_batch"], axis=0),
    ]
    return nodes, constants, "mirror_batch"
