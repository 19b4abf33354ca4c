"""What the Entities endpoints remember between requests, in this process only.

Entities' flow spreads one round of a run over several requests (stream, poll, one tool
output per call, stream again); the database holds the run, and this holds the glue: tools
created but not yet associated with an assistant, how far each run has been streamed, and tool
outputs that arrived while others of the same round are still missing. Losing it (a restart)
costs little: unassociated tools must be created again, a stream replays its run's latest turn,
and outputs of a half-answered round must be sent again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

MAX_REMEMBERED_RUNS = 10_000


@dataclass(slots=True)
class EntitiesMemory:
    """The per-app memory of the Entities endpoints.

    Attributes:
        tools: Tools created with ``POST /v1/tools``, by Entities id (Callisto tool form).
        streamed_to: Per run, the event sequence number its last Entities stream ended at.
        outputs: Per run, the tool outputs received for its pending calls, by call id.
    """

    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    streamed_to: OrderedDict[str, int] = field(default_factory=OrderedDict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def mark_streamed(self, run_id: str, seq: int) -> None:
        """Remember that ``run_id`` was streamed up to ``seq`` (oldest runs forgotten first)."""
        self.streamed_to[run_id] = seq
        self.streamed_to.move_to_end(run_id)
        while len(self.streamed_to) > MAX_REMEMBERED_RUNS:
            self.streamed_to.popitem(last=False)


def entities_memory(request: Request) -> EntitiesMemory:
    """Return the app's Entities memory, created on first use."""
    memory: EntitiesMemory | None = getattr(request.app.state, "entities", None)
    if memory is None:
        memory = EntitiesMemory()
        request.app.state.entities = memory
    return memory


Memory = Annotated[EntitiesMemory, Depends(entities_memory)]
