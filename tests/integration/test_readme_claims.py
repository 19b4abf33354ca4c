"""Claims of the README that are behaviours, checked against a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client

BACKGROUND = ("expire_due", "take_over", "renew", "is_sweeper")
"""Transactions of the sweeper and the lease heartbeat, which no conversation causes."""


def _service(server: ThreadedServer) -> Any:
    app = server.app
    while not hasattr(app, "state"):  # through the ASGI middleware to the FastAPI app
        app = app.app
    return app.state.callisto.runs


@pytest.mark.parametrize(
    ("reply", "transactions"),
    [
        (Reply.text("hello there"), 3),
        (Reply.tool_calls(("lookup", {"q": "x"})), 3),
        (Reply.tool_calls(("lookup", {"q": "x"}), text="let me look"), 5),
    ],
    ids=["text", "tool calls", "text then tool calls"],
)
def test_transactions_of_one_turn(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM, reply: Reply, transactions: int
) -> None:
    # The README: a turn whose reply is only text or only tool calls is three transactions
    # (the first is the run's creation, which begins the turn when a slot is free); text
    # followed by tool calls is five.
    server = make_server(runs={"heartbeat_interval": 60})
    writer = _service(server).writer
    seen: list[str] = []
    run_transaction = writer.run

    async def counting(transaction: Any, **options: Any) -> Any:
        name = getattr(transaction, "__qualname__", "")
        if not any(part in name for part in BACKGROUND):
            seen.append(name)
        return await run_transaction(transaction, **options)

    writer.run = counting
    client = sdk_client(server.url)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    assistant = client.beta.assistants.create(model="fake/m", tools=[tool])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    fake_llm.script(reply)
    seen.clear()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
    )
    # The turn's last transaction committed before the run's resting status could be read.
    assert run.status in ("completed", "requires_action")
    assert len(seen) == transactions, seen
    client.close()
