"""KeyResolver: which project a key acts in, and for how long a lookup is trusted (a clock the
test moves, a real SQLite database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from callisto.api.auth import KeyResolver
from callisto.store.database import create_engine, run_migrations, session_factory, sync_url
from callisto.store.projects import create_key, revoke_key

T = TypeVar("T")
_ENGINES: list[AsyncEngine] = []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    run_migrations(url)
    yield url
    while _ENGINES:
        await _ENGINES.pop().dispose()


def resolver(
    url: str, clock: Clock, *, keys: list[str] | None = None, open_allowed: bool = True
) -> KeyResolver:
    made = KeyResolver(keys or [], open_allowed=open_allowed, cache_seconds=5, clock=clock)
    engine = create_engine(url)
    _ENGINES.append(engine)
    made.sessions = session_factory(engine)
    return made


def write(url: str, work: Callable[[Session], T]) -> T:
    engine = create_sync_engine(sync_url(url))
    with Session(engine, expire_on_commit=False) as db, db.begin():
        result = work(db)
    engine.dispose()
    return result


async def test_configured_keys_are_the_default_project_and_others_are_refused(
    database: str,
) -> None:
    keys = resolver(database, Clock(), keys=["k1"])
    assert await keys.project_of(b"k1") == "default"
    assert await keys.project_of(b"k2") is None
    assert await keys.project_of(None) is None


async def test_a_stored_key_acts_in_its_project_until_revoked_and_the_cache_expires(
    database: str,
) -> None:
    clock = Clock()
    made = write(database, lambda db: create_key(db, "acme"))
    keys = resolver(database, clock)
    secret = made.secret.encode()
    assert await keys.project_of(secret) == "acme"
    write(database, lambda db: revoke_key(db, made.row.id))
    clock.now += 4.9
    assert await keys.project_of(secret) == "acme"  # trusted for key_cache_seconds
    clock.now += 0.2
    assert await keys.project_of(secret) is None


async def test_an_open_server_closes_once_a_key_is_stored(database: str) -> None:
    clock = Clock()
    keys = resolver(database, clock)
    assert await keys.project_of(None) == "default"
    assert await keys.project_of(b"anything") == "default"
    write(database, lambda db: create_key(db, "acme"))
    clock.now += 5.1
    assert await keys.project_of(None) is None
    assert await keys.project_of(b"anything") is None


async def test_without_open_allowed_no_key_means_no_entry(database: str) -> None:
    keys = resolver(database, Clock(), open_allowed=False)
    assert await keys.project_of(None) is None


async def test_revoking_every_key_does_not_open_the_server(database: str) -> None:
    clock = Clock()
    made = write(database, lambda db: create_key(db, "acme"))
    write(database, lambda db: revoke_key(db, made.row.id))
    keys = resolver(database, clock)
    assert await keys.project_of(made.secret.encode()) is None
    assert await keys.project_of(None) is None
