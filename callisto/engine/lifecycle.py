"""The run lifecycle: one transition table and the one function that applies it.

No other code assigns ``RunRow.status``. A transition from a state the table does not allow is
an error (:class:`IllegalTransition`), never a silent overwrite.
"""

from __future__ import annotations

import time

from callisto import telemetry
from callisto.errors import ConflictingState
from callisto.ids import id_time_ms
from callisto.store.models import TERMINAL_RUN_STATUSES, RunRow

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"in_progress", "cancelling", "expired", "failed"}),
    "in_progress": frozenset(
        {"requires_action", "completed", "failed", "incomplete", "cancelling", "expired"}
    ),
    "requires_action": frozenset({"queued", "expired", "cancelling", "failed"}),
    "cancelling": frozenset({"cancelled", "failed", "expired"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
    "expired": frozenset(),
    "incomplete": frozenset(),
}

# The timestamp each status stamps when it is entered.
STAMPS: dict[str, str] = {
    "in_progress": "started_at",
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "incomplete": "completed_at",
}


class IllegalTransition(ConflictingState):
    """A status change the lifecycle table does not allow."""


def is_terminal(status: str) -> bool:
    """Return whether ``status`` is final."""
    return status in TERMINAL_RUN_STATUSES


def transition(run: RunRow, to: str, *, now: float | None = None) -> None:
    """Move ``run`` to status ``to``, stamping the matching timestamp.

    Leaving ``requires_action`` clears ``required_action``; entering a terminal status clears
    ``expires_at``, as the API does.

    Args:
        run: The run row (its change is written by the caller's commit).
        to: The new status.
        now: The current time in seconds (for tests).

    Raises:
        IllegalTransition: ``to`` cannot follow the run's current status.
    """
    allowed = TRANSITIONS.get(run.status, frozenset())
    if to not in allowed:
        raise IllegalTransition(f"Cannot move run {run.id} from '{run.status}' to '{to}'.")
    stamp = int(now if now is not None else time.time())
    previous = run.status
    telemetry.run_transition(run, previous, to, is_terminal(to), id_time_ms)
    run.status = to
    field = STAMPS.get(to)
    if field == "started_at":
        # A run resumed after tool outputs keeps its first start time.
        if run.started_at is None:
            run.started_at = stamp
    elif field is not None:
        setattr(run, field, stamp)
    if previous == "requires_action":
        run.required_action = None
    if is_terminal(to):
        run.expires_at = None
