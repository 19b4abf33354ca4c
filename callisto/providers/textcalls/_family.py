"""What a format family is made of: openers that find calls, and a prompt style that writes them.

An :class:`Opener` names a literal marker that opens a *region* of call text, says where that
region ends (:data:`EndFinder`) and turns its body into candidate calls (:data:`BodyParser`). The
streaming parser in ``parser.py`` drives openers and knows nothing about any one format; a family
module only declares its openers and its :class:`PromptStyle`.

An opener is *weak* when its marker is ordinary text (``{`` at the start of a reply, a fenced
block): a weak region that holds no call naming an offered tool is given back as content. A
*strong* marker is a token only a tool call uses, so its region never becomes content: what does
not parse is reported as rejected.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callisto.ids import new_id
from callisto.providers.base import ToolCall, ToolSpec

from ._json import ScanMemo, bracket_end, find_resumed, json_sequence_end, skip_space
from ._schema import text_value

ToolIndex = Mapping[str, ToolSpec] | None
"""The offered tools by name; ``None`` means names are not checked."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A call as written, before its name and arguments are checked.

    Attributes:
        name: The function name.
        arguments: The arguments as the model gave them (a dict, a JSON string, or ``None``).
        id: The call id when the format carries one (kimi), else ``None``.
        text: The call's own text, for reporting when it is rejected.
    """

    name: str
    arguments: Any
    id: str | None = None
    text: str = ""


UNREADABLE: Any = object()
"""The ``arguments`` of a :class:`Candidate` whose name was read but whose arguments were not."""


@dataclass(frozen=True, slots=True)
class BodyParse:
    """What a region's body held.

    Attributes:
        candidates: The calls.
        malformed: The text of pieces that did not parse.
        content: Text of the region that is the model's answer, shown before the calls (the
            words a model wrote after a call marker instead of a call).
        reasoning: The model's reasoning the region held (``<think>``, gpt-oss's analysis),
            passed on as reasoning, never as content.
    """

    candidates: tuple[Candidate, ...] = ()
    malformed: tuple[str, ...] = ()
    content: str = ""
    reasoning: str = ""


BodyParser = Callable[[str, ToolIndex], BodyParse | None]
"""Parses a region's body; ``None`` means the body is not call text at all."""

EndFinder = Callable[[str, int, bool, ScanMemo, ToolIndex], tuple[int, int] | None]
"""``(buffer, body_start, final, memo, tools) -> (body_end, region_end)``, or ``None`` until known.

With ``final`` (the buffer is the whole reply) it must answer. ``memo`` is one dict per region,
for resuming scans as the buffer grows (see :func:`bracket_end`). ``tools`` are the offered
tools, for formats whose end depends on the argument names a tool declares.
"""


@dataclass(frozen=True, slots=True)
class Opener:
    """A marker that opens a region of call text.

    Attributes:
        marker: The literal text that opens the region.
        find_end: Where the region ends.
        parse_body: Turns the body into candidate calls.
        weak: Whether a region without a call is given back as content.
        at_reply_start: Whether the marker only counts before any visible content.
        keep_marker: Whether the marker is part of the body (``{`` opening JSON).
    """

    marker: str
    find_end: EndFinder
    parse_body: BodyParser
    weak: bool = False
    at_reply_start: bool = False
    keep_marker: bool = False


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's output as it goes back into the conversation."""

    call_id: str
    name: str
    content: str


class PromptStyle:
    """How a family writes tool definitions, earlier calls and tool results as text.

    The defaults are a neutral shape that any instruction-following model understands; family
    modules override what their models were trained on.
    """

    intro = "You can call these functions (JSON Schema of each):"
    instructions = (
        "To call functions, reply with only a fenced JSON block:\n"
        '```json\n[{"name": "<function name>", "arguments": {<arguments>}}]\n```'
    )

    def tools_prompt(self, tools: Sequence[ToolSpec]) -> str:
        """Return the system-prompt block that offers ``tools``: intro, listing, instructions."""
        return f"{self.intro}\n{self.tools_listing(tools)}\n\n{self.call_instructions()}"

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """Return the tool definitions as the family lists them."""
        return tools_json_lines(tools)

    def call_instructions(self) -> str:
        """Return how the model is told to write a call."""
        return self.instructions

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Return earlier tool calls of an assistant message, written as the model writes them."""
        body = [{"name": c.name, "arguments": parsed_arguments(c)} for c in calls]
        return "```json\n" + json.dumps(body, ensure_ascii=False) + "\n```"

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Return tool results as the text of one user message."""
        return "\n\n".join(f"Result of {r.name} (call {r.call_id}):\n{r.content}" for r in results)


