"""The `dmsd` command line: one argparse parser, a subcommand for each entry of COMMANDS.

    dmsd [run] [--source SRC] [--mqtt HOST[:PORT] | --no-mqtt] [--print] [--max-frames N] [--realtime] [--loop]
    dmsd once PATH [PATH ...] [--annotate DIR]        also as `dmsd --once PATH [PATH ...] [--annotate DIR]`
    dmsd evaluate --task TASK --data PATH [...]       `dmsd evaluate --help` lists every task
    dmsd bench [--source SRC] [--size WxH] [--threads N] [--json]
    dmsd preview [--source SRC] [--listen HOST:PORT]

Every command takes --config PATH and --log-level LEVEL, before or after its name. A command's module (its
`add_arguments`, `overrides` and `run`: dmsd.commands.command) is imported only when that command is parsed, so
`dmsd --help` loads none and the daemon loads no offline code. What the options set in the configuration is applied
to the file's keys before validation (dmsd.config.load_config), so one validator checks both and names the option.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dmsd import __version__
from dmsd.commands import run as daemon_options
from dmsd.commands.command import Command, Override
from dmsd.errors import DmsdError

log = logging.getLogger(__name__)

COMMANDS = {
    command.name: command
    for command in (
        Command(
            "run",
            "the daemon (also `dmsd` alone): the driver's state and events from a camera, over MQTT",
            "dmsd.commands.run",
            quiet=False,
            prefix="dmsd",
        ),
        Command(
            "once",
            "analyse still images, one JSON line each (also `dmsd --once PATH ...`)",
            "dmsd.commands.once",
            prefix="dmsd",
        ),
        Command("evaluate", "score a model or the whole pipeline on a labelled set", "dmsd.commands.evaluate"),
        Command("bench", "time the pipeline on a source, or every model in models/", "dmsd.commands.bench"),
        Command(
            "preview", "the live page of what dmsd sees, for fitting the camera", "dmsd.commands.preview", quiet=False
        ),
    )
}
COMMON = ("config", "log_level")  # every command's options, before or after its name
ONCE = ("once", "annotate")  # `dmsd --once PATH ... [--annotate DIR]`, the form that stands for `dmsd once`


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    # Unset unless given (SUPPRESS), so that one given before a command's name is not reset by the command's parser.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file (YAML)")
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        default=argparse.SUPPRESS,
        help="DEBUG, INFO, WARNING or ERROR (overrides log_level; logs go to stderr)",
    )


def build_parser(loaded: str | None = None) -> argparse.ArgumentParser:
    """`dmsd` and its commands; only the `loaded` command's options are read from its module (the others' parsers
    are empty, enough to tell which command was named)."""
    parser = argparse.ArgumentParser(
        prog="dmsd",
        description="Driver monitoring daemon: face, emotion and seatbelt from a camera, over MQTT.",
        epilog="Config is read from --config, else ./config.yaml, else /etc/dmsd/config.yaml. "
        "`dmsd COMMAND --help` gives a command's options.",
        argument_default=argparse.SUPPRESS,  # an option is in the result only if given (see `dispatch`)
    )
    parser.add_argument("--version", action="version", version=f"dmsd {__version__}")
    add_common_arguments(parser)
    daemon = parser.add_argument_group("the daemon's options, when no command is named (as `dmsd run`)")
    daemon_options.add_arguments(daemon)  # type: ignore[arg-type]  # a group takes add_argument as a parser does
    once = parser.add_argument_group("still images (as `dmsd once PATH ... [--annotate DIR]`)")
    once.add_argument("--once", nargs="+", metavar="PATH", help="analyse these images or directories of images")
    once.add_argument("--annotate", metavar="DIR", help="with --once: write each image with the results drawn")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS.values():
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            add_help=command.name == loaded,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.name == loaded:
            add_common_arguments(sub)
            command.load().add_arguments(sub)
    return parser


def setup_logging(level: str) -> None:
    # Logs go to stderr (journald under systemd); stdout carries only JSON.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


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
    # First which command, and which options came before its name (nothing else is set: SUPPRESS); no module loads.
    named, _ = build_parser().parse_known_args(argv)
    before = [dest for dest in vars(named) if dest not in (*COMMON, "command")]
    try:
        if named.command is None:
            return run_bare(argv, before)
        if before:
            option = "--" + before[0].replace("_", "-")
            raise DmsdError(
                f"{option} before {named.command!r}: only --config and --log-level go before a command's name "
                f"(dmsd {named.command} --help)"
            )
    except DmsdError as exc:
        print(f"dmsd: {exc}", file=sys.stderr)
        return 2
    command = COMMANDS[named.command]
    return run_command(command, build_parser(command.name).parse_args(argv))


def run_bare(argv: list[str], before: list[str]) -> int:
    """`dmsd [OPTIONS]`: the daemon, as `dmsd run [OPTIONS]`; with --once, `dmsd once`."""
    if "once" not in before:
        if "annotate" in before:
            raise DmsdError("--annotate only goes with --once")
        return run_command(COMMANDS["run"], build_parser("run").parse_args(["run", *argv]))
    daemon = [dest for dest in before if dest not in ONCE]
    if daemon:
        raise DmsdError(f"--{daemon[0].replace('_', '-')} is the daemon's option: it does not go with --once")
    args = build_parser().parse_args(argv)
    args.paths, args.annotate = args.once, getattr(args, "annotate", None)
    return run_command(COMMANDS["once"], args)


def run_command(command: Command, args: argparse.Namespace) -> int:
    try:
        module = command.load()
        given = common_overrides(args) + module.overrides(args)
        values = {key: value for override in given for key, value in override.values.items()}
        options = {key: override.option for override in given for key in override.values}
        from dmsd.config import find_config, load_config

        path = find_config(getattr(args, "config", None))
        config = load_config(path, values, options)
        quiet = command.quiet and getattr(args, "log_level", None) is None
        setup_logging("WARNING" if quiet else config.log_level)
        log.debug(
            "dmsd %s %s: configuration from %s%s",
            __version__,
            command.name,
            path or "the built-in defaults",
            "".join(f", {override.option}" for override in given),
        )
        return module.run(config, args)
    except DmsdError as exc:
        print(f"{command.error_prefix}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def common_overrides(args: argparse.Namespace) -> list[Override]:
    level = getattr(args, "log_level", None)
    return [] if level is None else [Override("--log-level", {"log_level": level})]
