"""Calls written as tags with raw-text values (qwen3 xml, minimax, seed-oss, step-3, DSML).

::

    <function=write_file>                      <invoke name="write_file">
    <parameter=content>                        <parameter name="content">...</parameter>
    ...                                        </invoke>
    </parameter>
    </function>

A value is raw text, so it may itself contain the format's closing tags: a file being written, a
prompt being quoted. The scan here finds the real end of a value instead of the first
``</parameter>``: a closing tag ends a value only when what follows it (after whitespace) is
another parameter the tool declares, or the call's own closing tag. A call written inside a value
(a literal example) is skipped whole, its tags counted in and out. A missing ``</parameter>`` is
recognised by the next declared parameter opening, or failing that by the call's closing tag. A
value that runs to the end of the reply (cut off by a token limit) makes its call malformed:
never a truncated value passed on as a whole one.

The same scan finds where a region of such calls ends (so a ``</tool_call>`` inside a value does
not close it) and reads the region's body, so whole and streamed parsing agree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._family import BodyParse, Candidate, EndFinder, ToolIndex
from ._json import ScanMemo, find_resumed, grew_by, skip_space
from ._schema import coerce_text, property_schema

Head = tuple[str, int, dict[str, str]]
"""A tag's name, the index just past its ``>``, and its other attributes."""

HeadReader = Callable[[str, int], Head | None]
"""Reads the rest of an opening tag from an index; ``None`` while its ``>`` has not arrived."""

ValueReader = Callable[[str, dict[str, str], dict[str, Any] | None], Any]
"""Turns a raw value, its tag's attributes and the argument's schema into the argument."""


def equals_name(text: str, pos: int) -> Head | None:
    """Read ``NAME>`` (``<function=NAME>``, ``<parameter=NAME>``); the name may be blank."""
    end = text.find(">", pos)
    if end < 0:
        return None
    name = text[pos:end].strip()
    return (name if "<" not in name else ""), end + 1, {}


_ATTRIBUTES = re.compile(r"""((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))*)\s*>""")
_ATTRIBUTE = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def name_attribute(text: str, pos: int) -> Head | None:
    """Read `` name="NAME" other="x">`` (minimax, step-3, DSML); the name may be blank."""
    m = _ATTRIBUTES.match(text, pos)
    if m is None:
        return None if text.find(">", pos) < 0 else ("", text.find(">", pos) + 1, {})
    attrs = {
        a[1]: next(v for v in a.groups()[1:] if v is not None) for a in _ATTRIBUTE.finditer(m[1])
    }
    return attrs.pop("name", "").strip(), m.end(), attrs


def schema_value(raw: str, attrs: dict[str, str], schema: dict[str, Any] | None) -> Any:
    """The default :data:`ValueReader`: the raw text typed by the argument's schema."""
    return coerce_text(raw, schema)


@dataclass(frozen=True)
class TagGrammar:
    """The tags of one format.

    Attributes:
        call_open: Opens a call, up to where its head is read (``<function=``, ``<invoke``).
        call_close: Closes a call.
        param_open: Opens a parameter, up to where its head is read.
        param_close: Closes a parameter.
        read_head: Reads the rest of an opening tag (both kinds).
        read_value: Turns a raw value into the argument.
        trim_newline: Whether one newline after the opening and before the closing parameter
            tag is layout, not value (qwen3 writes the value on its own lines).
    """

    call_open: str
    call_close: str
    param_open: str
    param_close: str
    read_head: HeadReader
    read_value: ValueReader = field(default=schema_value)
    trim_newline: bool = True


@dataclass(slots=True)
class _Scan:
    end: int
    candidates: list[Candidate] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)


_WAIT = None


def scan_calls(
    text: str,
    pos: int,
    grammar: TagGrammar,
    tools: ToolIndex,
    final: bool,
    memo: ScanMemo | None = None,
) -> _Scan | None:
    """Read the calls that follow ``pos`` one after another (whitespace between them).

    Returns:
        Where the calls end and what they are, or ``None`` when more text is needed.
    """
    scan = _Scan(pos)
    while True:
        i = skip_space(text, scan.end)
        if not text.startswith(grammar.call_open, i):
            if not final and _may_become(text, i, grammar.call_open):
                return _WAIT
            return scan
        call = _scan_call(text, i, grammar, tools, final, memo)
        if call is None:
            return _WAIT
        end, candidate = call
        if candidate is None:
            scan.malformed.append(text[i:end])
        else:
            scan.candidates.append(candidate)
        scan.end = end


def _may_become(text: str, i: int, tag: str) -> bool:
    """Whether the text from ``i`` is a proper prefix of ``tag`` (it may still become it)."""
    rest = text[i:]
    return len(rest) < len(tag) and tag.startswith(rest)


