"""The face mesh on the driver's face every frame, and on video the mesh as the face tracker.

The detector (dmsd.vision.face_finder) finds the faces; the landmark model runs on them in the seat rule's order
and its presence score chooses: the first face it confirms (`landmarks.min_presence`) is the driver's, so a
headrest the cascade takes for a face gives way to the face beside it. When it confirms none, the detector's pick
stands with its eyes, head and mouth unknown (on stretched stock photos the mesh doubts real faces). On video, with
`landmarks.track`, the next frame's face is taken from this frame's points, as MediaPipe's own pipeline does, and
the detector runs only when the mesh loses the face: the mesh costs less than a detector search and follows a head
turned further than the frontal cascade sees.

A box from the mesh stands in for the cascade's: the emotion model and the chest rule were built on cascade
boxes. `BOX_MAP` turns 14 anchor points of the mesh into the box the cascade would give (a ridge regression,
`python -m scripts.fit_mesh_box`, which also says how close it comes to the cascade's own boxes on held-out video:
much closer than the mesh's bounding box).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dmsd.config import LandmarksConfig
from dmsd.vision.face_finder import FaceFinder
from dmsd.vision.geometry import Box
from dmsd.vision.landmarks import LandmarkModel, Landmarks

# Mesh points whose place, relative to the mesh's centre, says where the cascade's box would be: nose tip and
# bridge, between the brows, the eyes' corners, the mouth's corners, chin, forehead and the cheeks' edges.
ANCHORS = (1, 4, 6, 168, 33, 263, 133, 362, 61, 291, 152, 10, 234, 454)
# Fitted by `python -m scripts.fit_mesh_box` (263 pairs); a row per feature of mesh_features, columns: the box
# centre's x and y offsets from the mesh's centre and the box's side, all in mesh heights.
BOX_MAP = np.array(
    [
        (0.4820, -0.1105, -0.1493),
        (0.5881, -0.1027, -0.1669),
        (0.3361, 0.0146, -0.0034),
        (0.0993, 0.0529, -0.0080),
        (-0.6100, -0.1868, 0.4571),
        (0.0158, 0.3499, -0.0530),
        (-0.8052, -0.1336, 0.2978),
        (-0.7910, 0.2083, 0.0053),
        (0.2600, 0.1219, -0.1288),
        (-0.2645, -0.1482, -0.0536),
        (-1.2485, 0.1521, 0.0788),
        (-0.7002, 0.0759, -0.4074),
        (0.7308, 0.0912, -0.3993),
        (0.2253, -0.2303, 0.0454),
        (-0.2858, 0.1836, -0.0614),
        (-0.2317, 0.1043, 0.0390),
        (-0.3133, 0.0250, 0.0065),
        (-0.1297, -0.5102, 0.9501),
        (-0.4581, 0.1867, 0.6786),
        (-0.3820, 0.1482, 0.6166),
        (0.0499, 0.0127, 0.1685),
        (0.2088, 0.0191, 0.1728),
        (-0.6161, -0.0197, -0.3963),
        (-0.0647, -0.2382, 0.0732),
        (-0.3152, 0.5719, 1.3135),
        (-0.0319, 0.4385, -0.7532),
        (-0.1648, -0.0036, -0.2475),
        (-0.0253, -0.0488, -0.0034),
        (0.1904, -0.1283, 0.5538),
    ]
)


def mesh_features(points: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """The anchors' offsets from the mesh's centre in mesh heights (x then y, and a constant 1); the centre; the
    mesh's height."""
    cx, cy = float(points[:, 0].mean()), float(points[:, 1].mean())
    height = float(points[:, 1].max() - points[:, 1].min()) or 1.0
    anchors = points[list(ANCHORS), :2]
    return np.concatenate([(anchors[:, 0] - cx) / height, (anchors[:, 1] - cy) / height, [1.0]]), cx, cy, height


