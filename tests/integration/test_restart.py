"""A restart never leaves a run stuck: runs in flight are resumed by the next process."""

from __future__ import annotations

from callisto.testing.fake_llm import FakeLLM, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings, sdk_client
from tests.integration.helpers import TERMINAL, start, wait_for


def test_run_in_flight_is_resumed_after_restart(database_url: str, fake_llm: FakeLLM) -> None:
    settings = make_settings(database_url, fake_llm)
    fake_llm.script(
        Reply.text("never finished " * 40, token_delay=0.05), Reply.text("Resumed answer.")
    )
    with serve_callisto(settings) as first:
        client = sdk_client(first.url)
        _, thread, run = start(client, "hi")
        wait_for(client, thread.id, run.id, {"in_progress"})
        # Let the first reply start streaming, then stop the process mid-turn.
        for _ in range(500):
            if client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data:
                break
        client.close()
    with serve_callisto(settings) as second:
        client = sdk_client(second.url)
        run = wait_for(client, thread.id, run.id, TERMINAL)
        assert run.status == "completed"
        messages = client.beta.threads.messages.list(
            thread_id=thread.id, run_id=run.id, order="asc"
        ).data
        # The interrupted turn's partial reply is removed: the retried turn replaces it, and
        # the model is never shown its own half-written (or empty) message.
        assert [m.status for m in messages] == ["completed"]
        assert messages[-1].content[0].text.value == "Resumed answer."
        assert [m["role"] for m in fake_llm.requests[-1].messages] == ["user"]
        client.close()
