"""The Responses and Conversations APIs: a translation onto the engine's runs and threads."""

from __future__ import annotations

from fastapi import APIRouter

from callisto.api.responses import routes_conversations, routes_responses

router = APIRouter()
router.include_router(routes_responses.router)
router.include_router(routes_conversations.router)

__all__ = ["router"]
