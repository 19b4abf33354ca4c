"""Reasoning that models write as text: never message content.

Reasoning models served without a reasoning parser write their thinking into the reply itself::

    <think>The user wants the weather; call get_weather.</think>

    Let me check.<tool_call>...</tool_call>

``<think>...</think>`` (DeepSeek R1 and V3.1+, Qwen3, QwQ, GLM 4.5+, MiniMax M2, Kimi K2
thinking) and Seed-OSS's ``<seed:think>...</seed:think>`` are taken out of the content, with the
whitespace after them, when they open the reply, and come out as one
:class:`~callisto.providers.base.ReasoningDelta` each; a call written inside them is not a call.
A closing tag with no opening one (a template that opens the reasoning in the prompt) is
removed, but the text before it has been shown by then: such models need the parser started
inside the reasoning (``TextCallParser(..., in_reasoning=True)``, which the provider setting
``template_opens_think`` turns on). gpt-oss's reasoning is its ``analysis`` channel, which
the harmony family passes on as reasoning the same way.

The parser adds these openers to every family, ``auto`` included; :data:`REASONING_ONLY` is a
family with no calls, for removing reasoning from text that is not parsed for calls.
"""

from __future__ import annotations

from ._family import EndFinder, Family, Opener, PromptStyle, ToolIndex, reasoning_body, stray
from ._json import ScanMemo, find_resumed, skip_space

THINK = ("<think>", "</think>")
SEED_THINK = ("<seed:think>", "</seed:think>")


def until_and_space(close: str) -> EndFinder:
    """Return an end finder for a region closed by ``close``, the whitespace after it included."""

    def find(
        text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
    ) -> tuple[int, int] | None:
        at = find_resumed(text, close, start, memo)
        if at < 0:
            return (len(text), len(text)) if final else None
        end = skip_space(text, at + len(close))
        if end >= len(text) and not final:
            return None  # more whitespace may follow
        return at, end

    return find


REASONING_OPENERS = (
    *(
        Opener(o, until_and_space(c), reasoning_body, at_reply_start=True)
        for o, c in (THINK, SEED_THINK)
    ),
    stray(THINK[1]),
    stray(SEED_THINK[1]),
)
"""Openers the parser uses before any family's: reasoning blocks, and stray closing tags."""

REASONING_ONLY = Family("reasoning_only", (), PromptStyle())
"""A family with no calls: its parser only removes reasoning (see the provider adapters)."""
