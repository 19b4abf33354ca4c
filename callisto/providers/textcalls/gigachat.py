"""GigaChat 3: a call is a JSON object after ``function call<|role_sep|>``.

::

    Let me check.<|message_sep|>

    function call<|role_sep|>
    {"name": "get_weather", "arguments": {"city": "Paris"}}

``<|message_sep|>`` ends the visible text before the call; it is removed from the content.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, PromptStyle, json_call_objects, json_value, stray

MARKER = "function call<|role_sep|>"
MESSAGE_SEP = "<|message_sep|>"


class GigaChatStyle(PromptStyle):
    """Tools as JSON; each call after ``function call<|role_sep|>``."""

    intro = "You can call the following functions:"
    instructions = (
        f'To call a function, reply with {MARKER}\n{{"name": <function-name>, "arguments": '
        "<args-object>}."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call after its own marker."""
        return json_call_objects(calls, f"{MARKER}\n", "")


GIGACHAT3 = Family(
    "gigachat3",
    (Opener(MARKER, json_value, json_calls), stray(MESSAGE_SEP)),
    GigaChatStyle(),
)
