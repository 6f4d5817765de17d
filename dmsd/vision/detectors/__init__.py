"""Face detector plugins, one file each in this folder, registered by name; `detector.type` picks one.

A plugin is a module here that subclasses `FaceDetector` (detectors/base.py) and decorates it with
`@register("name", settings=ItsConfig)`. Its own keys are a dataclass beside its code (made with dmsd.config's
`option`), read from `detector.<name>` and checked here when the detectors are made, so adding a plugin is adding its
file. Every module in this folder is imported when the registry is first asked; one that fails to import is logged
and skipped, and the others work on.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dmsd.config import DetectorConfig, ModelsConfig, build
from dmsd.errors import DmsdError
from dmsd.vision.detectors.base import FaceDetector

log = logging.getLogger(__name__)
S = TypeVar("S")


@dataclass(frozen=True)
class Plugin:
    """A registered detector: its name (`detector.type`), its class, and the dataclass of its own keys
    (`detector.<name>`; None: it has none) with the comment that heads them in config.yaml."""

    name: str
    detector: type[FaceDetector[Any]]
    settings: type | None = None
    doc: str = ""


_REGISTRY: dict[str, Plugin] = {}
_LOADED = False


def register(
    name: str, settings: type | None = None, doc: str = ""
) -> Callable[[type[FaceDetector[Any]]], type[FaceDetector[Any]]]:
    """Class decorator: make a detector available as `detector.type: name`, its own keys `settings`."""

    def add(cls: type[FaceDetector[Any]]) -> type[FaceDetector[Any]]:
        _REGISTRY[name] = Plugin(name, cls, settings, doc)
        cls.registered_name = name
        return cls

    return add


def plugins() -> dict[str, Plugin]:
    """Every plugin of this folder, by name; a module that fails to import is logged once and skipped."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for module in pkgutil.iter_modules(__path__):
            if module.name == "base":
                continue
            try:
                importlib.import_module(f"{__name__}.{module.name}")
            except Exception as exc:  # a broken plugin must not take the others down with it
                log.warning(
                    "detector plugin %s failed to import, skipped: %s: %s", module.name, type(exc).__name__, exc
                )
    return dict(sorted(_REGISTRY.items()))


def detector_types() -> tuple[str, ...]:
    """The registered detector names (`detector.type`'s allowed values)."""
    return tuple(plugins())


def settings_of(config: DetectorConfig, name: str, settings: type[S]) -> S:
    """Plugin `name`'s own keys from `detector.<name>`, checked: an unknown key, a wrong type or an out-of-range
    value is refused naming the key."""
    return build(settings, config.plugins.get(name) or {}, f"detector.{name}.")


def make_detector(
    config: DetectorConfig, models: ModelsConfig | None = None, *, fallback: bool = False
) -> FaceDetector[Any]:
    """The `detector.type` plugin (with `fallback`: the `detector.fallback` one), made from the `detector` section;
    `models`: where model files are found. An unknown plugin, or a section of keys for one, is refused naming the
    plugins there are."""
    found = plugins()
    allowed = ", ".join(found)
    for section in config.plugins:
        if section not in found:
            raise DmsdError(f"unknown key 'detector.{section}' (no detector plugin of that name; plugins: {allowed})")
    key, name = ("detector.fallback", config.fallback) if fallback else ("detector.type", config.type)
    if name not in found:
        extra = ", none" if fallback else ""
        raise DmsdError(f"{key}: {name!r} is not allowed (allowed: {allowed}{extra})")
    return found[name].detector(config, models or ModelsConfig())
