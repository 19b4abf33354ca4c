"""Projects: a key sees, changes and lists only its own project's objects.

Project A makes one object of every kind (Assistants, Responses, Conversations, Entities);
then, for every route of the OpenAPI document with a path parameter, project B's key gets the
404 an unknown id gets, word for word, and A's objects are as they were. The routes come from
the live server's ``/openapi.json``, so a new route is covered without changing this test (and
fails it until the test knows how to fill its path parameters).

These tests use a database of their own: the first stored key turns authentication on, which
would close the session's shared open server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from callisto.store.database import run_migrations, sync_url
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import BACKENDS, fresh_database, make_settings, sdk_client
from tests.integration.helpers import WEATHER_TOOL, wait_for

ROOT = Path(__file__).resolve().parents[2]
GLOBAL_PARAMS = {"model_id"}
"""Path parameters that name no project's object: the models are the server's configuration."""
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/assistants/{assistant_id}"): {"name": "changed"},
    ("post", "/v1/threads/{thread_id}"): {"metadata": {"changed": "yes"}},
    ("post", "/v1/threads/{thread_id}/messages"): {"role": "user", "content": "hi"},
    ("post", "/v1/threads/{thread_id}/messages/{message_id}"): {"metadata": {"changed": "yes"}},
    ("post", "/v1/threads/{thread_id}/runs/{run_id}"): {"metadata": {"changed": "yes"}},
    ("post", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): {
        "tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]
    },
    ("post", "/v1/conversations/{conversation_id}"): {"metadata": {"changed": "yes"}},
    ("post", "/v1/conversations/{conversation_id}/items"): {
        "items": [{"type": "message", "role": "user", "content": "hi"}]
    },
    ("put", "/entities/v1/assistants/{assistant_id}"): {"name": "changed"},
    ("put", "/entities/v1/actions/{action_id}"): {"status": "processing"},
}
"""Valid bodies, so that a request reaches its id lookup (B's own assistant is added below)."""


@dataclass
class Tenant:
    """A project's key and a client speaking with it."""

    key: str
    http: httpx.Client

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=body)

    def close(self) -> None:
        self.http.close()


_OPEN: list[Tenant] = []


@pytest.fixture(autouse=True)
def _close_tenants() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture(scope="module", params=BACKENDS)
def tenant_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of this module's own, per backend, migrated."""
    with fresh_database(request.param, tmp_path_factory.mktemp("projects")) as url:
        run_migrations(url)
        yield url


def keys_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``callisto keys ...`` on the database, as a user would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLISTO_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "callisto.cli", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def new_key(database_url: str, project: str) -> str:
    made = keys_command(database_url, "create", "--project", project)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture(scope="module")
def tenant_server(tenant_database: str, fake_llm: FakeLLM) -> Iterator[ThreadedServer]:
    """A server with the ``default`` project's key ``env-key``, trusting no key lookup for
    longer than a request (``key_cache_seconds = 0``), so a revoked key is refused at once."""
    settings = make_settings(tenant_database, fake_llm, api_key="env-key", key_cache_seconds=0)
    with serve_callisto(settings) as server:
        yield server


@pytest.fixture(scope="module")
def keys(tenant_database: str, tenant_server: ThreadedServer) -> dict[str, str]:
    """A key of project ``a`` and one of project ``b``, made with ``callisto keys create``."""
    return {"a": new_key(tenant_database, "a"), "b": new_key(tenant_database, "b")}


