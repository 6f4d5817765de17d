"""`dmsd run`, or `dmsd` alone: the daemon (dmsd.commands.daemon) on the configured source until it ends or is stopped.

    dmsd [run] [--source SRC] [--mqtt HOST[:PORT] | --no-mqtt] [--print] [--max-frames N] [--realtime] [--loop]

These options are also `dmsd`'s own, for the bare `dmsd --source X --no-mqtt --print`: this module stays light (the
daemon's pipeline loads when it runs) because `dmsd --help` is built from it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dmsd.commands.command import Override
from dmsd.errors import DmsdError

if TYPE_CHECKING:
    from dmsd.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        metavar="SRC",
        help="camera index, /dev/videoN, video file, rtsp:// or http(s):// URL, image directory (overrides source.uri)",
    )
    parser.add_argument(
        "--mqtt", metavar="HOST[:PORT]", help="publish to this broker (overrides mqtt.host and mqtt.port)"
    )
    parser.add_argument("--no-mqtt", action="store_true", help="do not publish to MQTT (mqtt.enabled: false)")
    parser.add_argument("--print", action="store_true", help="print state, events and stats as JSON lines on stdout")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--realtime", action="store_true", help="read a file at its native frame rate")
    parser.add_argument("--loop", action="store_true", help="play a file or image directory again when it ends")


def overrides(args: argparse.Namespace) -> list[Override]:
    given = []
    if args.source is not None:
        given.append(Override("--source", {"source.uri": args.source}))
    if args.realtime:
        given.append(Override("--realtime", {"source.realtime": True}))
    if args.loop:
        given.append(Override("--loop", {"source.loop": True}))
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "")
        broker: dict[str, object] = {"mqtt.enabled": True, "mqtt.host": host or args.mqtt}
        if port:
            broker["mqtt.port"] = int(port) if port.isdigit() else port  # not a number: the validator says so
        given.append(Override("--mqtt", broker))
    if args.no_mqtt:
        given.append(Override("--no-mqtt", {"mqtt.enabled": False}))
    return given


def run(config: Config, args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise DmsdError("--max-frames must be at least 1")
    from dmsd.commands.daemon import RunOptions
    from dmsd.commands.daemon import run as run_daemon

    return run_daemon(config, RunOptions(print_lines=args.print, max_frames=args.max_frames))
