"""A provider wrapper that gives any model tool calling through text.

:class:`TextToolCallProvider` sits between the engine and a real provider. What it does depends
on ``tool_format``:

- a text family (``hermes``, ``mistral``, ...): the request loses its ``tools``; their definitions,
  earlier calls and tool results are written into the conversation in the family's shape; the
  reply's text is parsed, and calls found in it come out as :class:`ToolCallDelta` events.
- ``auto``: the request keeps its native tools and native tool-call events pass through, while
  the reply's text is parsed with every family's markers too.
- ``native``: events pass through untouched.

``tool_result_style = "user_text"`` writes earlier calls and tool results as plain text in any
format (some hosted models reject ``role: tool``). A text family always does so, since a request
without ``tools`` has no native way to carry them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from callisto.providers.base import (
    ChatRequest,
    Finish,
    FinishReason,
    Provider,
    ProviderEvent,
    TextDelta,
    ToolCallDelta,
)

from .families import NATIVE, get_family
from .parser import RejectedCall, TextCallParser, TextEvent
from .prompting import Rewrite, offered_tools, rewrite_request

logger = logging.getLogger(__name__)

RejectedHandler = Callable[[RejectedCall], None]


class TextToolCallProvider:
    """Wraps a :class:`Provider` so that tool calls written as text become real tool calls.

    Attributes:
        name: The inner provider's name.
        tool_format: ``native``, ``auto`` or a family name, as configured.
        tool_result_style: ``native`` or ``user_text``.
    """

    def __init__(
        self,
        inner: Provider,
        tool_format: str = NATIVE,
        tool_result_style: str = "native",
        *,
        on_rejected: RejectedHandler | None = None,
        surface_rejected: bool = False,
    ) -> None:
        """Wrap ``inner``.

        Args:
            inner: The provider that talks to the model.
            tool_format: ``native``, ``auto``, or a text family (see :func:`tool_formats`).
            tool_result_style: ``native`` keeps tool messages; ``user_text`` writes them as text.
            on_rejected: Called with each call found in the text and dropped (unknown tool,
                unreadable), so the caller can report it; they are logged either way.
            surface_rejected: Yield each rejected call as a tool call too (its name, and its
                raw text as arguments), so that a caller which validates calls itself, like
                the engine, can tell the model what was wrong and ask again.

        Raises:
            KeyError: If ``tool_format`` is not a known format.
            ValueError: If ``tool_result_style`` is neither ``native`` nor ``user_text``.
        """
        if tool_result_style not in ("native", "user_text"):
            raise ValueError(f"unknown tool_result_style {tool_result_style!r}")
        self._inner = inner
        self.name = inner.name
        self.tool_format = tool_format
        self.tool_result_style = tool_result_style
        self._family = None if tool_format.strip().lower() == NATIVE else get_family(tool_format)
        self._on_rejected = on_rejected
        self._surface_rejected = surface_rejected
        is_text_family = self._family is not None and self._family.name != "auto"
        self._rewrite = Rewrite(
            tools_in_prompt=is_text_family,
            history_as_text=is_text_family or tool_result_style == "user_text",
        )

    def prepare(self, request: ChatRequest) -> ChatRequest:
        """Return the request as it is sent to the inner provider."""
        if not (self._rewrite.tools_in_prompt or self._rewrite.history_as_text):
            return request
        style = self._family.style if self._family is not None else get_family("generic").style
        return rewrite_request(request, style, self._rewrite)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Send the rewritten request and yield the reply with text calls turned into events."""
        prepared = self.prepare(request)
        if self._family is None:
            async for event in self._inner.stream(prepared):
                yield event
            return
        reply = _ReplyState(TextCallParser(self._family, offered_tools(request)))
        finished = False
        async for event in self._inner.stream(prepared):
            if isinstance(event, TextDelta):
                for out in reply.text(event.text):
                    yield out
            elif isinstance(event, ToolCallDelta):
                yield reply.native(event)
            elif isinstance(event, Finish):
                for out in self._close(reply):
                    yield out
                finished = True
                yield Finish(reply.finish_reason(event.reason))
            else:
                yield event
        if not finished:  # the inner stream broke its contract; still give back every word
            for out in reply.finish():
                yield out

    def _close(self, reply: _ReplyState) -> list[TextEvent]:
        events = reply.finish()
        self._report(reply.parser.rejected)
        if self._surface_rejected:
            events.extend(reply.rejected(reply.parser.rejected))
        return events

    def _report(self, rejected: list[RejectedCall]) -> None:
        for call in rejected:
            # The name and reason only: the call's text may hold user data.
            logger.warning("dropped a tool call written as text: %s (%s)", call.reason, call.name)
            if self._on_rejected is not None:
                self._on_rejected(call)

    async def aclose(self) -> None:
        """Close the inner provider."""
        await self._inner.aclose()


class _ReplyState:
    """One reply's parser and the numbering of its calls, native and textual together."""

    def __init__(self, parser: TextCallParser) -> None:
        self.parser = parser
        self._indexes: dict[tuple[bool, int], int] = {}

    def _index(self, native: bool, index: int) -> int:
        # Calls are numbered in the order they first appear, whichever way they came.
        return self._indexes.setdefault((native, index), len(self._indexes))

    def _renumber(self, event: TextEvent, native: bool) -> TextEvent:
        if not isinstance(event, ToolCallDelta):
            return event
        return ToolCallDelta(
            index=self._index(native, event.index),
            id=event.id,
            name=event.name,
            arguments=event.arguments,
        )

    def text(self, delta: str) -> list[TextEvent]:
        return [self._renumber(e, native=False) for e in self.parser.feed(delta)]

    def native(self, event: ToolCallDelta) -> TextEvent:
        return self._renumber(event, native=True)

    def finish(self) -> list[TextEvent]:
        return [self._renumber(e, native=False) for e in self.parser.finish()]

    def rejected(self, calls: list[RejectedCall]) -> list[TextEvent]:
        """Return rejected calls as whole tool-call events, numbered after the others."""
        return [
            ToolCallDelta(
                index=self._index(False, -1 - number),
                id=None,
                name=call.name or "(unreadable call)",
                arguments="{}" if call.reason == "unknown_tool" else call.text,
            )
            for number, call in enumerate(calls)
        ]

    def finish_reason(self, reason: FinishReason) -> FinishReason:
        # A reply cut short (length, filter) keeps its reason: its last call may be incomplete.
        if self._indexes and reason == "stop":
            return "tool_calls"
        return reason
