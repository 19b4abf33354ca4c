"""The offline model: a small deterministic stand-in for a real model, built in.

It needs no network and no key, so the demo, the quick start and tests run anywhere. Given the
same request it gives the same reply (only the tool call ids differ: they are fresh ``call_`` ids,
unique per call). Its rules, in order:

1. **Tool calls.** When the last message is a user message and tools are offered (and
   ``tool_choice`` is not ``none``), it looks for a tool whose name or description shares a word
   with the user's words (``get_weather`` / "weather"), and tries to fill the tool's *required*
   arguments from the message: numbers for ``number``/``integer`` parameters, and for ``string``
   parameters upper-case codes (``LAX``) and capitalised words (``Tokyo``, ``New York``) in the
   order they appear, skipping common words such as "What". An ``enum`` parameter takes the
   first enum value that occurs in the message. When the values found fill the required
   arguments several times over, it makes one call per fill, in parallel ("weather in Tokyo and
   Paris" => ``{"city": "Tokyo"}`` and ``{"city": "Paris"}``), or only the first when
   ``parallel_tool_calls`` is false. With ``tool_choice="required"`` any fillable tool will do
   (best word match first); with a forced tool only that one. If nothing can be filled, it goes
   on to rule 3.
2. **Tool results.** When the last messages are tool results, it answers with one sentence that
   includes them: ``Here is what I found: get_weather(Tokyo): 22C sunny; ...``.
3. **Plain answer.** Otherwise it acknowledges the last user message, introducing itself as the
   offline model. With ``response_format`` ``json_object`` (or ``json_schema``) the answer is a
   JSON object (for a schema: its properties filled with the answer or empty values).

Tokens are whitespace-separated words: the reply streams one word per chunk, every chunk counts
as one completion token, and prompt tokens are the words of all message texts and tool call
arguments. ``max_tokens`` stops the stream after that many chunks with ``Finish("length")``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from callisto.config import ProviderSettings
from callisto.ids import new_id
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

# Words that are capitalised at the start of a question but are never argument values.
_COMMON_WORDS = frozenset(
    re.findall(
        r"\S+",
        """a also an and are at between book calculate can check compute convert could do does
        fetch find fly for from get give go hello hey hi how i i'm in is it let's list look make
        me my now of on or please search send set show tell thank thanks that the there this to
        today tomorrow up what what's whats when where which who why will with would you""",
    )
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:\.\d+)?")
_ECHO_WORDS = 20


class OfflineProvider:
    """A deterministic built-in model that follows the rules in this module's docstring.

    Args:
        name: The provider name models are routed by (``offline/...``).
        settings: Accepted for symmetry with other providers; nothing in them is used.
    """

    def __init__(self, name: str = "offline", settings: ProviderSettings | None = None) -> None:
        self.name = name
        self.settings = settings

    async def aclose(self) -> None:
        """Nothing to release; present for the Provider protocol."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Yield the reply to ``request`` in small chunks, then usage and the finish reason.

        Args:
            request: The conversation and options.
        """
        calls = _plan_tool_calls(request)
        chunks: list[ProviderEvent] = (
            list(_call_chunks(calls)) if calls else list(_text_chunks(_answer(request)))
        )
        reason: FinishReason = "tool_calls" if calls else "stop"
        if request.max_tokens is not None and len(chunks) > request.max_tokens:
            chunks = chunks[: max(request.max_tokens, 0)]
            reason = "length"
        for chunk in chunks:
            # Yield to the loop between chunks, as a real stream would; it makes cancels prompt.
            await asyncio.sleep(0)
            yield chunk
        yield Usage(prompt_tokens=_prompt_tokens(request), completion_tokens=len(chunks))
        yield Finish(reason)


def _words(text: str | None) -> list[str]:
    return text.split() if text else []


def _prompt_tokens(request: ChatRequest) -> int:
    total = 0
    for message in request.messages:
        total += len(_words(message.content))
        total += sum(len(_words(call.arguments)) for call in message.tool_calls)
    return total


def _text_chunks(text: str) -> Iterator[TextDelta]:
    # One word per chunk, the space kept with the word before it, so chunks join back exactly.
    for piece in re.findall(r"\S+\s*", text):
        yield TextDelta(piece)


def _call_chunks(calls: list[tuple[str, dict[str, Any]]]) -> Iterator[ToolCallDelta]:
    for index, (name, arguments) in enumerate(calls):
        pieces = re.findall(r"\S+\s*", json.dumps(arguments))
        yield ToolCallDelta(index=index, id=new_id("call_"), name=name, arguments=pieces[0])
        for piece in pieces[1:]:
            yield ToolCallDelta(index=index, arguments=piece)


# --- rule 1: tool calls -------------------------------------------------------------------------


def _keywords(text: str) -> set[str]:
    words = re.split(r"[^a-z0-9]+", text.lower())
    return {_stem(w) for w in words if w and w not in _COMMON_WORDS}


