"""``POST /v1/chat/completions`` through the official SDK, for every provider kind.

Each kind answers through its fake server: ``fake`` (OpenAI-compatible, native tool calls),
``local`` (the same fake, the Hermes text family: calls written as text), ``claude``
(Anthropic) and ``gem`` (Gemini). Whole and streamed answers, with ``stream=True`` and with the
SDK's ``chat.completions.stream`` helper, must give the same calls. Chat completions store
nothing, so these tests use a server of their own on one SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_anthropic import FakeAnthropic
from callisto.testing.fake_gemini import FakeGemini
from callisto.testing.fake_llm import FakeLLM, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings, sdk_client
from tests.integration.helpers import WEATHER_TOOL

CALLS = [("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})]
KINDS = ["fake", "local", "claude", "gem"]
USER = [{"role": "user", "content": "Weather in Tokyo and Paris?"}]


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def _settings(
    directory: Path, fake_llm: FakeLLM, anthropic: FakeAnthropic, gemini: FakeGemini, **extra: Any
) -> Any:
    providers = {
        "local": {"kind": "openai", "base_url": fake_llm.base_url, "tool_format": "hermes"},
        "claude": {"kind": "anthropic", "base_url": anthropic.base_url, "api_key": "sk-ant"},
        "gem": {"kind": "gemini", "base_url": gemini.base_url, "api_key": "gm-key"},
    }
    url = f"sqlite:///{directory / 'chat.db'}"
    return make_settings(url, fake_llm, providers=providers, **extra)


@pytest.fixture(scope="module")
def chat_server(
    tmp_path_factory: pytest.TempPathFactory,
    fake_llm: FakeLLM,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> Iterator[ThreadedServer]:
    settings = _settings(tmp_path_factory.mktemp("chat"), fake_llm, fake_anthropic, fake_gemini)
    with serve_callisto(settings) as server:
        yield server


@pytest.fixture
def client(chat_server: ThreadedServer) -> Iterator[openai.OpenAI]:
    sdk = sdk_client(chat_server.url)
    yield sdk
    sdk.close()


@pytest.fixture
def fakes(
    fake_llm: FakeLLM, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> dict[str, Any]:
    fake_anthropic.requests.clear()
    fake_gemini.requests.clear()
    return {"fake": fake_llm, "local": fake_llm, "claude": fake_anthropic, "gem": fake_gemini}


def script_calls(fakes: dict[str, Any], kind: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue one reply that makes ``calls``, in the kind's own way."""
    if kind == "fake":
        fakes[kind].script(Reply.tool_calls(*calls))
    elif kind == "local":
        written = "".join(
            f'<tool_call>{{"name": "{n}", "arguments": {json.dumps(a)}}}</tool_call>'
            for n, a in calls
        )
        fakes[kind].script(Reply.text("Let me check." + written, token_delay=0.0))
    else:
        fakes[kind].reply_tool_calls(*calls)


def script_text(fakes: dict[str, Any], kind: str, text: str) -> None:
    if kind in ("fake", "local"):
        fakes[kind].script(Reply.text(text))
    else:
        fakes[kind].reply_text(text)


def call_pairs(calls: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in calls or []]


