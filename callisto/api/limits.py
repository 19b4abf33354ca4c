"""Per-client limits: requests per second and runs in flight, answered 429 in OpenAI's shape.

A client is its API key, or its address when the server runs open. Both limits are kept in
this process: with several processes behind one address, each enforces its own share.

* Requests per second: a token bucket per client (``rate`` tokens a second, at most ``burst``
  saved up). An empty bucket answers 429 with ``Retry-After``, the seconds until a token is
  back.
* Runs in flight: the runs a client created that are not yet finished (queued, in progress,
  waiting for tool outputs, cancelling). A request that would create one more than the limit
  answers 429. The ids of a client's runs are read from the answers to its run-creating
  requests; whether they are still active is asked of the database, only when a new run is
  requested and only for that client's runs.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callisto.api.middleware import presented_key, send_error
from callisto.store.models import ACTIVE_RUN_STATUSES, RunRow

RUNS_RETRY_AFTER = 1
"""Seconds a client over its runs-in-flight limit is asked to wait."""

MAX_CLIENTS = 10_000
"""Clients remembered at once; the least recently seen is forgotten first."""

# POST routes that create a run.
_RUN_CREATING = re.compile(r"^/v1/threads/(runs|[^/]+/runs)$|^/entities/v1/runs$")
_RUN_ID = re.compile(rb'"id":\s*"(run_[A-Za-z0-9_-]+)"')
_SCANNED_BYTES = 65_536


@dataclass(slots=True)
class _Client:
    tokens: float
    refilled: float
    runs: set[str] = field(default_factory=set)
    creating: int = 0  # run-creating requests under way


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force; zero turns one off.

    Attributes:
        requests_per_second: Sustained requests a second per client.
        burst: Requests a client may make at once after a quiet spell.
        runs_in_flight: Unfinished runs per client.
    """

    requests_per_second: float
    burst: int
    runs_in_flight: int

    @property
    def enabled(self) -> bool:
        """Whether any limit is on."""
        return self.requests_per_second > 0 or self.runs_in_flight > 0


def client_of(scope: Scope) -> str:
    """Return who a request counts against: its API key, or its address without one."""
    key = presented_key(scope)
    if key is not None:
        return "key:" + key.decode("latin-1")
    client = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")


class RateLimitMiddleware:
    """Answer 429 to a client over its request rate or its runs in flight.

    Args:
        app: The app to wrap.
        limits: The limits in force.
        active_runs: Returns which of the given run ids are still active (a database read).
        clock: Monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: Limits,
        active_runs: Callable[[set[str]], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap ``app``."""
        self.app = app
        self.limits = limits
        self.active_runs = active_runs
        self.clock = clock
        self.clients: OrderedDict[str, _Client] = OrderedDict()

    def _client(self, name: str) -> _Client:
        client = self.clients.get(name)
        if client is None:
            client = _Client(tokens=float(self.limits.burst), refilled=self.clock())
            self.clients[name] = client
            while len(self.clients) > MAX_CLIENTS:
                self.clients.popitem(last=False)
        self.clients.move_to_end(name)
        return client

    def _take_token(self, client: _Client) -> float | None:
        """Take one request token; return the seconds to wait when there is none."""
        rate = self.limits.requests_per_second
        if rate <= 0:
            return None
        now = self.clock()
        client.tokens = min(self.limits.burst, client.tokens + (now - client.refilled) * rate)
        client.refilled = now
        if client.tokens >= 1:
            client.tokens -= 1
            return None
        return (1 - client.tokens) / rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request against its client, then pass it on or answer 429."""
        if scope["type"] != "http" or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        client = self._client(client_of(scope))
        wait = self._take_token(client)
        if wait is not None:
            await _too_many(
                send,
                f"Rate limit reached: {self.limits.requests_per_second:g} requests per second "
                f"(bursts of {self.limits.burst}). Please try again in {wait:.2f}s.",
                math.ceil(wait),
            )
            return
        limit = self.limits.runs_in_flight
        if limit <= 0 or scope["method"] != "POST" or not _RUN_CREATING.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        if client.runs:
            checked = set(client.runs)
            # In place: runs noted by other requests meanwhile must stay.
            client.runs -= checked - set(await self.active_runs(checked))
        if len(client.runs) + client.creating >= limit:
            await _too_many(
                send,
                f"Too many runs in flight: the limit is {limit} unfinished runs per API key. "
                "Please try again when one has finished.",
                RUNS_RETRY_AFTER,
            )
            return
        client.creating += 1
        try:
            await self.app(scope, receive, _RunIdReader(send, client.runs))
        finally:
            client.creating -= 1


class _RunIdReader:
    """Passes a response on, noting the id of the run it creates."""

    def __init__(self, send: Send, runs: set[str]) -> None:
        self.send = send
        self.runs = runs
        self.ok = False
        self.seen = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.ok = message["status"] == 200
        elif self.ok and message["type"] == "http.response.body":
            # Scanned across chunk boundaries, in the first bytes only (a stream's first events).
            self.seen = (self.seen + message.get("body", b""))[:_SCANNED_BYTES]
            found = _RUN_ID.search(self.seen)
            if found is not None:
                self.runs.add(found.group(1).decode())
                self.ok = False
            elif len(self.seen) >= _SCANNED_BYTES:
                self.ok = False
        await self.send(message)


async def _too_many(send: Send, message: str, retry_after: int) -> None:
    await send_error(
        send,
        429,
        message,
        "requests",
        code="rate_limit_exceeded",
        headers=[(b"retry-after", str(max(1, retry_after)).encode())],
    )


def database_active_runs(app: Any) -> Callable[[set[str]], Any]:
    """Return a reader of which run ids are still active, through the app's sessions."""

    async def active(run_ids: set[str]) -> list[str]:
        sessions = app.state.callisto.sessions
        query = select(RunRow.id).where(
            RunRow.id.in_(sorted(run_ids)), RunRow.status.in_(ACTIVE_RUN_STATUSES)
        )
        async with sessions() as db:
            return list((await db.scalars(query)).all())

    return active
