"""LongCat (Meituan): hermes-style JSON calls in ``<longcat_tool_call>`` tags.

::

    <longcat_tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</longcat_tool_call>
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, json_call_objects, until
from .hermes import TaggedJsonStyle

BEGIN = "<longcat_tool_call>"
END = "</longcat_tool_call>"


class LongCatStyle(TaggedJsonStyle):
    """Tools in ``<tools>``; each call in its own ``<longcat_tool_call>``."""

    instructions = (
        "For each function call, write a JSON object with the function name and its arguments "
        f'inside {BEGIN}{END} tags:\n{BEGIN}{{"name": <function-name>, '
        f'"arguments": <args-json-object>}}{END}'
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call in its own ``<longcat_tool_call>``."""
        return json_call_objects(calls, BEGIN, END)


LONGCAT = Family("longcat", (Opener(BEGIN, until(END), json_calls),), LongCatStyle())
