"""Honest model routing and ``/v1/models``, through the official SDK.

A model no configured provider serves is refused with a 400 naming the configured providers,
wherever a model is given; the offline stand-in answers only when named or made the default;
aliases run code written for OpenAI on the operator's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, WEATHER_TOOL, wait_for

ALIAS = "gpt-4-1106-preview"
UNROUTED = ["openai/gpt-4o", "nosuchprovider/foo", "gpt-4o"]


def refused(call: Callable[[], Any], model: str) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "model"
    assert f"'{model}'" in body["message"]
    assert "Configured providers: fake, offline." in body["message"]
    return str(body["message"])


@pytest.mark.parametrize("model", UNROUTED)
def test_a_model_no_provider_serves_is_refused_everywhere(
    openai_client: openai.OpenAI, fake_llm: FakeLLM, model: str
) -> None:
    beta = openai_client.beta
    refused(lambda: beta.assistants.create(model=model), model)
    assistant = beta.assistants.create(model="fake/m")
    refused(lambda: beta.assistants.update(assistant.id, model=model), model)
    assert beta.assistants.retrieve(assistant.id).model == "fake/m"
    thread = beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    refused(
        lambda: beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, model=model
        ),
        model,
    )
    refused(
        lambda: beta.threads.create_and_run(assistant_id=assistant.id, model=model),
        model,
    )
    refused(
        lambda: openai_client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        ),
        model,
    )
    assert beta.threads.runs.list(thread_id=thread.id).data == []
    assert fake_llm.requests == []


def test_an_entities_assistant_with_a_model_no_provider_serves_is_refused(
    server: ThreadedServer,
) -> None:
    with httpx.Client(base_url=server.url + "/entities/v1", timeout=10) as http:
        created = http.post("/assistants", json={"name": "a", "model": "nosuch/model"})
        assistant = http.post("/assistants", json={"name": "b", "model": "fake/m"}).json()
        updated = http.put(f"/assistants/{assistant['id']}", json={"model": "gpt-4o"})
    for response in (created, updated):
        assert response.status_code == 400
        assert "Configured providers: fake, offline." in response.json()["error"]["message"]


def test_the_offline_model_answers_when_it_is_the_default_on_purpose(
    make_server: Callable[..., ThreadedServer],
) -> None:
    client = sdk_client(make_server(default_provider="offline").url)
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hello there"}]},
    )
    assert run.status == "completed" and run.model == "gpt-4o"
    [reply] = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data
    assert "offline model" in reply.content[0].text.value  # type: ignore[union-attr]
    client.close()


def test_an_alias_runs_code_written_for_openai_on_the_configured_model(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    client = sdk_client(make_server(model_aliases={ALIAS: "fake/qwen"}).url)
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})))
    assistant = client.beta.assistants.create(model=ALIAS, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for(client, thread.id, run.id, {"requires_action"} | TERMINAL)
    assert run.status == "requires_action" and run.model == ALIAS
    assert fake_llm.requests[0].body["model"] == "qwen"
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    fake_llm.script(Reply.text("Sunny."))
    chat = client.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "Sunny." and chat.model == "fake/qwen"
    assert fake_llm.requests[-1].body["model"] == "qwen"
    client.close()


def test_models_list_and_retrieve(make_server: Callable[..., ThreadedServer]) -> None:
    server = make_server(
        model_aliases={ALIAS: "fake/qwen", "unusable": "nosuch/model"},
        providers={"claude": {"kind": "anthropic", "base_url": "http://127.0.0.1:9"}},
    )
    client = sdk_client(server.url)
    listed = {m.id: m.owned_by for m in client.models.list()}
    # The fake lists "fake-model" itself; Anthropic's list is not asked for: a wildcard.
    assert listed == {
        ALIAS: "fake",
        "claude/*": "claude",
        "fake/fake-model": "fake",
        "offline/*": "offline",
    }
    model = client.models.retrieve(ALIAS)
    assert (model.id, model.object, model.owned_by) == (ALIAS, "model", "fake")
    # The SDK sends the slash as %2F; the id comes back whole.
    assert client.models.retrieve("fake/fake-model").id == "fake/fake-model"
    assert client.models.retrieve("claude/claude-sonnet-4").owned_by == "claude"
    for missing in ("unusable", "gpt-4o", "nosuch/model"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.models.retrieve(missing)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "model_not_found"
        assert "Configured providers: claude, fake, offline." in caught.value.body["message"]
    client.close()