@dataclass(frozen=True)
class Family:
    """A format family: how its calls are found in text and how its prompts are written.

    Attributes:
        name: The family's name, as ``tool_format`` spells it.
        openers: The markers that open call text, with how each region is read.
        style: How tools, calls and results are written into the prompt.
        new_call_id: Makes an id for a call whose text carries none.
        members: For ``auto``, the families it detects; the first call found settles which.
    """

    name: str
    openers: tuple[Opener, ...]
    style: PromptStyle
    new_call_id: Callable[[], str] = field(default=lambda: new_id("call_"))
    members: tuple[Family, ...] = ()


def parsed_arguments(call: ToolCall) -> Any:
    """Return a call's arguments decoded, or the raw string when they are not JSON."""
    try:
        return json.loads(call.arguments or "{}")
    except ValueError:
        return call.arguments


def json_call_objects(
    calls: Sequence[ToolCall], before: str, after: str, key: str = "arguments"
) -> str:
    """Write each call as ``{"name": ..., key: {...}}`` between ``before`` and ``after``, one a line."""
    return "\n".join(
        before + json.dumps({"name": c.name, key: parsed_arguments(c)}, ensure_ascii=False) + after
        for c in calls
    )


def argument_items(call: ToolCall) -> list[tuple[str, Any]]:
    """Return a call's arguments as ``(name, value)`` pairs; none when they are not an object."""
    args = parsed_arguments(call)
    return list(args.items()) if isinstance(args, dict) else []


def tag_calls(calls: Sequence[ToolCall], head: str, item: str, tail: str) -> str:
    """Write calls whose arguments are tags, one block per call, blocks separated by newlines.

    Args:
        calls: The calls.
        head: Opens a call; ``{name}`` is replaced by the function name.
        item: One argument; ``{key}`` and ``{value}`` are replaced (values as tag text).
        tail: Closes a call.
    """
    blocks = []
    for call in calls:
        items = "".join(
            item.replace("{key}", key).replace("{value}", text_value(value))
            for key, value in argument_items(call)
        )
        blocks.append(head.replace("{name}", call.name) + items + tail)
    return "\n".join(blocks)


def tools_json_lines(tools: Sequence[ToolSpec]) -> str:
    """Return one OpenAI-shaped function definition per line, as most templates list them."""
    return "\n".join(json.dumps(tool_definition(t), ensure_ascii=False) for t in tools)


def tool_definition(tool: ToolSpec) -> dict[str, Any]:
    """Return ``tool`` in OpenAI's ``{"type": "function", "function": {...}}`` shape."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    return {"type": "function", "function": function}


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def alnum_id(length: int = 9) -> str:
    """Return a random id of ``length`` letters and digits (Mistral's tool-call ids)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


# End finders shared by the families.


def until(close: str) -> EndFinder:
    """Return an end finder for a region closed by ``close``; unclosed, it runs to the end."""

    def find(
        text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
    ) -> tuple[int, int] | None:
        i = find_resumed(text, close, start, memo)
        if i >= 0:
            return i, i + len(close)
        return (len(text), len(text)) if final else None

    return find


def json_value(
    text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
) -> tuple[int, int] | None:
    """End finder for one JSON value after the marker (optional leading space)."""
    i = skip_space(text, start)
    if i >= len(text):
        return (len(text), len(text)) if final else None
    if text[i] not in "{[":
        return start, start  # no JSON after the marker: an empty, malformed region
    end = bracket_end(text, i, memo)
    if end is None:
        return (len(text), len(text)) if final else None
    return end, end


def json_sequence(
    text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
) -> tuple[int, int] | None:
    """End finder for JSON values separated by ``;`` (Llama's parallel calls)."""
    i = skip_space(text, start)
    if i >= len(text):
        return (len(text), len(text)) if final else None
    if text[i] not in "{[":
        return start, start
    end = json_sequence_end(text, i, final, memo)
    return None if end is None else (end, end)


def _nothing(
    text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
) -> tuple[int, int]:
    return start, start


def no_calls(body: str, tools: ToolIndex) -> BodyParse:
    """A body parser for regions that are neither content nor calls: they hold nothing."""
    return BodyParse()


def reasoning_body(body: str, tools: ToolIndex) -> BodyParse:
    """A body parser for regions that are the model's reasoning: all of the body, trimmed."""
    return BodyParse(reasoning=body.strip())


def stray(marker: str) -> Opener:
    """Return an opener that removes ``marker`` from the content and reads nothing after it.

    For a format's tokens that turn up outside a call (a section closed twice, say): they are
    not meant for the user, and not a call either.
    """
    return Opener(marker, _nothing, no_calls)
