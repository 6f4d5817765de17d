"""The one command-line shape: argparse subcommands (the bare `dmsd` is `dmsd run`, `dmsd --once` is `dmsd once`),
every command's --config and --log-level, and options checked by the config's own validator."""

import json
import subprocess
import sys
import textwrap

import pytest

from dmsd.commands.cli import COMMANDS
from dmsd.commands.evaluate import TASKS
from harness import CLIP, ROOT, SAMPLES, run_dmsd, write_config

STILLS = [str(SAMPLES / "cabin_frame060.jpg"), str(SAMPLES / "cabin_noface.jpg")]


def test_every_command_has_its_help():
    assert list(COMMANDS) == ["run", "once", "evaluate", "bench", "preview"]
    top = run_dmsd("--help")
    assert top.returncode == 0 and all(name in top.stdout for name in COMMANDS)
    for name in COMMANDS:
        result = run_dmsd(name, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: dmsd {name} ") and "--config PATH" in result.stdout
        assert "--log-level LEVEL" in result.stdout and COMMANDS[name].help in result.stdout


def test_evaluate_help_lists_every_registered_task():
    text = run_dmsd("evaluate", "--help").stdout
    tasks = text[text.index("tasks (--task NAME --data PATH):") :]
    assert len(TASKS) >= 7 and all(f"\n  {name} " in tasks for name in TASKS)
    for task in TASKS.values():
        assert task.scores.split()[1] in tasks  # each task's own line, from the registry


def test_help_loads_no_command():
    code = textwrap.dedent("""
        import json, sys
        from dmsd.commands.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        print(json.dumps(sorted(sys.modules)), file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    modules = json.loads(result.stderr.strip().splitlines()[-1])
    loaded = [m for m in modules if m.startswith(("dmsd.commands.", "dmsd.config", "dmsd.vision", "cv2", "yaml"))]
    assert loaded == ["dmsd.commands.cli", "dmsd.commands.command", "dmsd.commands.run"]


def without_latency(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines()]
    for line in lines:
        line.pop("latency_ms")
        line.pop("ts")
    return lines


def test_once_is_the_same_as_the_once_flag(tmp_path):
    flag = run_dmsd("--once", *STILLS)
    command = run_dmsd("once", *STILLS)
    assert flag.returncode == command.returncode == 0, flag.stderr + command.stderr
    assert without_latency(flag.stdout) == without_latency(command.stdout) and len(flag.stdout.splitlines()) == 2
    # --annotate and --config after the command's name, as with the flag; --config before it too.
    config = write_config(tmp_path / "c.yaml", "landmarks:\n  enabled: false\n")
    drawn = run_dmsd("once", STILLS[0], "--annotate", str(tmp_path / "drawn"), "--config", str(config))
    before = run_dmsd("--config", str(config), "once", STILLS[0])
    assert drawn.returncode == before.returncode == 0 and (tmp_path / "drawn" / "cabin_frame060.jpg").is_file()
    assert without_latency(drawn.stdout) == without_latency(before.stdout) != without_latency(flag.stdout)[:1]


def test_run_is_the_bare_daemon():
    result = run_dmsd("run", "--source", str(CLIP), "--no-mqtt", "--print", "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    topics = [json.loads(line)["topic"] for line in result.stdout.splitlines()]
    assert any(topic.endswith("/state") for topic in topics) and any(topic.endswith("/events") for topic in topics)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mqtt", "broker:99999", "--no-mqtt"], "dmsd: --mqtt: mqtt.port: 99999 is out of range (1..65535)"),
        (["run", "--mqtt", "broker:x", "--no-mqtt"], "dmsd: --mqtt: mqtt.port: expected an integer, got str 'x'"),
        (
            ["--log-level", "LOUD", "--once", STILLS[0]],
            "dmsd: --log-level: log_level: 'LOUD' is not allowed (allowed: DEBUG, INFO, WARNING, ERROR)",
        ),
        (["bench", "--threads", "0"], "dmsd bench: --threads: detector.threads: 0 is out of range (1..256)"),
        (
            ["evaluate", "--log-level", "quiet", "--task", "yawn", "--data", "x"],
            "dmsd evaluate: --log-level: log_level: 'quiet' is not allowed (allowed: DEBUG, INFO, WARNING, ERROR)",
        ),
    ],
)
def test_an_option_is_checked_by_the_config_validator_and_named(args, message):
    result = run_dmsd(*args)
    assert result.returncode == 2 and result.stderr.strip() == message and result.stdout == ""


def test_a_bad_file_is_still_blamed_on_the_file(tmp_path):
    config = write_config(tmp_path / "c.yaml", "mqtt:\n  keepalive_s: 1\n")
    result = run_dmsd("--config", str(config), "--mqtt", "broker:1884", "--max-frames", "1")
    assert result.returncode == 2
    assert result.stderr.strip() == f"dmsd: {config}: mqtt.keepalive_s: 1 is out of range (5..3600)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", str(CLIP), "bench"], "dmsd: --source before 'bench': only --config and --log-level go before"),
        (["--no-mqtt", "run"], "dmsd: --no-mqtt before 'run': only --config and --log-level go before"),
        (["--once", STILLS[0], "--print"], "dmsd: --print is the daemon's option: it does not go with --once"),
        (["--annotate", "out"], "dmsd: --annotate only goes with --once"),
    ],
)
def test_options_out_of_place_are_one_line(args, message):
    result = run_dmsd(*args)
    assert result.returncode == 2 and result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1


def test_every_command_honours_log_level():
    """bench and evaluate log at WARNING unless told: their output is a report. --log-level, before or after the
    command's name, is honoured (the command line's own debug line names the configuration)."""
    missing = ["--source", "/nonexistent/clip.mp4"]
    quiet = run_dmsd("bench", *missing)
    assert quiet.returncode == 2 and len(quiet.stderr.splitlines()) == 1
    for args in (["bench", *missing, "--log-level", "DEBUG"], ["--log-level", "DEBUG", "bench", *missing]):
        loud = run_dmsd(*args)
        assert loud.returncode == 2 and loud.stderr.strip().splitlines()[-1].startswith("dmsd bench: source ")
        assert " DEBUG dmsd.commands.cli: dmsd " in loud.stderr, loud.stderr
        assert "bench: configuration from " in loud.stderr
    evaluate = run_dmsd("evaluate", "--log-level", "DEBUG", "--task", "yawn", "--data", "/nonexistent")
    assert evaluate.returncode == 2 and "evaluate: configuration from " in evaluate.stderr
