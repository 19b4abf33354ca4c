"""The model's part: choosing a step's arguments by a forced call of that step's function.

Two ways to reach a model, both through the official ``openai`` client you pass in (sync or
async): :class:`ChatArguments` (any OpenAI-compatible Chat Completions endpoint) and
:class:`AssistantArguments` (a Callisto Assistants run on a new thread). Both force the call
with ``tool_choice`` and offer only that function.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callisto.tools._driving import pending_calls, quiet_assistants_deprecation
from callisto.tools.results import ToolCall
from callisto.tools.tool import Tool

SYSTEM_PROMPT = (
    "You carry out one step of a workflow by calling the function {function}. Choose its "
    "arguments from the user's request, the results of the earlier steps and any input the "
    "user gave. Call the function exactly once."
)


@dataclass(frozen=True, slots=True)
class ChoiceRequest:
    """What the model is told when it chooses a step's arguments.

    Attributes:
        workflow_id: The run.
        step: The step's name.
        tool: The function to call.
        request: The user's request.
        results: The results of the step's direct dependencies (``None`` for a skipped one).
        input: The input given to the step, if any.
        fixed: Arguments already bound; they override what the model sends.
        instructions: The step's own guidance.
        rejected: The previous arguments and why they were refused, when asking again.
    """

    workflow_id: str
    step: str
    tool: Tool[..., Any]
    request: str
    results: Mapping[str, Any]
    input: Any = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    rejected: tuple[str, str] | None = None

    def prompt(self) -> str:
        """The user message: request, results, input, fixed arguments, refusal."""
        parts = [f"Request: {self.request}"]
        if self.results:
            parts.append("Results of earlier steps:\n" + _json(self.results))
        if self.input is not None:
            parts.append("Input from the user: " + _json(self.input))
        if self.fixed:
            parts.append("Already set by the workflow: " + _json(self.fixed))
        if self.instructions:
            parts.append(self.instructions)
        if self.rejected is not None:
            arguments, reason = self.rejected
            parts.append(f"Your previous arguments {arguments} were refused: {reason}")
        return "\n\n".join(parts)

    def offered_tool(self) -> dict[str, Any]:
        """The function as offered: its parameters without the ones already set.

        The model is asked only for what is left to choose, so a server that checks calls
        against the schema (Callisto does) accepts the partial call.
        """
        offered = self.tool.definition.openai_tool()
        schema = dict(offered["function"].get("parameters") or {})
        if self.fixed:
            properties = schema.get("properties") or {}
            schema["properties"] = {k: v for k, v in properties.items() if k not in self.fixed}
            if "required" in schema:
                schema["required"] = [k for k in schema["required"] if k not in self.fixed]
        offered["function"] = {**offered["function"], "parameters": schema}
        return offered

    def tool_choice(self) -> dict[str, Any]:
        """``tool_choice`` forcing this step's function."""
        return {"type": "function", "function": {"name": self.tool.name}}


@dataclass(frozen=True, slots=True)
class Choice:
    """The model's answer.

    Attributes:
        arguments: The arguments as sent (a JSON string; the executor checks it).
        prompt_tokens: Tokens of the request, when the API reports usage.
        completion_tokens: Tokens of the answer.
    """

    arguments: str | Mapping[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0


class NoChoice(Exception):
    """The model answered without calling the function."""


class ArgumentChooser(Protocol):
    """Chooses a step's arguments; raises on API errors or :class:`NoChoice`."""

    async def choose(self, request: ChoiceRequest) -> Choice:
        """Ask the model for the arguments of ``request.tool``."""
        ...


class ChatArguments:
    """Choose arguments with Chat Completions (``client.chat.completions.create``).

    Args:
        client: ``openai.OpenAI`` or ``openai.AsyncOpenAI`` (a sync client's call runs in a
            worker thread).
        model: The model name.
        system_prompt: The system message; ``{function}`` is replaced by the function's name.
        **params: More ``chat.completions.create`` parameters (``temperature``, ...).
    """

    def __init__(
        self, client: Any, *, model: str, system_prompt: str = SYSTEM_PROMPT, **params: Any
    ) -> None:
        self.client = client
        self.model = model
        self.system_prompt = system_prompt
        self.params = params

    async def choose(self, request: ChoiceRequest) -> Choice:
        """See :class:`ArgumentChooser`."""
        completion = await _call(
            self.client.chat.completions.create,
            model=self.model,
            messages=[
                {
                    "role": "system",
                    "content": self.system_prompt.format(function=request.tool.name),
                },
                {"role": "user", "content": request.prompt()},
            ],
            tools=[request.offered_tool()],
            tool_choice=request.tool_choice(),
            **self.params,
        )
        calls = completion.choices[0].message.tool_calls or []
        return _choice(request, calls, getattr(completion, "usage", None))


class AssistantArguments:
    """Choose arguments with an Assistants run (Callisto's ``/v1/threads/runs``).

    Each choice is a run on a new thread holding the step's context, with only the step's
    function and ``tool_choice`` forcing it; once its arguments are read the run is cancelled
    (the workflow, not the run, calls the function), and its token usage read when the
    cancellation has landed.

    Args:
        client: ``openai.OpenAI`` or ``openai.AsyncOpenAI`` pointed at Callisto.
        assistant_id: The assistant whose model chooses.
        poll_interval_ms: Polling interval; by default the server's hint.
    """

    def __init__(self, client: Any, *, assistant_id: str, poll_interval_ms: int | None = None):
        self.client = client
        self.assistant_id = assistant_id
        self.polling = {} if poll_interval_ms is None else {"poll_interval_ms": poll_interval_ms}

    async def choose(self, request: ChoiceRequest) -> Choice:
        """See :class:`ArgumentChooser`."""
        quiet_assistants_deprecation()
        beta = self.client.beta.threads
        run = await _call(
            beta.create_and_run_poll,
            assistant_id=self.assistant_id,
            thread={"messages": [{"role": "user", "content": request.prompt()}]},
            instructions=SYSTEM_PROMPT.format(function=request.tool.name),
            tools=[request.offered_tool()],
            tool_choice=request.tool_choice(),
            **self.polling,
        )
        calls = pending_calls(run) if run.status == "requires_action" else []
        if run.status == "requires_action":
            # Usage is reported once the run is over, so wait for the cancellation to land.
            await _call(beta.runs.cancel, run.id, thread_id=run.thread_id)
            run = await _call(beta.runs.poll, run.id, thread_id=run.thread_id, **self.polling)
        return _choice(request, calls, getattr(run, "usage", None))


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a sync or async SDK method without blocking the event loop."""
    # The SDK wraps its async methods in plain decorators; the function inside tells.
    if inspect.iscoroutinefunction(inspect.unwrap(function)):
        return await function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


def _choice(request: ChoiceRequest, calls: list[Any], usage: Any) -> Choice:
    parsed = [ToolCall.from_any(call) for call in calls]
    chosen = next((c for c in parsed if c.name == request.tool.name), None)
    if chosen is None:
        named = ", ".join(c.name for c in parsed) or "no function"
        raise NoChoice(f"the model called {named} instead of {request.tool.name}")
    return Choice(
        arguments=chosen.arguments,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
