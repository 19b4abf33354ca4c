"""Errors the client toolkit raises to its caller (never to the model).

Problems the model causes (a bad argument, an unknown tool) are not exceptions: they come back
as a :class:`callisto.tools.results.ToolResult` with an error code, so the model can fix them.
The exceptions here are for the program using the toolkit::

    CallistoError
    └── ToolkitError
        ├── ToolSignatureError     a function can't become a tool (all problems listed at once)
        ├── ToolDefinitionError    a dict definition is not usable, or a name is taken
        └── ToolLoopError          a driver loop ended without an answer
            └── MaxRoundsExceeded  ... because the model kept calling tools
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.errors import CallistoError


class ToolkitError(CallistoError):
    """Base of the errors raised by ``callisto.tools``."""


class ToolSignatureError(ToolkitError, TypeError):
    """A function's signature can't be described to a model.

    Attributes:
        function_name: The qualified name of the function.
        problems: Every problem found, so one pass fixes them all.
    """

    def __init__(self, function_name: str, problems: Sequence[str]) -> None:
        self.function_name = function_name
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{function_name} can't be used as a tool:\n{lines}")


class ToolDefinitionError(ToolkitError, ValueError):
    """A tool definition given as a dict is unusable, or its name is already registered."""


class ToolLoopError(ToolkitError):
    """A driver loop ended without a final answer.

    Attributes:
        last: The last run or completion seen, for inspection.
    """

    def __init__(self, message: str, *, last: object = None) -> None:
        super().__init__(message)
        self.last = last


class MaxRoundsExceeded(ToolLoopError):
    """The model was still calling tools when the round limit was reached."""
