"""The seat region while the face is lost (dmsd.vision.stages.occupancy), on real frames."""

import cv2

from dmsd.vision.geometry import Box
from dmsd.vision.stages.base import FACE as FACE_PRODUCT
from dmsd.vision.stages.base import FrameWork, LocatedFace
from dmsd.vision.stages.occupancy import OccupancyStage, SeatOccupancy
from harness import CLIP, SAMPLES
from harness.clips import grey_frames

FACE = Box(181, 78, 88, 88)  # the driver's face in the bundled clip's first frames


def frame(grey, face=None):
    work = FrameWork(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), grey)
    work.products[FACE_PRODUCT.key] = LocatedFace(face)
    return work


def test_the_same_seat_reads_alike_a_changed_picture_does_not():
    frames = grey_frames(CLIP, 10)
    stage = OccupancyStage()
    assert stage.run(frame(frames[0], FACE)) is None  # with a face: the region is kept, nothing measured
    same = stage.run(frame(frames[1]))  # a second later, the driver still there, the face taken away
    assert isinstance(same, SeatOccupancy) and same.similarity > 0.9
    other = cv2.resize(cv2.imread(str(SAMPLES / "cabin_noface.jpg"), cv2.IMREAD_GRAYSCALE), frames[0].shape[::-1])
    changed = stage.run(frame(other))  # another picture of the cabin, same size: nobody where the driver was
    assert changed is not None and changed.similarity < 0.5
    assert stage.run(frame(frames[2][:200, :300])) is None  # another frame size: nothing to compare with


def test_video_only():
    from dmsd.config import Config

    assert OccupancyStage.from_config(Config(), video=False) is None
    assert isinstance(OccupancyStage.from_config(Config(), video=True), OccupancyStage)
