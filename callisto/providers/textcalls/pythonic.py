"""Pythonic calls (Llama 3.2, ToolACE, Olmo, Llama 4): ``[get_weather(city='Paris'), f(x=1)]``.

The text is parsed with :mod:`ast` and never evaluated: only literal arguments are read (strings,
numbers, booleans, ``None``, and lists, tuples and dicts of those; JSON's ``true``/``false``/
``null`` too). Positional arguments are matched to the schema's properties in order. Llama 4 may
wrap the list in ``<|python_start|>...<|python_end|>``. A list that does not parse as a whole is
read one call at a time, so a broken call does not take the good ones with it.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from typing import Any

from callisto.providers.base import ToolCall

from ._family import (
    UNREADABLE,
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    argument_items,
    json_sequence,
    until,
)
from ._json import bracket_end

_NAMED_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


def pythonic_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read a list of calls (or one call) written as Python.

    Returns:
        The calls, or ``None`` when the body is not Python or holds no call at all.
    """
    source = body.strip()
    node = _parse(source)
    if node is None:
        return _salvage(source, tools)
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    if not any(isinstance(item, ast.Call) for item in items):
        return None
    candidates: list[Candidate] = []
    malformed: list[str] = []
    for item in items:
        text = ast.get_source_segment(source, item) or source
        candidate = _candidate(item, text, tools) if isinstance(item, ast.Call) else None
        if candidate is None:
            malformed.append(text)
        else:
            candidates.append(candidate)
    return BodyParse(tuple(candidates), tuple(malformed))


def _parse(source: str) -> ast.expr | None:
    try:
        return ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# A call that starts the list or follows a comma or a line break: ``[f(``, ``, g(``.
_CALL_HEAD = re.compile(r"(?:^|[\[,\n])\s*([A-Za-z_][\w.]*\s*\()")


def _salvage(source: str, tools: ToolIndex) -> BodyParse | None:
    """Read the calls of a list that does not parse as a whole, one call at a time.

    A call that parses keeps its place; the text from a broken one up to the next call that
    starts the way calls do is reported malformed. ``None`` when no call parses at all.
    """
    candidates: list[Candidate] = []
    malformed: list[str] = []
    pos = 0
    while (head := _CALL_HEAD.search(source, pos)) is not None:
        start = head.start(1)
        end = bracket_end(source, head.end(1) - 1)
        node = _parse(source[start:end]) if end is not None else None
        if isinstance(node, ast.Call):
            text = source[start:end]
            candidate = _candidate(node, text, tools)
            if candidate is None:
                malformed.append(text)
            else:
                candidates.append(candidate)
            pos = end  # type: ignore[assignment]  # a parsed call has an end
            continue
        after = _CALL_HEAD.search(source, head.end(1))
        stop = after.start(1) if after else len(source)
        malformed.append(source[start:stop].rstrip().rstrip(",]").rstrip())
        pos = after.start() if after else len(source)
    if not candidates:
        return None
    return BodyParse(tuple(candidates), tuple(malformed))


def _candidate(call: ast.Call, text: str, tools: ToolIndex) -> Candidate | None:
    name = _dotted_name(call.func)
    if name is None:
        return None
    unreadable = Candidate(name, UNREADABLE, text=text)  # a call, but not one we can run
    try:
        args = {kw.arg: _literal(kw.value) for kw in call.keywords if kw.arg is not None}
        positional = [_literal(a) for a in call.args]
    except ValueError:
        return unreadable
    names = _property_names(tools, name)
    if len(args) != len(call.keywords) or len(positional) > len(names):
        return unreadable  # **kwargs, or more positional arguments than declared
    args.update(zip(names, positional, strict=False))
    return Candidate(name, args, text=text)


def _property_names(tools: ToolIndex, name: str) -> list[str]:
    tool = tools.get(name) if tools is not None else None
    props = tool.parameters.get("properties") if tool is not None else None
    return list(props) if isinstance(props, dict) else []


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted_name(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def _literal(node: ast.expr) -> Any:
    """Return the JSON value a literal expression stands for; raise ``ValueError`` otherwise."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("JSON has no infinity or NaN")
        if value is None or isinstance(value, str | int | float):
            return value
        raise ValueError(f"not a JSON literal: {value!r}")
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("dict unpacking")
        return {str(_literal(k)): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Name) and node.id.lower() in _NAMED_CONSTANTS:
        return _NAMED_CONSTANTS[node.id.lower()]
    raise ValueError("not a literal")


def call_source(call: ToolCall) -> str:
    """Write one call as Python source with literal keyword arguments."""
    args = ", ".join(f"{k}={v!r}" for k, v in argument_items(call))
    return f"{call.name}({args})"


class PythonicStyle(PromptStyle):
    """Tools as JSON; calls as a Python list of function calls."""

    intro = "You can call the following functions:"
    instructions = (
        "To call functions, reply with only a Python list of calls with literal keyword "
        "arguments, e.g. [func_name1(param1=value1, param2=value2), func_name2(param=value)]."
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one Python list."""
        return "[" + ", ".join(call_source(c) for c in calls) + "]"


class Llama4PythonicStyle(PythonicStyle):
    """Pythonic calls wrapped in ``<|python_start|>...<|python_end|>``."""

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write the calls as one Python list between Llama 4's python tokens."""
        return "<|python_start|>" + super().calls_text(calls) + "<|python_end|>"


PYTHON_LIST_AT_START = Opener(
    "[", json_sequence, pythonic_body, weak=True, at_reply_start=True, keep_marker=True
)
PYTHONIC = Family("pythonic", (PYTHON_LIST_AT_START,), PythonicStyle())
LLAMA4_PYTHONIC = Family(
    "llama4_pythonic",
    (Opener("<|python_start|>", until("<|python_end|>"), pythonic_body), PYTHON_LIST_AT_START),
    Llama4PythonicStyle(),
)
