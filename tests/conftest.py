"""Shared test configuration."""

from __future__ import annotations

import os

# No test may reach a real model API, whatever the developer's environment holds.
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "CALLISTO_API_KEY"):
    os.environ.pop(_key, None)
