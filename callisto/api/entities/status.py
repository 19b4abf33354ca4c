"""Run statuses in Entities' words.

Entities V1 names its run statuses differently from the Assistants API (``action_required``,
not ``requires_action``) and has no ``cancelling`` or ``incomplete``. The SDK validates every
run it reads against its own enum, so each Callisto status maps to one Entities word.
"""

from __future__ import annotations

ENTITIES_STATUS: dict[str, str] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "requires_action": "action_required",
    # Entities has no "cancelling": the run is still moving, and ends "cancelled".
    "cancelling": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
    # Entities has no "incomplete": the run ended; incomplete_details says why it stopped early.
    "incomplete": "completed",
}


def entities_status(status: str) -> str:
    """Return the Entities word for a Callisto run status."""
    return ENTITIES_STATUS[status]
