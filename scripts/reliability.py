"""The reliability proof: dmsd against real processes (Mosquitto brokers, an MJPEG camera, SIGKILL, systemd's own
audit), one row per claim, as a table.

    python -m scripts.reliability                  # everything, at the README's counts (about 5 minutes)
    python -m scripts.reliability --only fuzz --images 40 --configs 20   # one row, fewer tries (what CI runs)

Rows: outages (broker stopped and started during a run), kill (SIGKILL while the broker is down, restarted each
time), bridge (the fleet uplink cut and restored), stall (a camera that stops sending), fuzz (mutated images and
config files), hardening (the unit's exposure, and the daemon run under its syscall filter and
MemoryDenyWriteExecute), auth (a broker with TLS and a password). Needs mosquitto; a row that also needs
mosquitto_passwd, openssl, systemd-analyze, libseccomp or Linux 6.3's PR_SET_MDWE says `skipped: needs ...` where
they are missing. Imports only dmsd and the harness package the tests use too (brokers, the fleet bridge,
certificates, MjpegCamera).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    ROOT,
    SAMPLES,
    Broker,
    LineReader,
    MjpegCamera,
    Subscriber,
    dmsd_env,
    fleet_broker,
    printed_events,
    secured_broker,
    start_dmsd,
    vehicle_broker,
)

FAST_EVENTS = (
    "source:\n  fps: 5\n  realtime: true\n  loop: true\n"
    "state:\n  absent_after_s: 0.5\n  emotion_hold_s: 0.2\n  seatbelt_debounce_s: 0.2\n"
    "mqtt:\n  reconnect_min_s: 0.5\n  reconnect_max_s: 1\n  drain_timeout_s: 30\n"
)


def alternating(folder: Path) -> Path:
    """The driver for 1 s, the empty seat for 1 s, at 5 frames/s: an event about every second."""
    folder.mkdir()
    for i in range(10):
        image = "cabin_frame060.jpg" if i < 5 else "cabin_noface.jpg"
        shutil.copy(SAMPLES / image, folder / f"{i:03d}.jpg")
    return folder


def delivery(raised: list[dict], received: list[dict]) -> dict:
    ids = [(e["run"], e["seq"]) for e in received]
    unique = list(dict.fromkeys(ids))
    raised_ids = [(e["run"], e["seq"]) for e in raised]
    lost = len(set(raised_ids) - set(ids))
    return {
        "raised": len(raised),
        "lost": lost,
        "twice": len(ids) - len(unique),
        "order kept": [i for i in unique if i in set(raised_ids)] == raised_ids,
    }


# -- rows ----------------------------------------------------------------------------------------------------
def through_cuts(
    work: Path, device: str, publish_to: Broker, cut: Broker, sub: Subscriber, cycles: int, down_s: float
) -> tuple[list[dict], list[dict], list[tuple[float, float]]]:
    """dmsd raising events into `publish_to` while `cut` is stopped for `down_s` and started again, `cycles` times:
    the events it raised, those `sub` received, and the outage windows."""
    config = _write(work / "c.yaml", f"device_id: {device}\n" + FAST_EVENTS)
    daemon = start_dmsd(
        "--config", str(config), "--source", str(alternating(work / "frames")), "--mqtt", publish_to.address, "--print"
    )
    reader = LineReader(daemon)
    windows = []
    time.sleep(3)
    for _ in range(cycles):
        cut.stop()
        down = time.time()
        time.sleep(down_s)
        windows.append((down, time.time()))
        cut.start()
        time.sleep(down_s)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    raised = printed_events(reader.finish())
    sub.wait_for(lambda m: len(m) >= len(raised), timeout=90)
    time.sleep(1)
    return raised, sub.payloads("events"), windows


def outages(work: Path, cycles: int) -> dict:
    broker = Broker(_dir(work / "broker")).start()
    sub = Subscriber(broker, "dms/outage-car/events")
    try:
        raised, received, windows = through_cuts(work, "outage-car", broker, broker, sub, cycles, 2.5)
    finally:
        sub.close()
        broker.stop()
    in_every = all(any(a < e["ts"] < b for e in raised) for a, b in windows)
    return {**delivery(raised, received), "outages": cycles, "events in every outage": in_every}


def kills(work: Path, cycles: int) -> dict:
    broker = Broker(_dir(work / "broker")).start()
    sub = Subscriber(broker, "dms/kill-car/events")
    broker.stop()
    config = _write(work / "c.yaml", "device_id: kill-car\n" + FAST_EVENTS)
    frames = alternating(work / "frames")
    env = {"XDG_STATE_HOME": str(work / "state")}
    raised: list[dict] = []
    try:
        for _ in range(cycles):
            daemon = start_dmsd(
                "--config", str(config), "--source", str(frames), "--mqtt", broker.address, "--print", env=env
            )
            reader = LineReader(daemon)
            reader.wait(lambda lines: len(printed_events(lines)) >= 2, timeout=30)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
            raised += printed_events(reader.finish())
        broker.start()
        last = start_dmsd(
            "--config",
            str(config),
            "--source",
            str(frames),
            "--mqtt",
            broker.address,
            "--print",
            "--max-frames",
            "15",
            env=env,
        )
        stdout, _ = last.communicate(timeout=120)
        raised += printed_events(stdout.splitlines())
        sub.wait_for(lambda m: len(m) >= len(raised), timeout=60)
        time.sleep(1)
        received = sub.payloads("events")
    finally:
        sub.close()
        broker.stop()
    return {**delivery(raised, received), "kills": cycles}


def bridge(work: Path, cycles: int) -> dict:
    fleet = fleet_broker(work / "fleet").start()
    vehicle = vehicle_broker(work / "vehicle", fleet).start()
    sub = Subscriber(
        fleet,
        "dms/bridge-car/events",
        username="dashboard",
        password="dash-secret",
        ca_certs=str(fleet.workdir / "ca.crt"),
    )
    try:
        raised, received, _ = through_cuts(work, "bridge-car", vehicle, fleet, sub, cycles, 3.0)
    finally:
        sub.close()
        vehicle.stop()
        fleet.stop()
    return {**delivery(raised, received), "uplink cuts": cycles}


def stall(work: Path, tries: int, stall_timeout_s: float = 1.0) -> dict:
    camera = MjpegCamera(SAMPLES / "cabin_frame060.jpg", fps=10).start()
    config = _write(
        work / "c.yaml", f"source:\n  stall_timeout_s: {stall_timeout_s}\n  reopen_min_s: 0.2\n  reopen_max_s: 0.5\n"
    )
    daemon = start_dmsd("--config", str(config), "--source", camera.url, "--no-mqtt", "--print")
    reader = LineReader(daemon)
    delays = []
    try:
        reader.wait(lambda lines: "driver_present" in str(printed_events(lines)), timeout=60)
        for i in range(tries):
            camera.paused = True
            paused_at = time.time()
            lost = reader.wait(lambda lines, n=i + 1: _count(lines, "camera_lost") >= n, timeout=30)
            event = [e for e in printed_events(lost) if e["type"] == "camera_lost"][-1]
            delays.append(event["ts"] - paused_at)
            camera.paused = False
            reader.wait(lambda lines, n=i + 1: _count(lines, "camera_restored") >= n, timeout=30)
            time.sleep(0.5)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        camera.stop()
    limit = stall_timeout_s + 0.5
    return {
        "tries": tries,
        "camera_lost in time": sum(d <= limit for d in delays),
        "limit s": limit,
        "median s": round(sorted(delays)[len(delays) // 2], 2),
        "max s": round(max(delays), 2),
    }


def fuzz(work: Path, images: int, configs: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    folder = _dir(work / "images")
    sources = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    for i in range(images):
        (folder / f"m{i:04d}{rng.choice(['.jpg', '.png', '.jpeg', '.bmp'])}").write_bytes(mutate_image(rng, sources))
    paths = sorted(folder.iterdir())
    tracebacks, unclear, errors, analysed = 0, 0, 0, 0
    for start in range(0, len(paths), 100):  # 100 images a process: one line each, JSON or an error
        batch = paths[start : start + 100]
        result = subprocess.run(
            [sys.executable, "-m", "dmsd", "--once", *map(str, batch)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dmsd_env(None),
            timeout=600,
        )
        tracebacks += "Traceback" in result.stderr
        err_lines = result.stderr.splitlines()
        out_lines = result.stdout.splitlines()
        errors += len(err_lines)
        analysed += len(out_lines)
        unclear += len(err_lines) + len(out_lines) != len(batch)
        unclear += sum(not line.startswith("dmsd: ") for line in err_lines)
    base = (ROOT / "config.yaml").read_text()
    config_tracebacks, config_unclear, refused = 0, 0, 0
    image = SAMPLES / "cabin_frame060.jpg"
    for i in range(configs):
        path = _write(work / f"c{i:03d}.yaml", mutate_config(rng, base))
        result = subprocess.run(
            [sys.executable, "-m", "dmsd", "--config", str(path), "--once", str(image)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dmsd_env(None),
            timeout=120,
        )
        config_tracebacks += "Traceback" in result.stderr
        if result.returncode != 0:
            refused += 1
            config_unclear += len(result.stderr.splitlines()) != 1 or not result.stderr.startswith("dmsd: ")
        else:
            config_unclear += len(result.stdout.splitlines()) != 1
    return {
        "images": images,
        "analysed": analysed,
        "refused, one line each": errors,
        "tracebacks": tracebacks + config_tracebacks,
        "unclear": unclear + config_unclear,
        "configs": configs,
        "configs refused, one line each": refused,
    }


def mutate_image(rng: random.Random, sources: list[bytes]) -> bytes:
    data = bytearray(rng.choice(sources))
    kind = rng.randrange(6)
    if kind == 0:  # truncated
        return bytes(data[: rng.randrange(0, len(data))])
    if kind == 1:  # bytes flipped anywhere
        for _ in range(rng.randrange(1, 50)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 2:  # the header mangled
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(min(200, len(data)))] = rng.randrange(256)
    elif kind == 3:  # noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 5000)))
    elif kind == 4:  # a block repeated or cut out
        a, b = sorted(rng.randrange(len(data)) for _ in range(2))
        data = data[:a] + data[b:] if rng.random() < 0.5 else data[:b] + data[a:b] + data[b:]
    else:  # another format, odd sizes and channels
        import cv2
        import numpy as np

        h, w = rng.choice([1, 2, 7, 48, 480, 2000]), rng.choice([1, 3, 64, 640, 3000])
        channels = rng.choice([1, 3, 4])
        depth = rng.choice([np.uint8, np.uint16])
        array = np.random.default_rng(rng.randrange(1 << 30)).integers(
            0, np.iinfo(depth).max, (h, w, channels), dtype=depth
        )
        return cv2.imencode(".png", array)[1].tobytes()
    return bytes(data)


def mutate_config(rng: random.Random, base: str) -> str:
    lines = [line for line in base.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    values = [
        "-1",
        "0",
        "1e309",
        "null",
        "yes",
        "[1, 2]",
        "{a: 1}",
        "'x'",
        "99999999",
        "0.0001",
        '""',
        "nan",
        "haar",
        '"dms/#"',
        "~",
        "!!python/object:os.system ls",
        "&a 1",
        "*b",
    ]
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines))
        kind = rng.randrange(5)
        if kind == 0 and ":" in lines[i]:
            key = lines[i].split(":")[0]
            lines[i] = f"{key}: {rng.choice(values)}"
        elif kind == 1:
            del lines[i]
        elif kind == 2:
            lines[i] = " " * rng.randrange(0, 5) + lines[i].lstrip()
        elif kind == 3:
            lines.insert(i, f"{rng.choice(['bogus', 'mqtt', 'source', 'x y'])}: {rng.choice(values)}")
        else:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return "\n".join(lines) + "\n"


def hardening(work: Path) -> dict:
    unit = ROOT / "systemd" / "dmsd.service"
    audit = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True)
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", audit.stdout).group(1))
    # The daemon under the unit's syscall filter and MemoryDenyWriteExecute (applied here as systemd applies
    # them: no_new_privs, then a seccomp allow-list whose default is EPERM), with a camera and a broker.
    broker = Broker(_dir(work / "broker")).start()
    camera = MjpegCamera(SAMPLES / "cabin_frame060.jpg", fps=10).start()
    sub = Subscriber(broker, "dms/confined-car/#")
    try:
        allowed = syscall_set("@system-service") - syscall_set("@privileged", "@resources")
        command = [
            sys.executable,
            "-m",
            "scripts.reliability",
            "--confine",
            ",".join(sorted(allowed)),
            "--",
            sys.executable,
            "-m",
            "dmsd",
            "--source",
            camera.url,
            "--mqtt",
            broker.address,
            "--max-frames",
            "40",
        ]
        config = _write(work / "c.yaml", "device_id: confined-car\n")
        result = subprocess.run(
            command + ["--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dmsd_env(None),
            timeout=120,
        )
        sub.wait_for(lambda m: any(t.endswith("/availability") and p == b"offline" for t, p, _ in m), timeout=30)
        states = sub.payloads("state")
    finally:
        sub.close()
        camera.stop()
        broker.stop()
    return {
        "exposure": exposure,
        "confined run exit": result.returncode,
        "confined run face found": bool(states) and states[-1]["driver_present"] is True,
        "tracebacks": "Traceback" in result.stderr,
    }


def syscall_set(*groups: str) -> set[str]:
    listing = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True).stdout
    members: dict[str, list[str]] = {}
    current = None
    for line in listing.splitlines():
        if line.startswith("@"):
            current = members.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    out: set[str] = set()

    def expand(name: str) -> None:
        for item in members.get(name, []):
            if item.startswith("@"):
                expand(item)
            else:
                out.add(item)

    for group in groups:
        expand(group)
    return out


def confine(allowed: list[str], command: list[str]) -> None:
    """no_new_privs, MemoryDenyWriteExecute (PR_SET_MDWE) and a seccomp allow-list (else EPERM), then exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        sys.exit(f"prctl(PR_SET_MDWE) failed: {os.strerror(ctypes.get_errno())} (Linux 6.3 or later)")
    seccomp = ctypes.CDLL("libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    context = ctypes.c_void_p(seccomp.seccomp_init(0x00050000 | 1))  # SCMP_ACT_ERRNO(EPERM)
    for name in allowed:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:  # names of other architectures resolve to nothing here
            seccomp.seccomp_rule_add(context, 0x7FFF0000, number, 0)  # SCMP_ACT_ALLOW
    if seccomp.seccomp_load(context) != 0:
        sys.exit("seccomp_load failed")
    os.execv(command[0], command)


def auth(work: Path) -> dict:
    folder = _dir(work / "broker")
    broker = secured_broker(folder, users={"dash": "s3cret"}, tls=True).start()
    outcomes = {}
    try:
        for name, password, ca in (
            ("right credentials", "s3cret", "ca.crt"),
            ("wrong password", "nope", "ca.crt"),
            ("untrusted CA", "s3cret", "other.crt"),
        ):
            config = _write(
                work / f"{name}.yaml",
                f"device_id: auth-car\nmqtt:\n  host: 127.0.0.1\n"
                f"  port: {broker.port}\n  username: dash\n  drain_timeout_s: 2\n"
                f"  outbox: null\n  tls:\n    enabled: true\n"
                f"    ca_certs: {folder / ca}\n",
            )
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dmsd",
                    "--config",
                    str(config),
                    "--source",
                    str(SAMPLES / "incabin_belted_driver.mp4"),
                    "--max-frames",
                    "20",
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
                env=dmsd_env({"DMSD_MQTT_PASSWORD": password}),
            )
            refusals = [
                line.split(": ", 1)[1]
                for line in result.stderr.splitlines()
                if "refused the connection" in line or "cannot reach broker" in line
            ]
            connected = "connected to" in result.stderr
            outcomes[name] = (
                "connected"
                if connected and not refusals
                else f"refused, {len(refusals)} line: " + (refusals[0][:90] if refusals else "?")
            )
    finally:
        broker.stop()
    return outcomes


