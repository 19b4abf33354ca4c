"""InternLM 2 / 2.5: a JSON call between the action tokens of the plugin executor.

::

    <|action_start|><|plugin|>
    {"name": "get_weather", "parameters": {"city": "Paris"}}<|action_end|>

``arguments`` is read for ``parameters`` too. An action for another executor
(``<|action_start|><|interpreter|>``, code to run) is not a function call and stays content.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import json_calls
from ._family import Family, Opener, PromptStyle, ToolResult, json_call_objects, until

BEGIN = "<|action_start|><|plugin|>"
END = "<|action_end|>"


class InternLMStyle(PromptStyle):
    """Tools as JSON; each call as a plugin action; results from the environment."""

    intro = "You can use the following plugins (JSON Schema of each):"
    instructions = (
        f'To call a plugin, reply with {BEGIN}\n{{"name": <function-name>, "parameters": '
        f"<args-object>}}{END}, one action per call."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as a plugin action."""
        return json_call_objects(calls, f"{BEGIN}\n", END, key="parameters")

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result headed by its plugin's name."""
        return "\n\n".join(f"Result of plugin {r.name}:\n{r.content}" for r in results)


INTERNLM = Family("internlm", (Opener(BEGIN, until(END), json_calls),), InternLMStyle())
