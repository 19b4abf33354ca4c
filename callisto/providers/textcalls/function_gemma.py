"""FunctionGemma: ``call:NAME{key:value,...}`` between function-call tokens.

::

    <start_function_call>call:get_weather{city:<escape>Paris<escape>,days:3}<end_function_call>

Strings are wrapped in ``<escape>`` tokens and taken as written; other values are bare JSON
scalars (numbers, ``true``, ``false``, ``null``), or ``{...}`` objects and ``[...]`` lists of
values. Each call has its own pair of tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from callisto.providers.base import ToolCall

from ._family import (
    UNREADABLE,
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    argument_items,
    until,
)
from ._json import skip_space

BEGIN = "<start_function_call>"
END = "<end_function_call>"
ESCAPE = "<escape>"
_BARE_END = ",}]"


def gemma_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read one ``call:NAME{...}``; ``None`` when the body is not a call at all."""
    text = body.strip()
    if not text.startswith("call:"):
        return None
    brace = text.find("{")
    name = (text[5:brace] if brace >= 0 else text[5:]).strip()
    if not name:
        return None
    try:
        if brace < 0:
            raise ValueError("no arguments")
        args, end = _object(text, brace)
        if text[end:].strip():
            raise ValueError("text after the arguments")
    except (ValueError, IndexError, RecursionError):
        return BodyParse((Candidate(name, UNREADABLE, text=BEGIN + body),))
    return BodyParse((Candidate(name, args, text=BEGIN + body),))


def _object(text: str, i: int) -> tuple[dict[str, Any], int]:
    """Read ``{key:value,...}`` opening at ``i``; return it and the index past its ``}``."""
    out: dict[str, Any] = {}
    i = skip_space(text, i + 1)
    if text[i] == "}":
        return out, i + 1
    while True:
        colon = text.index(":", i)
        key = text[i:colon].strip()
        if not key or any(c in key for c in "{}[],<>"):
            raise ValueError(f"bad key {key!r}")
        out[key], i = _value(text, colon + 1)
        i = skip_space(text, i)
        if text[i] == "}":
            return out, i + 1
        if text[i] != ",":
            raise ValueError("expected , or }")
        i = skip_space(text, i + 1)


def _value(text: str, i: int) -> tuple[Any, int]:
    """Read one value at ``i``; return it and the index just past it."""
    i = skip_space(text, i)
    if text.startswith(ESCAPE, i):
        end = text.index(ESCAPE, i + len(ESCAPE))
        return text[i + len(ESCAPE) : end], end + len(ESCAPE)
    if text[i] == "{":
        return _object(text, i)
    if text[i] == "[":
        items: list[Any] = []
        i = skip_space(text, i + 1)
        if text[i] == "]":
            return items, i + 1
        while True:
            item, i = _value(text, i)
            items.append(item)
            i = skip_space(text, i)
            if text[i] == "]":
                return items, i + 1
            if text[i] != ",":
                raise ValueError("expected , or ]")
            i += 1
    end = i
    while end < len(text) and text[end] not in _BARE_END:
        end += 1
    return _scalar(text[i:end].strip()), end


def _scalar(token: str) -> Any:
    """A bare value: a JSON scalar, or else the text as written."""
    try:
        value = json.loads(token)
    except ValueError:
        return token
    return value if not isinstance(value, dict | list) else token


def _written(value: Any) -> str:
    """Write a value as FunctionGemma does."""
    if isinstance(value, str):
        return f"{ESCAPE}{value}{ESCAPE}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_written(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_written(v) for v in value) + "]"
    return json.dumps(value)


class FunctionGemmaStyle(PromptStyle):
    """Tools as JSON; each call between FunctionGemma's tokens; results likewise."""

    intro = "You are a model that can do function calling with the following functions:"
    instructions = (
        f"To call a function, reply with {BEGIN}call:NAME{{key:{ESCAPE}text{ESCAPE},"
        f"number:3}}{END}; wrap every string in {ESCAPE} tokens."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call between its own pair of tokens."""
        return "".join(
            f"{BEGIN}call:{c.name}{_written(dict(argument_items(c)))}{END}" for c in calls
        )

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result between FunctionGemma's response tokens."""
        return "".join(
            f"<start_function_response>response:{r.name}{{value:{ESCAPE}{r.content}{ESCAPE}}}"
            "<end_function_response>"
            for r in results
        )


FUNCTION_GEMMA = Family(
    "function_gemma", (Opener(BEGIN, until(END), gemma_body),), FunctionGemmaStyle()
)
