"""Mistral: ``[TOOL_CALLS]`` then a JSON array (before tokenizer v11) or ``NAME{json}`` (v11+).

::

    [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]
    [TOOL_CALLS]get_weather{"city": "Paris"}[TOOL_CALLS]get_time{}
    [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}

Both families read every shape; they differ in how they write calls into the prompt. Mistral's
templates insist on tool-call ids of exactly 9 letters and digits, so calls get such ids and the
ids of earlier calls are mapped to that shape, the same way for a call and its result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._bodies import json_calls
from ._family import (
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    alnum_id,
    parsed_arguments,
    tool_definition,
)
from ._json import ScanMemo, bracket_end, skip_space

MARKER = "[TOOL_CALLS]"
_NAME = re.compile(r"[\w.\-]+")
_ID = re.compile(r"\w*")
_CALL = re.compile(r"([\w.\-]+)\s*(?:\[CALL_ID\]\s*(\w+))?\s*(?:\[ARGS\])?(.*)", re.DOTALL)
_JSON_START = re.compile(r"""\[\s*\{|\{\s*["']""")
_ALNUM9 = re.compile(r"[A-Za-z0-9]{9}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _wait(text: str, final: bool) -> tuple[int, int] | None:
    return (len(text), len(text)) if final else None


def find_call_end(
    text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
) -> tuple[int, int] | None:
    """End finder: a JSON value, or ``NAME`` [``[CALL_ID]id``] [``[ARGS]``] and a JSON object.

    Anything else after the marker is words, not a call: the region then runs on to the end of
    the first JSON list or object that follows them (the call the model got to), or to the end
    of the reply when none does.
    """
    i = skip_space(text, start)
    if i >= len(text):
        return _wait(text, final)
    if text[i] in "[{":
        end = bracket_end(text, i, memo)
        return _wait(text, final) if end is None else (end, end)
    name = _NAME.match(text, i)
    if name is not None:
        j = name.end()
        for tag in ("[CALL_ID]", "[ARGS]"):
            if text.startswith(tag, j):
                j += len(tag)
                if tag == "[CALL_ID]":
                    j = _ID.match(text, j).end()  # type: ignore[union-attr]  # \w* always matches
            elif tag.startswith(text[j:]):
                return _wait(text, final)  # a tag, or the name, may still be coming
        j = skip_space(text, j)
        if j >= len(text):
            return _wait(text, final)
        if text[j] == "{":
            end = bracket_end(text, j, memo)
            return _wait(text, final) if end is None else (end, end)
    json_start = _JSON_START.search(text, i)
    if json_start is None:
        return _wait(text, final)
    end = bracket_end(text, json_start.start(), memo)
    return _wait(text, final) if end is None else (end, end)


def mistral_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the calls after one ``[TOOL_CALLS]``: a JSON array, or one v11 call.

    Words before a JSON array of calls are content; words with no call after them are content
    too, never a call made up from their first word.
    """
    text = body.strip()
    if text[:1] in ("[", "{"):
        return json_calls(text, tools)
    m = _CALL.fullmatch(text)
    if m is not None and m.group(3).strip().startswith("{"):
        name, call_id, args = m.groups()
        return BodyParse((Candidate(name, args.strip(), id=call_id, text=MARKER + body),))
    json_start = _JSON_START.search(body)
    if json_start is not None:
        parsed = json_calls(body[json_start.start() :], tools)
        if parsed is not None and parsed.candidates:
            return BodyParse(parsed.candidates, parsed.malformed, body[: json_start.start()])
    return BodyParse(content=body)


def mistral_id(call_id: str) -> str:
    """Return ``call_id`` as 9 letters and digits: itself if it already is, else a digest."""
    if _ALNUM9.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(chars)


class MistralStyle(PromptStyle):
    """``[AVAILABLE_TOOLS]``, ``[TOOL_CALLS]`` arrays with ids, ``[TOOL_RESULTS]`` (pre-v11)."""

    intro = ""
    instructions = (
        "To call functions, reply with [TOOL_CALLS] followed by a JSON list of "
        '{"name": <function-name>, "arguments": <args-object>}.'
    )

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """List the tools in one ``[AVAILABLE_TOOLS]`` block."""
        definitions = json.dumps([tool_definition(t) for t in tools], ensure_ascii=False)
        return f"[AVAILABLE_TOOLS]{definitions}[/AVAILABLE_TOOLS]"

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one ``[TOOL_CALLS]`` array, each with its 9-character id."""
        body = [
            {"name": c.name, "arguments": parsed_arguments(c), "id": mistral_id(c.id)}
            for c in calls
        ]
        return MARKER + json.dumps(body, ensure_ascii=False)

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result in ``[TOOL_RESULTS]`` with the id of its call."""
        return "".join(
            "[TOOL_RESULTS]"
            + json.dumps({"content": r.content, "call_id": mistral_id(r.call_id)})
            + "[/TOOL_RESULTS]"
            for r in results
        )


class MistralV11Style(MistralStyle):
    """Calls as ``[TOOL_CALLS]NAME[ARGS]{json}``, as tokenizer v11 and later write them."""

    instructions = (
        "To call a function, reply with [TOOL_CALLS] followed by the function name, [ARGS] and "
        "the arguments as a JSON object; repeat for several calls."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as ``[TOOL_CALLS]NAME[ARGS]{json}``."""
        return "".join(
            f"{MARKER}{c.name}[ARGS]" + json.dumps(parsed_arguments(c), ensure_ascii=False)
            for c in calls
        )


_OPENERS = (Opener(MARKER, find_call_end, mistral_body),)
MISTRAL = Family("mistral", _OPENERS, MistralStyle(), new_call_id=alnum_id)
MISTRAL_V11 = Family("mistral_v11", _OPENERS, MistralV11Style(), new_call_id=alnum_id)
