"""Shared setup of the examples: where Callisto is, which model, and how to fail loudly.

Environment: ``CALLISTO_BASE_URL`` (default ``http://127.0.0.1:8000/v1``), ``CALLISTO_API_KEY``
(when the server has keys) and ``CALLISTO_MODEL`` (default ``offline/demo``, the built-in
offline model).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import NoReturn, TypeVar

import openai

# openai-python marks the whole Assistants API deprecated (OpenAI shut its own down); these
# examples use it on purpose, against Callisto, so the reminder on every call is noise here.
warnings.filterwarnings(
    "ignore", message=r"(The Assistants API is )?deprecated", category=DeprecationWarning
)

T = TypeVar("T")

BASE_URL = os.environ.get("CALLISTO_BASE_URL", "http://127.0.0.1:8000/v1")
MODEL = os.environ.get("CALLISTO_MODEL", "offline/demo")


def client() -> openai.OpenAI:
    """An official SDK client pointed at Callisto (the key is whatever the server expects)."""
    return openai.OpenAI(
        base_url=BASE_URL, api_key=os.environ.get("CALLISTO_API_KEY", "not-needed"), max_retries=0
    )


def fail(message: str) -> NoReturn:
    """Say what went wrong and exit non-zero, so scripts and CI notice."""
    print(f"FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        fail(message)


def run(main: Callable[[], T], base_url: str = BASE_URL, start: str = "") -> T:
    """Run an example's ``main``; a server that does not answer, or refuses the key, ends it
    with one line instead of a traceback.

    Args:
        main: The example.
        base_url: The server it talks to, to name in the message.
        start: How to start that server or choose another, for the message.
    """
    start = start or "start one with `.venv/bin/callisto serve`, or set CALLISTO_BASE_URL"
    try:
        return main()
    except openai.APIConnectionError:
        fail(f"no server answers at {base_url}: {start}")
    except openai.AuthenticationError:
        fail(f"the server at {base_url} refused the key: set CALLISTO_API_KEY to one of its keys")
