"""Finding tool calls in text, whole or streamed, for any family.

:class:`TextCallParser` is fed the reply piece by piece and returns content and tool-call events
as soon as they are certain. :func:`parse_text` is the same parser fed the whole reply at once, so
whole and streamed parsing agree by construction; the split-invariance tests check the one thing
that could still break that: decisions taken on a partial buffer.

The parser holds text back in two cases only: a tail of the buffer that may be the start of a
marker, and a region that an opener has started and that has not ended yet. Everything else goes
out as content at once. Reasoning written as text (``<think>...</think>``) is never content, in
any family (see ``reasoning.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from callisto.providers.base import ReasoningDelta, TextDelta, ToolCall, ToolCallDelta, ToolSpec

from ._family import BodyParse, Family, Opener, PromptStyle, ToolIndex
from ._json import ScanMemo, arguments_json, skip_space
from .reasoning import REASONING_OPENERS, THINK

TextEvent = TextDelta | ReasoningDelta | ToolCallDelta


@dataclass(frozen=True, slots=True)
class RejectedCall:
    """A call found in the text that is not surfaced as a tool call.

    Attributes:
        reason: ``unknown_tool`` (names a function not offered) or ``malformed``.
        text: The call's text as written, for the error the engine reports.
        name: The function name, when one could be read.
    """

    reason: Literal["unknown_tool", "malformed"]
    text: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """A whole reply, split into its visible content and its tool calls.

    Attributes:
        content: The text meant for the user, with every call's text removed.
        calls: The recognised calls naming offered tools, in order.
        rejected: Calls that were found but dropped (unknown tool, unreadable).
        reasoning: The reasoning taken out of the reply (``<think>`` blocks), joined.
    """

    content: str
    calls: tuple[ToolCall, ...] = ()
    rejected: tuple[RejectedCall, ...] = field(default_factory=tuple)
    reasoning: str = ""


class TextCallParser:
    """An incremental parser of one reply for one family (or ``auto``).

    Feed it the text deltas of the reply with :meth:`feed` and call :meth:`finish` once at the
    end; each returns the events that became certain. The first :class:`ToolCallDelta` of a call
    carries its id, name and complete arguments; indexes count from 0.

    Attributes:
        rejected: Calls found and dropped so far.
        call_count: How many calls were emitted so far.
    """

    def __init__(
        self,
        family: Family,
        tools: Sequence[ToolSpec] | None = None,
        *,
        in_reasoning: bool = False,
    ) -> None:
        """Create a parser.

        Args:
            family: The format family to recognise (see :func:`textcalls.get_family`).
            tools: The offered tools; calls naming others are rejected. ``None`` checks no names.
            in_reasoning: The reply starts inside ``<think>`` (the template opened it in the
                prompt): everything up to ``</think>`` is reasoning, all of it when none comes.
        """
        self._family = family
        self._openers = (*REASONING_OPENERS, *family.openers)
        self._index = _MarkerIndex.of(self._openers)
        self._new_id = family.new_call_id
        self._tools: ToolIndex = None if tools is None else {t.name: t for t in tools}
        self._buf = THINK[0] if in_reasoning else ""
        self._inside: Opener | None = None
        self._memo: ScanMemo = {}
        self._seen_text = False
        self._finished = False
        self.rejected: list[RejectedCall] = []
        self.call_count = 0

    def feed(self, delta: str) -> list[TextEvent]:
        """Add the next piece of the reply and return the events it made certain."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._buf += delta
        return self._drain(final=False)

    def finish(self) -> list[TextEvent]:
        """End the reply: settle held-back text and any call left open."""
        if self._finished:
            return []
        events = self._drain(final=True)
        self._finished = True
        return events

    def _drain(self, final: bool) -> list[TextEvent]:
        events: list[TextEvent] = []
        while self._buf:
            if self._inside is None:
                at, opener = self._locate(final)
                self._emit_text(events, self._buf[:at])
                self._buf = self._buf[at:]
                if opener is None:
                    break
                self._inside = opener
                self._memo = {}
            elif not self._close_region(events, final):
                break
        return events

    def _locate(self, final: bool) -> tuple[int, Opener | None]:
        """Return where the next region opens and its opener, or how far text is safe."""
        buf, index = self._buf, self._index
        best_at, best = len(buf), None
        hold = len(buf)
        if not self._seen_text:
            at = skip_space(buf, 0)
            for opener in index.at_start:
                if buf.startswith(opener.marker, at):
                    if best is None or len(opener.marker) > len(best.marker):
                        best_at, best = at, opener
                elif not final and opener.marker.startswith(buf[at:]):
                    hold = min(hold, at)
        found = index.anywhere.search(buf) if index.anywhere is not None else None
        if found is not None and (
            found.start() < best_at
            or (found.start() == best_at and best and len(found.group()) > len(best.marker))
        ):
            best_at, best = found.start(), index.by_marker[found.group()]
        if not final:
            hold = min(hold, index.partial_marker_at(buf))
        if best is not None and (final or hold > best_at):
            return best_at, best
        # A longer marker may still be forming at or before the one found: wait for it.
        return min(hold, best_at), None

    def _close_region(self, events: list[TextEvent], final: bool) -> bool:
        """Read the open region if it has ended; return whether it had."""
        opener = self._inside
        assert opener is not None
        body_start = 0 if opener.keep_marker else len(opener.marker)
        span = opener.find_end(self._buf, body_start, final, self._memo, self._tools)
        if span is None:
            return False
        body_end = max(span[0], body_start)
        region_end = max(span[1], body_end, len(opener.marker))
        region, body = self._buf[:region_end], self._buf[body_start:body_end]
        self._buf = self._buf[region_end:]
        self._inside = None
        parsed = opener.parse_body(body, self._tools)
        if opener.weak and not self._names_an_offered_tool(parsed):
            # Ordinary text that only looked like the start of a call.
            self._emit_text(events, region)
            return True
        if parsed is not None and parsed.reasoning:
            events.append(ReasoningDelta(parsed.reasoning))
        calls, rejected = self._vet(parsed)
        if parsed is None:
            rejected.append(RejectedCall("malformed", region))
        else:
            self._emit_text(events, parsed.content)
        if parsed is None or parsed.candidates or parsed.malformed:
            # A region that held nothing (a stray token, a message header) settles nothing.
            self._lock_family(opener)
        for call in calls:
            call_id = call.id or self._new_id()  # after the lock: auto may have chosen a family
            events.append(
                ToolCallDelta(
                    index=self.call_count, id=call_id, name=call.name, arguments=call.arguments
                )
            )
            self.call_count += 1
        self.rejected.extend(rejected)
        return True

    def _names_an_offered_tool(self, parsed: BodyParse | None) -> bool:
        if parsed is None:
            return False
        tools = self._tools
        return any(tools is None or c.name in tools for c in parsed.candidates)

    def _vet(self, parsed: BodyParse | None) -> tuple[list[ToolCall], list[RejectedCall]]:
        """Split candidates into calls to surface and calls to reject."""
        calls: list[ToolCall] = []
        rejected: list[RejectedCall] = []
        if parsed is None:
            return calls, rejected
        for candidate in parsed.candidates:
            if self._tools is not None and candidate.name not in self._tools:
                rejected.append(RejectedCall("unknown_tool", candidate.text, candidate.name))
                continue
            arguments = arguments_json(candidate.arguments)
            if arguments is None:
                rejected.append(RejectedCall("malformed", candidate.text, candidate.name))
                continue
            calls.append(ToolCall(id=candidate.id or "", name=candidate.name, arguments=arguments))
        rejected.extend(RejectedCall("malformed", text) for text in parsed.malformed)
        return calls, rejected

    def _lock_family(self, opener: Opener) -> None:
        # In auto mode the first call decides the family for the rest of the reply: the one
        # family using that marker, or the markers of all the families that share it.
        owners = [
            m for m in self._family.members if any(o.marker == opener.marker for o in m.openers)
        ]
        if len(owners) == 1:
            self._openers = (*REASONING_OPENERS, *owners[0].openers)
            self._new_id = owners[0].new_call_id
            self._family = _SETTLED  # one family: later calls change nothing
        elif owners:
            markers = {o.marker for m in owners for o in m.openers}
            self._openers = tuple(
                o for o in self._openers if o.marker in markers or o in REASONING_OPENERS
            )
        else:
            return
        self._index = _MarkerIndex.of(self._openers)

    def _emit_text(self, events: list[TextEvent], text: str) -> None:
        if not text:
            return
        if text.strip():
            self._seen_text = True
        events.append(TextDelta(text))


