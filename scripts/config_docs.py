"""config.yaml, written from the configuration's own definition (dmsd/config.py): every key, its default and its
`doc`, at every depth. The dataclasses are the one source; a test checks that config.yaml is what this writes and
that the README's configuration table names every key with its default.

    .venv/bin/python -m scripts.config_docs [--write]     # print config.yaml, or rewrite it
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import textwrap
import typing
from collections.abc import Iterator

import yaml

from dmsd.config import CHECKOUT, Config

HEADER = """\
# dmsd configuration. Every key is optional: a missing key takes the default shown here.
# Looked up at --config PATH, then ./config.yaml, then /etc/dmsd/config.yaml.
# An unknown key, a wrong type or an out-of-range value stops dmsd with a message naming the key.
# Written by `python -m scripts.config_docs --write` from dmsd/config.py, where each key's text lives.
"""
WIDTH = 116


@dataclasses.dataclass(frozen=True)
class Key:
    path: str  # e.g. "detector.haar.cascade"
    depth: int
    field: dataclasses.Field
    default: object
    section: bool  # a section of keys (a dataclass)


def keys(cls: type = Config, instance: object | None = None, prefix: str = "", depth: int = 0) -> Iterator[Key]:
    """Every key of `cls`, depth first, in definition order, with its default; in place of the detector plugins'
    sections, each registered plugin's own keys (dmsd.vision.detectors), as `detector.<plugin>`."""
    instance = cls() if instance is None else instance
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("plugins"):
            yield from plugin_keys(prefix, depth)
            continue
        value = getattr(instance, f.name)
        nested = dataclasses.is_dataclass(hints[f.name])
        yield Key(prefix + f.name, depth, f, value, nested)
        if nested:
            yield from keys(hints[f.name], value, f"{prefix}{f.name}.", depth + 1)


def plugin_keys(prefix: str, depth: int) -> Iterator[Key]:
    """Each detector plugin's section of its own keys, headed by the plugin's doc."""
    from dmsd.vision.detectors import plugins

    for plugin in plugins().values():
        if plugin.settings is None:
            continue
        head = dataclasses.field(default=None, metadata={"doc": plugin.doc})
        yield Key(prefix + plugin.name, depth, head, None, True)
        yield from keys(plugin.settings, None, f"{prefix}{plugin.name}.", depth + 1)


def yaml_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    text = str(value)
    plain = yaml.safe_load(f"k: {text}") == {"k": text} and not any(c in text for c in "{}#")
    return text if plain else json.dumps(text)


def render_yaml() -> str:
    lines = [HEADER.rstrip("\n")]
    for key in keys():
        indent = "  " * key.depth
        doc = key.field.metadata.get("doc", "")
        if key.depth == 0 or doc:
            if key.depth == 0 or key.section:
                lines.append("")
            for line in textwrap.wrap(doc, WIDTH - len(indent) - 2, break_on_hyphens=False):
                lines.append(f"{indent}# {line}")
        name = key.path.rsplit(".", 1)[-1]
        lines.append(f"{indent}{name}:" if key.section else f"{indent}{name}: {yaml_value(key.default)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite config.yaml")
    args = parser.parse_args()
    text = render_yaml()
    if args.write:
        (CHECKOUT / "config.yaml").write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
