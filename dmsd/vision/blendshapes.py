"""MediaPipe's face blendshapes model on ONNX Runtime: 52 expression scores from 146 of the v2 face mesh's points.

The model's metadata says what it takes and gives (models/README.md, "Blendshapes"): `dmsd.task` "blendshapes" and
`dmsd.blendshapes`, JSON `{"points": [146 mesh indices in input order], "names": [52 score names in output order],
"input": NAME, "scores": NAME}`. Its input is those points' x and y in the frame's pixels, as MediaPipe's own graph
gives them (its normalised points times the image size); it needs the v2 mesh, whose last ten points are the irises.

dmsd keeps the scores it uses, in `FaceShapes`: each eye's blink, squint and look-down, the jaw's opening and the
smile. They are measures, each 0..1; what they mean for the driver is decided in dmsd.driver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from dmsd.vision.classifier import open_session

# The scores dmsd reads, by MediaPipe's names. Left and right are the person's own, as in MediaPipe.
USED = (
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "jawOpen",
    "mouthSmileLeft",
    "mouthSmileRight",
)


@dataclass(frozen=True)
class FaceShapes:
    """The blendshape scores dmsd uses (0..1 each; left and right are the person's own)."""

    blink_left: float
    blink_right: float
    squint_left: float
    squint_right: float
    look_down_left: float
    look_down_right: float
    jaw_open: float
    smile_left: float
    smile_right: float

    @property
    def blink(self) -> float:
        """Both eyes' blink score, the mean (a blink or a sleep closes both)."""
        return (self.blink_left + self.blink_right) / 2

    @property
    def smile(self) -> float:
        return (self.smile_left + self.smile_right) / 2

    @property
    def look_down(self) -> float:
        return (self.look_down_left + self.look_down_right) / 2


class BlendshapeModel:
    def __init__(self, path: Path, intra_op_threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise DmsdError(
                f"{self.path}: no such blendshapes model file (set blendshapes.path, or blendshapes.enabled: false)"
            )
        self.session = open_session(self.path, intra_op_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("dmsd.task") != "blendshapes":
            raise DmsdError(
                f"{self.path}: is a {meta.get('dmsd.task')!r} model, expected 'blendshapes' (metadata dmsd.task)"
            )
        try:
            layout = json.loads(meta["dmsd.blendshapes"])
            self.points = [int(i) for i in layout["points"]]
            names = [str(n) for n in layout["names"]]
            self.input_name, self.output_name = str(layout["input"]), str(layout["scores"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DmsdError(
                f"{self.path}: dmsd.blendshapes must be JSON with points, names, input and scores ({exc!r})"
            ) from None
        missing = [name for name in USED if name not in names]
        if missing:
            raise DmsdError(f"{self.path}: dmsd.blendshapes names lack {', '.join(missing)}")
        self.used = [names.index(name) for name in USED]
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if self.input_name not in inputs or self.output_name not in outputs:
            raise DmsdError(
                f"{self.path}: dmsd.blendshapes names input {self.input_name!r} and scores {self.output_name!r}; "
                f"the model has inputs {sorted(inputs)} and outputs {sorted(outputs)}"
            )
        shape = inputs[self.input_name]
        if len(shape) != 3 or shape[1] not in (len(self.points), None) or not isinstance(shape[1], int | None):
            raise DmsdError(f"{self.path}: takes {shape}, but dmsd.blendshapes names {len(self.points)} points")
        classes = outputs[self.output_name][-1]
        if isinstance(classes, int) and classes != len(names):
            raise DmsdError(f"{self.path}: gives {classes} scores but dmsd.blendshapes names {len(names)}")
        self.precision = meta.get("dmsd.precision", "unknown")

    def predict(self, points: np.ndarray) -> FaceShapes:
        """The scores for one face whose mesh is `points` (frame pixels, N x 3)."""
        if len(points) <= max(self.points):
            # A mesh file of one's own with fewer points: said once, at the first face, since only then is it known.
            raise DmsdError(
                f"{self.path}: needs face mesh point {max(self.points)}, and the face mesh gives {len(points)} "
                "(blendshapes need the v2 mesh; or set blendshapes.enabled: false)"
            )
        tensor = np.ascontiguousarray(points[self.points, :2], dtype=np.float32)[None]
        scores = np.ravel(self.session.run([self.output_name], {self.input_name: tensor})[0])
        return FaceShapes(*(float(np.clip(scores[i], 0.0, 1.0)) for i in self.used))
