"""Where settings come from, told to a person: the config file, its lines, and unknown keys.

:mod:`callisto.config` holds the settings themselves. This module finds and reads the TOML
file (``callisto.toml`` in the working directory, or the file ``CALLISTO_CONFIG`` names), says
which line of it holds a key, and finds keys that no setting has (a misspelling is otherwise
ignored in silence). Every failure is a :class:`ConfigError` whose message is one line naming
the source, the key and what to do.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

CONFIG_ENV = "CALLISTO_CONFIG"
DEFAULT_CONFIG_FILE = "callisto.toml"
ENV_PREFIX = "CALLISTO_"
ENV_NESTING = "__"


class ConfigError(Exception):
    """A setting Callisto cannot start with; the message is one line a person can act on."""


@dataclass(frozen=True)
class ConfigFile:
    """A TOML config file that was read: its path, its text and its data."""

    path: Path
    text: str
    data: dict[str, Any]

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        """Return the line (from 1) that sets ``keys``, or of the deepest table holding them."""
        wanted = [k.lower() for k in keys]
        table: list[str] = []
        best: int | None = None
        depth = 0
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = _TABLE_HEADER.match(line)
            if header:
                table = _dotted(header.group(1))
                found = table
            else:
                key = _KEY.match(line)
                if not key:
                    continue
                found = table + _dotted(key.group(1))
            if depth < len(found) <= len(wanted) and found == wanted[: len(found)]:
                best, depth = number, len(found)
        return best

    def where(self, keys: tuple[str, ...] = ()) -> str:
        """Return ``PATH line N`` for ``keys``, or just the path when no line holds them."""
        line = self.line_of(keys) if keys else None
        return f"{self.path} line {line}" if line else str(self.path)

    def has(self, keys: tuple[str, ...]) -> bool:
        """Whether the file sets ``keys`` (names compared without case)."""
        return _lookup(self.data, keys)


_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_DOTTED_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[^.]+)\s*""")


def _dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'").lower() for part in _DOTTED_PART.findall(text)]


def _lookup(data: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping):
            return False
        match = [k for k in node if str(k).lower() == key.lower()]
        if not match:
            return False
        node = node[match[0]]
    return True


def config_file_path() -> Path | None:
    """Return the config file to read, ``None`` when there is none.

    ``CALLISTO_CONFIG`` must name a file that exists: a typo there would otherwise start the
    server on the defaults without a word. Without it, ``callisto.toml`` in the working
    directory is read when present.

    Raises:
        ConfigError: ``CALLISTO_CONFIG`` names nothing or a directory, or ``callisto.toml`` is a
            directory.
    """
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if path.is_dir():
            raise ConfigError(
                f"{CONFIG_ENV}={named} is a directory: point it at a TOML file "
                f"(such as {path / DEFAULT_CONFIG_FILE}), or unset it"
            )
        if not path.exists():
            raise ConfigError(
                f"{CONFIG_ENV}={named}: no such file: point it at an existing TOML file, "
                "or unset it"
            )
        return path
    path = Path(DEFAULT_CONFIG_FILE)
    if path.is_dir():
        raise ConfigError(
            f"{path.resolve()} is a directory, not a TOML file: rename it, or set "
            f"{CONFIG_ENV} to the config file to read"
        )
    return path if path.exists() else None


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def read_config_file(path: Path) -> ConfigFile:
    """Read and parse the TOML file at ``path``.

    Raises:
        ConfigError: The file cannot be read, is not UTF-8, or is not valid TOML (the message
            names the file and the line).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{path}: cannot read the config file ({reason}): make it readable, or set "
            f"{CONFIG_ENV} to another file"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the config file is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        where = f"{path} line {position.group(1)}" if position else str(path)
        reason = _TOML_POSITION.sub("", message).rstrip(".")
        raise ConfigError(
            f"{where}: not valid TOML ({reason[:1].lower()}{reason[1:]}): fix the file; "
            'write values as key = value, strings in quotes ("...")'
        ) from None
    return ConfigFile(path=path, text=text, data=data)


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """Return the model a field holds, and whether it holds a mapping of names to them."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        if inspect.isclass(value) and issubclass(value, BaseModel):
            return value, True
    return None, False


@dataclass(frozen=True)
class UnknownKey:
    """A key no setting has, and the known name nearest to it (``None`` when none is near)."""

    keys: tuple[str, ...]
    nearest: str | None


def unknown_keys(
    data: Mapping[str, Any], model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[UnknownKey]:
    """Yield the keys of ``data`` (nested tables too) that ``model`` has no field for.

    Args:
        data: Settings as nested mappings, as a TOML file or the environment gives them.
        model: The model they are meant for.
        prefix: The keys leading to ``data``, to name the keys found.
    """
    fields = model.model_fields
    known = {name.lower(): name for name in fields}
    for raw_key, value in data.items():
        key = str(raw_key)
        name = known.get(key.lower())
        if name is None:
            near = difflib.get_close_matches(key.lower(), list(known), n=1, cutoff=0.6)
            yield UnknownKey((*prefix, key), known[near[0]] if near else None)
            continue
        nested, by_name = _nested_model(fields[name].annotation)
        if nested is None or not isinstance(value, Mapping):
            continue
        if not by_name:
            yield from unknown_keys(value, nested, (*prefix, key))
            continue
        for item, settings in value.items():
            if isinstance(settings, Mapping):
                yield from unknown_keys(settings, nested, (*prefix, key, str(item)))


def env_name(keys: tuple[str, ...]) -> str:
    """Return the environment variable that sets ``keys`` (``CALLISTO_RUNS__POLL_AFTER_MS``)."""
    return ENV_PREFIX + ENV_NESTING.join(keys).upper()


def env_lookup(keys: tuple[str, ...]) -> str | None:
    """Return the variable of the environment that sets ``keys`` or a table holding them.

    Names are compared without case, as the settings read them.
    """
    present = {name.upper(): name for name in os.environ}
    for end in range(len(keys), 0, -1):
        name = present.get(env_name(keys[:end]))
        if name is not None:
            return name
    return None


def nested_env_settings(model: type[BaseModel]) -> dict[str, Any]:
    """Return the nested settings of the environment (``CALLISTO_A__B=...``) as mappings.

    Only variables whose first part names a field of ``model`` count: the ``CALLISTO_`` prefix
    is shared with programs that talk to Callisto (``CALLISTO_BASE_URL`` in the examples), so a
    top-level name that is not a setting may be meant for one of them.
    """
    tree: dict[str, Any] = {}
    fields = {name.lower() for name in model.model_fields}
    for name, value in os.environ.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or ENV_NESTING not in upper:
            continue
        keys = upper[len(ENV_PREFIX) :].lower().split(ENV_NESTING)
        if keys[0] not in fields or not all(keys):
            continue
        node = tree
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(keys[-1], value)
    return tree
