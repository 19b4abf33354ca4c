"""Reasoning read from an OpenAI-compatible server and sent back to it as configured."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from callisto.config import ProviderSettings, Settings
from callisto.providers.base import ChatMessage, ChatRequest, ToolCall, collect
from callisto.providers.openai import OpenAIProvider, build_body
from callisto.providers.replay import replay_mode
from callisto.testing.fake_llm import FakeLLM, Reply

CALL = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')
ROUND = (
    ChatMessage(role="user", content="Weather in Oslo?"),
    ChatMessage(role="assistant", content="Checking.", tool_calls=(CALL,), reasoning="plan"),
    ChatMessage(role="tool", content="sunny", tool_call_id="call_1", name="get_weather"),
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm(fake: FakeLLM) -> FakeLLM:
    fake.reset()
    return fake


async def _stream(llm: FakeLLM, request: ChatRequest, **settings: Any) -> tuple[str, str]:
    """Return the (text, reasoning) of one call through a provider with ``settings``."""
    provider = OpenAIProvider("fake", ProviderSettings(base_url=llm.base_url, **settings))
    try:
        reply = await collect(provider.stream(request))
    finally:
        await provider.aclose()
    return reply.text, reply.reasoning


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("deepseek-ai/DeepSeek-V3.2", "field"),
        ("deepseek-v3.2-exp", "field"),
        ("deepseek-reasoner", "field"),
        ("deepseek-v4-pro", "field"),
        ("zai-org/GLM-4.5-Air", "field"),
        ("glm-4.7", "field"),
        ("GLM-5", "field"),
        ("moonshotai/Kimi-K2-Thinking", "field"),
        ("MiniMaxAI/MiniMax-M2", "think_tags"),
        ("minimax-m2.1", "think_tags"),
        ("deepseek-ai/DeepSeek-R1", "none"),
        ("glm-4-9b-chat", "none"),
        ("Qwen/Qwen3-8B", "none"),
        ("gpt-4o", "none"),
    ],
)
def test_auto_chooses_by_model_name(model: str, mode: str) -> None:
    assert replay_mode("auto", model) == mode


@pytest.mark.parametrize("setting", ["none", "field", "think_tags"])
def test_an_explicit_setting_wins_over_the_name(setting: str) -> None:
    assert replay_mode(setting, "MiniMax-M2") == setting
    assert replay_mode(setting, "some-model") == setting


def test_a_model_overrides_its_providers_reasoning_settings() -> None:
    provider = ProviderSettings(
        reasoning_replay="none",
        models={"m2": {"reasoning_replay": "think_tags", "template_opens_think": True}},  # type: ignore[dict-item]
    )
    assert (provider.reasoning_replay, provider.template_opens_think) == ("none", False)
    m2 = provider.for_model("m2")
    assert (m2.reasoning_replay, m2.template_opens_think) == ("think_tags", True)
    assert provider.for_model("other").reasoning_replay == "none"


def test_reasoning_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__REASONING_REPLAY", "field")
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__MODELS__GLM__TEMPLATE_OPENS_THINK", "true")
    vllm = Settings().provider_settings()["vllm"]
    assert vllm.reasoning_replay == "field"
    assert vllm.for_model("glm").template_opens_think is True


def test_an_unknown_replay_is_refused() -> None:
    with pytest.raises(ValidationError, match="reasoning_replay"):
        ProviderSettings(reasoning_replay="always")  # type: ignore[arg-type]


def _assistant(mode: str) -> dict[str, Any]:
    body = build_body(ChatRequest(model="m", messages=ROUND), reasoning_replay=mode)  # type: ignore[arg-type]
    [assistant] = [m for m in body["messages"] if m["role"] == "assistant"]
    assert all("reasoning_content" not in m for m in body["messages"] if m is not assistant)
    return assistant


def test_field_sends_reasoning_content_beside_content_and_calls() -> None:
    assistant = _assistant("field")
    assert (assistant["content"], assistant["reasoning_content"]) == ("Checking.", "plan")
    assert assistant["tool_calls"][0]["id"] == "call_1"


def test_think_tags_open_the_content_with_the_reasoning() -> None:
    assistant = _assistant("think_tags")
    assert assistant["content"] == "<think>\nplan\n</think>\n\nChecking."
    assert "reasoning_content" not in assistant


def test_none_sends_no_reasoning() -> None:
    assert "plan" not in json.dumps(_assistant("none"))


def test_think_tags_on_a_message_that_only_calls() -> None:
    bare = ChatMessage(role="assistant", tool_calls=(CALL,), reasoning="plan")
    body = build_body(ChatRequest(model="m", messages=(bare,)), reasoning_replay="think_tags")
    assert body["messages"][0]["content"] == "<think>\nplan\n</think>\n\n"


async def test_streamed_reasoning_fields_are_reasoning(llm: FakeLLM) -> None:
    for field in ("reasoning_content", "reasoning"):
        reply = Reply.text("Hi there.", reasoning="first this, then that")
        llm.script(dataclasses.replace(reply, reasoning_field=field))
        text, reasoning = await _stream(
            llm, ChatRequest(model="m", messages=ROUND[:1]), timeout=5.0
        )
        assert (text, reasoning) == ("Hi there.", "first this, then that")


async def test_the_provider_sends_reasoning_as_its_model_is_configured(llm: FakeLLM) -> None:
    request = ChatRequest(model="MiniMax-M2", messages=ROUND)
    for settings, expected in (
        ({}, "<think>\nplan\n</think>\n\nChecking."),  # auto, by name
        ({"models": {"MiniMax-M2": {"reasoning_replay": "none"}}}, "Checking."),
    ):
        await _stream(llm, request, **settings)
        [assistant] = [m for m in llm.requests[-1].messages if m["role"] == "assistant"]
        assert assistant["content"] == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.text("plan one\n</think>\n\nHello."), ("Hello.", "plan one")),
        # The server parsed the reasoning itself: the content is the answer.
        (Reply.text("Hello.", reasoning="plan two"), ("Hello.", "plan two")),
        # Cut off while thinking: all of it is reasoning.
        (Reply.text("plan three, and more", finish_reason="length"), ("", "plan three, and more")),
    ],
)
async def test_a_template_that_opens_think(
    llm: FakeLLM, reply: Reply, expected: tuple[str, str]
) -> None:
    llm.script(reply)
    request = ChatRequest(model="m", messages=ROUND[:1])
    assert await _stream(llm, request, template_opens_think=True) == expected
