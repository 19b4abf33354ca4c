"""A turn reads a bounded history: the newest messages only, cut to fit max_prompt_tokens."""

from __future__ import annotations

from collections.abc import Callable

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, wait_for


def _thread_with(client: object, texts: list[str]) -> str:
    thread = client.beta.threads.create(  # type: ignore[attr-defined]
        messages=[{"role": "user", "content": t} for t in texts]
    )
    return str(thread.id)


def test_a_long_thread_sends_only_its_newest_messages(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    server = make_server(runs={"history_max_messages": 5})
    client = sdk_client(server.url)
    fake_llm.script(Reply.text("ok"))
    assistant = client.beta.assistants.create(model="fake/m")
    thread_id = _thread_with(client, [f"message {i}" for i in range(30)])
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant.id)
    assert wait_for(client, thread_id, run.id, TERMINAL).status == "completed"
    sent = [m["content"] for m in fake_llm.requests[-1].messages]
    assert sent == [f"message {i}" for i in range(25, 30)]
    client.close()


def test_max_prompt_tokens_drops_the_oldest_messages_before_the_call(
    openai_client: object, fake_llm: FakeLLM
) -> None:
    client = openai_client
    fake_llm.script(Reply.text("ok"))
    assistant = client.beta.assistants.create(model="fake/m")  # type: ignore[attr-defined]
    # Each message is about 100 tokens (400 characters); a budget of 350 keeps the newest three.
    texts = [f"{i} " + "x" * 400 for i in range(10)]
    thread_id = _thread_with(client, texts)
    run = client.beta.threads.runs.create(  # type: ignore[attr-defined]
        thread_id=thread_id, assistant_id=assistant.id, max_prompt_tokens=350
    )
    wait_for(client, thread_id, run.id, TERMINAL)  # type: ignore[arg-type]
    sent = [m["content"] for m in fake_llm.requests[-1].messages]
    assert sent == texts[-3:]
