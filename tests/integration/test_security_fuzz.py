"""The OpenAPI document tells the truth: schemathesis fuzzes every operation of a live server.

Every operation, from the document's examples, its boundary values, random data and stateful
sequences, within a time budget per backend (about a minute each, two in all). No answer may be
a 5xx, use a status code or content type the document does not list, or break a documented
response schema. Also here: 400 (not 422) in the document, and 405 with ``Allow``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.databases import fresh_postgres_schema
from callisto.testing.fake_llm import FakeLLM
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings

FUZZ_SECONDS = 50
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


def test_the_document_says_400_and_names_the_error_shape(server: ThreadedServer) -> None:
    document = httpx.get(server.url + "/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "Error" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            assert {"400", "401", "404", "429"} <= set(responses), (method, path)
    streamed = document["paths"]["/v1/threads/{thread_id}/runs"]["post"]["responses"]["200"]
    assert "text/event-stream" in streamed["content"]


def test_405_names_every_allowed_method(server: ThreadedServer) -> None:
    response = httpx.delete(server.url + "/v1/assistants")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.put(server.url + "/v1/assistants/asst_x")
    assert response.headers["allow"] == "GET, POST, DELETE"


@pytest.fixture
def fresh_server(database_url: str, fake_llm: FakeLLM, tmp_path: Path) -> Iterator[ThreadedServer]:
    """A server on a database of its own: the fuzzer's objects stay out of other tests' lists."""
    with ExitStack() as stack:
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'fuzz.db'}"
        else:
            url = stack.enter_context(fresh_postgres_schema())
        yield stack.enter_context(serve_callisto(make_settings(url, fake_llm)))


def test_schemathesis_finds_no_server_error(fresh_server: ThreadedServer, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "st"),
        "--no-color",
        "run",
        fresh_server.url + "/openapi.json",
        "--checks",
        CHECKS,
        "--max-time",
        str(FUZZ_SECONDS),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
    ]
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=FUZZ_SECONDS * 3
    )
    if done.returncode != 0:
        pytest.fail(done.stdout[-8000:] + done.stderr[-2000:])
    assert "generated" in done.stdout
