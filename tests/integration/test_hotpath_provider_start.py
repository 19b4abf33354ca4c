"""A server builds its providers at start; one that cannot be built does not stop it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, start, wait_for


def test_a_provider_that_cannot_be_built_is_logged_and_the_others_serve(
    make_server: Callable[..., ThreadedServer],
    fake_llm: FakeLLM,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = ProviderSettings(kind="openai", base_url="http://[::1", api_key="sk-broken-key-42")
    with caplog.at_level(logging.WARNING, logger="callisto.providers.registry"):
        server = make_server(providers={"broken": broken})
    warnings = [r for r in caplog.records if r.name == "callisto.providers.registry"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "Provider 'broken' could not be set up: InvalidURL" in warnings[0].getMessage()
    assert warnings[0].exc_info is None

    client = sdk_client(server.url)
    try:
        fake_llm.script(Reply.text("All good"))
        _, thread, run = start(client, "Hello", tools=[])
        assert wait_for(client, thread.id, run.id, TERMINAL).status == "completed"

        # The broken one is tried again on first use, and its run fails with the reason.
        _, thread, run = start(client, "Hello", tools=[], model="broken/some-model")
        failed = wait_for(client, thread.id, run.id, TERMINAL)
    finally:
        client.close()
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert "Provider 'broken' could not be set up: InvalidURL" in failed.last_error.message
    assert "sk-broken-key-42" not in failed.last_error.message
