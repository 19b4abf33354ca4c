"""Body parsers shared by several families: JSON calls, and items between paired tags."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._family import BodyParse, Candidate, Opener, ToolIndex, json_sequence
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


def pieces(text: str, begin: str, end: str) -> list[str]:
    """Return what follows each ``begin``, up to its ``end`` or else up to the next ``begin``.

    Unlike :func:`tagged_items`, a tag left unclosed ends where the next one opens, which is
    how tag formats with many small items (parameters) go wrong.
    """
    return [piece.split(end, 1)[0] for piece in text.split(begin)[1:]]


NameReader = Callable[[str], tuple[str, int] | None]
"""Reads the name an opening tag gives, from just after the tag's start: the name and the index
just past the tag's ``>``, or ``None`` when the tag names nothing."""


def tag_calls_body(
    body: str,
    tools: ToolIndex,
    call: tuple[str, str],
    parameter: tuple[str, str],
    read_name: NameReader,
) -> BodyParse | None:
    """Read calls written as tags: a ``call`` tag names the function, ``parameter`` tags inside it
    name the keys, and the values between the tags are raw text typed by the tool's schema.

    Args:
        body: The region's body.
        tools: The offered tools, for typing the values.
        call: The call tag's start and its closing tag, e.g. ``("<invoke", "</invoke>")``.
        parameter: The same for a parameter tag.
        read_name: Reads the function's name after the ``call`` start, and each key after the
            ``parameter`` start.

    Returns:
        The calls (one whose name cannot be read is malformed; a parameter whose key cannot be
        read is left out), or ``None`` when the body has no ``call`` tag.
    """
    call_start, call_end = call
    calls = pieces(body, call_start, call_end)
    if not calls:
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for piece in calls:
        head = read_name(piece)
        if head is None:
            malformed.append(call_start + piece)
            continue
        name, start = head
        pairs: list[tuple[str, str]] = []
        for param in pieces(piece[start:], *parameter):
            key = read_name(param)
            if key is not None:
                pairs.append((key[0], strip_one_newline(param[key[1] :])))
        candidates.append(
            Candidate(name, typed_arguments(name, pairs, tools), text=call_start + piece)
        )
    return BodyParse(tuple(candidates), tuple(malformed))


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


def strip_one_newline(text: str) -> str:
    """Drop the one newline that tag formats put after an opening and before a closing tag."""
    if text.startswith("\n"):
        text = text[1:]
    if text.endswith("\n"):
        text = text[:-1]
    return text


_ATTR_NAME = re.compile(r"""\s*name\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))\s*>""")


def attribute_name(text: str) -> tuple[str, int] | None:
    """Read ``name="..."`` and the closing ``>`` at the start of ``text`` (minimax's tags).

    Returns:
        The name and the index just past ``>``, or ``None``.
    """
    m = _ATTR_NAME.match(text)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None), m.end()


# A reply that is only JSON: ordinary text unless it names an offered tool, so weak, and only
# before any visible content. ``json_sequence`` lets Llama's ``{...}; {...}`` run on.
JSON_OBJECT_AT_START = Opener(
    "{", json_sequence, json_calls, weak=True, at_reply_start=True, keep_marker=True
)
JSON_LIST_AT_START = Opener(
    "[", json_sequence, json_calls, weak=True, at_reply_start=True, keep_marker=True
)
