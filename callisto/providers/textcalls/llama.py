"""Llama 3.x and Llama 4 JSON calls: ``{"name": N, "parameters": {...}}``.

An optional ``<|python_tag|>`` comes first; ``arguments`` may stand for ``parameters``; several
calls are separated by ``; ``. Without the tag, only a reply that *starts* with the JSON counts,
and only when it names an offered tool; anything else is ordinary content.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._bodies import JSON_OBJECT_AT_START, json_calls
from ._family import Family, Opener, PromptStyle, json_sequence, parsed_arguments


class LlamaJsonStyle(PromptStyle):
    """Tools as JSON in the system prompt; calls as ``{"name", "parameters"}`` objects."""

    intro = (
        "You can call the following functions. To call one, reply with only a JSON object of "
        'the form {"name": function name, "parameters": object of argument names and values}; '
        "separate several calls with '; '. Use literal values, not variables."
    )
    instructions = "Answer directly when no function fits."

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as JSON objects separated by ``; ``."""
        return "; ".join(
            json.dumps({"name": c.name, "parameters": parsed_arguments(c)}, ensure_ascii=False)
            for c in calls
        )


LLAMA3_JSON = Family(
    "llama3_json",
    (Opener("<|python_tag|>", json_sequence, json_calls), JSON_OBJECT_AT_START),
    LlamaJsonStyle(),
)
LLAMA4_JSON = Family("llama4_json", LLAMA3_JSON.openers, LlamaJsonStyle())
