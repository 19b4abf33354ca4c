"""The known format families by name, and the names ``tool_format`` accepts."""

from __future__ import annotations

from ._family import Family
from .auto import AUTO, DETECTABLE
from .deepseek import DEEPSEEK_V3
from .llama import LLAMA4_JSON
from .mistral import MISTRAL_V11
from .pythonic import PYTHONIC

# Every family auto detects, the variants that write prompts differently, and auto itself.
FAMILIES: dict[str, Family] = {
    f.name: f for f in (*DETECTABLE, MISTRAL_V11, LLAMA4_JSON, PYTHONIC, DEEPSEEK_V3, AUTO)
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
    "gpt_oss": "harmony",
    "gpt-oss": "harmony",
    "seed-oss": "seed_oss",
    "deepseek_v3.2": "deepseek_v32",
    "dsml": "deepseek_v32",
    "lfm2.5": "lfm2",
    "hunyuan_a13b": "jamba",
    "minimax_m1": "jamba",
    "granite-20b-fc": "granite_20b_fc",
    "phi4_mini_json": "phi4_mini",
    "phi-4-mini": "phi4_mini",
    "internlm2": "internlm",
    "olmo": "olmo3",
    "step-3": "step3",
    "gigachat": "gigachat3",
    "functiongemma": "function_gemma",
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
