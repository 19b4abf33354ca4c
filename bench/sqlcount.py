"""Count the SQL of one conversation: transactions and statements, by kind, per backend.

A conversation is the benchmarks' function-calling round trip (:mod:`bench.client`): create a
thread with the user's question, create a streamed run, the model calls a tool
(``requires_action``), submit the output streamed, the model answers in text (``completed``).
Counts are deterministic, unlike timings, so a test may bound them
(``tests/integration/test_sql_counts.py``)::

    python -m bench.sqlcount                  # SQLite and, when reachable, PostgreSQL
    python -m bench.sqlcount --databases sqlite --conversations 20

Every engine of the process is counted (:class:`callisto.testing.sqlcount.SqlCounter`). On
PostgreSQL a round trip is a statement, a ``BEGIN`` or a ``COMMIT``/``ROLLBACK``: ``statements +
2 x transactions``, a pool ping on checkout aside.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from callisto.testing.sqlcount import KINDS, SqlCounter


def per_conversation(
    database_url: str, conversations: int = 10, *, show: bool = False
) -> dict[str, float]:
    """Serve Callisto on ``database_url`` and count the SQL of ``conversations`` conversations.

    One conversation first warms the server up (and is not counted); the lease heartbeat and
    the sweeper are slowed down so that only the conversations' own SQL is counted.
    """
    import httpx

    from bench.client import ViaCallisto
    from bench.fake_model import round_trip_responder
    from callisto.config import ProviderSettings, Settings
    from callisto.testing.fake_llm import FakeLLM
    from callisto.testing.server import serve_callisto

    counter = SqlCounter(database_url, show=show)
    with ExitStack() as stack:
        llm = stack.enter_context(FakeLLM(default=round_trip_responder(20), models=("x",)))
        settings = Settings(
            database_url=database_url,
            providers={"fake": ProviderSettings(kind="openai", base_url=llm.base_url)},
            runs={"sweep_interval": 3600, "heartbeat_interval": 3600},
        )
        server = stack.enter_context(serve_callisto(settings))

        async def drive() -> dict[str, float]:
            async with httpx.AsyncClient(timeout=30) as http:
                client = ViaCallisto(http, server.url)
                await client.setup()
                await client.conversation()
                with counter.listening():
                    for _ in range(conversations):
                        await client.conversation()
            counts = counter.snapshot()
            return {key: counts[key] / conversations for key in sorted(counts)}

        return asyncio.run(drive())


def _databases(names: Sequence[str]) -> Iterator[tuple[str, str | None, str]]:
    """Yield ``(name, url or None, why not)`` for each backend asked for."""
    import tempfile

    from callisto.testing.databases import fresh_postgres_schema, postgres_unavailable_reason

    for name in names:
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                yield name, f"sqlite:///{folder}/callisto.db", ""
        else:
            reason = postgres_unavailable_reason()
            if reason is not None:
                yield name, None, reason
                continue
            with fresh_postgres_schema() as url:
                yield name, url, ""


def measure(names: Sequence[str], conversations: int = 10, *, show: bool = False) -> dict[str, str]:
    """Print and return, per backend, one line of SQL per conversation (or why it was skipped).

    The working tree's Callisto runs in this process (the benchmark's *after* side).
    """
    print("SQL per conversation (thread with a message, streamed run, tool call, streamed submit)")
    lines = {}
    for name, url, reason in _databases(names):
        line = (
            f"skipped ({reason})"
            if url is None
            else format_counts(per_conversation(url, conversations, show=show))
        )
        print(f"  {name}: {line}")
        lines[name] = line
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Print the SQL per conversation of each backend."""
    parser = argparse.ArgumentParser(prog="python -m bench.sqlcount", description=__doc__)
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--show", action="store_true", help="print every statement counted")
    args = parser.parse_args(argv)
    measure(args.databases.split(","), args.conversations, show=args.show)


def format_counts(counts: dict[str, float]) -> str:
    """One line: transactions, statements (by kind) and PostgreSQL round trips."""
    kinds = ", ".join(f"{counts.get(k, 0):g} {k}" for k in (*KINDS, "other") if counts.get(k))
    trips = counts.get("statements", 0) + 2 * counts.get("transactions", 0)
    return (
        f"{counts.get('transactions', 0):g} transactions ({counts.get('commits', 0):g} commits), "
        f"{counts.get('statements', 0):g} statements ({kinds}); ~{trips:g} round trips"
    )


if __name__ == "__main__":
    main()
