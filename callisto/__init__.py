"""Callisto: a self-hosted, OpenAI Assistants API v2 compatible function-calling server."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
