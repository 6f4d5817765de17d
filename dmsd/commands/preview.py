"""`dmsd preview`: the analysis on a source, and the live page of what it sees, until stopped (Ctrl-C).

    dmsd preview [--source SRC] [--listen HOST:PORT]

The page is the daemon's own (`preview.*`, README "Fitting the camera"); a file or image directory plays at its
recorded rate, again and again. Nothing is published over MQTT.
"""

from __future__ import annotations

import argparse
import logging

from dmsd.config import Config, check_preview


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", metavar="SRC", help="camera, video file, stream URL or image directory (default: source.uri)"
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="where to serve the page (default: preview.listen)")


def run(config: Config, args: argparse.Namespace) -> int:
    from dmsd.commands.daemon import RunOptions
    from dmsd.commands.daemon import run as run_daemon

    if args.source is not None:
        config.source.uri = args.source
    if args.listen is not None:
        config.preview.listen = args.listen
    check_preview(config.preview)  # --listen elsewhere needs the password as much as the file's key does
    config.preview.enabled = True
    config.source.loop = config.source.realtime = True
    config.mqtt.enabled = False
    logging.getLogger().setLevel(config.log_level)
    return run_daemon(config, RunOptions())
