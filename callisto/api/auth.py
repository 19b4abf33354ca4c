"""Which project a request acts in, from the API key it presents.

A key of ``CALLISTO_API_KEY`` acts in the ``default`` project. Any other key is looked up, by
its SHA-256, among the keys ``callisto keys create`` stored in the database. A server with
neither kind of key runs open (on loopback, or with ``allow_open``): every request acts in the
``default`` project, whatever key it shows. The first key created turns authentication on, and
revoking keys never turns it off.

Lookups are cached in this process for ``key_cache_seconds`` (found and not found alike,
and whether the database holds any key at all), so a key created or revoked with the command
takes effect within that many seconds, without a database read per request.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from callisto.store.models import DEFAULT_PROJECT
from callisto.store.projects import any_key, key_hash, project_of_key

MAX_CACHED_KEYS = 10_000
"""Key lookups remembered at once; the least recently used is forgotten first."""

T = TypeVar("T")


class KeyResolver:
    """Find the project of a presented key (see the module's docstring for the rules).

    Args:
        keys: The keys of ``CALLISTO_API_KEY`` (the ``default`` project's).
        open_allowed: Whether the server may run open when it has no key at all.
        cache_seconds: How long a lookup in the database is trusted.
        clock: Monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        keys: list[str],
        *,
        open_allowed: bool,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Resolve against ``keys`` and, once :attr:`sessions` is set, the database."""
        self.keys = [k.encode() for k in keys]
        self.open_allowed = open_allowed
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.sessions: async_sessionmaker[Any] | None = None
        self._found: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._any_key: tuple[bool, float] = (False, float("-inf"))

    async def project_of(self, presented: bytes | None) -> str | None:
        """Return the project the request acts in, ``None`` when it must be refused.

        Raises:
            Exception: The database could not be read (the caller answers 503).
        """
        if presented is not None:
            # Compare against every configured key in constant time so the answer leaks nothing.
            if any(hmac.compare_digest(presented, key) for key in self.keys):
                return DEFAULT_PROJECT
            project = await self._stored_project(key_hash(presented))
            if project is not None:
                return project
        if await self.is_open():
            return DEFAULT_PROJECT
        return None

    async def is_open(self) -> bool:
        """Whether requests need no key: none configured, none ever stored, open allowed."""
        if self.keys or not self.open_allowed:
            return False
        held, until = self._any_key
        now = self.clock()
        if now >= until:
            held = await self._read(any_key)
            self._any_key = (held, now + self.cache_seconds)
        return not held

    async def _stored_project(self, digest: str) -> str | None:
        now = self.clock()
        cached = self._found.get(digest)
        if cached is not None and now < cached[1]:
            self._found.move_to_end(digest)
            return cached[0]
        project = await self._read(lambda db: project_of_key(db, digest))
        self._found[digest] = (project, now + self.cache_seconds)
        self._found.move_to_end(digest)
        while len(self._found) > MAX_CACHED_KEYS:
            self._found.popitem(last=False)
        return project

    async def _read(self, query: Callable[[Session], T]) -> T:
        if self.sessions is None:
            raise RuntimeError("the key resolver is used before the server started")
        async with self.sessions() as db:
            result: T = await db.run_sync(query)
            return result
