"""Gates: policies that may refuse a call before it runs, and the allowlist gate.

A gate looks at a :class:`ToolRequest` (the call, its tool, the caller, the parsed arguments)
and returns a :class:`Denial` or ``None``. The executor asks its gates in order and stops at the
first denial, so gates compose by listing them; put gates with side effects (the rate limiter
takes a token) last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from callisto.tools.results import ErrorCode, ToolCall
from callisto.tools.tool import Tool

ANY_TOOL = "*"


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """A call about to be validated and run.

    Attributes:
        call: The call as the model sent it.
        tool: The tool it names.
        caller: Who the call runs for (a user, tenant or assistant id), if known.
        arguments: The parsed arguments object (not yet validated against the schema).
    """

    call: ToolCall
    tool: Tool[..., Any]
    caller: str | None
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Denial:
    """A gate's refusal.

    Attributes:
        code: The error code the call ends with.
        message: What the model should know (or do instead).
    """

    code: ErrorCode
    message: str


class Gate(Protocol):
    """A policy consulted before a call runs."""

    def check(self, request: ToolRequest) -> Denial | None:
        """Return a :class:`Denial` to refuse the call, ``None`` to let it through."""
        ...


class Allowlist:
    """Lets each caller use only the tools listed for it.

    Args:
        allowed: Caller -> tool names it may call; ``"*"`` among the names allows every tool.
        default: Tool names for callers not in ``allowed`` (and for calls with no caller).
            Empty by default: an unknown caller may call nothing.
    """

    def __init__(
        self, allowed: Mapping[str, Iterable[str]], *, default: Iterable[str] = ()
    ) -> None:
        self._allowed = {caller: frozenset(names) for caller, names in allowed.items()}
        self._default = frozenset(default)

    def permits(self, caller: str | None, tool_name: str) -> bool:
        """Whether ``caller`` may call ``tool_name``."""
        names = self._allowed.get(caller, self._default) if caller is not None else self._default
        return ANY_TOOL in names or tool_name in names

    def check(self, request: ToolRequest) -> Denial | None:
        """Refuse tools not allowed to the request's caller with ``FORBIDDEN``."""
        if self.permits(request.caller, request.tool.name):
            return None
        return Denial(
            ErrorCode.FORBIDDEN,
            f"You may not call {request.tool.name!r} here. Answer without it or use another tool.",
        )
