"""Phi-4-mini: ``functools`` followed by a JSON list of calls.

::

    functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]

``functools`` is an ordinary word (Python's module), so the marker is weak: text after it that
is not a list of calls naming an offered tool stays content, exactly as written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, PromptStyle, json_value, parsed_arguments

MARKER = "functools"


class Phi4MiniStyle(PromptStyle):
    """Tools as JSON; calls as ``functools`` and a JSON list."""

    intro = "You have access to the following tools:"
    instructions = (
        'To call tools, reply with functools[{"name": <function-name>, "arguments": '
        "<args-object>}, ...]."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one ``functools`` list."""
        body = [{"name": c.name, "arguments": parsed_arguments(c)} for c in calls]
        return MARKER + json.dumps(body, ensure_ascii=False)


PHI4_MINI = Family(
    "phi4_mini", (Opener(MARKER, json_value, json_calls, weak=True),), Phi4MiniStyle()
)
