"""Model routing: ``PROVIDER/MODEL``, aliases, the default provider, and honest refusals."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from callisto.config import Settings
from callisto.errors import InvalidRequest
from callisto.providers.registry import ProviderRegistry

VLLM = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CALLISTO_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def registry(**settings: object) -> ProviderRegistry:
    return ProviderRegistry(Settings(**settings))  # type: ignore[arg-type]


def refusal(providers: ProviderRegistry, model: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        providers.split(model)
    assert caught.value.param == "model" and caught.value.status_code == 400
    return caught.value.message


@pytest.mark.parametrize(
    "model", ["openai/gpt-4o", "vllm/Qwen2.5-7B-Instruct", "nosuch/foo", "gpt-4o"]
)
def test_a_model_of_no_configured_provider_is_refused_naming_the_configured_ones(
    model: str,
) -> None:
    message = refusal(registry(), model)
    assert f"'{model}'" in message and "Configured providers: offline." in message


def test_the_offline_model_answers_when_named() -> None:
    assert registry().split("offline/demo") == ("offline", "demo")


def test_a_configured_provider_takes_its_models_slashes_and_all() -> None:
    providers = registry(providers={"vllm": VLLM})
    assert providers.split("vllm/Qwen/Qwen2.5-7B-Instruct") == ("vllm", "Qwen/Qwen2.5-7B-Instruct")
    assert providers.split("VLLM/m") == ("vllm", "m")
    assert "Configured providers: offline, vllm." in refusal(providers, "gpt-4o")


def test_a_default_provider_set_on_purpose_takes_every_other_model_whole() -> None:
    providers = registry(providers={"vllm": VLLM}, default_provider="vllm")
    assert providers.split("Qwen/Qwen2.5-7B-Instruct") == ("vllm", "Qwen/Qwen2.5-7B-Instruct")
    assert providers.split("offline/demo") == ("offline", "demo")
    stand_in = registry(default_provider="offline")
    assert stand_in.split("gpt-4o") == ("offline", "gpt-4o")


def test_a_default_provider_that_is_not_configured_is_named_in_the_refusal() -> None:
    message = refusal(registry(default_provider="vllm"), "gpt-4o")
    assert "default provider 'vllm' is not configured" in message


def test_aliases_route_to_their_targets_ignoring_case() -> None:
    providers = registry(
        providers={"vllm": VLLM},
        model_aliases={"gpt-4-1106-preview": "vllm/Qwen2.5-7B-Instruct", "GPT-4o": "offline/demo"},
    )
    assert providers.split("gpt-4-1106-preview") == ("vllm", "Qwen2.5-7B-Instruct")
    assert providers.split("gpt-4o") == ("offline", "demo")
    assert providers.split("GPT-4-1106-PREVIEW") == ("vllm", "Qwen2.5-7B-Instruct")


def test_an_alias_to_an_unconfigured_provider_is_refused_saying_so() -> None:
    providers = registry(model_aliases={"gpt-4": "vllm/Qwen2.5-7B-Instruct"})
    message = refusal(providers, "gpt-4")
    assert "alias of 'vllm/Qwen2.5-7B-Instruct'" in message and "offline" in message


def test_aliases_from_the_environment_and_the_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "callisto.toml").write_text(
        '[model_aliases]\n"gpt-4-1106-preview" = "vllm/Qwen2.5-7B-Instruct"\n'
        '[providers.vllm]\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    monkeypatch.setenv("CALLISTO_MODEL_ALIASES__GPT-4O-MINI", "offline/small")
    settings = Settings()
    assert settings.model_aliases == {
        "gpt-4-1106-preview": "vllm/Qwen2.5-7B-Instruct",
        "gpt-4o-mini": "offline/small",
    }
    providers = ProviderRegistry(settings)
    assert providers.split("gpt-4-1106-preview") == ("vllm", "Qwen2.5-7B-Instruct")
    assert providers.split("gpt-4o-mini") == ("offline", "small")


async def test_listed_models_are_aliases_wildcards_and_configured_models() -> None:
    providers = registry(
        providers={"vllm": {**VLLM, "models": {"Qwen3-8B": {"tool_format": "hermes"}}}},
        model_aliases={"gpt-4": "vllm/Qwen3-8B", "broken": "nosuch/model"},
    )
    # Port 9 refuses connections: vllm lists nothing, so it is listed as a wildcard.
    assert await providers.list_models() == {
        "gpt-4": "vllm",
        "offline/*": "offline",
        "vllm/*": "vllm",
        "vllm/Qwen3-8B": "vllm",
    }


async def test_start_warns_of_aliases_and_a_default_that_route_nowhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    providers = registry(
        model_aliases={"gpt-4": "vllm/Qwen3-8B", "fine": "offline/demo"}, default_provider="vllm"
    )
    with caplog.at_level(logging.WARNING, logger="callisto.providers.registry"):
        await providers.start()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("model alias 'gpt-4' routes nowhere: ")
    assert (
        messages[1] == "default_provider 'vllm' is not configured. Configured providers: offline."
    )
    await providers.aclose()
