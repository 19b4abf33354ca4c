"""One chat completion: the provider's reply, its tool calls checked, bad calls repaired.

:func:`complete` yields the reply's text as it comes, then one :class:`Reply` with the calls
and the totals. Tool calls are held back until the reply ends: with ``repair``, each is checked
against the request's tools (:func:`callisto.engine.toolcheck.check_calls`), and a reply with a
bad call goes back to the model with what was wrong, at most ``retries`` times, as a run's turn
does. Nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from callisto.engine.retry import RetryPolicy
from callisto.engine.toolcheck import check_calls, repair_messages
from callisto.errors import ProviderError, ProviderTimeout
from callisto.ids import PREFIXES, new_id
from callisto.providers.base import (
    ChatRequest,
    FinishReason,
    Provider,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

log = logging.getLogger("callisto.chat")


class InvalidToolCalls(ProviderError):
    """The model's tool calls stayed invalid after every correction asked of it."""


@dataclass(slots=True)
class Reply:
    """The end of a completion.

    Attributes:
        text: All the text the model wrote, across corrections.
        calls: The tool calls of its last reply.
        finish_reason: ``tool_calls`` when there are calls, else the provider's reason.
        usage: Token counts summed over every model call, or ``None`` if no provider said.
        reasoning: All the reasoning the model gave, across corrections (never in ``text``).
    """

    text: str
    calls: list[ToolCall]
    finish_reason: FinishReason
    usage: Usage | None
    reasoning: str = ""


@dataclass(slots=True)
class _Calls:
    """Tool-call fragments of one reply, assembled by index in order of arrival."""

    ids: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    arguments: dict[int, list[str]] = field(default_factory=dict)

    def add(self, delta: ToolCallDelta) -> None:
        self.arguments.setdefault(delta.index, []).append(delta.arguments)
        if delta.id and delta.index not in self.ids:
            self.ids[delta.index] = delta.id
        if delta.name and delta.index not in self.names:
            self.names[delta.index] = delta.name

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(
                id=self.ids.get(i) or new_id(PREFIXES["call"]),
                name=self.names.get(i, ""),
                arguments="".join(parts),
            )
            for i, parts in self.arguments.items()
        ]


@dataclass(slots=True)
class _Attempt:
    """What one model call of a completion gave, besides the text."""

    calls: _Calls = field(default_factory=_Calls)
    thoughts: list[str] = field(default_factory=list)
    finish: FinishReason = "stop"
    usage: Usage | None = None  # a provider may report several times: the last counts

    def take(self, event: ProviderEvent) -> TextDelta | ReasoningDelta | None:
        """Record ``event``; return it if it goes on to the client (text or reasoning)."""
        if isinstance(event, TextDelta | ReasoningDelta):
            if isinstance(event, ReasoningDelta) and event.text:
                self.thoughts.append(event.text)
            return event if event.text else None
        if isinstance(event, ToolCallDelta):
            self.calls.add(event)
        elif isinstance(event, Usage):
            self.usage = event
        else:
            self.finish = event.reason
        return None


def _add(total: Usage | None, usage: Usage | None) -> Usage | None:
    if usage is None:
        return total
    if total is None:
        return usage
    return Usage(
        total.prompt_tokens + usage.prompt_tokens,
        total.completion_tokens + usage.completion_tokens,
    )


async def complete(
    provider: Provider,
    request: ChatRequest,
    *,
    retry: RetryPolicy,
    deadlines: Deadlines,
    repair: bool,
    retries: int,
) -> AsyncGenerator[TextDelta | ReasoningDelta | Reply, None]:
    """Yield the reply's text and reasoning deltas, then its :class:`Reply`.

    Args:
        provider: The provider, wrapped for text tool calls if configured.
        request: The provider request.
        retry: Retries of a provider call that fails before its first output.
        deadlines: How long a model call may take to its first output, and in all.
        repair: Check the calls and ask the model to correct bad ones; else pass them through.
        retries: The most corrections asked for.

    Raises:
        ProviderError: The provider failed (after its retries).
        InvalidToolCalls: The calls were still invalid after ``retries`` corrections.
    """
    conversation = request.messages
    text: list[str] = []
    reasoning: list[str] = []
    usage: Usage | None = None
    for attempt in range(retries + 1):
        current = dataclasses.replace(request, messages=conversation)
        start = len(text)
        reply = _Attempt()
        # Closed explicitly: a client that goes away ends the provider's HTTP stream at once.
        async with contextlib.aclosing(_stream(provider, current, retry, deadlines)) as events:
            async for event in events:
                shown = reply.take(event)
                if shown is not None:
                    if isinstance(shown, TextDelta):
                        text.append(shown.text)
                    yield shown
        usage = _add(usage, reply.usage)
        reasoning += reply.thoughts
        finish = reply.finish
        made = reply.calls.calls()
        if not request.parallel_tool_calls:
            made = made[:1]
        thought = "".join(reasoning)
        if not repair:
            yield Reply("".join(text), made, "tool_calls" if made else finish, usage, thought)
            return
        valid, problems = check_calls(made, request.tools)
        if not problems:
            yield Reply("".join(text), valid, "tool_calls" if valid else finish, usage, thought)
            return
        detail = "; ".join(p.message for p in problems)
        if attempt == retries:
            raise InvalidToolCalls(
                f"The model made invalid tool calls {attempt + 1} times in a row. Last: {detail}"
            )
        # The count only: a problem may quote the arguments, which may hold user data.
        log.info("asking the model to correct %d invalid tool call(s)", len(problems))
        reply_text = "".join(text[start:])
        correction = repair_messages(reply_text, made, problems)
        # The model corrects its calls with its reasoning, for the models that want it back.
        correction[0] = dataclasses.replace(
            correction[0], reasoning="".join(reply.thoughts).strip() or None
        )
        conversation = conversation + tuple(correction)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Seconds a model call may take to its first text, reasoning or tool call, and in all."""

    first_output: float
    whole: float


async def _stream(
    provider: Provider, request: ChatRequest, retry: RetryPolicy, deadlines: Deadlines
) -> AsyncGenerator[ProviderEvent, None]:
    """Yield the provider's events, retrying a call that fails before its first output.

    The deadlines bound each wait for the provider's next event only (never this generator's
    consumer), counted in model events, so keep-alive bytes extend neither.
    """
    attempt = 0
    loop = asyncio.get_running_loop()
    while True:
        started = False
        whole = loop.time() + deadlines.whole
        first = min(whole, loop.time() + deadlines.first_output)
        stream = provider.stream(request)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(whole if started else first):
                        event = await anext(stream)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise ProviderTimeout(
                        f"the model sent no output within {deadlines.first_output:g} s, or did "
                        f"not finish within {deadlines.whole:g} s"
                    ) from None
                # Reasoning counts: a model that thinks for minutes is answering.
                started = started or isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta)
                yield event
        except ProviderError as exc:
            attempt += 1
            delay = None if started else retry.delay_for(attempt, exc)
            if delay is None:
                raise
            log.warning("provider call failed (%s); retry %d in %.2fs", exc.message, attempt, delay)
            await asyncio.sleep(delay)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