def tenant(server: ThreadedServer, key: str, *, entities: bool = False) -> Tenant:
    headers = {"X-API-Key": key} if entities else {"Authorization": f"Bearer {key}"}
    made = Tenant(key, httpx.Client(base_url=server.url, headers=headers, timeout=30))
    _OPEN.append(made)  # closed after the test
    return made


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def make_everything(server: ThreadedServer, key: str, fake_llm: FakeLLM) -> dict[str, str]:
    """Make one object of every kind with ``key``; return their ids by path parameter name."""
    client = sdk_client(server.url, api_key=key)
    entities = tenant(server, key, entities=True)
    try:
        assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
        fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Rome"})))
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for(client, thread.id, run.id, {"requires_action"})
        step = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data[0]
        fake_llm.script(Reply.text("Sunny."))
        response = client.responses.create(model="fake/m", input="Hello")
        conversation = client.conversations.create(
            items=[{"type": "message", "role": "user", "content": "Hi"}]
        )
        item = client.conversations.items.list(conversation.id).data[0]
        pending = ok(entities.send("GET", f"/entities/v1/actions/pending/{run.id}"))
        tool = ok(
            entities.send(
                "POST",
                "/entities/v1/tools",
                {"name": "get_weather", "type": "function", "function": WEATHER_TOOL},
            )
        )
        return {
            "assistant_id": assistant.id,
            "thread_id": thread.id,
            "message_id": message.id,
            "run_id": run.id,
            "step_id": step.id,
            "response_id": response.id,
            "conversation_id": conversation.id,
            "item_id": item.id,
            "action_id": pending[0]["action_id"],
            "entities_id": tool["id"],
            "completion_id": "chatcmpl-" + run.id,
        }
    finally:
        client.close()


def snapshot(owner: Tenant, ids: dict[str, str]) -> dict[str, Any]:
    """Everything the owner reads of its objects (status and body of each read)."""
    reads = [
        "/v1/assistants",
        "/v1/assistants/{assistant_id}",
        "/v1/threads/{thread_id}",
        "/v1/threads/{thread_id}/messages",
        "/v1/threads/{thread_id}/runs",
        "/v1/threads/{thread_id}/runs/{run_id}/steps",
        "/v1/responses/{response_id}",
        "/v1/responses/{response_id}/input_items",
        "/v1/conversations/{conversation_id}",
        "/v1/conversations/{conversation_id}/items",
        "/entities/v1/assistants/{assistant_id}/tools",
        "/entities/v1/tools/{entities_id}",
        "/entities/v1/actions/{action_id}",
    ]
    taken = {}
    for template in reads:
        response = owner.send("GET", template.format(**ids))
        taken[template] = (response.status_code, response.json())
    return taken


@pytest.fixture
def objects_of_a(
    tenant_server: ThreadedServer, keys: dict[str, str], fake_llm: FakeLLM
) -> dict[str, str]:
    return make_everything(tenant_server, keys["a"], fake_llm)


def unknown(ids: dict[str, str]) -> dict[str, str]:
    """Ids of the same shapes that name nothing."""
    return {name: value[:-6] + "zzzzzz" for name, value in ids.items()}


def test_another_projects_ids_answer_as_unknown_ids_on_every_route(
    tenant_server: ThreadedServer, keys: dict[str, str], objects_of_a: dict[str, str]
) -> None:
    a = tenant(tenant_server, keys["a"])
    b = tenant(tenant_server, keys["b"])
    own_assistant = ok(b.send("POST", "/v1/assistants", {"model": "fake/m"}))["id"]
    before = snapshot(a, objects_of_a)
    document = ok(httpx.get(tenant_server.url + "/openapi.json"))
    missing = unknown(objects_of_a)
    checked = []
    for template, operations in document["paths"].items():
        params = set(re.findall(r"\{(\w+)\}", template)) - GLOBAL_PARAMS
        if not params:
            continue
        cannot_fill = params - objects_of_a.keys()
        assert not cannot_fill, f"{template}: no object of A for {sorted(cannot_fill)}"
        for method in operations:
            body = BODIES.get((method, template))
            if template.endswith("/runs") and method == "post":
                body = {"assistant_id": own_assistant}
            if body is None and method in ("post", "put"):
                body = {}
            foreign = b.send(method, template.format(**objects_of_a), body)
            control = b.send(method, template.format(**missing), body)
            expected = control.text
            for name, value in missing.items():
                expected = expected.replace(value, objects_of_a[name])
            where = f"{method.upper()} {template}"
            assert control.status_code == 404, f"{where}: unknown ids gave {control.text}"
            assert foreign.status_code == 404, f"{where}: B got {foreign.text}"
            assert foreign.json() == json.loads(expected), where
            checked.append(where)
    assert snapshot(a, objects_of_a) == before
    assert len(checked) >= 40, checked


