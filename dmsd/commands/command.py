"""What a command of the `dmsd` command line is: a `Command` in dmsd.commands.cli's COMMANDS names its module, and the
module holds the three functions of `CommandModule`. Nothing here imports a command: a module loads only when its
command runs or its --help is asked for, so `dmsd --help` and the daemon stay light."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from dmsd.config import Config


@dataclass(frozen=True)
class Override:
    """What one command-line option sets in the configuration, as dotted keys: applied to the file's mapping before
    validation, so the config's validator checks it, and names `option` in the error of any of its keys."""

    option: str  # as typed: "--mqtt"
    values: Mapping[str, object] = field(default_factory=dict)  # {"mqtt.host": "broker", "mqtt.port": 1884}


class CommandModule(Protocol):
    """The module a `Command` names."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own options (--config and --log-level are every command's, added by the command line)."""

    def overrides(self, args: argparse.Namespace) -> list[Override]:
        """What the options given set in the configuration; applied in order, a later one winning."""

    def run(self, config: Config, args: argparse.Namespace) -> int:
        """Do the work; the exit status. A DmsdError is printed as one line and exits 2."""


@dataclass(frozen=True)
class Command:
    name: str  # dmsd NAME
    help: str  # one line, in `dmsd --help` and atop `dmsd NAME --help`
    module: str  # the CommandModule, imported only when the command is parsed
    quiet: bool = True  # logs at WARNING unless --log-level is given (what it prints is a report); else log_level
    prefix: str = ""  # what its one-line errors start with; "": `dmsd NAME:`

    @property
    def error_prefix(self) -> str:
        return self.prefix or f"dmsd {self.name}"

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(self.module))
