"""Hermes and Qwen2.5 (also QwQ): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

Calls repeat, one JSON object per tag; text before the first tag is content, and a final tag left
open at the end of the reply still counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._bodies import json_calls
from ._family import (
    Family,
    Opener,
    PromptStyle,
    ToolResult,
    json_call_objects,
    tools_json_lines,
)
from ._tags import QWEN3_TAGS, section_end

# The region ends where a qwen3 xml body ends when it holds one, since ``auto`` reads both
# families' bodies in one ``<tool_call>`` region.
TOOL_CALL_END = section_end(QWEN3_TAGS, "</tool_call>")
TOOL_CALL_TAG = Opener("<tool_call>", TOOL_CALL_END, json_calls)


class TaggedJsonStyle(PromptStyle):
    """Tools in ``<tools>``, calls in ``<tool_call>``, results in ``<tool_response>``."""

    intro = (
        "# Tools\n\nYou may call one or more functions to help with the user's request. "
        "The function signatures are inside <tools></tools> XML tags:"
    )
    instructions = (
        "For each function call, write a JSON object with the function name and its arguments "
        "inside <tool_call></tool_call> tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """List the tools as JSON lines inside ``<tools>``."""
        return "<tools>\n" + tools_json_lines(tools) + "\n</tools>"

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call in its own ``<tool_call>`` tag."""
        return json_call_objects(calls, "<tool_call>\n", "\n</tool_call>")

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result in its own ``<tool_response>`` tag."""
        return "\n".join(f"<tool_response>\n{r.content}\n</tool_response>" for r in results)


HERMES = Family("hermes", (TOOL_CALL_TAG,), TaggedJsonStyle())
