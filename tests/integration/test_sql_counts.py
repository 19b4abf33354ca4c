"""The SQL of one conversation stays within its budget of transactions and statements.

Counts, not timings: they are the same on every machine. The budget is what the hot path costs
today (``python -m bench.sqlcount`` prints the figures); a change that adds a statement to every
conversation fails here and says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from callisto.testing.databases import fresh_postgres_schema
from callisto.testing.fake_llm import FakeLLM, Reply
from callisto.testing.server import serve_callisto
from callisto.testing.sqlcount import SqlCounter
from tests.integration.conftest import make_settings, sdk_client
from tests.integration.helpers import WEATHER_TOOL

# Per conversation: thread with a message, a streamed run, a tool call, the tool's output
# submitted streamed, a text answer. Transactions: the thread, the run (its turn begun), the
# tool-calls step, the turn's end, the outputs (the next turn begun), the message and its step,
# the end; the history is read in autocommit. Statements count SQLite's "BEGIN IMMEDIATE" and
# PostgreSQL's "SET LOCAL synchronous_commit" too, and the audit trail's INSERTs (one for the
# call handed out, one for its output). (Before the hot path was trimmed: 9 transactions, and 34
# statements on SQLite, 29 on PostgreSQL, without the audit trail.)
BUDGET = {
    "sqlite": {"transactions": 7, "statements": 28, "SELECT": 6},
    "postgresql": {"transactions": 7, "statements": 23, "SELECT": 6},
}


def _conversation(client: openai.OpenAI, assistant_id: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("3C."))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
    run_id, calls = "", []
    for event in client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True
    ):
        if event.event == "thread.run.requires_action":
            run_id = event.data.id
            calls = event.data.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    outputs = [{"tool_call_id": c.id, "output": "3C"} for c in calls]
    last = ""
    for event in client.beta.threads.runs.submit_tool_outputs(
        thread_id=thread.id, run_id=run_id, tool_outputs=outputs, stream=True
    ):
        last = event.event
    assert last == "thread.run.completed"


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own (other tests' servers run their sweeps on theirs)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'counted.db'}"
        return
    with fresh_postgres_schema() as url:
        yield url


def test_a_conversation_stays_within_its_sql_budget(
    own_database: str, fake_llm: FakeLLM, database_url: str
) -> None:
    # No heartbeat or sweep during the count: only the conversation's own SQL.
    runs = {"sweep_interval": 3600, "heartbeat_interval": 3600}
    with serve_callisto(make_settings(own_database, fake_llm, runs=runs)) as server:
        client = sdk_client(server.url)
        try:
            assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])
            _conversation(client, assistant.id, fake_llm)  # warm-up, not counted
            conversations = 3
            with SqlCounter(own_database).listening() as counter:
                for _ in range(conversations):
                    _conversation(client, assistant.id, fake_llm)
            counts: Counter[str] = counter.snapshot()
        finally:
            client.close()
    budget = BUDGET["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    for key, most in budget.items():
        assert counts[key] <= most * conversations, (key, counts)
