"""Check the tool calls a model made before any reaches the client.

A call must name an offered function, and its arguments must be a JSON object that satisfies
the function's JSON Schema. Problems are phrased for the model, which is asked to correct them.

The cost is bounded: patterns are matched by RE2 in linear time (see
:mod:`callisto.engine.toolschema`), schemas are limited in size and depth when they arrive,
and :func:`check_calls_off_loop` runs the check of large arguments in a worker thread, so
they do not hold up the event loop that serves every other request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema.exceptions import best_match
from referencing.exceptions import Unresolvable

from callisto.engine.toolschema import UnusablePattern, local_validator
from callisto.providers.base import ChatMessage, ToolCall, ToolSpec


@dataclass(frozen=True, slots=True)
class CallProblem:
    """Why one call was refused.

    Attributes:
        call: The call as the model made it.
        message: What is wrong, written for the model.
    """

    call: ToolCall
    message: str


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    # Compiled once per distinct schema: validation is on the hot path of every call.
    return local_validator(json.loads(schema_json))


def validator_for(parameters: dict[str, Any]) -> Any:
    """Return a cached validator for a parameters schema."""
    return _validator(json.dumps(parameters, sort_keys=True))


def _path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    return "/".join(parts) if parts else "(root)"


def check_call(call: ToolCall, tools: dict[str, ToolSpec]) -> tuple[ToolCall | None, str | None]:
    """Return the call with normalised arguments, or ``None`` and the problem."""
    spec = tools.get(call.name)
    if spec is None:
        offered = ", ".join(sorted(tools)) or "none"
        return (
            None,
            f"You called '{call.name}', which is not an available tool (offered: {offered}).",
        )
    raw = call.arguments.strip() or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        return (
            None,
            f"The arguments for '{call.name}' are not valid JSON ({exc.msg} at char {exc.pos}).",
        )
    if not isinstance(args, dict):
        return (
            None,
            f"The arguments for '{call.name}' must be a JSON object, not {type(args).__name__}.",
        )
    try:
        error = best_match(validator_for(spec.parameters).iter_errors(args))
    except Unresolvable:
        # Only a schema stored before external references were refused can get here; its
        # reference is never fetched, and what it names is not repeated to anyone.
        return (
            None,
            f"The schema of '{call.name}' holds a reference that cannot be resolved; "
            "this tool cannot be called until its definition is fixed.",
        )
    except (UnusablePattern, RecursionError):
        # Only schemas stored before patterns and cycles were checked on arrival get here.
        return (
            None,
            f"The schema of '{call.name}' cannot be checked (a pattern that cannot be matched "
            "in linear time, or references that never end); this tool cannot be called until "
            "its definition is fixed.",
        )
    if error is not None:
        return (
            None,
            f"The arguments for '{call.name}' break its schema at {_path(error)}: {error.message}.",
        )
    normalised = raw if raw == call.arguments else json.dumps(args)
    return dataclasses.replace(call, arguments=normalised), None


def check_calls(
    calls: list[ToolCall], tools: tuple[ToolSpec, ...]
) -> tuple[list[ToolCall], list[CallProblem]]:
    """Split calls into valid ones and problems."""
    by_name = {t.name: t for t in tools}
    valid: list[ToolCall] = []
    problems: list[CallProblem] = []
    for call in calls:
        checked, problem = check_call(call, by_name)
        if checked is not None:
            valid.append(checked)
        else:
            problems.append(CallProblem(call=call, message=problem or "invalid call"))
    return valid, problems


def repair_messages(
    text: str, calls: list[ToolCall], problems: list[CallProblem]
) -> list[ChatMessage]:
    """Return the turn that asks a model to correct its calls: its reply, then a tool result
    per call saying what was wrong (or that it was not run because another call was bad)."""
    messages = [ChatMessage(role="assistant", content=text or None, tool_calls=tuple(calls))]
    refused = {p.call.id: p.message for p in problems}
    for call in calls:
        reason = refused.get(call.id)
        content = (
            f"Error: {reason} Call the tool again with corrected arguments."
            if reason
            else "Not run: another call in the same reply was invalid. Repeat it with the corrected call."
        )
        messages.append(
            ChatMessage(role="tool", content=content, tool_call_id=call.id, name=call.name)
        )
    return messages


OFF_LOOP_ARGUMENT_CHARS = 4096
"""Calls whose arguments total more characters than this are checked in a worker thread.

Below it the check costs about a tenth of a millisecond, less than the hand-off to a thread."""


async def check_calls_off_loop(
    calls: list[ToolCall], tools: tuple[ToolSpec, ...]
) -> tuple[list[ToolCall], list[CallProblem]]:
    """Like :func:`check_calls`; in a worker thread when the arguments are large."""
    if sum(len(call.arguments) for call in calls) <= OFF_LOOP_ARGUMENT_CHARS:
        return check_calls(calls, tools)
    return await asyncio.to_thread(check_calls, calls, tools)
