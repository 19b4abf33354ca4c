"""MiniMax M2: ``<invoke>`` blocks with ``<parameter>`` tags; values typed by the tool's schema.

::

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    </invoke>
    </minimax:tool_call>

A value may hold ``</parameter>`` or the section's closing tag: its real end is found as for
qwen3 xml (see ``_tags.py``), never cut at the first closing tag.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._family import (
    Family,
    Opener,
    PromptStyle,
    ToolResult,
    tag_calls,
    tools_json_lines,
)
from ._tags import TagGrammar, calls_body, name_attribute, section_end

BEGIN = "<minimax:tool_call>"
END = "</minimax:tool_call>"


MINIMAX_TAGS = TagGrammar(
    "<invoke", "</invoke>", "<parameter", "</parameter>", name_attribute, trim_newline=False
)
minimax_body = calls_body(MINIMAX_TAGS)
"""Reads the ``<invoke>`` blocks of a MiniMax section."""


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


MINIMAX_M2 = Family(
    "minimax_m2", (Opener(BEGIN, section_end(MINIMAX_TAGS, END), minimax_body),), MiniMaxStyle()
)
