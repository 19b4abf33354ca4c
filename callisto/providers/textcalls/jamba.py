"""Jamba, Hunyuan A13B and MiniMax M1: JSON calls in ``<tool_calls>`` tags.

::

    <tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_calls>
    <tool_calls>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    {"name": "get_time", "arguments": {}}
    </tool_calls>

The body is a JSON list of calls (Jamba, Hunyuan) or one call object per line (MiniMax M1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, parsed_arguments, until
from .hermes import TaggedJsonStyle

BEGIN = "<tool_calls>"
END = "</tool_calls>"


class JambaStyle(TaggedJsonStyle):
    """Tools in ``<tools>``; calls as one JSON list in ``<tool_calls>``."""

    instructions = (
        "To call functions, reply with a JSON list of the calls inside <tool_calls></tool_calls> "
        'tags:\n<tool_calls>[{"name": <function-name>, "arguments": <args-object>}]</tool_calls>'
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one JSON list in ``<tool_calls>``."""
        body = [{"name": c.name, "arguments": parsed_arguments(c)} for c in calls]
        return BEGIN + json.dumps(body, ensure_ascii=False) + END


JAMBA = Family("jamba", (Opener(BEGIN, until(END), json_calls),), JambaStyle())
