"""OLMo 3: pythonic calls, one per line, in ``<function_calls>`` tags.

::

    <function_calls>
    get_weather(city="Paris")
    get_time()
    </function_calls>

Each line is read as a pythonic call is (see ``pythonic.py``): literal arguments only, never
evaluated; a line that does not parse does not take the others with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._family import Family, Opener, until
from .pythonic import PythonicStyle, call_source, pythonic_body

BEGIN = "<function_calls>"
END = "</function_calls>"


class Olmo3Style(PythonicStyle):
    """Tools as JSON; calls one per line in ``<function_calls>``."""

    instructions = (
        f"To call functions, reply with {BEGIN}, then one call per line with literal keyword "
        f"arguments, e.g. func_name(param1=value1, param2=value2), then {END}."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls one per line in ``<function_calls>``."""
        return BEGIN + "\n" + "\n".join(call_source(c) for c in calls) + "\n" + END


OLMO3 = Family("olmo3", (Opener(BEGIN, until(END), pythonic_body),), Olmo3Style())
