"""Errors: always OpenAI's shape, a clear message, the right status, and never a 500 for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from callisto.testing._server import ThreadedServer

ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    """A raw HTTP client for what the SDK cannot send."""
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """Check the status and the error shape; return the inner error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == ERROR_KEYS
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return error


# --- 404 --------------------------------------------------------------------------------------


def test_unknown_ids_are_404_naming_the_id(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    calls: list[tuple[str, Callable[[], object]]] = [
        ("asst_nope1", lambda: openai_client.beta.assistants.retrieve("asst_nope1")),
        ("asst_nope2", lambda: openai_client.beta.assistants.update("asst_nope2", name="x")),
        ("asst_nope3", lambda: openai_client.beta.assistants.delete("asst_nope3")),
        ("thread_nope1", lambda: openai_client.beta.threads.retrieve("thread_nope1")),
        ("thread_nope2", lambda: openai_client.beta.threads.update("thread_nope2", metadata={})),
        ("thread_nope3", lambda: openai_client.beta.threads.delete("thread_nope3")),
        ("thread_nope4", lambda: openai_client.beta.threads.messages.list("thread_nope4")),
        (
            "thread_nope5",
            lambda: openai_client.beta.threads.messages.create(
                "thread_nope5", role="user", content="x"
            ),
        ),
        (
            "msg_nope1",
            lambda: openai_client.beta.threads.messages.retrieve("msg_nope1", thread_id=thread.id),
        ),
        (
            "msg_nope2",
            lambda: openai_client.beta.threads.messages.update(
                "msg_nope2", thread_id=thread.id, metadata={}
            ),
        ),
        (
            "msg_nope3",
            lambda: openai_client.beta.threads.messages.delete("msg_nope3", thread_id=thread.id),
        ),
        (
            "thread_nope6",
            lambda: openai_client.beta.threads.messages.retrieve("msg_x", thread_id="thread_nope6"),
        ),
    ]
    for object_id, call in calls:
        with pytest.raises(openai.NotFoundError) as info:
            call()
        assert object_id in info.value.message
        assert info.value.status_code == 404
        assert set(info.value.body) == ERROR_KEYS  # type: ignore[arg-type]


def test_unknown_routes_are_404_in_openai_shape(http: httpx.Client) -> None:
    assert_error(http.get("/nothing/here"), 404, "/v1/nothing/here")
    assert_error(http.post("/threads/thread_x/nothing", json={}), 404)
    response = httpx.get(str(http.base_url).removesuffix("/v1/") + "/not-v1")
    assert_error(response, 404)


def test_openai_endpoints_callisto_lacks_say_so(
    openai_client: openai.OpenAI, http: httpx.Client
) -> None:
    assert_error(http.get("/files"), 404, "Callisto does not implement GET /v1/files", "'files'")
    assert_error(
        http.post("/vector_stores", json={}), 404, "does not implement POST /v1/vector_stores"
    )
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.embeddings.create(model="offline/demo", input="x")
    assert "does not implement POST /v1/embeddings" in info.value.message
    # A path that is no OpenAI API at all is still just an invalid URL.
    assert "Invalid URL" in assert_error(http.get("/nothing/here"), 404)["message"]


def test_wrong_method_is_405_in_openai_shape(http: httpx.Client) -> None:
    assert_error(http.delete("/assistants"), 405, "DELETE")
    assert_error(http.put("/threads", json={}), 405)


# --- 400: metadata ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({f"k{i}": "v" for i in range(17)}, "16"),
        ({"k" * 65: "v"}, "64"),
        ({"k": "v" * 513}, "512"),
        ({"k": 1}, "string"),
        ({"k": None}, "string"),
        ({"k": {"nested": "x"}}, "string"),
        ("not a map", "metadata"),
    ],
)
def test_metadata_limits(openai_client: openai.OpenAI, metadata: Any, fragment: str) -> None:
    thread = openai_client.beta.threads.create()
    message = openai_client.beta.threads.messages.create(thread.id, role="user", content="x")
    assistant = openai_client.beta.assistants.create(model="offline/demo")
    calls: list[Callable[[], object]] = [
        lambda: openai_client.beta.assistants.create(model="offline/demo", metadata=metadata),
        lambda: openai_client.beta.assistants.update(assistant.id, metadata=metadata),
        lambda: openai_client.beta.threads.create(metadata=metadata),
        lambda: openai_client.beta.threads.update(thread.id, metadata=metadata),
        lambda: openai_client.beta.threads.messages.create(
            thread.id, role="user", content="x", metadata=metadata
        ),
        lambda: openai_client.beta.threads.messages.update(
            message.id, thread_id=thread.id, metadata=metadata
        ),
    ]
    for call in calls:
        with pytest.raises(openai.BadRequestError, match=fragment) as info:
            call()
        assert info.value.body["param"] == "metadata"  # type: ignore[index]
    assert openai_client.beta.threads.retrieve(thread.id).metadata == {}