def test_ids_in_bodies_are_scoped_too(
    tenant_server: ThreadedServer, keys: dict[str, str], objects_of_a: dict[str, str]
) -> None:
    a = tenant(tenant_server, keys["a"])
    b = tenant(tenant_server, keys["b"])
    before = snapshot(a, objects_of_a)
    own_thread = ok(b.send("POST", "/v1/threads", {}))["id"]
    ids = objects_of_a
    requests: list[tuple[str, dict[str, Any], int]] = [
        ("/v1/threads/{own}/runs", {"assistant_id": ids["assistant_id"]}, 404),
        ("/v1/responses", {"model": "fake/m", "input": "x", "conversation": "{conv}"}, 404),
        (
            "/v1/responses",
            {"model": "fake/m", "input": "x", "previous_response_id": "{resp}"},
            400,
        ),
        ("/entities/v1/messages", {"thread_id": "{thread}", "role": "user", "content": "x"}, 404),
        ("/entities/v1/runs", {"thread_id": "{thread}", "assistant_id": "{asst}"}, 404),
        (
            "/entities/v1/messages/tools",
            {"thread_id": "{thread}", "role": "tool", "content": "1", "tool_id": "{action}"},
            404,
        ),
    ]
    for path, body, status in requests:
        for names in (ids, unknown(ids)):
            filled = json.loads(
                json.dumps(body)
                .replace("{conv}", names["conversation_id"])
                .replace("{resp}", names["response_id"])
                .replace("{thread}", names["thread_id"])
                .replace("{asst}", names["assistant_id"])
                .replace("{action}", names["action_id"])
            )
            answer = b.send("POST", path.replace("{own}", own_thread), filled)
            assert answer.status_code == status, (path, answer.text)
    assert snapshot(a, objects_of_a) == before


def test_lists_show_only_the_projects_objects(
    tenant_server: ThreadedServer, keys: dict[str, str], objects_of_a: dict[str, str]
) -> None:
    b = tenant(tenant_server, keys["b"])
    b_entities = tenant(tenant_server, keys["b"], entities=True)
    own = ok(b.send("POST", "/v1/assistants", {"model": "fake/m"}))["id"]
    listed = [a["id"] for a in ok(b.send("GET", "/v1/assistants?limit=100"))["data"]]
    assert own in listed
    assert objects_of_a["assistant_id"] not in listed
    entities_listed = [a["id"] for a in ok(b_entities.send("GET", "/entities/v1/assistants"))]
    assert own in entities_listed
    assert objects_of_a["assistant_id"] not in entities_listed
    reserved = {"id": "callisto_responses", "name": "x", "model": "fake/m"}
    taken = b_entities.send("POST", "/entities/v1/assistants", reserved)
    assert taken.status_code == 400, taken.text
    runs = ok(b_entities.send("GET", "/entities/v1/runs?limit=100"))["data"]
    assert objects_of_a["run_id"] not in [r["id"] for r in runs]
    # The audit trail: A's run handed out a call; B sees none of A's entries.
    trail = "/v1/audit/tool_events?run_id=" + objects_of_a["run_id"]
    a_trail = ok(tenant(tenant_server, keys["a"]).send("GET", trail))["data"]
    assert [e["event"] for e in a_trail] == ["tool_call.handed_out"]
    assert ok(b.send("GET", trail))["data"] == []
    b_runs = {e["run_id"] for e in ok(b.send("GET", "/v1/audit/tool_events?limit=100"))["data"]}
    assert objects_of_a["run_id"] not in b_runs
    a_page = tenant(tenant_server, keys["a"]).send("GET", "/ui")
    b_page = b.send("GET", "/ui")
    assert objects_of_a["thread_id"] in a_page.text
    assert b_page.status_code == 200
    assert objects_of_a["thread_id"] not in b_page.text
    thread_page = b.send("GET", f"/ui/threads/{objects_of_a['thread_id']}")
    assert thread_page.status_code == 404


