"""The real `dmsd` command line in a fresh process, and what it prints."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from harness.paths import ROOT


def dmsd_env(env: dict | None) -> dict:
    """The test's environment, with a state directory of the run's own (so no outbox is shared between runs)
    unless the test names one."""
    import tempfile

    base = {key: value for key, value in os.environ.items() if key != "STATE_DIRECTORY"}
    return {**base, "XDG_STATE_HOME": tempfile.mkdtemp(prefix="dmsd-state-"), **(env or {})}


def run_dmsd(
    *args: str, timeout: float = 120, env: dict | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run the real `dmsd` command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "dmsd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=dmsd_env(env),
    )


def start_dmsd(*args: str, env: dict | None = None, cwd: Path = ROOT, **popen) -> subprocess.Popen:
    """The real `dmsd` started in the background, its stdout and stderr piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "dmsd", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=dmsd_env(env),
        **popen,
    )


@contextlib.contextmanager
def running_dmsd(*args: str, env: dict | None = None, cwd: Path = ROOT):
    """The real `dmsd` in the background; killed if the test leaves before it has ended."""
    daemon = start_dmsd(*args, env=env, cwd=cwd)
    try:
        yield daemon
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()


def printed_events(lines: list[str]) -> list[dict]:
    """The event payloads among `--print`'s JSON lines."""
    return [r["payload"] for r in map(json.loads, lines) if r["topic"].endswith("/events")]


class LineReader:
    """Collects a running process's stdout (or stderr: its log) lines in a thread, so a test can wait for some
    without blocking."""

    def __init__(self, process: subprocess.Popen, stream: str = "stdout"):
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(getattr(process, stream),), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait(self, predicate, timeout: float) -> list[str]:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.lines), timeout):
                raise TimeoutError(f"condition not met; last lines: {self.lines[-5:]}")
            return list(self.lines)

    def finish(self) -> list[str]:
        """Every line, once the process has closed its stdout."""
        self.thread.join(30)
        return list(self.lines)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
