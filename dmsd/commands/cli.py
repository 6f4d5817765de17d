"""The `dmsd` command: the daemon, `--once` on still images, `evaluate` and `bench`.

dmsd [--config PATH] [--source SRC] [--mqtt HOST[:PORT] | --no-mqtt] [--print] [--max-frames N] [--realtime]
     [--loop]
dmsd --once PATH [PATH ...] [--annotate DIR]
dmsd evaluate --task emotion|seatbelt --data PATH [--model PATH] [--usage SPLIT] [--json]
dmsd bench [--source SRC] [--size WxH] [--threads N] [--json]
dmsd preview [--source SRC] [--listen HOST:PORT]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from dmsd import __version__
from dmsd.errors import DmsdError

if TYPE_CHECKING:  # the config module loads at run time, after --help and --version have had their say
    from dmsd.config import Config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmsd",
        description="Driver monitoring daemon: face, emotion and seatbelt from a camera, over MQTT.",
        epilog="Config is read from --config, else ./config.yaml, else /etc/dmsd/config.yaml. "
        "Also: dmsd evaluate --help, dmsd bench --help, dmsd preview --help.",
    )
    parser.add_argument("--version", action="version", version=f"dmsd {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (YAML)")
    parser.add_argument(
        "--once",
        nargs="+",
        metavar="PATH",
        help="analyse these images or directories of images, print one JSON line each, exit",
    )
    parser.add_argument("--annotate", metavar="DIR", help="with --once: write each image with the results drawn")
    parser.add_argument(
        "--source",
        metavar="SRC",
        help="camera index, /dev/videoN, video file, rtsp:// or http(s):// URL, image directory",
    )
    parser.add_argument("--mqtt", metavar="HOST[:PORT]", help="publish to this broker (overrides mqtt.host/port)")
    parser.add_argument("--no-mqtt", action="store_true", help="do not publish to MQTT")
    parser.add_argument(
        "--print", dest="print_lines", action="store_true", help="print state, events and stats as JSON lines on stdout"
    )
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--realtime", action="store_true", help="read a file at its native frame rate")
    parser.add_argument("--loop", action="store_true", help="play a file or image directory again when it ends")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="overrides log_level")
    return parser


def apply_overrides(config: Config, args: argparse.Namespace) -> None:
    if args.source is not None:
        config.source.uri = args.source
    if args.realtime:
        config.source.realtime = True
    if args.loop:
        config.source.loop = True
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "")
        if port and not port.isdigit() or port and not 1 <= int(port) <= 65535:
            raise DmsdError(f"--mqtt {args.mqtt}: the port must be a number from 1 to 65535")
        config.mqtt.host = host or args.mqtt
        if port:
            config.mqtt.port = int(port)
        config.mqtt.enabled = True
    if args.no_mqtt:
        config.mqtt.enabled = False
    if args.log_level:
        config.log_level = args.log_level


def setup_logging(level: str) -> None:
    # Logs go to stderr (journald under systemd); stdout carries only JSON.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


COMMANDS = ("evaluate", "bench", "preview")


def command_module(command: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"dmsd.commands.{command}")


def build_command_parser(command: str) -> argparse.ArgumentParser:
    module = command_module(command)
    parser = argparse.ArgumentParser(prog=f"dmsd {command}", description=(module.__doc__ or command).splitlines()[0])
    parser.add_argument("--config", metavar="PATH", help="configuration file (YAML)")
    module.add_arguments(parser)
    return parser


def run_command(command: str, argv: list[str]) -> int:
    args = build_command_parser(command).parse_args(argv)
    from dmsd.config import find_config, load_config

    config = load_config(find_config(args.config))
    setup_logging("WARNING")
    return command_module(command).run(config, args)


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # stdout was closed early (`dmsd --once ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def dispatch(argv: list[str]) -> int:
    # OpenCV's and FFmpeg's own warnings ("moov atom not found") would bypass our one-line messages.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if argv and argv[0] in COMMANDS:
        try:
            return run_command(argv[0], argv[1:])
        except DmsdError as exc:
            print(f"dmsd {argv[0]}: {exc}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    try:
        if args.max_frames is not None and args.max_frames < 1:
            raise DmsdError("--max-frames must be at least 1")
        if args.annotate and not args.once:
            raise DmsdError("--annotate only goes with --once")
        from dmsd.config import find_config, load_config

        config = load_config(find_config(args.config))
        apply_overrides(config, args)
        setup_logging("WARNING" if args.once and not args.log_level else config.log_level)
        if args.once:
            from dmsd.commands.once import run_once

            return run_once(config, args.once, args.annotate)
        from dmsd.commands.daemon import RunOptions, run

        return run(config, RunOptions(print_lines=args.print_lines, max_frames=args.max_frames))
    except DmsdError as exc:
        print(f"dmsd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
