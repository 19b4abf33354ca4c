"""Leases: exactly one process executes a run's turn, and one that lost it writes nothing.

A turn begins by *claiming* its run (in the transaction that starts the turn): the run row
records the owner (this process), until when it holds the turn (``lease_until``), and a fencing
token (``turn_token``) that every claim raises. A claim is refused while another owner's lease
is live, and two claims racing each other conflict on the run's version, so one wins.

While it runs a turn, a process renews its leases with one statement for all of them
(:class:`LeaseKeeper`), and reads back each run's status in the same transaction: so a cancel or
an expiry written by any process reaches the turn within one heartbeat, and a run whose lease
was taken over, or which was deleted, is stopped.

Every write of a turn is fenced (:class:`FencedWriter`): the transaction checks the lease's
deadline, and the token: in the versioned UPDATE of the run when it changes the run, in the
INSERT itself for new rows (:meth:`FencedWriter.insert`), or else with a read. Every event a turn publishes is fenced by time (:class:`FencedEvents`):
a process that was frozen past its lease (SIGSTOP, a long GC pause) finds its lease expired by
its own monotonic clock before it appends anything, and stops. Another process can claim the
run only once ``lease_until`` has passed, which is later than that local deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from callisto.engine.events import EventLog, RunEvent
from callisto.store.models import Base, RunRow
from callisto.store.writer import Transaction, Writer, insert_row

T = TypeVar("T")
log = logging.getLogger("callisto.engine")

LostReason = Literal["cancel", "expire", "fenced", "gone"]
# A turn stops this long before its lease ends by the database's clock, so that clock skew
# between processes and the time of a heartbeat's round trip cannot let two writers overlap.
MARGIN = 1.0


class Fenced(Exception):
    """The turn's lease is lost (taken over, expired, or its run is gone): stop, write nothing."""


@dataclass(slots=True)
class Lease:
    """A process's hold on one run's turn.

    Attributes:
        run_id: The run.
        token: The fencing token of this claim.
        deadline: ``time.monotonic()`` past which the holder must assume the lease is lost.
    """

    run_id: str
    token: int
    deadline: float

    def check(self) -> None:
        """Raise :class:`Fenced` when the lease may have ended."""
        if time.monotonic() >= self.deadline:
            raise Fenced(f"the lease on run {self.run_id} ran out")


def new_owner() -> str:
    """Return a name for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def claim(db: Session, run: RunRow, owner: str, seconds: float) -> Lease | None:
    """Take the lease of ``run`` for ``owner`` (in the transaction that begins a turn).

    Returns ``None`` when another owner's lease is still live: that process executes the turn.
    """
    now = time.time()
    if run.lease_owner not in (None, owner) and (run.lease_until or 0.0) > now:
        return None
    run.turn_token = (run.turn_token or 0) + 1
    run.lease_owner, run.lease_until = owner, now + seconds
    return Lease(run.id, run.turn_token, time.monotonic() + seconds - MARGIN)


def release(run: RunRow) -> None:
    """Give up the run's lease (in the transaction that brings the run to rest)."""
    run.lease_owner = run.lease_until = None


def check_token(db: Session, lease: Lease) -> None:
    """Raise :class:`Fenced` unless ``lease`` still holds the run (in the writing transaction).

    The token is read without a row lock (locks taken in a different order by another
    process's batch could deadlock), so the lease's own deadline closes the gap: another
    process can claim the run only after ``lease_until``, which is at least ``MARGIN`` seconds
    past the deadline checked here, and the transaction commits well within that.
    """
    lease.check()
    token = db.scalar(select(RunRow.turn_token).where(RunRow.id == lease.run_id))
    if token != lease.token:
        raise Fenced(f"run {lease.run_id} was taken over or deleted")


def fenced_by_version(db: Session, lease: Lease) -> bool:
    """Return whether the commit's UPDATE of the run checks ``lease`` (no read needed).

    A transaction that changes the run writes it with its version check: the UPDATE matches
    only the version the row had when this process last wrote or read it, with this lease's
    token, and every claim changes the version. So the UPDATE fails (``StaleDataError``) when
    the run was taken over meanwhile, as the token check would. A run the transaction did not
    change, or changed and flushed already, is checked by :func:`check_token` instead.
    """
    run = db.identity_map.get(identity_key(RunRow, lease.run_id))
    if not isinstance(run, RunRow) or not db.is_modified(run):
        return False
    if run.turn_token != lease.token:
        raise Fenced(f"run {lease.run_id} was taken over")
    return True


class FencedWriter:
    """The store writer as one turn sees it: each transaction first checks the turn's token."""

    def __init__(self, writer: Writer, lease: Lease) -> None:
        """Fence ``writer``'s transactions with ``lease``."""
        self.writer = writer
        self.lease = lease

    async def run(self, transaction: Transaction[T], *, durable: bool = True) -> T:
        """Run ``transaction`` if, when it runs, the lease still holds the run.

        Raises:
            Fenced: The lease is lost; nothing was written.
        """
        self.lease.check()
        lease = self.lease

        def fenced(db: Session) -> T:
            lease.check()
            value = transaction(db)
            if not fenced_by_version(db, lease):
                check_token(db, lease)
            return value

        try:
            return await self.writer.run(fenced, durable=durable)
        except StaleDataError:
            # The run changed under the turn: taken over (fenced), or cancelled or expired.
            token = await self.writer.run(
                lambda db: db.scalar(select(RunRow.turn_token).where(RunRow.id == lease.run_id))
            )
            if token != lease.token:
                raise Fenced(f"run {lease.run_id} was taken over or deleted") from None
            raise

    async def insert(self, rows: Sequence[Base], *, durable: bool = True) -> None:
        """Insert new ``rows`` if, when the transaction runs, the lease still holds the run.

        The first row's INSERT checks the token itself (``INSERT ... SELECT ... WHERE`` the run
        has it): no read first. Once committed, the rows are detached as if loaded.

        Raises:
            Fenced: The lease is lost; nothing was written.
        """
        self.lease.check()
        lease = self.lease
        holds = {"lease_run": lease.run_id, "lease_token": lease.token}

        def add(db: Session) -> None:
            lease.check()
            first, *rest = rows
            if not insert_row(db, first, only_if=_HOLDS, params=holds):
                raise Fenced(f"run {lease.run_id} was taken over or deleted")
            for row in rest:
                insert_row(db, row)

        await self.writer.run(add, durable=durable)
        for row in rows:
            make_transient_to_detached(row)