def test_metadata_at_the_limits_is_accepted(openai_client: openai.OpenAI) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assistant = openai_client.beta.assistants.create(model="offline/demo", metadata=metadata)
    assert assistant.metadata == metadata


# --- 400: types, unknown fields, JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/assistants", {}, "model"),
        ("/assistants", {"model": 5}, "model"),
        ("/assistants", {"model": ""}, "model"),
        ("/assistants", {"model": "m", "temperature": "hot"}, "temperature"),
        ("/assistants", {"model": "m", "temperature": 2.5}, "temperature"),
        ("/assistants", {"model": "m", "top_p": -0.1}, "top_p"),
        ("/assistants", {"model": "m", "name": "n" * 257}, "name"),
        ("/assistants", {"model": "m", "tools": {"type": "code_interpreter"}}, "tools"),
        ("/assistants", {"model": "m", "tools": [{"type": "browser"}]}, "tools[0]"),
        ("/assistants", {"model": "m", "tools": [{"type": "function"}]}, "tools[0].function"),
        ("/assistants", {"model": "m", "response_format": "xml"}, "response_format"),
        ("/assistants", {"model": "m", "surprise": True}, "surprise"),
        ("/threads", {"messages": "hello"}, "messages"),
        ("/threads", {"messages": [{"role": "user"}]}, "messages[0].content"),
        ("/threads", {"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
        ("/threads", {"messages": [{"role": "user", "content": "x", "x": 1}]}, "messages[0].x"),
        ("/threads", {"tool_resources": []}, "tool_resources"),
        ("/threads", {"unknown": 1}, "unknown"),
    ],
)
def test_invalid_bodies_are_400_naming_the_param(
    http: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    error = assert_error(http.post(path, json=body), 400)
    assert error["param"] == param
    assert param in error["message"]


def test_unknown_fields_through_the_sdk(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Unknown parameter: 'colour'"):
        openai_client.beta.assistants.create(model="offline/demo", extra_body={"colour": "red"})


def test_invalid_message_bodies(http: httpx.Client) -> None:
    thread_id = http.post("/threads", json={}).json()["id"]
    error = assert_error(http.post(f"/threads/{thread_id}/messages", json={"content": "x"}), 400)
    assert error["param"] == "role"
    error = assert_error(
        http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": None}), 400
    )
    assert error["param"] == "content"


@pytest.mark.parametrize(
    "raw",
    [b"{", b"{'model': 'x'}", b'{"model": "m",}', b"\xff\xfe", b"nul", b'{"model": "m"} trailing'],
)
def test_malformed_json_is_400(http: httpx.Client, raw: bytes) -> None:
    response = http.post("/assistants", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400)


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(http: httpx.Client, raw: bytes) -> None:
    response = http.post("/assistants", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "JSON object")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"model": "m", "name": "a\\u0000b"}', "NUL"),
        (b'{"model": "m", "metadata": {"k": "\\u0000"}}', "NUL"),
        (b'{"model": "m", "tool_resources": {"\\u0000": 1}}', "NUL"),
        (b'{"model": "m", "temperature": NaN}', "finite"),
        (b'{"model": "m", "tool_resources": {"x": Infinity}}', "finite"),
        (b'{"model": "m", "tool_resources": {"x": [1e999]}}', "finite"),
    ],
)
def test_values_no_database_can_store_are_400(
    http: httpx.Client, raw: bytes, fragment: str
) -> None:
    # PostgreSQL refuses NUL in text and JSONB, and NaN/Infinity are not JSON: these were 500s.
    response = http.post("/assistants", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, fragment)


