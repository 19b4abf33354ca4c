"""API keys: with keys set every request needs one; without keys the server is open."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from callisto import __version__
from callisto.testing._server import ThreadedServer
from tests.integration.conftest import sdk_client


@pytest.fixture
def keyed(make_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    """A server that accepts the keys ``k1`` and ``k2``."""
    return make_server(api_key="k1,k2")


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "API key" in error["message"]


def test_each_configured_key_works_through_the_sdk(keyed: ThreadedServer) -> None:
    for key in ("k1", "k2"):
        client = sdk_client(keyed.url, api_key=key)
        assistant = client.beta.assistants.create(model="offline/demo")
        assert client.beta.assistants.retrieve(assistant.id).id == assistant.id
        client.close()


@pytest.mark.parametrize("key", ["wrong", "k1,k2", "k", "K1", "k1k2"])
def test_a_wrong_key_raises_authentication_error(keyed: ThreadedServer, key: str) -> None:
    client = sdk_client(keyed.url, api_key=key)
    with pytest.raises(openai.AuthenticationError) as info:
        client.beta.assistants.list()
    assert info.value.status_code == 401
    client.close()


def test_every_route_needs_a_key(keyed: ThreadedServer) -> None:
    base = keyed.url + "/v1"
    thread_id = httpx.post(
        base + "/threads", json={}, headers={"Authorization": "Bearer k2"}
    ).json()["id"]
    requests = [
        ("GET", "/assistants"),
        ("POST", "/assistants"),
        ("GET", "/assistants/asst_x"),
        ("POST", "/threads"),
        ("GET", f"/threads/{thread_id}"),
        ("DELETE", f"/threads/{thread_id}"),
        ("GET", f"/threads/{thread_id}/messages"),
        ("POST", f"/threads/{thread_id}/runs"),
        ("GET", "/no/such/route"),
    ]
    for method, path in requests:
        assert_401(httpx.request(method, base + path, json={} if method == "POST" else None))
        assert_401(httpx.request(method, base + path, headers={"Authorization": "Bearer nope"}))
        assert_401(httpx.request(method, base + path, headers={"Authorization": "k1"}))
        assert_401(httpx.request(method, base + path, headers={"Authorization": "Basic k1"}))
    # The thread survived every refused DELETE.
    ok = httpx.get(f"{base}/threads/{thread_id}", headers={"Authorization": "Bearer k1"})
    assert ok.status_code == 200


def test_the_refusal_says_whether_a_key_was_sent(keyed: ThreadedServer) -> None:
    url = keyed.url + "/v1/assistants"
    missing = httpx.get(url).json()["error"]["message"]
    assert missing.startswith("You didn't provide an API key.")
    assert (
        "no API key"
        in httpx.get(url, headers={"Authorization": "Basic k1"}).json()["error"]["message"]
    )
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"}).json()["error"]["message"]
    assert wrong.startswith("Incorrect API key provided.")
    with pytest.raises(openai.AuthenticationError) as info:
        sdk_client(keyed.url, api_key="nope").beta.assistants.list()
    assert "Incorrect API key" in info.value.message


def test_the_bearer_scheme_is_case_insensitive(keyed: ThreadedServer) -> None:
    response = httpx.get(keyed.url + "/v1/assistants", headers={"Authorization": "bearer k1"})
    assert response.status_code == 200


def test_the_key_is_checked_before_the_body(keyed: ThreadedServer) -> None:
    response = httpx.post(
        keyed.url + "/v1/assistants",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_401(response)


def test_health_and_openapi_stay_open(keyed: ThreadedServer) -> None:
    health = httpx.get(keyed.url + "/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": __version__}
    schema = httpx.get(keyed.url + "/openapi.json")
    assert schema.status_code == 200
    assert "/v1/assistants" in schema.json()["paths"]


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_pages_are_open_and_load_nothing_from_elsewhere(
    keyed: ThreadedServer, page: str, script: str
) -> None:
    html = httpx.get(keyed.url + page)
    assert html.status_code == 200, html.text
    assert "/openapi.json" in html.text
    # Every script, style and font comes from this server: the page works without internet.
    assert "http://" not in html.text and "https://" not in html.text.replace(
        "https://swagger.io", ""
    )
    asset = httpx.get(f"{keyed.url}/docs-assets/{script}")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000


def test_without_keys_the_server_is_open(server: ThreadedServer) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "garbage"}):
        response = httpx.get(server.url + "/v1/assistants", headers=headers)
        assert response.status_code == 200, response.text


def test_health_and_openapi(server: ThreadedServer) -> None:
    health = httpx.get(server.url + "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    schema = httpx.get(server.url + "/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/v1/assistants",
        "/v1/assistants/{assistant_id}",
        "/v1/threads",
        "/v1/threads/{thread_id}",
        "/v1/threads/{thread_id}/messages",
        "/v1/threads/{thread_id}/messages/{message_id}",
    ):
        assert path in paths, path
    assert set(paths["/v1/assistants/{assistant_id}"]) == {"get", "post", "delete"}
