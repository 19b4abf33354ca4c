"""Qwen3 coder / Qwen3 xml: parameters as tags, values as raw text typed by the tool's schema.

::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    San Francisco
    </parameter>
    </function>
    </tool_call>

A ``<function=...>`` block without the ``<tool_call>`` wrapper is accepted too, and a missing
``</parameter>`` ends at the next ``<parameter=``.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import tag_calls_body
from ._family import (
    BodyParse,
    Family,
    Opener,
    ToolIndex,
    tag_calls,
    until,
)
from .hermes import TaggedJsonStyle


def _bare_name(text: str) -> tuple[str, int] | None:
    """Read ``NAME>`` at the start of ``text`` (``<function=NAME>``, ``<parameter=NAME>``)."""
    name, closed, _ = text.partition(">")
    if not closed or not name.strip():
        return None
    return name.strip(), len(name) + 1


def qwen3_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the ``<function=NAME>`` blocks of a body.

    Returns:
        The calls, or ``None`` when the body has no ``<function=`` tag.
    """
    return tag_calls_body(
        body, tools, ("<function=", "</function>"), ("<parameter=", "</parameter>"), _bare_name
    )


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
        Opener("<tool_call>", until("</tool_call>"), qwen3_body),
        Opener("<function=", until("</function>"), qwen3_body, keep_marker=True),
    ),
    Qwen3XmlStyle(),
)
