# ruff: noqa: RUF001, RUF002  (DeepSeek's tokens really are spelled with full-width bars)
"""DeepSeek V3 and V3.1: calls between DeepSeek's tool tokens.

::

    V3:   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
          ```json
          {"city": "Paris"}
          ```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
    V3.1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{"city": "Paris"}
          <｜tool▁call▁end｜><｜tool▁calls▁end｜>

Both families read both shapes (and a call without the outer tokens); they differ in how they
write calls into the prompt. The bars and the ``▁`` are the full-width characters the tokenizer
uses, not ASCII.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import tagged_items, unfence
from ._family import (
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    parsed_arguments,
    until,
)

CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"
OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>"
OUTPUTS_END = "<｜tool▁outputs▁end｜>"
OUTPUT_BEGIN = "<｜tool▁output▁begin｜>"
OUTPUT_END = "<｜tool▁output▁end｜>"


def deepseek_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read the calls of a DeepSeek section (V3 or V3.1 shape, mixed freely)."""
    items = tagged_items(body, CALL_BEGIN, CALL_END)
    if not items:
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for item in items:
        head, sep, rest = item.partition(SEP)
        if not sep:
            malformed.append(item)
            continue
        if head.strip() == "function":
            # V3: the name on the first line, then the arguments in a fenced json block.
            name, _, args = rest.partition("\n")
            args = unfence(args)
        else:
            name, args = head, rest.strip()
        if name.strip():
            candidates.append(Candidate(name.strip(), args, text=CALL_BEGIN + item))
        else:
            malformed.append(item)
    return BodyParse(tuple(candidates), tuple(malformed))


class DeepSeekV3Style(PromptStyle):
    """Tools as JSON; calls and results between DeepSeek's tool tokens (V3 shape)."""

    intro = "## Tools\n\nYou have the following functions available:"

    def call_instructions(self) -> str:
        """Show the call tokens with a placeholder call."""
        example = ToolCall("", "<function-name>", '{"<arg>": "<value>"}')
        return "To call functions, reply with " + self.calls_text([example])

    def call_text(self, call: ToolCall) -> str:
        """Write one call between its tokens."""
        args = json.dumps(parsed_arguments(call), ensure_ascii=False)
        return f"{CALL_BEGIN}function{SEP}{call.name}\n```json\n{args}\n```{CALL_END}"

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one DeepSeek tool-call section."""
        return CALLS_BEGIN + "".join(self.call_text(c) for c in calls) + CALLS_END

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write the results as one DeepSeek tool-output section."""
        outputs = "".join(f"{OUTPUT_BEGIN}{r.content}{OUTPUT_END}" for r in results)
        return OUTPUTS_BEGIN + outputs + OUTPUTS_END


class DeepSeekV31Style(DeepSeekV3Style):
    """The V3.1 call shape: ``NAME<｜tool▁sep｜>{json}``."""

    def call_text(self, call: ToolCall) -> str:
        """Write one call between its tokens."""
        args = json.dumps(parsed_arguments(call), ensure_ascii=False)
        return f"{CALL_BEGIN}{call.name}{SEP}{args}{CALL_END}"


_OPENERS = (
    Opener(CALLS_BEGIN, until(CALLS_END), deepseek_body),
    Opener(CALL_BEGIN, until(CALL_END), deepseek_body, keep_marker=True),
)
DEEPSEEK_V3 = Family("deepseek_v3", _OPENERS, DeepSeekV3Style())
DEEPSEEK_V31 = Family("deepseek_v31", _OPENERS, DeepSeekV31Style())
