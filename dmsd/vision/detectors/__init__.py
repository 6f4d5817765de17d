"""Face detector plugins, one file each in this folder, registered by name; `detector.type` picks one.

A plugin is a module here that subclasses `FaceDetector` (detectors/base.py) and decorates it with
`@register("name")`. Every module in this folder is imported when the registry is first asked, so adding a plugin
is adding its file: the config's allowed `detector.type` values come from `detector_types()`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from dmsd.config import DetectorConfig
from dmsd.vision.detectors.base import FaceDetector

_REGISTRY: dict[str, type[FaceDetector[Any]]] = {}


def register(name: str) -> Callable[[type[FaceDetector[Any]]], type[FaceDetector[Any]]]:
    """Class decorator: make a detector available as `detector.type: name`."""

    def add(cls: type[FaceDetector[Any]]) -> type[FaceDetector[Any]]:
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls

    return add


def _load_plugins() -> dict[str, type[FaceDetector[Any]]]:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return _REGISTRY


def detector_types() -> tuple[str, ...]:
    """The registered detector names, for the config's `detector.type` check."""
    return tuple(sorted(_load_plugins()))


def make_detector(config: DetectorConfig) -> FaceDetector[Any]:
    return _load_plugins()[config.type](config)
