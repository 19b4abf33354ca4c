"""A Responses request in the engine's terms: tools, tool choice, text format, run parameters.

Function tools arrive flat (``{type, name, parameters}``) and are checked as the Assistants
face checks them; ``tool_choice`` becomes the run's (``allowed_tools`` narrows the tools the
model sees); ``text.format`` becomes the run's ``response_format``.
"""

from __future__ import annotations

import time
from typing import Any

from callisto.api.responses.items import Plan
from callisto.api.responses.schemas import (
    AllowedTools,
    FunctionToolParam,
    NamedFunction,
    ResponseCreate,
    TextFormatSchema,
)
from callisto.api.schemas import FunctionDefinition, dump
from callisto.engine.service import RunParams
from callisto.errors import InvalidRequest
from callisto.store.responses_models import ResponseRow

ASSISTANT_ID = "callisto_responses"
"""The assistant every response's run names (runs need one; its fields are all overridden).

Not an ``asst_`` id on purpose: ids Callisto makes sort by creation, and this one is fixed (as
the client-chosen ids of Entities assistants in the same table are)."""


def run_tools(body_: ResponseCreate) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """Return the echoed tools, the run's tools and the run's ``tool_choice``.

    Raises:
        InvalidRequest: A tool that is not a function (built-in tools are not supported), a
            broken schema, two tools of one name, or a ``tool_choice`` naming a tool that is
            not offered.
    """
    definitions = [_definition(i, raw) for i, raw in enumerate(body_.tools or [])]
    names = [d.name for d in definitions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidRequest(f"Tools {twice} are given more than once.", param="tools")
    echoed = [
        {
            "type": "function",
            "name": d.name,
            "description": d.description,
            "parameters": d.parameters,
            "strict": True if d.strict is None else d.strict,
        }
        for d in definitions
    ]
    choice = body_.tool_choice
    offered = definitions
    run_choice: Any = "auto" if choice is None else choice
    if isinstance(choice, NamedFunction):
        run_choice = {"type": "function", "function": {"name": choice.name}}
    elif isinstance(choice, AllowedTools):
        allowed = {t.name for t in choice.tools}
        unknown = sorted(allowed - set(names))
        if unknown:
            raise InvalidRequest(
                f"tool_choice.allowed_tools names {unknown}, which are not among the tools.",
                param="tool_choice",
            )
        offered = [d for d in definitions if d.name in allowed]
        run_choice = choice.mode
    # The run keeps tools as the Assistants face stores them.
    tools = [{"type": "function", "function": dump(d)} for d in offered]
    return echoed, tools, run_choice


def _definition(index: int, raw: dict[str, Any]) -> FunctionDefinition:
    if raw.get("type") != "function":
        raise InvalidRequest(
            f"Tool type '{raw.get('type')}' is not supported; Callisto runs function tools "
            "only (no built-in tools such as web search, file search or MCP).",
            param=f"tools[{index}]",
        )
    try:
        return FunctionToolParam.model_validate(raw).definition()
    except ValueError as exc:
        raise InvalidRequest(f"Invalid tool: {exc}", param=f"tools[{index}]") from None


def response_format(body_: ResponseCreate) -> tuple[dict[str, Any], Any]:
    """Return the echoed ``text`` and the run's ``response_format``."""
    fmt = body_.text.format if body_.text is not None else None
    if fmt is None or fmt.type == "text":
        echoed: dict[str, Any] = {"format": {"type": "text"}}
        return _with_verbosity(echoed, body_), None
    if isinstance(fmt, TextFormatSchema):
        schema = {"name": fmt.name, "schema": fmt.schema_, "strict": bool(fmt.strict)}
        if fmt.description is not None:
            schema["description"] = fmt.description
        echoed = {
            "format": {
                "type": "json_schema",
                "name": fmt.name,
                "schema": fmt.schema_,
                "description": fmt.description,
                "strict": bool(fmt.strict),
            }
        }
        return _with_verbosity(echoed, body_), {"type": "json_schema", "json_schema": schema}
    return _with_verbosity({"format": {"type": "json_object"}}, body_), {"type": "json_object"}


def _with_verbosity(text: dict[str, Any], body_: ResponseCreate) -> dict[str, Any]:
    verbosity = body_.text.verbosity if body_.text is not None else None
    return {**text, "verbosity": verbosity or "medium"}


def new_row(
    request: ResponseCreate,
    thread_id: str,
    begins: str,
    input_items: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    text: dict[str, Any],
    *,
    project: str,
) -> ResponseRow:
    """Return the row of a new response of ``project`` (its id and run are set when its run is
    known)."""
    choice = request.tool_choice
    return ResponseRow(
        id="",
        project_id=project,
        created_at=int(time.time()),
        thread_id=thread_id,
        run_id="",
        conversation_id=request.conversation_id(),
        previous_response_id=request.previous_response_id,
        model=request.model,
        background=bool(request.background),
        store=request.store is not False,
        begins=begins,
        ends=None,
        start_seq=0,
        usage_base=None,
        settled=None,
        request={
            "instructions": request.instructions,
            "tools": tools,
            "tool_choice": choice.model_dump()
            if choice is not None and not isinstance(choice, str)
            else choice or "auto",
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_output_tokens": request.max_output_tokens,
            "max_tool_calls": request.max_tool_calls,
            "text": text,
            "metadata": request.metadata or {},
            "truncation": request.truncation or "disabled",
        },
        input_items=input_items,
    )


def run_params(
    request: ResponseCreate, tools: list[dict[str, Any]], choice: Any, fmt: Any, plan: Plan
) -> RunParams:
    """Return the engine's run parameters for a response."""
    instructions = ([request.instructions] if request.instructions else []) + plan.instructions
    return RunParams(
        assistant_id=ASSISTANT_ID,
        model=request.model,
        instructions="\n\n".join(instructions) or None,
        tools=tools,
        metadata={},
        temperature=request.temperature,
        top_p=request.top_p,
        max_completion_tokens=request.max_output_tokens,
        tool_choice=choice,
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=fmt,
    )
