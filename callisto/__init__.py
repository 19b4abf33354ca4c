"""Callisto: a self-hosted, OpenAI Assistants API v2 compatible function-calling server.

The package root stays light: importing ``callisto`` (as ``callisto.tools`` does) loads no server
dependency. ``create_app`` and ``Settings`` are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from callisto.api.app import create_app

        return create_app
    if name == "Settings":
        from callisto.config import Settings

        return Settings
    raise AttributeError(f"module 'callisto' has no attribute {name!r}")
