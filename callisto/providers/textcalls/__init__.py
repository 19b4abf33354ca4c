"""Tool calls that models write as text, found in whole replies and in streams.

One module per format family (``hermes``, ``mistral``, ``llama``, ``pythonic``, ``deepseek``,
``deepseek_dsml``, ``qwen3``, ``seed_oss``, ``glm``, ``kimi``, ``granite``, ``granite20b``,
``minimax``, ``harmony``, ``lfm2``, ``olmo3``, ``jamba``, ``longcat``, ``internlm``, ``phi4``,
``step3``, ``gigachat``, ``function_gemma``, ``generic``) and ``auto``, which detects them all.
Use :func:`get_family` to look a family up by the name ``tool_format`` gives, then
:func:`parse_text` for a whole reply or :class:`TextCallParser` for a stream, or wrap a provider
in :class:`TextToolCallProvider` to do it all on the way through. Reasoning written as text is
never content, whatever the family (``reasoning``). The formats are described for users in
``docs/toolcall-formats.md``.
"""

from __future__ import annotations

from ._family import Family
from .families import family_names, get_family, tool_formats
from .parser import ParseResult, RejectedCall, TextCallParser, TextEvent, parse_text
from .provider import TextToolCallProvider

__all__ = [
    "Family",
    "ParseResult",
    "RejectedCall",
    "TextCallParser",
    "TextEvent",
    "TextToolCallProvider",
    "family_names",
    "get_family",
    "parse_text",
    "tool_formats",
]