def _declared(tools: ToolIndex, name: str) -> set[str] | None:
    """The argument names the tool declares, or ``None`` when any name must be accepted."""
    tool = tools.get(name) if tools is not None else None
    props = tool.parameters.get("properties") if tool is not None else None
    return set(props) if isinstance(props, dict) and props else None


def _scan_call(
    text: str,
    i: int,
    grammar: TagGrammar,
    tools: ToolIndex,
    final: bool,
    memo: ScanMemo | None = None,
) -> tuple[int, Candidate | None] | None:
    """Read one call at ``i``: its end, and the call (``None`` when it has no readable name)."""
    head = grammar.read_head(text, i + len(grammar.call_open))
    if head is None:
        return (len(text), None) if final else _WAIT
    name, k, _ = head
    declared = _declared(tools, name)
    tool = tools.get(name) if tools is not None else None
    args: dict[str, Any] = {}
    cut = False  # a value ran to the end of the reply: it may be missing its end
    while True:
        k = skip_space(text, k)
        if text.startswith(grammar.param_open, k):
            param = _scan_param(text, k, grammar, declared, final, memo)
            if param is None:
                return _WAIT
            key, raw, attrs, k, closed = param
            cut = cut or not closed
            if key:
                args[key] = grammar.read_value(raw, attrs, property_schema(tool, key))
            continue
        if text.startswith(grammar.call_close, k):
            k += len(grammar.call_close)
        elif k >= len(text) or _may_become_any(text, k, grammar):
            if not final:
                return _WAIT
            k = len(text)  # unclosed at the end of the reply: the call still counts
        else:
            # Stray text between parameters: skip to the next tag of this call.
            nxt = _first_of(text, k, (grammar.param_open, grammar.call_close))
            if nxt is not None:
                k = nxt
                continue
            if not final:
                return _WAIT
            k = len(text)
        # A value cut off by the end of the reply is not passed on as if it were whole.
        candidate = Candidate(name, args, text=text[i:k]) if name and not cut else None
        return k, candidate


def _may_become_any(text: str, k: int, grammar: TagGrammar) -> bool:
    return _may_become(text, k, grammar.param_open) or _may_become(text, k, grammar.call_close)


def _first_of(text: str, pos: int, tags: tuple[str, ...]) -> int | None:
    m = _alternation(tags).search(text, pos)
    return None if m is None else m.start()


@functools.cache
def _alternation(tags: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in tags))


def _scan_param(
    text: str,
    k: int,
    grammar: TagGrammar,
    declared: set[str] | None,
    final: bool,
    memo: ScanMemo | None,
) -> tuple[str, str, dict[str, str], int, bool] | None:
    """Read one parameter at ``k``: its key, raw value, attributes, where it ends, and whether
    the value ended before the end of the reply."""
    head = grammar.read_head(text, k + len(grammar.param_open))
    if head is None:
        return ("", "", {}, len(text), False) if final else _WAIT
    key, start, attrs = head
    span = _value_end(text, start, grammar, declared, final, memo)
    if span is None:
        return _WAIT
    raw = text[start : span[0]]
    if grammar.trim_newline:
        raw = raw.removeprefix("\n").removesuffix("\n")
    return key, raw, attrs, span[1], span[0] < len(text)


def _value_end(
    text: str,
    start: int,
    grammar: TagGrammar,
    declared: set[str] | None,
    final: bool,
    memo: ScanMemo | None,
) -> tuple[int, int] | None:
    """Return where a value ends and where the scan goes on, or ``None`` until known.

    While streaming, the scan of a long value resumes where the previous one stopped (``memo``,
    keyed by where the value starts), instead of reading the value again on every delta.
    """
    tags = (grammar.param_close, grammar.param_open, grammar.call_open, grammar.call_close)
    # pos: where to look for the next tag; depth: calls written inside the value, still open.
    pos, depth = _resume_point(memo, start, final)
    while (at := _first_of(text, pos, tags)) is not None:
        if text.startswith(grammar.param_open, at):
            if depth == 0:  # the next declared parameter: this value's close is missing
                opens = _opens_declared(text, at, grammar, declared, final)
                if opens is None:
                    _save_point(memo, start, at, depth)
                    return _WAIT
                if opens:
                    return at, at
            pos = at + len(grammar.param_open)
            continue
        if text.startswith(grammar.call_open, at):
            depth += 1
            pos = at + len(grammar.call_open)
            continue
        if text.startswith(grammar.call_close, at):
            depth = max(depth - 1, 0)
            pos = at + len(grammar.call_close)
            continue
        after = at + len(grammar.param_close)
        if depth == 0:
            verdict = _ends_value(text, after, grammar, declared, final)
            if verdict is None:
                _save_point(memo, start, at, depth)
                return _WAIT
            if verdict:
                return at, after
        pos = after
    if not final:
        # A tag may be arriving at the very end: look there again next time.
        _save_point(memo, start, max(pos, len(text) - max(map(len, tags)) + 1), depth)
        return _WAIT
    # No closing tag qualifies: the close is missing. End at the call's close, if any.
    nxt = text.find(grammar.call_close, start)
    return (nxt, nxt) if nxt >= 0 else (len(text), len(text))


