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

from ._bodies import pieces, strip_one_newline, typed_arguments
from ._family import (
    BodyParse,
    Candidate,
    Family,
    Opener,
    ToolIndex,
    tag_calls,
    until,
)
from .hermes import TaggedJsonStyle


def qwen3_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the ``<function=NAME>`` blocks of a body.

    Returns:
        The calls, or ``None`` when the body has no ``<function=`` tag.
    """
    functions = pieces(body, "<function=", "</function>")
    if not functions:
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for function in functions:
        name, closed, rest = function.partition(">")
        if not closed or not name.strip():
            malformed.append("<function=" + function)
            continue
        pairs: list[tuple[str, str]] = []
        for param in pieces(rest, "<parameter=", "</parameter>"):
            key, closed, value = param.partition(">")
            if closed and key.strip():
                pairs.append((key.strip(), strip_one_newline(value)))
        name = name.strip()
        candidates.append(
            Candidate(name, typed_arguments(name, pairs, tools), text="<function=" + function)
        )
    return BodyParse(tuple(candidates), tuple(malformed))


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
