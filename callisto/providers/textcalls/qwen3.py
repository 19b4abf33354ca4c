"""Qwen3 coder / Qwen3 xml: parameters as tags, values as raw text typed by the tool's schema.

::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    San Francisco
    </parameter>
    </function>
    </tool_call>

A ``<function=...>`` block without the ``<tool_call>`` wrapper is accepted too. A value may hold
the format's own closing tags (see ``_tags.py`` for how its real end is found); a missing
``</parameter>`` ends at the next ``<parameter=``.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._family import Family, Opener, tag_calls
from ._tags import QWEN3_TAGS, calls_body, one_call_end
from .hermes import TOOL_CALL_END, TaggedJsonStyle

qwen3_body = calls_body(QWEN3_TAGS)
"""Reads the ``<function=NAME>`` blocks of a body (``None`` when it has none)."""


class Qwen3XmlStyle(TaggedJsonStyle):
    """Tools in ``<tools>``, calls as ``<function=...>`` blocks, results in ``<tool_response>``."""

    intro = "# Tools\n\nYou have access to the following functions:"
    instructions = (
        "To call a function, reply in exactly this format:\n<tool_call>\n"
        "<function=example_function_name>\n<parameter=example_parameter>\nvalue\n"
        "</parameter>\n</function>\n</tool_call>\n\nWrite objects and arrays as JSON. "
        "You may call several functions, each in its own <tool_call> block."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as a ``<function=...>`` block inside ``<tool_call>``."""
        return tag_calls(
            calls,
            "<tool_call>\n<function={name}>\n",
            "<parameter={key}>\n{value}\n</parameter>\n",
            "</function>\n</tool_call>",
        )


QWEN3_XML = Family(
    "qwen3_xml",
    (
        Opener("<tool_call>", TOOL_CALL_END, qwen3_body),
        Opener("<function=", one_call_end(QWEN3_TAGS), qwen3_body, keep_marker=True),
    ),
    Qwen3XmlStyle(),
)