def streamed(client: openai.OpenAI, **params: Any) -> tuple[str, list[Any], str, list[Any]]:
    """Stream with ``stream=True``; return the text, the calls assembled from the deltas by
    index, the finish reason and every chunk."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = ""
    chunks = list(client.chat.completions.create(stream=True, **params))
    for chunk in chunks:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.id or ""
                entry["name"] += call.function.name or "" if call.function else ""
                entry["arguments"] += call.function.arguments or "" if call.function else ""
            finish = choice.finish_reason or finish
    pairs = [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert all(c["id"] for c in calls.values())
    return "".join(text), pairs, finish, chunks


@pytest.mark.parametrize("kind", KINDS)
def test_tool_calls_whole_streamed_and_with_the_stream_helper(
    client: openai.OpenAI, fakes: dict[str, Any], kind: str
) -> None:
    params: dict[str, Any] = {"model": f"{kind}/m", "messages": USER, "tools": [WEATHER_TOOL]}

    script_calls(fakes, kind, CALLS)
    whole = client.chat.completions.create(**params)
    [choice] = whole.choices
    assert choice.finish_reason == "tool_calls" and call_pairs(choice.message.tool_calls) == CALLS
    assert whole.object == "chat.completion" and whole.model == f"{kind}/m"
    assert "tool_call" not in (choice.message.content or "")
    assert whole.usage is not None and whole.usage.total_tokens > 0
    if kind in ("claude", "gem"):  # their fakes report 10 and 5
        assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (10, 5)

    script_calls(fakes, kind, CALLS)
    text, pairs, finish, _ = streamed(client, **params)
    assert pairs == CALLS and finish == "tool_calls"
    assert text == (choice.message.content or "") and "tool_call" not in text

    script_calls(fakes, kind, CALLS)
    with client.chat.completions.stream(**params) as stream:
        final = stream.get_final_completion()
    assert call_pairs(final.choices[0].message.tool_calls) == CALLS
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("kind", KINDS)
def test_tool_results_go_back_to_the_model(
    client: openai.OpenAI, fakes: dict[str, Any], kind: str
) -> None:
    script_calls(fakes, kind, CALLS)
    first = client.chat.completions.create(model=f"{kind}/m", messages=USER, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    calls = message.tool_calls or []
    outputs = [
        {"role": "tool", "tool_call_id": c.id, "content": f"sunny in {args['city']}"}
        for c, (_, args) in zip(calls, CALLS, strict=True)
    ]
    script_text(fakes, kind, "Both are sunny.")
    second = client.chat.completions.create(
        model=f"{kind}/m",
        # The reply's message object itself, as clients append it.
        messages=[*USER, message, *outputs],  # type: ignore[list-item]
        tools=[WEATHER_TOOL],
    )
    assert second.choices[0].message.content == "Both are sunny."
    assert second.choices[0].finish_reason == "stop"
    sent = json.dumps(fakes[kind].requests[-1].body)
    assert "sunny in Tokyo" in sent and "sunny in Paris" in sent


def test_text_streams_in_pieces_and_usage_comes_last(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("One two three four five", usage=(7, 5)))
    text, pairs, finish, chunks = streamed(
        client,
        model="fake/m",
        messages=[{"role": "user", "content": "Count"}],
        stream_options={"include_usage": True},
    )
    assert text == "One two three four five" and pairs == [] and finish == "stop"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1]) and chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (7, 5)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert fake_llm.requests[-1].body["stream"] is True


def test_request_parameters_reach_the_provider(client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fake_llm.script(Reply.text('{"a": "x"}'))
    client.chat.completions.create(
        model="fake/m",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=50,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    body = fake_llm.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["content"] == "Hi"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 50)
    assert body["response_format"]["json_schema"]["schema"] == schema
    fake_llm.script(Reply.text("ok"))
    client.chat.completions.create(
        model="fake/m", messages=[{"role": "user", "content": "Hi"}], max_tokens=7
    )
    assert fake_llm.requests[-1].body["max_tokens"] == 7


def test_neutral_values_of_unsupported_parameters_are_accepted(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("ok"))
    reply = client.chat.completions.create(
        model="fake/m",
        messages=[{"role": "user", "content": "Hi"}],
        n=1,
        store=False,
        seed=None,
        stop=None,
        frequency_penalty=0,
        presence_penalty=0,
        logit_bias={},
        logprobs=False,
        service_tier="auto",
        user="u-1",
        metadata={"k": "v"},
    )
    assert reply.choices[0].message.content == "ok"
    sent = fake_llm.requests[-1].body
    assert not {"seed", "stop", "logit_bias", "user", "metadata"} & set(sent)


def test_one_call_when_parallel_calls_are_off(client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(*CALLS))
    reply = client.chat.completions.create(
        model="fake/m", messages=USER, tools=[WEATHER_TOOL], parallel_tool_calls=False
    )
    assert call_pairs(reply.choices[0].message.tool_calls) == CALLS[:1]


def test_the_offline_model_and_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="offline/demo", messages=USER, tools=[WEATHER_TOOL]
    )
    assert call_pairs(reply.choices[0].message.tool_calls) == CALLS

    class Answer(BaseModel):
        answer: str

    parsed = client.chat.completions.parse(
        model="offline/demo",
        messages=[{"role": "user", "content": "Say hi"}],
        response_format=Answer,
    )
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, Answer) and answer.answer


BAD_ARGUMENTS = [("get_weather", {"town": "Oslo"})]
GOOD_ARGUMENTS = [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["fake", "local"])
def test_a_bad_call_is_sent_back_to_the_model_and_corrected(
    client: openai.OpenAI, fakes: dict[str, Any], kind: str, stream: bool
) -> None:
    fakes[kind].reset()
    script_calls(fakes, kind, BAD_ARGUMENTS)
    script_calls(fakes, kind, GOOD_ARGUMENTS)
    params: dict[str, Any] = {"model": f"{kind}/m", "messages": USER, "tools": [WEATHER_TOOL]}
    if stream:
        _, pairs, finish, _ = streamed(client, **params)
    else:
        choice = client.chat.completions.create(**params).choices[0]
        pairs, finish = call_pairs(choice.message.tool_calls), choice.finish_reason
    assert pairs == GOOD_ARGUMENTS and finish == "tool_calls"
    [first, second] = fakes[kind].requests
    assert "town" not in json.dumps(first.body["messages"])
    assert "break its schema" in json.dumps(second.body["messages"])


def test_a_corrected_answer_keeps_the_first_text_and_counts_every_call(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        replace(Reply.tool_calls(*BAD_ARGUMENTS, text="Checking."), usage=(10, 2)),
        replace(Reply.tool_calls(*GOOD_ARGUMENTS), usage=(20, 3)),
    )
    reply = client.chat.completions.create(model="fake/m", messages=USER, tools=[WEATHER_TOOL])
    message = reply.choices[0].message
    assert message.content == "Checking." and call_pairs(message.tool_calls) == GOOD_ARGUMENTS
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (30, 5)
    assert reply.usage.total_tokens == 35


def test_calls_still_bad_after_every_correction_are_a_502(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[Reply.tool_calls(*BAD_ARGUMENTS)] * 3)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="fake/m", messages=USER, tools=[WEATHER_TOOL])
    assert caught.value.status_code == 502 and isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_tool_calls"
    assert "3 times in a row" in caught.value.body["message"]
    assert len(fake_llm.requests) == 3


def test_pass_through_returns_the_calls_as_the_model_made_them(
    tmp_path: Path,
    fake_llm: FakeLLM,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> None:
    settings = _settings(
        tmp_path, fake_llm, fake_anthropic, fake_gemini, chat={"tool_calls": "pass_through"}
    )
    with serve_callisto(settings) as server:
        sdk = sdk_client(server.url)
        fake_llm.script(Reply.tool_calls(*BAD_ARGUMENTS))
        reply = sdk.chat.completions.create(model="fake/m", messages=USER, tools=[WEATHER_TOOL])
        sdk.close()
    assert call_pairs(reply.choices[0].message.tool_calls) == BAD_ARGUMENTS
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (400, openai.BadRequestError, "invalid_prompt"),
        (401, openai.InternalServerError, "server_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_provider_errors_before_any_output_are_http_errors(
    client: openai.OpenAI,
    fake_llm: FakeLLM,
    status: int,
    error: type[openai.APIStatusError],
    code: str,
    stream: bool,
) -> None:
    # The provider's own retries (two) are spent on a 429 first.
    fake_llm.script(*[Reply.error(status, "the fake refused")] * 3)
    with pytest.raises(error) as caught:
        list(client.chat.completions.create(model="fake/m", messages=USER, stream=True)) if (
            stream
        ) else client.chat.completions.create(model="fake/m", messages=USER)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == code
    assert "the fake refused" in caught.value.body["message"]
    assert "sk-fake-test-key" not in caught.value.body["message"]


def test_a_stream_cut_by_the_provider_ends_with_an_error_the_sdk_raises(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.cut("This answer stops in the middle", after=3))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="fake/m", messages=USER, stream=True):
            seen.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(seen).startswith("This") and "provider" in caught.value.message.lower()


EXTERNAL_REF_TOOL = {
    "type": "function",
    "function": {
        "name": "f",
        "parameters": {"$ref": "https://example.com/schema.json"},
    },
}
TOOL_MESSAGES = [
    {"role": "user", "content": "hi"},
    {"role": "tool", "tool_call_id": "call_nope", "content": "x"},
]


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"surprise": 1}, "surprise", "Unknown parameter"),
        ({"n": 2}, "n", "n > 1"),
        ({"seed": 7}, "seed", "not supported"),
        ({"stop": ["END"]}, "stop", "not supported"),
        ({"logprobs": True}, "logprobs", "not supported"),
        ({"presence_penalty": 0.5}, "presence_penalty", "not supported"),
        ({"store": True}, "store", "keeps no chat completions"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "stream is true"),
        ({"tool_choice": "required"}, "tool_choice", "tools are specified"),
        ({"temperature": 3}, "temperature", "less than or equal to 2"),
        ({"tools": [EXTERNAL_REF_TOOL]}, "tools[0]", "refer outside the schema"),
        ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools", "different function name"),
        (
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "x"}},
            },
            "tool_choice",
            "not among the tools",
        ),
        ({"messages": []}, "messages", "at least 1"),
        ({"messages": [{"role": "user"}]}, "messages[0]", "needs content"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "Input should be"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content",
            "text parts only",
        ),
        ({"messages": TOOL_MESSAGES}, "messages[1].tool_call_id", "call_nope"),
        (
            {"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]},
            "messages[0]",
            "type 'refusal' are not supported",
        ),
        (
            {
                "messages": [
                    *TOOL_MESSAGES[:1],
                    {
                        "role": "tool",
                        "tool_call_id": "c",
                        "content": [{"type": "refusal", "refusal": "no"}],
                    },
                ]
            },
            "messages[1]",
            "type 'refusal' are not supported",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0]", "tool_call_id"),
        ({"model": "nosuch/model"}, "model", "Configured providers"),
    ],
)
def test_bad_requests_are_400s_in_openais_shape(
    chat_server: ThreadedServer, fake_llm: FakeLLM, extra: dict[str, Any], param: str, words: str
) -> None:
    body = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}], **extra}
    response = httpx.post(chat_server.url + "/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert words in error["message"]
    assert fake_llm.requests == []


def test_nothing_is_stored(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="offline/demo", messages=USER)
    assert client.chat.completions.list().data == []
    with pytest.raises(openai.NotFoundError, match="stores no chat completions"):
        client.chat.completions.retrieve(reply.id)


async def test_the_async_client_streams_text_and_calls(
    chat_server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.text(
            'I will look.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
        )
    )
    async with (
        openai.AsyncOpenAI(base_url=chat_server.url + "/v1", api_key="k", max_retries=0) as sdk,
        sdk.chat.completions.stream(model="local/m", messages=USER, tools=[WEATHER_TOOL]) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "I will look." and call_pairs(message.tool_calls) == GOOD_ARGUMENTS
    assert "content.delta" in kinds and "tool_calls.function.arguments.done" in kinds


def test_a_silent_model_is_a_504_and_a_stalled_stream_ends_with_an_error(
    tmp_path: Path,
    fake_llm: FakeLLM,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> None:
    deadlines = {"first_token_timeout": 0.3, "model_call_timeout": 1.0}
    settings = _settings(tmp_path, fake_llm, fake_anthropic, fake_gemini, runs=deadlines)
    with serve_callisto(settings) as server:
        sdk = sdk_client(server.url)
        fake_llm.script(*[Reply.hang(30.0)] * 3)  # the provider's two retries included
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="fake/m", messages=USER)
        assert caught.value.status_code == 504
        assert "no output within 0.3 s" in caught.value.message
        fake_llm.script(Reply.hang(30.0, after_text="Partial answer"))
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="did not finish within 1 s"):
            for chunk in sdk.chat.completions.create(model="fake/m", messages=USER, stream=True):
                seen.extend(c.delta.content or "" for c in chunk.choices)
        assert "".join(seen).startswith("Partial")
        sdk.close()
