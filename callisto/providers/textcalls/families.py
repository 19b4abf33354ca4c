"""The known format families by name, and the names ``tool_format`` accepts."""

from __future__ import annotations

from ._family import Family
from .auto import AUTO
from .deepseek import DEEPSEEK_V3, DEEPSEEK_V31
from .generic import GENERIC
from .glm import GLM45
from .granite import GRANITE
from .hermes import HERMES
from .kimi import KIMI_K2
from .llama import LLAMA3_JSON, LLAMA4_JSON
from .minimax import MINIMAX_M2
from .mistral import MISTRAL, MISTRAL_V11
from .pythonic import LLAMA4_PYTHONIC, PYTHONIC
from .qwen3 import QWEN3_XML

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        HERMES,
        MISTRAL,
        MISTRAL_V11,
        LLAMA3_JSON,
        LLAMA4_JSON,
        PYTHONIC,
        LLAMA4_PYTHONIC,
        DEEPSEEK_V3,
        DEEPSEEK_V31,
        QWEN3_XML,
        GLM45,
        KIMI_K2,
        GRANITE,
        MINIMAX_M2,
        GENERIC,
        AUTO,
    )
}

# Other names people use for the same formats.
ALIASES = {
    "qwen2.5": "hermes",
    "qwen25": "hermes",
    "qwq": "hermes",
    "qwen3_coder": "qwen3_xml",
    "glm4.5": "glm45",
    "glm4_moe": "glm45",
    "glm47": "glm45",
    "llama3": "llama3_json",
    "llama4": "llama4_json",
    "deepseek_v3.1": "deepseek_v31",
    "kimi": "kimi_k2",
    "minimax": "minimax_m2",
    "json": "generic",
}

NATIVE = "native"


def family_names() -> tuple[str, ...]:
    """Return the names of the text families, ``auto`` included, aliases excluded."""
    return tuple(FAMILIES)


def tool_formats() -> tuple[str, ...]:
    """Return every value ``tool_format`` accepts: ``native``, the families and their aliases."""
    return (NATIVE, *FAMILIES, *ALIASES)


def get_family(name: str) -> Family:
    """Return the family called ``name`` (or an alias of it), case-insensitively.

    Raises:
        KeyError: If no family has that name.
    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return FAMILIES[key]
    except KeyError:
        raise KeyError(
            f"unknown tool format {name!r}; known: {', '.join(tool_formats())}"
        ) from None
