"""Argument guards: refuse calls whose string arguments look dangerous.

Guards are a last line, not the first: a tool that reads files must still resolve paths inside
its own root, and a tool that queries a database must still use parameterised queries and a
read-only connection. Guards catch what slipped past, before it reaches the tool.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from callisto.tools._arguments import format_path
from callisto.tools.policy import Denial, ToolRequest
from callisto.tools.results import ErrorCode

StringCheck = Callable[[str], str | None]
"""Takes a string argument, returns a problem ("contains a null byte") or ``None``."""


class ArgumentGuard:
    """A gate that runs string checks over arguments, at every depth, and refuses with
    ``FORBIDDEN`` at the first problem.

    Args:
        checks: The checks, e.g. :func:`no_null_bytes`, :func:`no_path_traversal`.
        tools: Only guard these tools; all when ``None``.
        fields: Only check arguments whose own name (the last part of their path) is one of
            these, e.g. ``{"path", "filename"}``; all strings when ``None``.
    """

    def __init__(
        self,
        *checks: StringCheck,
        tools: Iterable[str] | None = None,
        fields: Iterable[str] | None = None,
    ) -> None:
        self._checks = checks
        self._tools = frozenset(tools) if tools is not None else None
        self._fields = frozenset(fields) if fields is not None else None

    def check(self, request: ToolRequest) -> Denial | None:
        """Refuse the call if any checked string argument has a problem."""
        if self._tools is not None and request.tool.name not in self._tools:
            return None
        for path, value in _strings(request.arguments, ()):
            named = [part for part in path if isinstance(part, str)]
            if self._fields is not None and (not named or named[-1] not in self._fields):
                continue
            for check in self._checks:
                problem = check(value)
                if problem:
                    return Denial(
                        ErrorCode.FORBIDDEN,
                        f"Refused: argument {format_path(path)} {problem}. Do not retry with it.",
                    )
        return None


def _strings(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def no_null_bytes(value: str) -> str | None:
    """Refuse strings containing a NUL character (it truncates paths and C strings)."""
    return "contains a null byte" if "\x00" in value else None


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def no_path_traversal(value: str) -> str | None:
    """Refuse paths that climb out of or start outside a base directory.

    Flags a ``..`` component (also percent-encoded), and absolute paths (``/x``, ``\\x``,
    ``C:\\x``, ``~``). Scope it to path arguments with ``ArgumentGuard(..., fields=...)``;
    the tool must still resolve the path and check it stays under its root.
    """
    decoded = urllib.parse.unquote(urllib.parse.unquote(value))
    for text in (value, decoded):
        if ".." in re.split(r"[\\/]", text):
            return "climbs out of the base directory ('..')"
        if text.startswith(("/", "\\", "~")) or _DRIVE.match(text):
            return "is an absolute path"
    return None


# Words that write or change schema anywhere in a statement that starts like a read: a
# data-modifying CTE (WITH x AS (DELETE ...)), SELECT ... INTO, SELECT ... FOR UPDATE, PRAGMA.
_WRITE_WORDS = re.compile(
    r"\b(insert|update|delete|merge|upsert|drop|alter|create|truncate|grant|revoke|attach|"
    r"detach|pragma|vacuum|copy|into|lock)\b",
    re.IGNORECASE,
)
_READ_START = re.compile(
    r"^\s*\(*\s*(select|with|values|explain|show|describe|table)\b", re.IGNORECASE
)
_STRIP = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\$\$.*?\$\$", re.DOTALL
)


def read_only_sql(value: str) -> str | None:
    """Refuse SQL that is not a single read-only statement.

    Defence in depth only: a keyword check can be fooled by dialect features it doesn't know.
    It is no substitute for parameterised queries and a database user that can only read.
    Comments and quoted text are ignored; then the statement must start with ``SELECT``,
    ``WITH``, ``VALUES``, ``EXPLAIN``, ``SHOW``, ``DESCRIBE`` or ``TABLE``, be the only statement,
    and contain no writing word (``INSERT``, ``UPDATE``, ``DELETE``, ``DROP``, ``INTO``, ...).
    """
    code = _STRIP.sub(" ", value)
    statements = [part for part in code.split(";") if part.strip()]
    if len(statements) != 1:
        return "must be exactly one SQL statement"
    if not _READ_START.match(statements[0]):
        return "is not a read-only query (SELECT, WITH, VALUES, EXPLAIN, SHOW)"
    word = _WRITE_WORDS.search(statements[0])
    if word:
        return f"is not a read-only query (uses {word.group(0).upper()})"
    return None
