"""``auto``: every family's markers at once; the first call found settles the family.

Openers of different families that share a marker (``<tool_call>`` opens hermes JSON, qwen3 xml,
glm and granite calls; ``[`` at the start of a reply opens a JSON list or a Python list) are merged
into one opener whose body is read by each family's parser in turn, the first that recognises it
winning. They must agree on where the region ends, which the families are built to do.

Markers that look like ordinary XML (``<tool_calls>``, ``<function_calls>``, ``<function_call>``)
are weak in ``auto``: prose that mentions them stays content unless a call to an offered tool
follows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ._bodies import first_recognised
from ._family import Family, Opener, PromptStyle
from .deepseek import DEEPSEEK_V31
from .deepseek_dsml import DEEPSEEK_V32
from .function_gemma import FUNCTION_GEMMA
from .generic import GENERIC
from .gigachat import GIGACHAT3
from .glm import GLM45
from .granite import GRANITE
from .granite20b import GRANITE_20B_FC
from .harmony import HARMONY
from .hermes import HERMES
from .internlm import INTERNLM
from .jamba import JAMBA
from .kimi import KIMI_K2
from .lfm2 import LFM2
from .llama import LLAMA3_JSON
from .longcat import LONGCAT
from .minimax import MINIMAX_M2
from .mistral import MISTRAL
from .olmo3 import OLMO3
from .phi4 import PHI4_MINI
from .pythonic import LLAMA4_PYTHONIC
from .qwen3 import QWEN3_XML
from .seed_oss import SEED_OSS
from .step3 import STEP3

# Tags that read as ordinary XML in prose (a text about programs, an example): in auto, where
# nobody said the model writes them, a region of one that names no offered tool stays content.
PROSE_LIKE_MARKERS = frozenset({"<tool_calls>", "<function_calls>", "<function_call>"})


def detected(family: Family) -> Family:
    """Return ``family`` as ``auto`` uses it: its prose-like markers weak."""
    openers = tuple(
        dataclasses.replace(o, weak=True) if o.marker in PROSE_LIKE_MARKERS else o
        for o in family.openers
    )
    return dataclasses.replace(family, openers=openers)


# Order matters where markers are shared: JSON before xml before glm's bare name.
DETECTABLE = (
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
    HARMONY,
    SEED_OSS,
    DEEPSEEK_V32,
    LFM2,
    JAMBA,
    GRANITE_20B_FC,
    PHI4_MINI,
    INTERNLM,
    OLMO3,
    STEP3,
    LONGCAT,
    GIGACHAT3,
    FUNCTION_GEMMA,
    GENERIC,
)
DETECTED = tuple(detected(f) for f in DETECTABLE)


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