def _stem(word: str) -> str:
    # Enough stemming for "flights" to meet "flight"; not linguistics.
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _values(text: str, tool_words: set[str]) -> tuple[list[str], list[float | int]]:
    """Return the candidate string values and numbers of ``text``, in order of appearance."""
    strings: list[str] = []
    numbers: list[float | int] = []
    previous_capitalised = False
    for match in _WORD.finditer(text):
        token = match.group()
        if token[0].isdigit():
            numbers.append(float(token) if "." in token else int(token))
            previous_capitalised = False
            continue
        lower = token.lower()
        capitalised = token[0].isupper() and lower not in _COMMON_WORDS
        if capitalised and _stem(lower) in tool_words and not token.isupper():
            capitalised = False  # "Weather" names the tool, it is not a value
        if (
            capitalised
            and previous_capitalised
            and not token.isupper()
            and not strings[-1].isupper()
        ):
            # Two capitalised words in a row ("New York") are one value, separated by a space.
            gap = text[match.start() - 1]
            if gap == " ":
                strings[-1] = strings[-1] + " " + token
                continue
        if capitalised:
            strings.append(token)
        previous_capitalised = capitalised
    return strings, numbers


def _fill(tool: ToolSpec, text: str, limit: int) -> list[dict[str, Any]]:
    """Return up to ``limit`` argument objects for ``tool`` built from ``text``."""
    schema = tool.parameters
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = list(schema.get("required", []))
    strings, numbers = _values(text, _keywords(tool.name + " " + (tool.description or "")))
    fills: list[dict[str, Any]] = []
    while len(fills) < limit:
        arguments: dict[str, Any] = {}
        for param in required:
            value = _take(properties.get(param, {}), text, strings, numbers)
            if value is None:
                return fills
            arguments[param] = value
        fills.append(arguments)
        if (not strings and not numbers) or not required:
            break
    return fills


def _take(prop: dict[str, Any], text: str, strings: list[str], numbers: list[float | int]) -> Any:
    if "enum" in prop:
        lowered = text.lower()
        return next((v for v in prop["enum"] if str(v).lower() in lowered), None)
    kind = prop.get("type", "string")
    if kind in ("number", "integer") and numbers:
        value = numbers.pop(0)
        return int(value) if kind == "integer" else value
    if kind == "string" and strings:
        return strings.pop(0)
    return None


def _plan_tool_calls(request: ChatRequest) -> list[tuple[str, dict[str, Any]]]:
    if not request.tools or request.tool_choice == "none" or not request.messages:
        return []
    last = request.messages[-1]
    if last.role != "user" or not last.content:
        return []
    text = last.content
    user_words = _keywords(text)
    limit = 64 if request.parallel_tool_calls else 1
    if request.forced_tool is not None:
        candidates = [t for t in request.tools if t.name == request.forced_tool]
    else:
        scored = [
            (len(user_words & _keywords(f"{t.name} {t.description or ''}")), t)
            for t in request.tools
        ]
        scored.sort(key=lambda pair: -pair[0])  # stable: ties keep the offered order
        must_call = request.tool_choice == "required"
        candidates = [t for score, t in scored if score > 0 or must_call]
    for tool in candidates:
        fills = _fill(tool, text, limit)
        if fills:
            return [(tool.name, arguments) for arguments in fills]
    return []


# --- rules 2 and 3: text answers ----------------------------------------------------------------


def _answer(request: ChatRequest) -> str:
    results = _trailing_tool_results(request.messages)
    if results:
        text = "Here is what I found: " + "; ".join(results) + "."
    else:
        last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
        words = _words(last_user.content if last_user else None)
        if words:
            echoed = " ".join(words[:_ECHO_WORDS]) + (" ..." if len(words) > _ECHO_WORDS else "")
            text = f'This is the offline model. You said: "{echoed}"'
        else:
            text = "This is the offline model. There is no question to answer yet."
    return _as_json(text, request.response_format) if request.response_format else text


def _trailing_tool_results(messages: tuple[ChatMessage, ...]) -> list[str]:
    calls: dict[str, ToolCall] = {c.id: c for m in messages for c in m.tool_calls}
    results: list[str] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        call = calls.get(message.tool_call_id or "")
        name = call.name if call else (message.name or "tool")
        shown = _show_arguments(call.arguments) if call else ""
        results.append(f"{name}({shown}): {message.content or ''}")
    return list(reversed(results))


def _show_arguments(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(parsed, dict):
        return ", ".join(str(v) for v in parsed.values())
    return arguments


def _as_json(text: str, response_format: dict[str, Any]) -> str:
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        return json.dumps(_instance(schema, text))
    if kind == "json_object":
        return json.dumps({"answer": text})
    return text


def _instance(schema: dict[str, Any], text: str) -> Any:
    """Return a value of ``schema``'s shape: strings get ``text``, the rest empty values."""
    kind = schema.get("type", "object")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        return {key: _instance(prop, text) for key, prop in properties.items()} or {"answer": text}
    empty: dict[str, Any] = {"string": text, "number": 0, "integer": 0, "boolean": False}
    return empty.get(kind, [] if kind == "array" else None)
