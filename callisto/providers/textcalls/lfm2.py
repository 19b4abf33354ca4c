"""LFM2 (Liquid AI): pythonic calls between LFM2's tool-call tokens.

::

    <|tool_call_start|>[get_weather(city="Paris"), get_time()]<|tool_call_end|>

The list is read as pythonic calls are (see ``pythonic.py``); a JSON list of calls, which LFM2
writes when asked to, is read too. An end token left over after the calls is removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import first_recognised, json_calls
from ._family import Family, Opener, stray, until
from .pythonic import PythonicStyle, pythonic_body

BEGIN = "<|tool_call_start|>"
END = "<|tool_call_end|>"


class Lfm2Style(PythonicStyle):
    """Tools as JSON; calls as a Python list between LFM2's tokens."""

    instructions = (
        f"To call functions, reply with {BEGIN}[func_name1(param1=value1), "
        f"func_name2(param=value)]{END}, with literal keyword arguments."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one Python list between LFM2's tokens."""
        return BEGIN + super().calls_text(calls) + END


LFM2 = Family(
    "lfm2",
    (Opener(BEGIN, until(END), first_recognised([pythonic_body, json_calls])), stray(END)),
    Lfm2Style(),
)
