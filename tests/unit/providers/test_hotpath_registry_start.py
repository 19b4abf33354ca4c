"""``ProviderRegistry.start``: every provider built when the server starts, failures left lazy."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from callisto.config import ProviderSettings, Settings
from callisto.errors import ProviderError
from callisto.providers import registry
from callisto.providers.base import ChatRequest, ProviderEvent
from callisto.providers.offline import OfflineProvider
from callisto.providers.registry import ProviderRegistry

KEY = "sk-secret-0123456789"


class CountingProvider:
    """An adapter that counts how often it is built, and refuses ``fail`` builds first."""

    built: list[str] = []
    fail: dict[str, int] = {}

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        if CountingProvider.fail.get(name, 0) > 0:
            CountingProvider.fail[name] -= 1
            raise ValueError(f"cannot reach {settings.base_url} with {KEY}")
        CountingProvider.built.append(name)
        self.name = name

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def aclose(self) -> None:
        pass


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingProvider]:
    monkeypatch.setitem(registry.ADAPTERS, "openai", (__name__, "CountingProvider"))
    monkeypatch.setattr(CountingProvider, "built", [])
    monkeypatch.setattr(CountingProvider, "fail", {})
    return CountingProvider


def registry_of(*names: str) -> ProviderRegistry:
    providers = {
        name: ProviderSettings(
            kind="openai", base_url=f"http://{name}.test/v1", api_key=SecretStr(KEY)
        )
        for name in names
    }
    return ProviderRegistry(Settings(providers=providers))


async def test_start_builds_every_configured_provider_once(
    counting: type[CountingProvider],
) -> None:
    providers = registry_of("alpha", "beta")

    await providers.start()
    assert sorted(counting.built) == ["alpha", "beta"]

    alpha, model = providers.resolve("alpha/some-model")
    beta, _ = providers.resolve("beta/other")
    offline, _ = providers.resolve("offline/echo")
    assert (alpha.name, model) == ("alpha", "some-model")  # type: ignore[attr-defined]
    assert beta.name == "beta"  # type: ignore[attr-defined]
    assert isinstance(offline, OfflineProvider)
    assert sorted(counting.built) == ["alpha", "beta"]  # resolving built nothing more
    await providers.aclose()


async def test_a_provider_that_fails_at_start_is_logged_and_built_on_first_use(
    counting: type[CountingProvider], caplog: pytest.LogCaptureFixture
) -> None:
    counting.fail["beta"] = 1
    providers = registry_of("alpha", "beta")

    with caplog.at_level(logging.WARNING, logger="callisto.providers.registry"):
        await providers.start()

    assert counting.built == ["alpha"]
    warnings = [r for r in caplog.records if r.name == "callisto.providers.registry"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "'beta' could not be set up: ValueError" in warnings[0].getMessage()
    assert KEY not in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # one line, not a traceback

    beta, _ = providers.resolve("beta/m")
    assert beta.name == "beta"  # type: ignore[attr-defined]
    assert counting.built == ["alpha", "beta"]
    await providers.aclose()


async def test_a_provider_that_never_builds_fails_its_runs_with_a_provider_error(
    counting: type[CountingProvider],
) -> None:
    counting.fail["beta"] = 99
    providers = registry_of("beta")
    await providers.start()

    with pytest.raises(ProviderError) as info:
        providers.resolve("beta/m")

    assert (
        "Provider 'beta' could not be set up: ValueError: cannot reach http://beta.test/v1"
        in info.value.message
    )
    assert KEY not in info.value.message
    assert "***" in info.value.message


async def test_start_with_real_adapters_builds_their_clients() -> None:
    settings = {
        "oai": ProviderSettings(kind="openai", base_url="http://127.0.0.1:9/v1"),
        "claude": ProviderSettings(kind="anthropic", base_url="http://127.0.0.1:9"),
        "gem": ProviderSettings(kind="gemini", base_url="http://127.0.0.1:9"),
        "bad": ProviderSettings(kind="openai", base_url="http://[::1"),  # not a URL
    }
    providers = ProviderRegistry(Settings(providers=settings))

    await providers.start()  # nothing is contacted; the bad one does not stop the others

    assert type(providers.resolve("oai/m")[0]).__name__ == "OpenAIProvider"
    assert type(providers.resolve("claude/m")[0]).__name__ == "AnthropicProvider"
    assert type(providers.resolve("gem/m")[0]).__name__ == "GeminiProvider"
    with pytest.raises(ProviderError, match="InvalidURL"):
        providers.resolve("bad/m")
    await providers.aclose()


def run_fresh(code: str) -> Any:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and return its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_start_loads_the_text_call_parsers_only_when_a_provider_uses_them() -> None:
    code = """
        import asyncio, sys
        from callisto.config import ProviderSettings, Settings
        from callisto.providers.registry import ProviderRegistry
        providers = {"vllm": ProviderSettings(kind="openai", base_url="http://127.0.0.1:9/v1",
                                              models={"qwen": {"tool_format": "%s"}})}
        asyncio.run(ProviderRegistry(Settings(providers=providers)).start())
        print("callisto.providers.textcalls" in sys.modules, "callisto.providers.openai" in sys.modules)
    """
    assert run_fresh(code % "hermes") == "True True"
    assert run_fresh(code % "native") == "False True"
