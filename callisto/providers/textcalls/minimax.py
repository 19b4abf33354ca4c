"""MiniMax M2: ``<invoke>`` blocks with ``<parameter>`` tags; values typed by the tool's schema.

::

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    </invoke>
    </minimax:tool_call>
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._bodies import attribute_name, tag_calls_body
from ._family import (
    BodyParse,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    tag_calls,
    tools_json_lines,
    until,
)

BEGIN = "<minimax:tool_call>"
END = "</minimax:tool_call>"


def minimax_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the ``<invoke>`` blocks of a MiniMax section."""
    return tag_calls_body(
        body, tools, ("<invoke", "</invoke>"), ("<parameter", "</parameter>"), attribute_name
    )


class MiniMaxStyle(PromptStyle):
    """Tools in ``<tools>``; calls as ``<invoke>`` blocks; results in ``<response>``."""

    intro = "# Tools\n\nYou may call one or more tools. They are listed in <tools></tools>:"
    instructions = (
        "To call tools, reply in this format:\n"
        f'{BEGIN}\n<invoke name="tool-name">\n<parameter name="param-key">param-value'
        f"</parameter>\n</invoke>\n{END}\nWrite objects and arrays as JSON."
    )

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """List the tools as JSON lines inside ``<tools>``."""
        return "<tools>\n" + tools_json_lines(tools) + "\n</tools>"

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one ``<minimax:tool_call>`` section."""
        invokes = tag_calls(
            calls,
            '<invoke name="{name}">\n',
            '<parameter name="{key}">{value}</parameter>\n',
            "</invoke>",
        )
        return f"{BEGIN}\n{invokes}\n{END}"

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result in a ``<response>`` tag."""
        return "\n".join(f"<response>{r.content}</response>" for r in results)


MINIMAX_M2 = Family("minimax_m2", (Opener(BEGIN, until(END), minimax_body),), MiniMaxStyle())
