"""The Chat Completions tool loop: model -> tool calls -> tool messages -> model.

Callisto does not serve ``/v1/chat/completions`` yet, so this example talks to any
OpenAI-compatible server named by ``CHAT_BASE_URL`` (with ``CHAT_MODEL``), or, when that is not
set, to Callisto's scripted fake LLM (``callisto.testing.fake_llm``) started in this process and
scripted to call ``get_weather`` twice and then answer. Run it::

    .venv/bin/python examples/chat_weather_loop.py
    CHAT_BASE_URL=http://127.0.0.1:8001/v1 CHAT_MODEL=my-model .venv/bin/python examples/chat_weather_loop.py

``CHAT_API_KEY`` is sent as the key when set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import openai
from _common import check, run

from callisto.tools import Toolbox, complete_with_tools, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city name.
    """
    return {"tokyo": "22C sunny", "paris": "15C rain"}.get(city.lower(), "unknown")


@contextlib.contextmanager
def chat_server() -> Iterator[tuple[str, str]]:
    """Yield ``(base_url, model)``: the configured server, or a scripted fake one."""
    if os.environ.get("CHAT_BASE_URL"):
        yield os.environ["CHAT_BASE_URL"], os.environ.get("CHAT_MODEL", "gpt-4o-mini")
        return
    from callisto.testing.fake_llm import FakeLLM, Reply

    with FakeLLM() as fake:
        fake.script(
            Reply.tool_calls(
                ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})
            ),
            Reply.text("Tokyo is 22C and sunny; Paris is 15C with rain."),
        )
        yield fake.base_url, "fake-model"


def main() -> None:
    """Run the loop and print the conversation."""
    with chat_server() as (base_url, model):
        sdk = openai.OpenAI(base_url=base_url, api_key=os.environ.get("CHAT_API_KEY", "sk-none"))
        outcome = complete_with_tools(
            sdk,
            [{"role": "user", "content": "What's the weather in Tokyo and Paris?"}],
            Toolbox([get_weather]),
            model=model,
        )
    for message in outcome.messages:
        print(f"{message['role']}: {message.get('content') or message.get('tool_calls')}")
    check(bool(outcome.tool_results), "the model never called get_weather")
    check(all(r.ok for r in outcome.tool_results), "a tool call failed")
    check(bool(outcome.text), "no final answer")


if __name__ == "__main__":
    run(
        main,
        os.environ.get("CHAT_BASE_URL", "the scripted fake model"),
        "check CHAT_BASE_URL, or unset it to use the scripted fake model",
    )
