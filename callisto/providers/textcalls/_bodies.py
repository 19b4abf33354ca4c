"""Body parsers shared by several families: JSON calls, and items between paired tags.

Calls whose arguments are tags with raw-text values are read in ``_tags.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._family import BodyParse, BodyParser, Candidate, Opener, ToolIndex, json_sequence
from ._json import dumps, split_values
from ._schema import coerce_text, property_schema


def json_calls(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read ``{"name", "arguments"}`` objects: one, a list, or several separated by ``;``.

    ``parameters`` is accepted for ``arguments`` (Llama), and OpenAI's own shape
    ``{"type": "function", "function": {...}}`` is unwrapped.

    Returns:
        The calls, or ``None`` when the body is not JSON at all.
    """
    values = split_values(body)
    if values is None:
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for value in values:
        candidate = candidate_from_object(value)
        if candidate is None:
            malformed.append(value if isinstance(value, str) else dumps(value))
        else:
            candidates.append(candidate)
    if not candidates and not malformed:
        return None
    return BodyParse(tuple(candidates), tuple(malformed))


def candidate_from_object(value: Any) -> Candidate | None:
    """Return the call a decoded JSON object describes, or ``None`` if it is not call-shaped."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    args = value.get("arguments", value.get("parameters"))
    call_id = value.get("id")
    return Candidate(
        name=name.strip(),
        arguments=args,
        id=call_id if isinstance(call_id, str) and call_id else None,
        text=dumps(value),
    )


def tagged_items(body: str, begin: str, end: str) -> list[str]:
    """Return the texts between each ``begin`` and its ``end``; a last unclosed one counts."""
    items: list[str] = []
    pos = body.find(begin)
    while pos >= 0:
        start = pos + len(begin)
        stop = body.find(end, start)
        if stop < 0:
            items.append(body[start:])
            break
        items.append(body[start:stop])
        pos = body.find(begin, stop + len(end))
    return items


def unfence(text: str) -> str:
    """Return the inside of a fenced code block (```` ```json ... ``` ````), or ``text``."""
    text = text.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2]
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text


def typed_arguments(name: str, pairs: list[tuple[str, str]], tools: ToolIndex) -> dict[str, Any]:
    """Build an arguments object from ``(key, raw text)`` pairs, typed by the tool's schema."""
    tool = tools.get(name) if tools is not None else None
    return {key: coerce_text(raw, property_schema(tool, key)) for key, raw in pairs}


def first_recognised(parsers: Sequence[BodyParser]) -> BodyParser:
    """Return a body parser that answers with the first of ``parsers`` that recognises a body."""

    def parse(body: str, tools: ToolIndex) -> BodyParse | None:
        for parser in parsers:
            parsed = parser(body, tools)
            if parsed is not None and parsed.candidates:
                return parsed
        for parser in parsers:
            parsed = parser(body, tools)
            if parsed is not None:
                return parsed  # nothing readable as a call: report the first reading
        return None

    return parse


# A reply that is only JSON: ordinary text unless it names an offered tool, so weak, and only
# before any visible content. ``json_sequence`` lets Llama's ``{...}; {...}`` run on.
JSON_OBJECT_AT_START = Opener(
    "{", json_sequence, json_calls, weak=True, at_reply_start=True, keep_marker=True
)
JSON_LIST_AT_START = Opener(
    "[", json_sequence, json_calls, weak=True, at_reply_start=True, keep_marker=True
)
