"""An audit trail of every tool call, with secrets redacted, written to pluggable sinks."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

REDACTED = "[REDACTED]"
# Matched against a key lower-cased with "-" and "_" removed, so apiKey, api-key, API_KEY match.
DEFAULT_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "credential",
    "privatekey",
    "accesskey",
    "cookie",
    "sessionid",
)


def is_secret_key(key: str, words: Iterable[str] = DEFAULT_SECRET_WORDS) -> bool:
    """Whether an argument named ``key`` probably holds a secret.

    Args:
        key: The argument (or nested field) name.
        words: Substrings that mark a secret, lower-case, without ``-`` or ``_``.
    """
    folded = re.sub(r"[-_\s]", "", key.lower())
    return any(word in folded for word in words)


def redact_secrets(value: Any, words: Iterable[str] = DEFAULT_SECRET_WORDS) -> Any:
    """Return a copy of ``value`` with the values of secret-looking keys replaced, at any depth.

    Args:
        value: Arguments: mappings, lists and scalars.
        words: See :func:`is_secret_key`.

    Returns:
        The redacted copy.
    """
    words = tuple(words)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(str(key), words) else redact_secrets(item, words)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(item, words) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One tool call, as the audit trail keeps it.

    Attributes:
        timestamp: Unix time the call finished.
        tool: The function name the model called.
        caller: Who the call ran for, if known.
        call_id: The call id.
        arguments: The arguments with secrets redacted (the raw text, cut short, when they
            were not a JSON object).
        outcome: ``"ok"`` or ``"error"``.
        code: The error code, if any.
        duration: Seconds spent.
        cached: Whether the result came from the cache.
    """

    timestamp: float
    tool: str
    caller: str | None
    call_id: str
    arguments: Any
    outcome: str
    code: str | None
    duration: float
    cached: bool

    def to_json(self) -> str:
        """The record as one line of JSON."""
        return json.dumps(asdict(self), default=str, sort_keys=True)


class AuditSink(Protocol):
    """Where audit records go."""

    def write(self, record: AuditRecord) -> None:
        """Store or emit one record. Must not raise for ordinary I/O trouble it can report."""
        ...


class LoggingSink:
    """Writes each record as JSON to a :mod:`logging` logger.

    Args:
        logger: The logger; ``callisto.tools.audit`` by default.
        level: The level records are logged at.
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self._logger = logger or logging.getLogger("callisto.tools.audit")
        self._level = level

    def write(self, record: AuditRecord) -> None:
        """Log the record."""
        self._logger.log(self._level, "tool call %s", record.to_json())


class JsonLinesSink:
    """Appends each record as one JSON line to a file (opened per write, so rotation works).

    Args:
        path: The file; created if missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, record: AuditRecord) -> None:
        """Append the record."""
        line = record.to_json() + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)


class MemorySink:
    """Keeps records in a list; for tests and short scripts.

    Attributes:
        records: The records written, oldest first.
    """

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> None:
        """Keep the record."""
        self.records.append(record)


# A "key": "value" pair inside text that isn't valid JSON (the arguments of an INVALID_JSON call).
_RAW_PAIR = re.compile(r'"([^"\\]{1,64})"(\s*:\s*)"(?:[^"\\]|\\.)*"')


class AuditTrail:
    """Builds an :class:`AuditRecord` per call and hands it to every sink.

    A failing sink is logged and skipped: auditing must not break the calls it watches.

    Args:
        sinks: Where records go.
        secret_words: See :func:`is_secret_key`.
        max_raw_chars: How much of unparsable raw arguments to keep.
    """

    def __init__(
        self,
        *sinks: AuditSink,
        secret_words: Iterable[str] = DEFAULT_SECRET_WORDS,
        max_raw_chars: int = 2_000,
    ) -> None:
        self.sinks = list(sinks)
        self._words = tuple(secret_words)
        self._max_raw_chars = max_raw_chars

    def record(
        self,
        *,
        tool: str,
        caller: str | None,
        call_id: str,
        arguments: Any,
        code: str | None,
        duration: float,
        cached: bool,
    ) -> AuditRecord:
        """Build the record of one call and write it to every sink.

        Args:
            tool: The function name.
            caller: Who the call ran for.
            call_id: The call id.
            arguments: Parsed arguments (redacted here) or the raw string.
            code: The error code, ``None`` on success.
            duration: Seconds spent.
            cached: Whether the result came from the cache.

        Returns:
            The record written.
        """
        if isinstance(arguments, str):
            kept: Any = self._redact_raw(arguments[: self._max_raw_chars])
        else:
            kept = redact_secrets(arguments, self._words)
        entry = AuditRecord(
            timestamp=time.time(),
            tool=tool,
            caller=caller,
            call_id=call_id,
            arguments=kept,
            outcome="ok" if code is None else "error",
            code=code,
            duration=duration,
            cached=cached,
        )
        for sink in self.sinks:
            try:
                sink.write(entry)
            except Exception:  # a broken sink must not fail the tool call it records
                logging.getLogger(__name__).exception("audit sink %r failed", sink)
        return entry

    def _redact_raw(self, text: str) -> str:
        """Redact secret-looking ``"key": "value"`` pairs in arguments that didn't parse."""

        def replace(match: re.Match[str]) -> str:
            if not is_secret_key(match.group(1), self._words):
                return match.group(0)
            return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'

        return _RAW_PAIR.sub(replace, text)
