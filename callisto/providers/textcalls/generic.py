"""The generic fallback: a fenced json block, or a reply that is only JSON, naming an offered tool.

::

    ```json
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    ```

The markers are ordinary text, so a block or a JSON reply that names no offered tool is content,
exactly as the model wrote it.
"""

from __future__ import annotations

from ._bodies import JSON_LIST_AT_START, JSON_OBJECT_AT_START, json_calls
from ._family import Family, Opener, PromptStyle, until

FENCED_JSON = Opener("```json", until("```"), json_calls, weak=True)
FENCED_PLAIN = Opener("```\n", until("```"), json_calls, weak=True)

GENERIC = Family(
    "generic",
    (FENCED_JSON, FENCED_PLAIN, JSON_OBJECT_AT_START, JSON_LIST_AT_START),
    PromptStyle(),
)