_SETTLED = Family("settled", (), PromptStyle())
"""What an ``auto`` parser's family becomes once calls settled it on one family: no members."""


@dataclass(frozen=True)
class _MarkerIndex:
    """The openers' markers, arranged to find them in one pass over the buffer.

    Attributes:
        at_start: Openers that only count before any visible content.
        anywhere: Every other marker, longest first (so a longer one wins at a position).
        by_marker: The first opener of each of those markers.
        prefixes: Every proper prefix of those markers.
        longest: The length of the longest of them.
    """

    at_start: tuple[Opener, ...]
    anywhere: re.Pattern[str] | None
    by_marker: dict[str, Opener]
    prefixes: frozenset[str]
    longest: int

    @staticmethod
    @functools.lru_cache(maxsize=128)
    def of(openers: tuple[Opener, ...]) -> _MarkerIndex:
        """Return the index of ``openers`` (built once per set of openers)."""
        by_marker: dict[str, Opener] = {}
        for opener in openers:
            if not opener.at_reply_start:
                by_marker.setdefault(opener.marker, opener)
        markers = sorted(by_marker, key=len, reverse=True)
        return _MarkerIndex(
            at_start=tuple(o for o in openers if o.at_reply_start),
            anywhere=re.compile("|".join(map(re.escape, markers))) if markers else None,
            by_marker=by_marker,
            prefixes=frozenset(m[:size] for m in markers for size in range(1, len(m))),
            longest=len(markers[0]) if markers else 0,
        )

    def partial_marker_at(self, buf: str) -> int:
        """Return where a proper prefix of a marker ends ``buf``, or ``len(buf)`` if none does."""
        for size in range(min(self.longest - 1, len(buf)), 0, -1):
            if buf[-size:] in self.prefixes:
                return len(buf) - size
        return len(buf)


def parse_text(text: str, family: Family, tools: Sequence[ToolSpec] | None = None) -> ParseResult:
    """Split a whole reply into content and tool calls.

    Args:
        text: The reply.
        family: The format family (see :func:`textcalls.get_family`).
        tools: The offered tools; calls naming others are rejected. ``None`` checks no names.

    Returns:
        The content, the calls and the rejected calls.
    """
    parser = TextCallParser(family, tools)
    events = parser.feed(text) + parser.finish()
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = tuple(
        ToolCall(id=e.id or "", name=e.name or "", arguments=e.arguments)
        for e in events
        if isinstance(e, ToolCallDelta)
    )
    reasoning = "\n\n".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return ParseResult(
        content=content, calls=calls, rejected=tuple(parser.rejected), reasoning=reasoning
    )
