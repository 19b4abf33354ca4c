"""Kimi K2: calls in a section of Kimi's tokens; ``functions.NAME:IDX`` is the call id.

::

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0
    <|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>

A section end or argument token found outside a call is removed from the content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import tagged_items
from ._family import (
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    parsed_arguments,
    stray,
    until,
)
from ._schema import tool_for_arguments

SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
CALL_BEGIN = "<|tool_call_begin|>"
ARGUMENTS_BEGIN = "<|tool_call_argument_begin|>"
CALL_END = "<|tool_call_end|>"
_ID = re.compile(r"(?:functions\.)?(.+?)(?::\d+)?", re.DOTALL)


def kimi_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the calls of a Kimi section; each call's id is its ``functions.NAME:IDX``.

    An id of another shape (``0``, ``call_3``) names no function: the call is for the only tool
    offered, or the only one whose schema its arguments fit, and gets a new id.
    """
    items = tagged_items(body, CALL_BEGIN, CALL_END)
    if not items:
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for item in items:
        call_id, sep, args = item.partition(ARGUMENTS_BEGIN)
        call_id = call_id.strip()
        if not sep or not call_id:
            malformed.append(item)
            continue
        name = _ID.fullmatch(call_id).group(1)  # type: ignore[union-attr]  # always matches
        kept_id: str | None = call_id
        if tools is not None and name not in tools:
            inferred = tool_for_arguments(args, list(tools.values()))
            if inferred is not None:
                name, kept_id = inferred, None
        candidates.append(Candidate(name, args, id=kept_id, text=CALL_BEGIN + item))
    return BodyParse(tuple(candidates), tuple(malformed))


class KimiStyle(PromptStyle):
    """Tools as JSON; calls in Kimi's section tokens; results headed by their call id."""

    intro = "# Tools\n\nYou can call these functions:"

    def call_instructions(self) -> str:
        """Show the call tokens with a placeholder call."""
        example = ToolCall("functions.<function-name>:0", "<function-name>", '{"<arg>": "<value>"}')
        example_text = self.calls_text([example])
        return (
            f"To call functions, reply with {example_text}\nnumbering the calls of a reply from 0."
        )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one Kimi section, each under its id."""
        body = "".join(
            f"{CALL_BEGIN}{c.id}{ARGUMENTS_BEGIN}"
            + json.dumps(parsed_arguments(c), ensure_ascii=False)
            + CALL_END
            for c in calls
        )
        return SECTION_BEGIN + body + SECTION_END

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result under a ``## Return of ID`` heading."""
        return "\n\n".join(f"## Return of {r.call_id}\n{r.content}" for r in results)


KIMI_K2 = Family(
    "kimi_k2",
    (
        Opener(SECTION_BEGIN, until(SECTION_END), kimi_body),
        Opener(CALL_BEGIN, until(CALL_END), kimi_body, keep_marker=True),
        stray(SECTION_END),
        stray(ARGUMENTS_BEGIN),
    ),
    KimiStyle(),
)
