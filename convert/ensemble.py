"""Several converted models of one task as one ONNX graph that averages their probabilities, on the input alone or
on several views of it: its mirror image, and a closer crop of its centre.

Seeds of one recipe trained on few people disagree where the data says little (model card, "Phone use"); their
average is steadier than any one of them. A face and its mirror image show one expression, and a network trained on
flipped faces reads the two a little differently, and one trained on zoomed faces reads a closer crop a little
differently again: the mean over views is better than any one (model card, "Emotion: levers"). The members share the
input and the dmsd contract (checked here), so the daemon runs the ensemble as one model, one call a look; the views
are made inside the graph and run in the same call, as one batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnx.utils
from onnx import compose, helper

from dmsd.errors import DmsdError

CONTRACT = ("dmsd.task", "dmsd.labels", "dmsd.input", "dmsd.output", "dmsd.region", "dmsd.precision")


def contract_of(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def average(members: list[Path], out: Path, mirror: bool = False, zoom: float | None = None) -> None:
    """Write to `out` one graph running every member on the same input and averaging their outputs; the first
    member's metadata, with `dmsd.members` (how many), `dmsd.parameters` (all of them) and `dmsd.views` (what each
    member reads: the input; with `mirror`, its mirror image; with `zoom`, the centre 1/zoom of it scaled back up,
    and that one's mirror image too with `mirror`). The output is the mean over members and views."""
    models = [onnx.load(str(path)) for path in members]
    first = contract_of(models[0])
    for path, model in zip(members[1:], models[1:], strict=True):
        other = contract_of(model)
        differs = [key for key in CONTRACT if first.get(key) != other.get(key)]
        if differs:
            raise DmsdError(f"{path}: its {', '.join(differs)} differ from {members[0]}'s; an ensemble shares them")
    if zoom is not None and not 1.0 < zoom <= 2.0:
        raise DmsdError(f"zoom {zoom}: allowed above 1 (a closer crop) and up to 2")
    prefixed = [compose.add_prefix(model, f"m{i}_") for i, model in enumerate(models)]
    shared_input = prefixed[0].graph.input[0]
    classes = len(json.loads(first["dmsd.labels"]))
    nodes, initializers, seen, names = view_batch(shared_input.name, json.loads(first["dmsd.input"]), mirror, zoom)
    value_info, outputs = [], []
    for model in prefixed:
        own_input = model.graph.input[0].name
        for node in model.graph.node:
            node.input[:] = [seen if name == own_input else name for name in node.input]
        nodes += model.graph.node
        initializers += model.graph.initializer
        value_info += model.graph.value_info
        outputs.append(model.graph.output[0].name)
    weight = helper.make_tensor("ensemble_weight", onnx.TensorProto.FLOAT, [], [1.0 / len(models)])
    several = len(names) > 1
    nodes += [
        helper.make_node("Sum", outputs, ["ensemble_sum"]),
        helper.make_node("Mul", ["ensemble_sum", "ensemble_weight"], ["ensemble_mean" if several else "probs"]),
    ]
    if several:  # rows [view 1 x N, view 2 x N, ...] -> [views, N, classes] -> their mean
        shape = [len(names), -1, classes]
        initializers.append(helper.make_tensor("views_split", onnx.TensorProto.INT64, [3], shape))
        nodes += [
            helper.make_node("Reshape", ["ensemble_mean", "views_split"], ["views_probs"]),
            helper.make_node("ReduceMean", ["views_probs"], ["probs"], axes=[0], keepdims=0),
        ]
    output = helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(
        nodes, "ensemble", [shared_input], [output], initializer=[*initializers, weight], value_info=value_info
    )
    merged = helper.make_model(graph, opset_imports=models[0].opset_import)
    merged.ir_version = models[0].ir_version
    parameters = sum(int(contract_of(model).get("dmsd.parameters", 0)) for model in models)
    extra = {"dmsd.members": str(len(models)), "dmsd.parameters": str(parameters), "dmsd.views": json.dumps(names)}
    for key, value in {**first, **extra}.items():
        merged.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(merged)
    onnx.save(merged, str(out))


