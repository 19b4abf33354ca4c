"""Shared setup of the examples: where Callisto is, which model, and how to fail loudly."""

from __future__ import annotations

import os
import sys
import warnings
from typing import NoReturn

import openai

# openai-python marks the whole Assistants API deprecated (OpenAI shut its own down); these
# examples use it on purpose, against Callisto, so the reminder on every call is noise here.
warnings.filterwarnings(
    "ignore", message=r"(The Assistants API is )?deprecated", category=DeprecationWarning
)

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
