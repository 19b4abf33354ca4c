"""What a step's function can know and ask while it runs: its idempotency key, and for input.

The runner sets the context around each call of a step's function; the executor carries it into
the worker thread of a sync tool, so both sync and async functions can read it::

    @tool
    def charge_payment(customer_id: str, amount: float) -> dict:
        '''Charge the customer.'''
        key = current_step().idempotency_key  # same on a retry and after a crash
        return payments.charge(customer_id, amount, idempotency_key=key)
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from callisto.tools.workflow.errors import WorkflowStateError


@dataclass(slots=True)
class StepContext:
    """The step a function runs for.

    Attributes:
        workflow_id: The run's id.
        step: The step's name.
        idempotency_key: The same for every call of this step in this run: retries, and the
            rerun after the process died mid-call. Pass it to services that deduplicate.
        attempt: 1 for the first call, 2 for the first retry, ...
        answer: The input given to the step (see :func:`ask_for_input`).
        answered: Whether an input was given.
        question: Set by :func:`ask_for_input` when the function asks.
    """

    workflow_id: str
    step: str
    idempotency_key: str
    attempt: int
    answer: Any = None
    answered: bool = False
    question: str | None = None


_CURRENT: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "callisto_workflow_step", default=None
)


def current_step() -> StepContext:
    """The context of the step whose function is running.

    Raises:
        WorkflowStateError: Called outside a workflow step.
    """
    context = _CURRENT.get()
    if context is None:
        raise WorkflowStateError("current_step() is only available inside a workflow step")
    return context


def set_current_step(context: StepContext) -> contextvars.Token[StepContext | None]:
    """Make ``context`` the current step (the runner's side of :func:`current_step`)."""
    return _CURRENT.set(context)


def reset_current_step(token: contextvars.Token[StepContext | None]) -> None:
    """Undo :func:`set_current_step`."""
    _CURRENT.reset(token)


class InputRequired(Exception):
    """Raised by :func:`ask_for_input` to stop the function until the input is given.

    Attributes:
        question: What to ask.
    """

    def __init__(self, question: str) -> None:
        super().__init__(question)
        self.question = question


def ask_for_input(question: str) -> Any:
    """Return the input given to this step, or stop the workflow to ask ``question``.

    The first call raises :class:`InputRequired`; the run rests in ``waiting_for_input`` with
    the question. ``resume(workflow_id, input=...)`` (from any process) runs the step again,
    with the same arguments and idempotency key, and this call then returns the input.

    Raises:
        InputRequired: No input was given yet (let it propagate).
        WorkflowStateError: Called outside a workflow step.
    """
    context = current_step()
    if context.answered:
        return context.answer
    context.question = question
    raise InputRequired(question)
