"""JSON helpers shared by every family whose calls carry JSON.

Three jobs: find where a JSON (or Python-literal) value ends in a growing buffer without decoding
it, decode what models write leniently, and turn whatever a model gave as ``arguments`` into the
one JSON object string the rest of Callisto expects.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

_OPEN = "{["
_CLOSE = {"{": "}", "[": "]", "(": ")"}


def skip_space(text: str, pos: int) -> int:
    """Return the index of the first non-whitespace character at or after ``pos``."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


@dataclass(slots=True)
class _Scan:
    """Where a bracket scan stopped, so a longer buffer can resume it."""

    at: int
    stack: list[str]
    quote: str


ScanMemo = dict[int, "_Scan | tuple[int, int]"]
"""Scans left open, by the index where their value opens; one memo per growing buffer.

Negative keys are for the region's end finder (:func:`find_resumed`, :func:`grew_by`); pairs
are where a scan of tagged values may resume (``_tags.py``).
"""


def _scan_at(memo: ScanMemo | None, key: int) -> _Scan | None:
    found = memo.get(key) if memo is not None else None
    return found if isinstance(found, _Scan) else None


_SEARCHED = -1
_LOOKED = -2


def find_resumed(text: str, needle: str, start: int, memo: ScanMemo) -> int:
    """Return ``text.find(needle, start)``, not searching again what an earlier call searched.

    For one needle per region (its closing tag): a long region streamed in small pieces then
    costs one pass, not one pass per piece.
    """
    done = _scan_at(memo, _SEARCHED)
    at = text.find(needle, max(start, done.at - len(needle) + 1) if done else start)
    memo[_SEARCHED] = _Scan(len(text) if at < 0 else at, [], "")
    return at


def grew_by(text: str, memo: ScanMemo, char: str) -> bool:
    """Whether ``char`` arrived in ``text`` since the previous call (always, the first time)."""
    seen = _scan_at(memo, _LOOKED)
    memo[_LOOKED] = _Scan(len(text), [], "")
    return seen is None or text.find(char, seen.at) >= 0


def bracket_end(text: str, pos: int, memo: ScanMemo | None = None) -> int | None:
    """Return the index just past the bracketed value that opens at ``text[pos]``.

    Strings in either quote style are skipped with their backslash escapes, so the same scan
    serves JSON and Python literals. Returns ``None`` while the value is still open.

    Args:
        text: The buffer.
        pos: The index of an opening ``{``, ``[`` or ``(``.
        memo: Where earlier calls on shorter prefixes of ``text`` stopped: streaming a long
            value then costs one pass, not one pass per delta.
    """
    scan = _scan_at(memo, pos)
    i, stack, quote = (scan.at, list(scan.stack), scan.quote) if scan else (pos, [], "")
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                if i + 1 >= len(text):
                    break  # resume at the backslash once the escaped character arrives
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    if memo is not None:
        memo[pos] = _Scan(i, stack, quote)
    return None


def json_sequence_end(text: str, pos: int, final: bool, memo: ScanMemo | None = None) -> int | None:
    """Return where a run of JSON values separated by ``;`` ends (Llama's several calls).

    After each value the next non-space character decides: a ``;`` followed by another value
    continues the run, anything else ends it just past the last value. Returns ``None`` while
    that cannot be known yet; with ``final`` the end of ``text`` settles every doubt.

    Args:
        text: The buffer.
        pos: The index where the first value opens.
        final: Whether ``text`` is the whole reply.
        memo: See :func:`bracket_end`.
    """
    end = bracket_end(text, pos, memo)
    if end is None:
        return len(text) if final else None
    while True:
        nxt = skip_space(text, end)
        if nxt >= len(text):
            return end if final else None
        if text[nxt] != ";":
            return end
        start = skip_space(text, nxt + 1)
        if start >= len(text):
            return end if final else None
        if text[start] not in _OPEN:
            return end
        more = bracket_end(text, start, memo)
        if more is None:
            return len(text) if final else None
        end = more


def loads_whole(text: str) -> Any:
    """Decode text that is exactly one JSON value or Python literal, or raise ``ValueError``.

    Python literals (single quotes, ``True``/``None``) are what some models write; they are
    read with :func:`ast.literal_eval`, which accepts literals only and evaluates nothing.
    """
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError("not a JSON value") from exc


def loads_lenient(text: str) -> Any:
    """Decode one JSON value as models write it, or raise ``ValueError``.

    Like :func:`loads_whole`, and a complete JSON value followed by other text counts too: for
    finding calls in a body, never for reading arguments (see :func:`arguments_json`).
    """
    try:
        return loads_whole(text)
    except ValueError:
        pass
    value, _ = json.JSONDecoder().raw_decode(text.strip())
    return value


def split_values(text: str) -> list[Any] | None:
    """Decode a body holding one value, a list, or values separated by ``;``.

    When a list does not decode as a whole, each top-level object in it is decoded on its own,
    so one broken call does not take its siblings down. Undecodable pieces come back as the
    ``str`` of their text, for the caller to report.

    Returns:
        The values, or ``None`` when nothing in ``text`` looks like JSON.
    """
    text = text.strip().rstrip(";").strip()
    if not text or text[0] not in _OPEN:
        return None
    try:
        value = loads_lenient(text)
    except ValueError:
        value = None
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and _is_whole(text):
        return [value]
    return _salvage(text)


def _is_whole(text: str) -> bool:
    end = bracket_end(text, 0)
    return end is not None and not text[end:].strip()


def _salvage(text: str) -> list[Any]:
    # Decode the top-level values (or, inside a list, its elements) one at a time. After a
    # piece that does not decode, its brackets cannot be trusted: go on at the next object
    # that starts like a call.
    values: list[Any] = []
    pos = 1 if text[0] == "[" else 0
    while (start := _next_open(text, pos)) is not None:
        end = bracket_end(text, start)
        try:
            values.append(loads_lenient(text[start:end]))
        except ValueError:
            resume = _CALL_START.search(text, start + 1)
            values.append(text[start : resume.start() if resume else len(text)])
            if resume is None:
                break
            pos = resume.start()
            continue
        if end is None:
            break
        pos = end
    return values


_CALL_START = re.compile(r"""\{\s*["']name["']""")


def _next_open(text: str, pos: int) -> int | None:
    found = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
    return min(found) if found else None


def arguments_json(value: Any) -> str | None:
    """Return ``value`` as a JSON object string, or ``None`` when it cannot be one.

    ``None`` or an empty string gives ``"{}"``; a string holding a JSON object is decoded first,
    so arguments a model already encoded are not encoded twice. A string with anything after
    the object is not arguments: what the model meant by the rest cannot be known.
    """
    if value is None:
        return "{}"
    if isinstance(value, str):
        if not value.strip():
            return "{}"
        try:
            value = loads_whole(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None  # a Python literal that JSON cannot carry (bytes, sets, NaN)


def dumps(value: Any) -> str:
    """Encode ``value`` as compact-enough JSON that keeps non-ASCII text readable."""
    return json.dumps(value, ensure_ascii=False)
