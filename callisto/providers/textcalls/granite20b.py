"""IBM Granite 20B function calling: each call a JSON object after ``<function_call>``.

::

    <function_call> {"name": "get_weather", "arguments": {"city": "Paris"}}
    <function_call> {"name": "get_time", "arguments": {}}

The tag has no closing tag: a call ends where its JSON object does.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, PromptStyle, json_call_objects, json_value

MARKER = "<function_call>"


class Granite20bStyle(PromptStyle):
    """Tools as JSON; each call as ``<function_call>`` and a JSON object."""

    intro = "You have access to the following functions:"
    instructions = (
        f'To call a function, reply with {MARKER} {{"name": <function-name>, "arguments": '
        "<args-object>}, one line per call."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call on its own line after ``<function_call>``."""
        return json_call_objects(calls, f"{MARKER} ", "")


GRANITE_20B_FC = Family(
    "granite_20b_fc", (Opener(MARKER, json_value, json_calls),), Granite20bStyle()
)
