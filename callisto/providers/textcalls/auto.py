"""``auto``: every family's markers at once; the first call found settles the family.

Openers of different families that share a marker (``<tool_call>`` opens hermes JSON, qwen3 xml,
glm and granite calls; ``[`` at the start of a reply opens a JSON list or a Python list) are merged
into one opener whose body is read by each family's parser in turn, the first that recognises it
winning. They must agree on where the region ends, which the families are built to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._family import BodyParse, BodyParser, Family, Opener, PromptStyle, ToolIndex
from .deepseek import DEEPSEEK_V31
from .generic import GENERIC
from .glm import GLM45
from .granite import GRANITE
from .hermes import HERMES
from .kimi import KIMI_K2
from .llama import LLAMA3_JSON
from .minimax import MINIMAX_M2
from .mistral import MISTRAL
from .pythonic import LLAMA4_PYTHONIC
from .qwen3 import QWEN3_XML

# Order matters where markers are shared: JSON before xml before glm's bare name.
DETECTED = (
    HERMES,
    QWEN3_XML,
    GLM45,
    GRANITE,
    MISTRAL,
    LLAMA3_JSON,
    LLAMA4_PYTHONIC,
    DEEPSEEK_V31,
    KIMI_K2,
    MINIMAX_M2,
    GENERIC,
)


def first_recognised(parsers: Sequence[BodyParser]) -> BodyParser:
    """Return a body parser that answers with the first of ``parsers`` that recognises a body."""

    def parse(body: str, tools: ToolIndex) -> BodyParse | None:
        for parser in parsers:
            parsed = parser(body, tools)
            if parsed is not None and parsed.candidates:
                return parsed
        for parser in parsers:
            parsed = parser(body, tools)
            if parsed is not None:
                return parsed  # nothing readable as a call: report the first reading
        return None

    return parse


def merge_openers(families: Sequence[Family]) -> tuple[Opener, ...]:
    """Return the families' openers with those sharing a marker merged into one."""
    by_marker: dict[str, list[Opener]] = {}
    for family in families:
        for opener in family.openers:
            group = by_marker.setdefault(opener.marker, [])
            if all(o.parse_body is not opener.parse_body for o in group):
                group.append(opener)
    merged = []
    for group in by_marker.values():
        first = group[0]
        if len(group) == 1:
            merged.append(first)
            continue
        parse = first_recognised([o.parse_body for o in group])
        merged.append(
            Opener(
                first.marker,
                first.find_end,
                parse,
                weak=first.weak,
                at_reply_start=first.at_reply_start,
                keep_marker=first.keep_marker,
            )
        )
    return tuple(merged)


AUTO = Family("auto", merge_openers(DETECTED), PromptStyle(), members=DETECTED)