def test_the_inspector_logs_in_with_a_projects_key_and_shows_that_project(
    tenant_server: ThreadedServer, keys: dict[str, str], objects_of_a: dict[str, str]
) -> None:
    with httpx.Client(base_url=tenant_server.url) as browser:
        assert browser.get("/ui").status_code == 401  # the key form
        wrong = browser.post("/ui/login", data={"key": "nope", "next": "/ui"})
        assert wrong.status_code == 401
        login = browser.post("/ui/login", data={"key": keys["a"], "next": "/ui"})
        assert login.status_code == 303
        assert objects_of_a["thread_id"] in browser.get("/ui").text
        run_page = browser.get(
            f"/ui/threads/{objects_of_a['thread_id']}/runs/{objects_of_a['run_id']}"
        )
        assert run_page.status_code == 200
        browser.post("/ui/login", data={"key": keys["b"], "next": "/ui"})
        assert objects_of_a["thread_id"] not in browser.get("/ui").text
        foreign = browser.get(
            f"/ui/threads/{objects_of_a['thread_id']}/runs/{objects_of_a['run_id']}"
        )
        assert foreign.status_code == 404


def test_keys_command_shows_a_key_once_lists_its_prefix_and_revokes_it(
    tenant_database: str, tenant_server: ThreadedServer
) -> None:
    made = keys_command(tenant_database, "create", "--project", "c", "--name", "ci")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-cal-") and "\n" not in key
    assert key not in made.stderr
    listing = keys_command(tenant_database, "list")
    assert listing.returncode == 0, listing.stderr
    assert key not in listing.stdout
    line = next(row for row in listing.stdout.splitlines() if key[:13] in row)
    key_id, project, _, name = line.split()[:4]
    assert (project, name) == ("c", "ci")
    engine = sa.create_engine(sync_url(tenant_database))
    with engine.connect() as db:
        stored = db.execute(sa.text("SELECT * FROM api_keys")).all()
    engine.dispose()
    assert key not in repr(stored)
    assert hashlib.sha256(key.encode()).hexdigest() in repr(stored)

    client = sdk_client(tenant_server.url, api_key=key)
    assistant = client.beta.assistants.create(model="fake/m")
    revoked = keys_command(tenant_database, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "refuse it within 5 seconds" in revoked.stdout  # the default key_cache_seconds
    answer = httpx.get(
        f"{tenant_server.url}/v1/assistants/{assistant.id}",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith("Incorrect API key provided")
    assert "REVOKED" in keys_command(tenant_database, "list").stdout
    unknown_id = keys_command(tenant_database, "revoke", "key_nope")
    assert unknown_id.returncode == 2
    assert "No API key found with id 'key_nope'" in unknown_id.stderr
    client.close()


def test_callisto_api_key_still_works_as_the_default_project(
    tenant_server: ThreadedServer, keys: dict[str, str], objects_of_a: dict[str, str]
) -> None:
    default = tenant(tenant_server, "env-key")
    own = ok(default.send("POST", "/v1/assistants", {"model": "fake/m"}))["id"]
    assert ok(default.send("GET", f"/v1/assistants/{own}"))["id"] == own
    assert default.send("GET", f"/v1/assistants/{objects_of_a['assistant_id']}").status_code == 404
    a = tenant(tenant_server, keys["a"])
    assert a.send("GET", f"/v1/assistants/{own}").status_code == 404
    wrong = tenant(tenant_server, "env-key-but-not")
    assert wrong.send("GET", "/v1/assistants").status_code == 401
    nobody = httpx.get(tenant_server.url + "/v1/assistants")
    assert nobody.status_code == 401
