"""The lease a process holds on a run while it drives it, renewed in the background."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from types import TracebackType

from callisto.tools.workflow.errors import WorkflowStateError
from callisto.tools.workflow.store import CheckpointStore


class Lease:
    """Claims a run for this process, renews the claim every third of ``seconds``, releases it.

    Args:
        store: The run's store.
        run_id: The run.
        seconds: How long the claim lasts without renewal; a process that dies holds the run
            that long at most.

    Attributes:
        lost: Whether a renewal failed (the process stalled past the lease and another
            process took the run over).
    """

    def __init__(self, store: CheckpointStore, run_id: str, seconds: float) -> None:
        self.store = store
        self.run_id = run_id
        self.seconds = seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lost = False
        self._renewing: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lease:
        if not self.store.claim(self.run_id, self.owner, self.seconds):
            raise WorkflowStateError(
                f"workflow run {self.run_id!r} is being driven by another process (its lease "
                f"runs out {self.seconds:g} s after that process stops renewing it)"
            )
        self._renewing = asyncio.create_task(self._renew())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if not self.lost:
            self.store.release(self.run_id, self.owner)

    def lost_error(self) -> WorkflowStateError:
        """The error of a process whose lease another process took over; marks it lost."""
        self.lost = True
        return WorkflowStateError(
            f"this process lost its lease on workflow run {self.run_id!r} (it stalled for "
            f"over {self.seconds:g} s) and stopped; another process may be driving it"
        )

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            if not self.store.claim(self.run_id, self.owner, self.seconds):
                self.lost = True
                return
