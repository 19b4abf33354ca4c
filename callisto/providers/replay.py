"""Sending a model's reasoning back with the tool calls it came with, in the form it wants.

Reasoning models that call tools think, call, read the results and think again. Several want
the reasoning behind their calls in the requests that follow, or they lose their plan (and
DeepSeek's API refuses the request with a 400):

- ``field``: the assistant message carries ``reasoning_content`` next to ``content`` and
  ``tool_calls``. DeepSeek's API (V3.2 and later, ``deepseek-reasoner``) asks for it on every
  assistant message that made tool calls; vLLM and SGLang hand the field to the chat template,
  and the templates of DeepSeek V3.2, GLM 4.5+ and Kimi K2 thinking write it back as the
  turn's ``<think>`` block.
- ``think_tags``: the reasoning goes back as ``<think>...</think>`` at the start of the
  assistant content. MiniMax M2's guide asks for the whole ``<think>`` block to be kept in
  the history; its template reads it out of the content.
- ``none``: reasoning is not sent.

``auto`` (the default of the ``reasoning_replay`` setting) picks by model name with
:data:`KNOWN_MODELS`, and ``none`` for any other model. Only reasoning stored with a tool round
is sent back (see :mod:`callisto.engine.prompt`); a reply without calls keeps none.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = ["KNOWN_MODELS", "ReplayMode", "replay_mode", "with_reasoning"]

ReplayMode = Literal["none", "field", "think_tags"]

KNOWN_MODELS: tuple[tuple[re.Pattern[str], ReplayMode], ...] = (
    (re.compile(r"deepseek[-_ ]?(v3\.2|v4|reasoner)", re.IGNORECASE), "field"),
    (re.compile(r"glm[-_ ]?(4\.[5-9]|[5-9])", re.IGNORECASE), "field"),
    (re.compile(r"kimi[-_ ]?k2", re.IGNORECASE), "field"),
    (re.compile(r"minimax[-_ ]?m2", re.IGNORECASE), "think_tags"),
)
"""Model names (searched anywhere in the name, any case) and the replay ``auto`` gives them."""


def replay_mode(setting: str, model: str) -> ReplayMode:
    """Return how ``model`` gets its reasoning back, given the ``reasoning_replay`` setting.

    Args:
        setting: ``auto``, ``none``, ``field`` or ``think_tags``.
        model: The model name as the provider knows it (``deepseek-ai/DeepSeek-V3.2``).
    """
    if setting == "field":
        return "field"
    if setting == "think_tags":
        return "think_tags"
    if setting == "auto":
        for pattern, mode in KNOWN_MODELS:
            if pattern.search(model):
                return mode
    return "none"


def with_reasoning(wire: dict[str, Any], reasoning: str | None, mode: ReplayMode) -> dict[str, Any]:
    """Return an assistant message of a Chat Completions body with ``reasoning`` in it.

    Args:
        wire: The message as sent (``role``, ``content``, maybe ``tool_calls``).
        reasoning: The reasoning stored with it, if any.
        mode: How the model wants it (see the module docstring).
    """
    if not reasoning or mode == "none":
        return wire
    if mode == "field":
        return {**wire, "reasoning_content": reasoning}
    content = wire.get("content") or ""
    return {**wire, "content": f"<think>\n{reasoning}\n</think>\n\n{content}"}
