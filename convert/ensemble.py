"""Several converted models of one task as one ONNX graph that averages their probabilities.

Seeds of one recipe trained on few people disagree where the data says little (model card, "Phone use"); their
average is steadier than any one of them. The members share the input and the dmsd contract (checked here), so the
daemon runs the ensemble as one model, one call a look.
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


def average(members: list[Path], out: Path) -> None:
    """Write to `out` one graph running every member on the same input and averaging their outputs; the first
    member's metadata, with `dmsd.members` (how many) and `dmsd.parameters` (all of them)."""
    models = [onnx.load(str(path)) for path in members]
    first = contract_of(models[0])
    for path, model in zip(members[1:], models[1:], strict=True):
        other = contract_of(model)
        differs = [key for key in CONTRACT if first.get(key) != other.get(key)]
        if differs:
            raise DmsdError(f"{path}: its {', '.join(differs)} differ from {members[0]}'s; an ensemble shares them")
    prefixed = [compose.add_prefix(model, f"m{i}_") for i, model in enumerate(models)]
    shared_input = prefixed[0].graph.input[0]
    nodes, initializers, value_info, outputs = [], [], [], []
    for model in prefixed:
        own_input = model.graph.input[0].name
        for node in model.graph.node:
            node.input[:] = [shared_input.name if name == own_input else name for name in node.input]
        nodes += model.graph.node
        initializers += model.graph.initializer
        value_info += model.graph.value_info
        outputs.append(model.graph.output[0].name)
    weight = helper.make_tensor("ensemble_weight", onnx.TensorProto.FLOAT, [], [1.0 / len(models)])
    nodes += [
        helper.make_node("Sum", outputs, ["ensemble_sum"]),
        helper.make_node("Mul", ["ensemble_sum", "ensemble_weight"], ["probs"]),
    ]
    classes = len(json.loads(first["dmsd.labels"]))
    output = helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(
        nodes, "ensemble", [shared_input], [output], initializer=[*initializers, weight], value_info=value_info
    )
    merged = helper.make_model(graph, opset_imports=models[0].opset_import)
    merged.ir_version = models[0].ir_version
    parameters = sum(int(contract_of(model).get("dmsd.parameters", 0)) for model in models)
    for key, value in {**first, "dmsd.members": str(len(models)), "dmsd.parameters": str(parameters)}.items():
        merged.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(merged)
    onnx.save(merged, str(out))
