"""`dmsd preview`: the analysis on a source, and the live page of what it sees, until stopped (Ctrl-C).

    dmsd preview [--source SRC] [--listen HOST:PORT]

The page is the daemon's own (`preview.*`, README "Fitting the camera"); a file or image directory plays at its
recorded rate, again and again. Nothing is published over MQTT.
"""

from __future__ import annotations

import argparse

from dmsd.commands.command import Override
from dmsd.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", metavar="SRC", help="camera, video file, stream URL or image directory (default: source.uri)"
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="where to serve the page (default: preview.listen)")


def overrides(args: argparse.Namespace) -> list[Override]:
    # The page on, a file played at its rate in a loop, no MQTT: what `preview` means, whatever the file says.
    given = [
        Override(
            "dmsd preview",
            {"preview.enabled": True, "source.loop": True, "source.realtime": True, "mqtt.enabled": False},
        )
    ]
    if args.source is not None:
        given.append(Override("--source", {"source.uri": args.source}))
    if args.listen is not None:
        # Off the loopback address it needs the password as much as the file's key does: the validator checks.
        given.append(Override("--listen", {"preview.listen": args.listen}))
    return given


def run(config: Config, args: argparse.Namespace) -> int:
    from dmsd.commands.daemon import RunOptions
    from dmsd.commands.daemon import run as run_daemon

    return run_daemon(config, RunOptions())
