"""Pieces the run and chat drivers share: SDK quirks, pending calls, round limits."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from callisto.tools.executor import ToolExecutor
from callisto.tools.results import ToolResult
from callisto.tools.toolbox import Toolbox

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
TextCallback = Callable[[str], object]


def quiet_assistants_deprecation() -> None:
    """Silence the SDK's "Assistants API is deprecated" warning, and only that one.

    openai-python marks every ``beta.threads`` method deprecated, and the warning fires on each
    call, also for calls the SDK's own helpers make inside ``create_and_poll`` after an
    ``await``, so a local ``catch_warnings`` can't cover them. Programs using these drivers have
    chosen the Assistants API on purpose, so a filter on that message alone is installed
    (installing it again is a no-op).
    """
    warnings.filterwarnings(
        "ignore",
        message=r"The Assistants API is deprecated",
        category=DeprecationWarning,
    )


@contextlib.contextmanager
def executor_for(tools: Toolbox | ToolExecutor) -> Iterator[ToolExecutor]:
    """Use the executor given, or a default one over the toolbox given (closed afterwards)."""
    if isinstance(tools, ToolExecutor):
        yield tools
        return
    executor = ToolExecutor(tools)
    try:
        yield executor
    finally:
        executor.close()


def pending_calls(run: Any) -> list[Any]:
    """The tool calls a ``requires_action`` run waits on."""
    action = run.required_action
    if action is None or action.submit_tool_outputs is None:
        return []
    return list(action.submit_tool_outputs.tool_calls)


def tool_outputs(results: list[ToolResult]) -> list[dict[str, str]]:
    """The ``tool_outputs`` body of ``submit_tool_outputs``."""
    return [result.tool_output() for result in results]


def text_of_event(event: Any) -> list[str]:
    """The text fragments of a ``thread.message.delta`` stream event (none for other events)."""
    if getattr(event, "event", None) != "thread.message.delta":
        return []
    parts = getattr(event.data.delta, "content", None) or []
    return [
        part.text.value
        for part in parts
        if getattr(part, "type", None) == "text" and part.text is not None and part.text.value
    ]


def poll_options(poll_interval_ms: int | None) -> dict[str, Any]:
    """Pass ``poll_interval_ms`` only when set, so the server's ``openai-poll-after-ms`` rules."""
    return {} if poll_interval_ms is None else {"poll_interval_ms": poll_interval_ms}
