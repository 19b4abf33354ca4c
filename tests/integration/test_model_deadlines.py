"""A model that goes silent, or sends only keep-alives, fails the run by its deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, start, wait_for


def keepalive_only_model() -> Starlette:
    """An OpenAI-compatible endpoint that answers 200 and then sends only SSE comments."""

    async def chat(request: Request) -> StreamingResponse:
        async def comments() -> AsyncIterator[bytes]:
            for _ in range(600):
                yield b": keep-alive\n\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(comments(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def test_a_silent_model_fails_the_run_by_the_first_token_deadline(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[Reply.hang(30.0)] * 3)
    server = make_server(runs={"first_token_timeout": 0.5, "model_call_timeout": 30})
    client = sdk_client(server.url)
    _, thread, run = start(client, "hello")
    run = wait_for(client, thread.id, run.id, TERMINAL, timeout=20)
    assert run.status == "failed"
    assert "no output within 0.5 s" in run.last_error.message
    client.close()


def test_keep_alives_do_not_extend_the_deadline(
    make_server: Callable[..., ThreadedServer],
) -> None:
    with ThreadedServer(keepalive_only_model()) as model:
        provider = ProviderSettings(
            kind="openai", base_url=model.url + "/v1", api_key="k", timeout=5, max_retries=0
        )
        server = make_server(
            providers={"quiet": provider},
            runs={"first_token_timeout": 0.5, "model_call_timeout": 30},
        )
        client = sdk_client(server.url)
        _, thread, run = start(client, "hello", model="quiet/m")
        run = wait_for(client, thread.id, run.id, TERMINAL, timeout=20)
        assert run.status == "failed"
        assert "no output within 0.5 s" in run.last_error.message
        client.close()
