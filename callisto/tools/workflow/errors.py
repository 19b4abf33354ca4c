"""Errors a workflow raises to the program running it (a step's own failure is in the trace).

::

    ToolkitError
    └── WorkflowError
        ├── WorkflowDefinitionError   the steps don't form a runnable workflow (every problem listed)
        ├── ExpressionError           a condition or binding can't be used (parse or evaluation)
        └── WorkflowStateError        the workflow can't do that now (unknown id, finished, ...)
"""

from __future__ import annotations

from collections.abc import Sequence

from callisto.tools.errors import ToolkitError


class WorkflowError(ToolkitError):
    """Base of the workflow errors."""


class WorkflowDefinitionError(WorkflowError, ValueError):
    """The workflow's definition is unusable.

    Attributes:
        workflow: The workflow's name.
        problems: Every problem found, so one pass fixes them all.
    """

    def __init__(self, workflow: str, problems: Sequence[str]) -> None:
        self.workflow = workflow
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"workflow {workflow!r} is not valid:\n{lines}")


class ExpressionError(WorkflowError, ValueError):
    """An expression does not parse, uses something it may not, or fails when evaluated."""


class WorkflowStateError(WorkflowError):
    """The workflow is not in a state that allows the request (unknown, finished, not waiting)."""