def box_from_mesh(points: np.ndarray, coefficients: np.ndarray) -> Box:
    features, cx, cy, height = mesh_features(points)
    dx, dy, side = (features @ coefficients) * height
    return Box(round(cx + dx - side / 2), round(cy + dy - side / 2), round(side), round(side))


def face_box(points: np.ndarray) -> Box:
    """The cascade-like face box of a mesh (frame pixels)."""
    return box_from_mesh(points, BOX_MAP)


@dataclass(frozen=True)
class MeshFace:
    """The driver's face in one frame: its box (None when there is no face) and its mesh (None when unknown)."""

    box: Box | None
    landmarks: Landmarks | None
    detect_ms: float
    landmarks_ms: float
    found_by: str | None = None  # `mesh` (followed from the last frame) or the detector's name
    mesh_lost: bool = False  # the mesh followed a face into this frame and lost it there


class FaceMesh:
    def __init__(self, model: LandmarkModel, faces: FaceFinder, config: LandmarksConfig, video: bool):
        self.model, self.faces, self.config = model, faces, config
        self.tracking = video and config.track
        self.track: Box | None = None  # this frame's face for the next frame, from the mesh

    def find(self, image: np.ndarray, grey: np.ndarray) -> MeshFace:
        height, width = grey.shape
        t0 = time.perf_counter()
        if self.track is not None:
            found = self.model.predict(image, self.track)
            if found.presence >= self.config.min_presence:
                box = face_box(found.points).clipped(width, height)
                if box is not None:
                    self.track = box
                    self.faces.follow(box)  # should the mesh lose it, the detector looks here first
                    return MeshFace(box, found, 0.0, (time.perf_counter() - t0) * 1000, "mesh")
            self.track = None  # lost: the detector looks for the driver again
            mesh_lost = True
        else:
            mesh_lost = False
        t1 = time.perf_counter()
        candidates = self.faces.candidates(grey)
        found_by = self.faces.found_by
        detect_ms = (time.perf_counter() - t1) * 1000
        mesh_ms = 0.0
        # The mesh chooses among the detector's faces: one it confirms beats one it does not (a full search can
        # prefer a headrest, which the mesh does not confirm, to the driver's face beside it).
        confirmed, spent = self.confirm(image, candidates)
        mesh_ms += spent
        if confirmed is None and candidates:
            # None of them is a face to the mesh (the cascade also takes shirts, hands and half faces for faces):
            # the fallback detector gives its faces, and one the mesh confirms is the driver's.
            t3 = time.perf_counter()
            second = self.faces.second_opinion(grey)
            detect_ms += (time.perf_counter() - t3) * 1000
            confirmed, spent = self.confirm(image, second)
            mesh_ms += spent
            if confirmed is not None:
                found_by = self.faces.fallback_name
                self.faces.follow(confirmed[0])
        landmarks_ms = mesh_ms + (t1 - t0) * 1000
        if confirmed is not None:
            face, found = confirmed
            if self.tracking:
                self.track = face_box(found.points).clipped(width, height)
            return MeshFace(face, found, detect_ms, landmarks_ms, found_by, mesh_lost)
        # None confirmed: the detector's own pick stands, its measures unknown (on stretched stock photos the mesh
        # doubts real faces the cascade finds).
        return MeshFace(
            candidates[0] if candidates else None,
            None,
            detect_ms,
            landmarks_ms,
            found_by if candidates else None,
            mesh_lost,
        )

    def confirm(self, image: np.ndarray, faces: list[Box]) -> tuple[tuple[Box, Landmarks] | None, float]:
        """The first of `faces` the mesh confirms, with its points (None: none), and the milliseconds it took."""
        started = time.perf_counter()
        for face in faces:
            found = self.model.predict(image, face)
            if found.presence >= self.config.min_presence:
                return (face, found), (time.perf_counter() - started) * 1000
        return None, (time.perf_counter() - started) * 1000
