# ruff: noqa: RUF001, RUF002  (DeepSeek's tokens really are spelled with full-width bars)
"""DeepSeek V3.2: DSML tags, ``invoke`` blocks with typed ``parameter`` tags.

::

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

``string="true"`` marks a value taken as written; ``string="false"`` a JSON value (typed by the
tool's schema when it is not JSON). A value's real end is found as for qwen3 xml (see
``_tags.py``). The bars are the full-width character the tokenizer uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callisto.providers.base import ToolCall

from ._family import Family, Opener, ToolResult, argument_items
from ._json import dumps, loads_whole
from ._schema import coerce_text
from ._tags import TagGrammar, calls_body, name_attribute, section_end
from .deepseek import DeepSeekV3Style

DSML = "｜DSML｜"
BEGIN = f"<{DSML}function_calls>"
END = f"</{DSML}function_calls>"


def dsml_value(raw: str, attrs: dict[str, str], schema: dict[str, Any] | None) -> Any:
    """Read a value by its ``string`` attribute: as written, or as JSON."""
    if attrs.get("string", "").lower() == "true":
        return raw
    if attrs.get("string", "").lower() == "false":
        try:
            return loads_whole(raw)
        except ValueError:
            pass
    return coerce_text(raw, schema)


DSML_TAGS = TagGrammar(
    f"<{DSML}invoke",
    f"</{DSML}invoke>",
    f"<{DSML}parameter",
    f"</{DSML}parameter>",
    name_attribute,
    read_value=dsml_value,
    trim_newline=False,
)


def _parameter(key: str, value: Any) -> str:
    if isinstance(value, str):
        return f'<{DSML}parameter name="{key}" string="true">{value}</{DSML}parameter>\n'
    return f'<{DSML}parameter name="{key}" string="false">{dumps(value)}</{DSML}parameter>\n'


class DeepSeekDsmlStyle(DeepSeekV3Style):
    """Tools as JSON; calls in DSML tags; results as DeepSeek writes them."""

    def call_instructions(self) -> str:
        """Show the DSML tags with a placeholder call."""
        example = ToolCall("", "<function-name>", '{"<arg>": "<value>"}')
        return (
            "To call functions, reply with "
            + self.calls_text([example])
            + '\nUse string="true" for string values and string="false" for JSON values.'
        )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one DSML ``function_calls`` block."""
        invokes = "".join(
            f'<{DSML}invoke name="{c.name}">\n'
            + "".join(_parameter(k, v) for k, v in argument_items(c))
            + f"</{DSML}invoke>\n"
            for c in calls
        )
        return f"{BEGIN}\n{invokes}{END}"

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result in a ``<result>`` tag."""
        return "\n".join(f"<result>{r.content}</result>" for r in results)


DEEPSEEK_V32 = Family(
    "deepseek_v32",
    (Opener(BEGIN, section_end(DSML_TAGS, END), calls_body(DSML_TAGS)),),
    DeepSeekDsmlStyle(),
)
