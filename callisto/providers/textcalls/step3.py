# ruff: noqa: RUF001, RUF002  (Step's tokens really are spelled with full-width bars)
"""Step-3 (StepFun): ``<steptml:invoke>`` calls between Step's tool tokens.

::

    <｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="get_weather">
    <steptml:parameter name="city">Paris</steptml:parameter></steptml:invoke><｜tool_call_end｜>
    <｜tool_calls_end｜>

Values are raw text typed by the tool's schema, their real end found as for qwen3 xml (see
``_tags.py``). The bars are full-width characters; the words are joined by ASCII underscores,
unlike DeepSeek's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall, ToolSpec

from ._family import Family, Opener, PromptStyle, ToolResult, tag_calls, tools_json_lines, until
from ._tags import TagGrammar, calls_body, name_attribute

CALLS_BEGIN = "<｜tool_calls_begin｜>"
CALLS_END = "<｜tool_calls_end｜>"
CALL_BEGIN = "<｜tool_call_begin｜>"
CALL_END = "<｜tool_call_end｜>"
SEP = "<｜tool_sep｜>"

STEP3_TAGS = TagGrammar(
    "<steptml:invoke",
    "</steptml:invoke>",
    "<steptml:parameter",
    "</steptml:parameter>",
    name_attribute,
    trim_newline=False,
)


class Step3Style(PromptStyle):
    """Tools as JSON; calls as ``<steptml:invoke>`` between Step's tool tokens."""

    intro = "# Tools\n\nYou can call these functions:"
    instructions = (
        f"To call functions, reply with {CALLS_BEGIN}{CALL_BEGIN}function{SEP}"
        '<steptml:invoke name="NAME"><steptml:parameter name="KEY">VALUE'
        f"</steptml:parameter></steptml:invoke>{CALL_END}{CALLS_END}, one "
        f"{CALL_BEGIN}...{CALL_END} per call. Write objects and arrays as JSON."
    )

    def tools_listing(self, tools: Sequence[ToolSpec]) -> str:
        """List the tools as JSON lines."""
        return tools_json_lines(tools)

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one section of Step's tool tokens."""
        invokes = (
            tag_calls(
                [call],
                f'{CALL_BEGIN}function{SEP}<steptml:invoke name="{{name}}">',
                '<steptml:parameter name="{key}">{value}</steptml:parameter>',
                f"</steptml:invoke>{CALL_END}",
            )
            for call in calls
        )
        return CALLS_BEGIN + "".join(invokes) + CALLS_END

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result headed by its function's name."""
        return "\n\n".join(f"Result of {r.name}:\n{r.content}" for r in results)


STEP3 = Family(
    "step3", (Opener(CALLS_BEGIN, until(CALLS_END), calls_body(STEP3_TAGS)),), Step3Style()
)
