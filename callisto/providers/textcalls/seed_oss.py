"""Seed-OSS (ByteDance): qwen3 xml calls inside ``<seed:tool_call>`` tags.

::

    <seed:tool_call>
    <function=get_weather>
    <parameter=city>Paris</parameter>
    </function>
    </seed:tool_call>

Values are read exactly as qwen3 xml reads them (see ``_tags.py``); the wrapper never reaches
the content.
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._family import Family, Opener, tag_calls
from ._tags import QWEN3_TAGS, section_end
from .qwen3 import Qwen3XmlStyle, qwen3_body

BEGIN = "<seed:tool_call>"
END = "</seed:tool_call>"


class SeedOssStyle(Qwen3XmlStyle):
    """Qwen3 xml's prompt, with calls in ``<seed:tool_call>``."""

    instructions = (
        "To call a function, reply in exactly this format:\n"
        f"{BEGIN}\n<function=example_function_name>\n<parameter=example_parameter>value"
        f"</parameter>\n</function>\n{END}\n\nWrite objects and arrays as JSON."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as a ``<function=...>`` block inside ``<seed:tool_call>``."""
        return tag_calls(
            calls,
            f"{BEGIN}\n<function={{name}}>\n",
            "<parameter={key}>{value}</parameter>\n",
            f"</function>\n{END}",
        )


SEED_OSS = Family(
    "seed_oss", (Opener(BEGIN, section_end(QWEN3_TAGS, END), qwen3_body),), SeedOssStyle()
)