def test_lone_surrogates_are_400(http: httpx.Client) -> None:
    raw = b'{"model": "m", "name": "\\ud800"}'
    response = http.post("/assistants", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400)


# --- 400: query parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"order": "sideways"}, "order"),
    ],
)
def test_invalid_list_queries(http: httpx.Client, query: dict[str, Any], param: str) -> None:
    thread_id = http.post("/threads", json={}).json()["id"]
    for path in ("/assistants", f"/threads/{thread_id}/messages"):
        error = assert_error(http.get(path, params=query), 400)
        assert error["param"] == param


def test_limits_at_the_bounds_are_accepted(http: httpx.Client) -> None:
    for limit in (1, 100):
        assert http.get("/assistants", params={"limit": limit}).status_code == 200


def test_sdk_raises_bad_request_for_queries(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="limit"):
        openai_client.beta.assistants.list(limit=101)
    with pytest.raises(openai.BadRequestError, match="order"):
        openai_client.beta.assistants.list(order="sideways")  # type: ignore[arg-type]


# --- 400: body size ---------------------------------------------------------------------------


def test_bodies_over_the_limit(make_server: Callable[..., ThreadedServer]) -> None:
    small = make_server(max_body_bytes=2048)
    url = small.url + "/v1/assistants"
    ok = httpx.post(url, json={"model": "offline/m", "instructions": "x" * 1500})
    assert ok.status_code == 200, ok.text
    too_big = httpx.post(url, json={"model": "offline/m", "instructions": "x" * 3000})
    assert_error(too_big, 400, "2048")

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "offline/m", "instructions": "'
        for _ in range(30):
            yield b"x" * 100
        yield b'"}'

    chunked = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 400, "2048")

    def small_chunks() -> Iterator[bytes]:
        yield b'{"model": "offline/m", '
        yield b'"name": "chunked"}'

    fine = httpx.post(url, content=small_chunks(), headers={"content-type": "application/json"})
    assert fine.status_code == 200, fine.text
    assert fine.json()["name"] == "chunked"
    client = openai.OpenAI(base_url=small.url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="too large"):
        client.beta.threads.create(messages=[{"role": "user", "content": "y" * 5000}])
    client.close()


# --- no 500 for any JSON ----------------------------------------------------------------------

FIELDS = [
    "model",
    "name",
    "description",
    "instructions",
    "tools",
    "metadata",
    "tool_resources",
    "temperature",
    "top_p",
    "response_format",
    "messages",
    "role",
    "content",
    "attachments",
    "type",
    "function",
    "parameters",
    "text",
    "image_url",
    "url",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["function", "text", "user", "assistant", "auto", "image_url", "\x00"])
)
keys = st.sampled_from(FIELDS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
bodies = st.dictionaries(keys, json_values, max_size=6)


@seed(20240826)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, target=st.sampled_from(["assistants", "threads", "messages", "update"]))
def test_random_json_bodies_never_cause_a_500(
    fuzz_targets: dict[str, str], http: httpx.Client, body: dict[str, Any], target: str
) -> None:
    raw = json.dumps(body).encode()  # NaN and Infinity included, as Python's parser reads them
    response = http.post(
        fuzz_targets[target], content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (target, body, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.fixture
def fuzz_targets(http: httpx.Client) -> dict[str, str]:
    """The create endpoints, and an update, that the fuzz test posts to."""
    thread_id = http.post("/threads", json={}).json()["id"]
    assistant_id = http.post("/assistants", json={"model": "offline/demo"}).json()["id"]
    return {
        "assistants": "/assistants",
        "threads": "/threads",
        "messages": f"/threads/{thread_id}/messages",
        "update": f"/assistants/{assistant_id}",
    }
