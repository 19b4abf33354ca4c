"""Turn whatever a tool returns into the string the API wants, within a size cap."""

from __future__ import annotations

from typing import Any

import pydantic_core

DEFAULT_MAX_CHARS = 32_000


def serialize_output(value: Any, *, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """Serialise a tool's return value to a string.

    A ``str`` passes through unchanged. ``None`` becomes ``""``. Anything else becomes JSON:
    pydantic's encoder handles models, dataclasses, datetimes, decimals, UUIDs, enums, sets,
    paths and bytes; an object it doesn't know is written with ``str()``.

    Args:
        value: The return value.
        max_chars: Longest output allowed; a longer one is cut and ends with a marker saying how
            much was left out (the whole string, marker included, stays within the cap).
            ``None`` for no cap.

    Returns:
        The output string.
    """
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    else:
        text = pydantic_core.to_json(value, fallback=str).decode()
    return truncate(text, max_chars)


def truncate(text: str, max_chars: int | None) -> str:
    """Cut ``text`` to ``max_chars`` characters, marker included, when it is longer.

    Args:
        text: The text.
        max_chars: The cap, or ``None`` for none.

    Returns:
        ``text``, or its start followed by ``...[truncated N characters]``.
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    # The marker's length depends on N, which depends on the marker: size it for the worst case.
    marker_room = len(f"\n...[truncated {len(text)} characters]")
    keep = max(0, max_chars - marker_room)
    marker = f"\n...[truncated {len(text) - keep} characters]"
    return (text[:keep] + marker)[:max_chars] if keep else marker[:max_chars]
