"""Test databases: a fresh SQLite file, or a fresh PostgreSQL schema when a server is reachable."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def postgres_base_url() -> str:
    """Return the PostgreSQL URL tests use (env ``CALLISTO_TEST_POSTGRES_URL``)."""
    return os.environ.get("CALLISTO_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_unavailable_reason() -> str | None:
    """Return why PostgreSQL cannot be used for tests, or ``None`` when it can."""
    import psycopg

    url = postgres_base_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {exc})".strip()
    return None


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """Create a schema of its own for one test run; yield a URL that uses it; drop it after."""
    import psycopg

    base = postgres_base_url()
    schema = "callisto_test_" + secrets.token_hex(6)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def redis_url() -> str:
    """Return the Redis URL tests use (env ``CALLISTO_TEST_REDIS_URL``)."""
    return os.environ.get("CALLISTO_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def redis_unavailable_reason() -> str | None:
    """Return why Redis cannot be used for tests, or ``None`` when it can."""
    import redis

    url = redis_url()
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis at {url} is not reachable ({type(exc).__name__}: {exc})"
    return None
