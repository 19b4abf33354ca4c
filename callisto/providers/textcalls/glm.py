"""GLM 4.5 (and 4.6/4.7): the name, then key/value tags, values typed by the tool's schema.

::

    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Beijing</arg_value>
    </tool_call>

GLM 4.7 drops the newline after the name, and GLM 4.6 at times writes it as the two characters
``\n``; all are read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import tagged_items, typed_arguments
from ._family import (
    UNREADABLE,
    BodyParse,
    Candidate,
    Family,
    Opener,
    ToolIndex,
    tag_calls,
)
from .hermes import TOOL_CALL_END, TaggedJsonStyle

_NAME = re.compile(r"[\w.\-]+")
# Layout around the name: whitespace, and the two characters \n that GLM 4.6 writes at times.
_LAYOUT = re.compile(r"^(?:\s|\\n)+|(?:\s|\\n)+$")


def glm_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read one GLM call: a function name, then ``<arg_key>``/``<arg_value>`` pairs.

    Returns:
        The call, or ``None`` when the body does not start with a function name.
    """
    head, _, _ = body.partition("<arg_key>")
    name = _LAYOUT.sub("", head)
    if not _NAME.fullmatch(name):
        return None
    keys = tagged_items(body, "<arg_key>", "</arg_key>")
    values = tagged_items(body, "<arg_value>", "</arg_value>")
    if len(keys) != len(values):
        return BodyParse((Candidate(name, UNREADABLE, text=body),))
    pairs = [(k.strip(), v) for k, v in zip(keys, values, strict=True)]
    return BodyParse((Candidate(name, typed_arguments(name, pairs, tools), text=body),))


class GlmStyle(TaggedJsonStyle):
    """Tools in ``<tools>``, calls as name plus key/value tags, results in ``<tool_response>``."""

    instructions = (
        "For each function call, reply in this format:\n"
        "<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>\n"
        "<arg_value>{arg-value-1}</arg_value>\n...\n</tool_call>"
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as its name and key/value tags inside ``<tool_call>``."""
        return tag_calls(
            calls,
            "<tool_call>{name}\n",
            "<arg_key>{key}</arg_key>\n<arg_value>{value}</arg_value>\n",
            "</tool_call>",
        )


GLM45 = Family("glm45", (Opener("<tool_call>", TOOL_CALL_END, glm_body),), GlmStyle())
