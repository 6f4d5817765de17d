"""The per-frame stage slot: a new measure is one module and one registration, and the analyzer, the result, its
JSON, the latency and the daemon take it up with no other change."""

import json
import subprocess
import sys
import textwrap

from dmsd.vision.stages import STAGES
from harness import CLIP, ROOT, SAMPLES

MEASURE = '''
from dataclasses import dataclass

from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, Stage


@dataclass(frozen=True)
class Brightness:
    mean: float


class BrightnessStage(Stage[Brightness]):
    """The face's mean grey level: enough to prove the slot."""

    product = Product("brightness", Brightness)
    latency_key = "brightness"

    @classmethod
    def from_config(cls, config, video):
        return cls()

    def run(self, frame: FrameWork) -> Brightness:
        f = frame.face
        return Brightness(float(frame.grey[f.y:f.y + f.h, f.x:f.x + f.w].mean()))
'''


def run_with_the_measure(tmp_path, argv: list[str]) -> subprocess.CompletedProcess:
    """The real command line, in a fresh interpreter, with BrightnessStage registered as a module would be."""
    (tmp_path / "brightness.py").write_text(MEASURE)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import dmsd.vision.stages as stages
        from brightness import BrightnessStage
        stages.STAGES.append(BrightnessStage)  # the one registration (dmsd/vision/stages/__init__.py)
        from dmsd.commands.cli import main
        sys.exit(main({argv!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_new_measure_is_one_module_and_one_registration(tmp_path):
    stills = [str(SAMPLES / "cabin_frame060.jpg"), str(SAMPLES / "cabin_noface.jpg")]
    result = run_with_the_measure(tmp_path, ["--once", *stills])
    assert result.returncode == 0, result.stderr
    with_face, without = (json.loads(line) for line in result.stdout.splitlines())
    # After the shipped measures, before the eye rule's still verdict and the latency; null without a face.
    assert list(with_face)[-3:] == ["brightness", "still_verdict", "latency_ms"] and list(with_face)[4:10] == [
        "emotion",
        "seatbelt",
        "eyes",
        "blendshapes",
        "head",
        "mouth",
    ]
    assert 20 < with_face["brightness"]["mean"] < 235 and "brightness" in with_face["latency_ms"]
    assert without["face"] is None and without["brightness"] is None and "brightness" not in without["latency_ms"]


def test_the_daemon_takes_up_a_new_measure_with_no_other_change(tmp_path):
    result = run_with_the_measure(tmp_path, ["--source", str(CLIP), "--max-frames", "30", "--no-mqtt", "--print"])
    assert result.returncode == 0, result.stderr
    states = [json.loads(line)["payload"] for line in result.stdout.splitlines() if '"dms/' in line]
    stats = [p for p in states if isinstance(p, dict) and "fps" in p]
    assert stats and "brightness" in stats[-1]["latency_ms"]  # measured every frame, timed in the stats


def test_the_registered_stages_run_face_first_with_one_key_each():
    assert STAGES[0].product.key == "face" and STAGES[0].needs == ()
    keys = [stage.product.key for stage in STAGES]
    assert keys == ["face", "emotion", "seatbelt", "eyes", "blendshapes", "head", "mouth", "phone", "occupancy"]
    assert len(set(keys)) == len(keys)
    for stage in STAGES:
        assert all(
            need in ("face", "landmarks") or need in keys[: keys.index(stage.product.key)] for need in stage.needs
        )


def test_a_product_is_found_by_its_key_and_checked_against_its_type():
    """Two measures of one type no longer shadow each other: each is looked up by its key, and a product under a key
    that holds another type is refused, not handed on."""
    import pytest

    from dmsd.vision.face_measures import Mouth
    from dmsd.vision.results import FrameResult, Product

    upper, lower = Product("upper", Mouth), Product("lower", Mouth)
    result = FrameResult("t", 0.0, None, {"upper": Mouth(0.1), "lower": Mouth(0.7)})
    assert result.get(upper) == Mouth(0.1) and result.get(lower) == Mouth(0.7)
    assert result.get(Product("absent", Mouth)) is None
    with pytest.raises(TypeError, match="'upper' is a Mouth, not a str"):
        result.get(Product("upper", str))