# Whether the lease's run still has its token; built once (see insert_row's ``params``).
_HOLDS = exists().where(
    RunRow.id == bindparam("lease_run"), RunRow.turn_token == bindparam("lease_token")
)


class FencedEvents:
    """The event log as one turn sees it: nothing is appended once the lease may have ended."""

    def __init__(self, events: EventLog, lease: Lease) -> None:
        """Fence appends to ``events`` with ``lease``."""
        self.events = events
        self.lease = lease

    async def append(self, run_id: str, event: str, data: Any) -> int:
        """Append, unless the lease may have ended (then raise :class:`Fenced`)."""
        self.lease.check()
        return await self.events.append(run_id, event, data)

    async def last_seq(self, run_id: str) -> int:
        """Return the run's newest sequence number."""
        return await self.events.last_seq(run_id)

    def read_from(
        self, run_id: str, after: int = 0, *, keepalive: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        """Read the run's events (unfenced: reading writes nothing)."""
        return self.events.read_from(run_id, after, keepalive=keepalive)

    async def close(self, run_id: str) -> None:
        """Close the run's log, unless the lease may have ended."""
        self.lease.check()
        await self.events.close(run_id)

    async def aclose(self) -> None:
        """Nothing to release: the log belongs to the process."""


class LeaseKeeper:
    """Holds this process's leases: renews them and reports runs changed elsewhere.

    Args:
        writer: The store writer (a heartbeat is one small transaction).
        seconds: How long a lease lasts without renewal; a dead process's turn is taken over
            after that.
        interval: Seconds between heartbeats, which is also how soon a cancel or expiry
            written by another process reaches a turn here.
        owner: This process's name in ``runs.lease_owner``.
    """

    def __init__(
        self, writer: Writer, *, seconds: float, interval: float, owner: str | None = None
    ) -> None:
        """Create a keeper; :meth:`start` starts its heartbeat."""
        self.writer = writer
        self.seconds = seconds
        self.interval = interval
        self.owner = owner or new_owner()
        self.held: dict[str, Lease] = {}
        self.on_lost: Callable[[str, LostReason], object] = lambda _run, _why: None
        self._task: asyncio.Task[None] | None = None

    def claim(self, db: Session, run: RunRow) -> Lease | None:
        """Claim ``run`` for this process (see :func:`claim`)."""
        return claim(db, run, self.owner, self.seconds)

    def hold(self, lease: Lease) -> None:
        """Keep ``lease`` renewed until :meth:`drop`."""
        self.held[lease.run_id] = lease

    def drop(self, run_id: str) -> None:
        """Stop renewing the lease of ``run_id``."""
        self.held.pop(run_id, None)

    def start(self) -> None:
        """Start the heartbeat (call from the event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._beat_forever(), name="callisto:leases")

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except Exception as exc:  # the next beat retries; a lost lease fences the turn
                log.warning("lease heartbeat failed: %s", exc)

    async def beat(self) -> None:
        """Renew every held lease and act on what changed elsewhere."""
        held = dict(self.held)
        if not held:
            return
        sent = time.monotonic()
        owner, until = self.owner, time.time() + self.seconds
        ids = list(held)

        def renew(db: Session) -> dict[str, tuple[str, int, str | None]]:
            db.execute(
                update(RunRow)
                .where(RunRow.id.in_(ids), RunRow.lease_owner == owner)
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            )
            rows = db.execute(
                select(RunRow.id, RunRow.status, RunRow.turn_token, RunRow.lease_owner).where(
                    RunRow.id.in_(ids)
                )
            )
            return {r.id: (r.status, r.turn_token, r.lease_owner) for r in rows}

        seen = await self.writer.run(renew, durable=False, retry=True)
        for run_id, lease in held.items():
            state = seen.get(run_id)
            if state is None:
                self._lost(run_id, "gone")  # deleted with its thread
                continue
            status, token, holder = state
            if holder is None and token == lease.token:
                continue  # the turn brought its run to rest and is publishing that
            if token != lease.token or holder != owner:
                self._lost(run_id, "fenced")
                continue
            lease.deadline = sent + self.seconds - MARGIN
            if status == "cancelling":
                self._lost(run_id, "cancel")
            elif status == "expired":
                self._lost(run_id, "expire")

    def _lost(self, run_id: str, reason: LostReason) -> None:
        if self.held.get(run_id) is not None:
            self.on_lost(run_id, reason)

    async def aclose(self) -> None:
        """Stop the heartbeat and give up this process's leases (a shutdown).

        The turns were stopped first; their runs are free at once for the next process to
        take over, instead of after their leases run out.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        owner = self.owner

        def give_up(db: Session) -> None:
            db.execute(
                update(RunRow)
                .where(RunRow.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0)
                .execution_options(synchronize_session=False)
            )

        try:
            await self.writer.run(give_up, retry=True)
        except Exception as exc:  # the leases then run out by themselves
            log.warning("could not give up leases at shutdown: %s", exc)