# -- what a row needs -----------------------------------------------------------------------------------------
# The commands each row runs besides mosquitto and dmsd (a CI machine may lack them).
TOOLS = {
    "bridge": ["mosquitto_passwd", "openssl"],
    "hardening": ["systemd-analyze"],
    "auth": ["mosquitto_passwd", "openssl"],
}


def unavailable(row: str) -> str | None:
    """Why `row` cannot run here (a tool, a library or a kernel feature missing), in words; None when it can."""
    missing = [tool for tool in TOOLS.get(row, []) if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)}, not installed"
    if row == "hardening":
        try:
            ctypes.CDLL("libseccomp.so.2")
        except OSError:
            return "needs libseccomp.so.2 (libseccomp2), not installed"
        if ctypes.CDLL(None, use_errno=True).prctl(66, 0, 0, 0, 0) < 0:  # PR_GET_MDWE
            return "needs PR_SET_MDWE (Linux 6.3 or later), which this kernel lacks"
    return None


# -- the table -----------------------------------------------------------------------------------------------
def _dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _count(lines: list[str], kind: str) -> int:
    return sum(e["type"] == kind for e in printed_events(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=["outages", "kill", "bridge", "stall", "fuzz", "hardening", "auth"]
    )
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--cuts", type=int, default=5)
    parser.add_argument("--stalls", type=int, default=20)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--configs", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument("--confine", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.confine:
        confine(args.confine.split(","), args.command)
    rows = {
        "outages": lambda w: outages(w, args.outages),
        "kill": lambda w: kills(w, args.kills),
        "bridge": lambda w: bridge(w, args.cuts),
        "stall": lambda w: stall(w, args.stalls),
        "fuzz": lambda w: fuzz(w, args.images, args.configs),
        "hardening": hardening,
        "auth": auth,
    }
    results = {}
    with tempfile.TemporaryDirectory(prefix="dmsd-reliability-") as work:
        for name, row in rows.items():
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            reason = unavailable(name)
            if reason:
                results[name] = {"skipped": reason}
            else:
                results[name] = {**row(_dir(Path(work) / name)), "took s": round(time.monotonic() - started)}
            if not args.json:
                print(f"{name:10} " + ", ".join(f"{k}: {v}" for k, v in results[name].items()), flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
