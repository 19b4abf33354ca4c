"""IBM Granite: an optional ``<|tool_call|>`` or ``<tool_call>``, then a JSON array of calls.

::

    <|tool_call|>[{"name": "get_weather", "arguments": {"city": "Boston"}}]
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._bodies import JSON_LIST_AT_START, json_calls
from ._family import Family, Opener, json_value, parsed_arguments, tools_json_lines
from .hermes import TOOL_CALL_TAG, TaggedJsonStyle


class GraniteStyle(TaggedJsonStyle):
    """Tools as JSON, calls as ``<|tool_call|>`` and a JSON array."""

    intro = "You have access to the following tools:"
    instructions = (
        "When a tool is needed to answer, reply with <|tool_call|> followed by a JSON list of "
        'the calls, each {"name": <function-name>, "arguments": <args-object>}. If no tool '
        "fits, answer the user directly."
    )

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """List the tools as JSON lines."""
        return tools_json_lines(tools)

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one ``<|tool_call|>`` array."""
        body = [{"name": c.name, "arguments": parsed_arguments(c)} for c in calls]
        return "<|tool_call|>" + json.dumps(body, ensure_ascii=False)


GRANITE = Family(
    "granite",
    (Opener("<|tool_call|>", json_value, json_calls), TOOL_CALL_TAG, JSON_LIST_AT_START),
    GraniteStyle(),
)
