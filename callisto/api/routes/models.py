"""``/v1/models``: the models a client can name, as ``client.models.list()`` and ``retrieve()``
expect them.

The list is :meth:`ProviderRegistry.list_models`: the configured aliases, each
OpenAI-compatible provider's own list (or ``NAME/*`` when it gives none) and the models
configured by name. Retrieving answers for any model that routes, alias or ``PROVIDER/MODEL``,
without asking the provider whether it has that model; an id that routes nowhere is a 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from callisto.api.deps import State
from callisto.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/models", tags=["models"])


def _model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


@router.get("")
async def list_models(state: State) -> dict[str, Any]:
    """List the models that can be used."""
    models = await state.runs.providers.list_models()
    return {"object": "list", "data": [_model(m, owner) for m, owner in models.items()]}


@router.get("/{model_id:path}")
async def retrieve_model(model_id: str, state: State) -> dict[str, Any]:
    """Describe one model, if it routes to a configured provider."""
    try:
        provider, _ = state.runs.providers.split(model_id)
    except InvalidRequest as exc:
        raise NotFound(
            f"The model '{model_id}' does not exist. {exc.message}", code="model_not_found"
        ) from None
    return _model(model_id, provider)