def _resume_point(memo: ScanMemo | None, start: int, final: bool) -> tuple[int, int]:
    """Where the scan of the value at ``start`` resumes, and the depth there."""
    found = memo.get(start) if memo is not None and not final else None
    return found if isinstance(found, tuple) else (start, 0)


def _save_point(memo: ScanMemo | None, start: int, at: int, depth: int) -> None:
    if memo is not None:
        memo[start] = (at, depth)


def _opens_declared(
    text: str, at: int, grammar: TagGrammar, declared: set[str] | None, final: bool
) -> bool | None:
    """Whether the parameter tag at ``at`` opens a declared parameter; ``None`` until known."""
    head = grammar.read_head(text, at + len(grammar.param_open))
    if head is None:
        return False if final else _WAIT
    return declared is None or head[0] in declared


def _ends_value(
    text: str, after: int, grammar: TagGrammar, declared: set[str] | None, final: bool
) -> bool | None:
    """Whether a closing tag whose end is ``after`` ends the value; ``None`` until known."""
    k = skip_space(text, after)
    if k >= len(text):
        return True if final else _WAIT
    if text.startswith(grammar.call_close, k):
        return True
    if text.startswith(grammar.param_open, k):
        head = grammar.read_head(text, k + len(grammar.param_open))
        if head is None and final:
            return True  # an unfinished tag at the end of the reply: the value ended before it
        return _opens_declared(text, k, grammar, declared, final)
    if not final and _may_become_any(text, k, grammar):
        return _WAIT
    return False


# Regions of calls, and their bodies.


def section_end(grammar: TagGrammar, close: str) -> EndFinder:
    """Return an end finder for a section of calls closed by ``close``.

    When the section starts with a call, the calls are scanned so that a ``close`` inside a
    value does not end it; anything else ends at the first ``close`` (unclosed: at the end).
    """

    def find(
        text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
    ) -> tuple[int, int] | None:
        if not final and not grew_by(text, memo, ">"):
            return _WAIT  # every tag that could end the section ends in ">"
        i = skip_space(text, start)
        if text.startswith(grammar.call_open, i):
            scan = scan_calls(text, i, grammar, tools, final, memo)
            if scan is None:
                return _WAIT
            i = skip_space(text, scan.end)
            if text.startswith(close, i):
                return i, i + len(close)
        elif not final and (i >= len(text) or _may_become(text, i, grammar.call_open)):
            return _WAIT
        at = find_resumed(text, close, i, memo)
        if at >= 0:
            return at, at + len(close)
        return (len(text), len(text)) if final else _WAIT

    return find


def one_call_end(grammar: TagGrammar) -> EndFinder:
    """Return an end finder for one call whose opening tag is the region's marker."""

    def find(
        text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
    ) -> tuple[int, int] | None:
        if not final and not grew_by(text, memo, ">"):
            return _WAIT
        call = _scan_call(text, start, grammar, tools, final, memo)
        if call is None:
            return _WAIT
        return call[0], call[0]

    return find


def calls_body(grammar: TagGrammar) -> Callable[[str, ToolIndex], BodyParse | None]:
    """Return a body parser for calls written in ``grammar``'s tags.

    The body's calls are read from its first call tag on; a body without one is not this
    format (``None``).
    """

    def parse(body: str, tools: ToolIndex) -> BodyParse | None:
        candidates: list[Candidate] = []
        malformed: list[str] = []
        at = body.find(grammar.call_open)
        if at < 0:
            return None
        while at >= 0:  # text between calls is layout, skipped as the tags' own text was
            scan = scan_calls(body, at, grammar, tools, final=True)
            assert scan is not None  # a final scan always answers
            candidates += scan.candidates
            malformed += scan.malformed
            at = body.find(grammar.call_open, scan.end)
        return BodyParse(tuple(candidates), tuple(malformed))

    return parse


QWEN3_TAGS = TagGrammar("<function=", "</function>", "<parameter=", "</parameter>", equals_name)
"""Qwen3 coder's tags; hermes' ``<tool_call>`` shares them in ``auto``, and seed-oss reuses them."""