def zoom_crop(width: int, height: int, zoom: float) -> tuple[int, int, int, int]:
    """The centre 1/zoom of a width x height picture, in whole pixels: left, top, crop width, crop height."""
    crop_w, crop_h = round(width / zoom), round(height / zoom)
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h


def view_batch(
    image: str, spec: dict, mirror: bool, zoom: float | None
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str, list[str]]:
    """Nodes that stack the views of a batch of images into one batch, view after view: the image; its mirror image
    (flipped along the width axis of the input's layout); the centre 1/zoom of it, resized back to the input's size
    (bilinear), and that crop's mirror image. Returns the nodes, their constants, the stacked batch's name and the
    views' names, in stacking order."""
    height_axis, width_axis = {"NCHW": (2, 3), "NHWC": (1, 2)}[spec["layout"]]
    nodes: list[onnx.NodeProto] = []
    constants: list[onnx.TensorProto] = []
    views, names = [image], ["input"]
    if zoom is not None:
        width, height = spec["size"]
        left, top, crop_w, crop_h = zoom_crop(width, height, zoom)
        scales = [1.0] * 4
        # a hair over the exact ratio: Resize floors size x scale, and 44 x (48 / 44) may round to 47.999
        scales[height_axis], scales[width_axis] = height / crop_h + 1e-6, width / crop_w + 1e-6
        constants += [
            helper.make_tensor("zoom_starts", onnx.TensorProto.INT64, [2], [top, left]),
            helper.make_tensor("zoom_ends", onnx.TensorProto.INT64, [2], [top + crop_h, left + crop_w]),
            helper.make_tensor("zoom_axes", onnx.TensorProto.INT64, [2], [height_axis, width_axis]),
            helper.make_tensor("zoom_scales", onnx.TensorProto.FLOAT, [4], scales),
        ]
        nodes += [
            helper.make_node("Slice", [image, "zoom_starts", "zoom_ends", "zoom_axes"], ["zoom_crop"]),
            helper.make_node(
                "Resize",
                ["zoom_crop", "", "zoom_scales"],
                ["zoom_image"],
                mode="linear",
                coordinate_transformation_mode="half_pixel",
            ),
        ]
        views.append("zoom_image")
        names.append(f"centre 1/{zoom:g}")
    if mirror:
        constants += [
            helper.make_tensor("mirror_starts", onnx.TensorProto.INT64, [1], [-1]),
            helper.make_tensor("mirror_ends", onnx.TensorProto.INT64, [1], [-(2**62)]),  # past the first column
            helper.make_tensor("mirror_axes", onnx.TensorProto.INT64, [1], [width_axis]),
            helper.make_tensor("mirror_steps", onnx.TensorProto.INT64, [1], [-1]),
        ]
        for view, name in list(zip(views, names, strict=True)):
            flipped = f"{view}_mirrored"
            nodes.append(
                helper.make_node(
                    "Slice", [view, "mirror_starts", "mirror_ends", "mirror_axes", "mirror_steps"], [flipped]
                )
            )
            views.append(flipped)
            names.append(f"{name}, mirrored")
    if len(views) == 1:
        return nodes, constants, image, names
    nodes.append(helper.make_node("Concat", views, ["views_batch"], axis=0))
    return nodes, constants, "views_batch", names


def first_network(path: Path, out: Path) -> Path:
    """The first member of a model written by `average` as a model of its own, reading one view (a batch of faces)
    as a plain export does, with the metadata of the contract; a plain model is returned as it is. For reading the
    network itself: its features (train/warm_start.py), or how it reads one view."""
    model = onnx.load(str(path))
    if "dmsd.members" not in contract_of(model):
        return path
    start = next(node for node in model.graph.node if node.name.startswith("m0_"))
    total = next(node for node in model.graph.node if node.op_type == "Sum" and node.output == ["ensemble_sum"])
    onnx.utils.extract_model(str(path), str(out), [start.input[0]], [total.input[0]])
    network = onnx.load(str(out))
    contract = contract_of(model)
    for key in CONTRACT:
        if key in contract:
            network.metadata_props.add(key=key, value=contract[key])
    onnx.save(network, str(out))
    return out
