"""OpenAI's Chat Completions API (``POST /v1/chat/completions``), stateless, for any model."""

from callisto.api.chat.routes import router

__all__ = ["router"]
