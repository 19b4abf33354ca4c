"""Dispatch: who executes a run's next turn.

:class:`EmbeddedDispatcher` runs turns as asyncio tasks of this process, at most
``max_concurrent`` at once: the server's runner in the embedded mode, and the executor of a
``callisto worker`` in the scaled mode. :class:`callisto.engine.jobs.QueueDispatcher` (the API
processes of the scaled mode) executes nothing: it enqueues a job for the workers in the same
transaction as the change that needs the turn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from callisto import telemetry
from callisto.engine.leases import Fenced, LostReason
from callisto.engine.runner import Begin, TurnRunner

log = logging.getLogger("callisto.engine")

StopReason = LostReason | Literal["shutdown"]
# Seconds before a turn stopped by a database error runs again (the writer reconnects).
RESTART_DELAY = 0.5


class Dispatcher(Protocol):
    """Hands runs to runners."""

    executes: bool
    """Whether this process executes turns (and so sweeps and takes over runs)."""

    def enqueue_in(self, db: Session, run_id: str) -> None:
        """Record, in the caller's transaction, that ``run_id`` needs a turn."""
        ...

    async def reserve(self, run_id: str) -> bool:
        """Take a free slot for ``run_id`` now, if this process has one."""
        ...

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve`."""
        ...

    def submit(self, run_id: str, begun: Begin | None = None) -> None:
        """Schedule the next turn of ``run_id`` (after the transaction committed)."""
        ...

    def is_executing(self, run_id: str) -> bool:
        """Return whether a turn of ``run_id`` executes in this process."""
        ...

    @property
    def active(self) -> int:
        """Return how many turns this process executes or has waiting."""
        ...

    def interrupt(self, run_id: str, reason: StopReason) -> bool:
        """Stop the turn of ``run_id`` if one is executing; return whether one was."""
        ...

    async def drain(self) -> None:
        """Wait until no turn is executing or waiting (for tests and shutdown)."""
        ...

    async def aclose(self) -> None:
        """Stop every turn; runs stay as they are in the database, to be resumed."""
        ...


class EmbeddedDispatcher:
    """Executes turns as tasks of this process's event loop."""

    executes = True

    def __init__(self, runner: TurnRunner, max_concurrent: int) -> None:
        """Create a dispatcher running at most ``max_concurrent`` turns at once."""
        self.runner = runner
        runner.leases.on_lost = self.interrupt
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._reasons: dict[str, StopReason] = {}
        self._again: set[str] = set()
        telemetry.track_in_flight(self)

    def enqueue_in(self, db: Session, run_id: str) -> None:
        """Nothing to record: this process starts the turn once the transaction commits."""

    async def reserve(self, run_id: str) -> bool:
        """Take a free slot for ``run_id`` now, if there is one and no task of it is finishing.

        Never waits for a slot. The caller then begins the turn in its own transaction and
        hands it over with :meth:`submit` (``begun=``), or gives the slot back with
        :meth:`release`.
        """
        if run_id in self._tasks or self._slots.locked():
            return False
        await self._slots.acquire()  # not locked: returns at once
        return True

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve` and not used."""
        self._slots.release()

    def submit(self, run_id: str, begun: Begin | None = None) -> None:
        """Start a task for ``run_id``, or mark it to go again if one is finishing.

        With ``begun`` (a turn begun in a reserved slot), the task runs that turn in the slot;
        if a task of the run exists meanwhile, the slot is given back and the run goes again
        after it (its next turn claims the run afresh).
        """
        if run_id in self._tasks:
            if begun is not None:
                self._slots.release()
            self._again.add(run_id)
            return
        holds_slot = begun is not None
        coroutine = self._guarded(run_id, begun) if begun is not None else self._execute(run_id)
        task = asyncio.create_task(coroutine, name=f"run:{run_id}")
        self._tasks[run_id] = task
        # Released by the callback, not by the coroutine: a task cancelled before it ever ran
        # executes none of its body, and must not keep its slot.
        task.add_done_callback(lambda t: self._done(run_id, t, holds_slot))

    def _done(self, run_id: str, task: asyncio.Task[None], holds_slot: bool) -> None:
        if holds_slot:
            self._slots.release()
        if self._tasks.get(run_id) is task:
            del self._tasks[run_id]
        reason = self._reasons.pop(run_id, None)
        if task.cancelled() and reason in ("cancel", "expire"):
            # It may have been cancelled before it could settle the run: a next turn does
            # (finding the run at rest already, it does nothing).
            self._again.add(run_id)
        if run_id in self._again:
            self._again.discard(run_id)
            self.submit(run_id)

    async def _execute(self, run_id: str) -> None:
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            # Cancelled or expired while waiting for a slot: bring the run to rest anyway.
            if self._reasons.get(run_id) in ("cancel", "expire"):
                await asyncio.shield(self.runner.settle(run_id))
            raise
        try:
            await self._guarded(run_id, None)
        finally:
            self._slots.release()

    async def run_turn(self, run_id: str) -> None:
        """Execute the next turn of ``run_id`` here and wait for it (a worker's job)."""
        self.submit(run_id)
        task = self._tasks.get(run_id)
        if task is not None:
            # A turn stopped by a cancel or an expiry ends its job normally.
            await asyncio.gather(task, return_exceptions=True)

    async def _guarded(self, run_id: str, begun: Begin | None) -> None:
        try:
            await self.runner.execute(run_id, begun)
        except Fenced as exc:
            log.warning("run %s: turn stopped without writing: %s", run_id, exc)
        except (OperationalError, PoolTimeout) as exc:
            # The database dropped the connection, chose this transaction as a deadlock's
            # victim, or had no free connection: nothing of the failed write was saved, and the
            # turn can simply run again.
            log.warning(
                "run %s: turn restarts after a database error: %s", run_id, _first_line(exc)
            )
            asyncio.get_running_loop().call_later(RESTART_DELAY, self.submit, run_id)
        except asyncio.CancelledError:
            reason = self._reasons.get(run_id, "shutdown")
            if reason in ("cancel", "expire"):
                # The final write must happen even though this task is being cancelled.
                await asyncio.shield(self.runner.settle(run_id))
            elif reason == "gone":
                # The run was deleted with its thread: end its streams.
                await asyncio.shield(self.runner.events.close(run_id))
            raise
        except Exception:
            log.exception("run %s: turn crashed", run_id)
            await asyncio.shield(
                self.runner.fail(
                    run_id, "server_error", "Callisto had an internal error running this turn."
                )
            )

    def interrupt(self, run_id: str, reason: StopReason) -> bool:
        """Cancel the task of ``run_id``; it settles the run according to ``reason``."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        self._reasons[run_id] = reason
        task.cancel()
        return True

    def is_executing(self, run_id: str) -> bool:
        """Return whether a turn of ``run_id`` is executing or waiting for a slot."""
        return run_id in self._tasks

    @property
    def active(self) -> int:
        """Return how many turns are executing or waiting for a slot."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every task, including ones started meanwhile, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every task as a shutdown: the runs are resumed at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0]
