"""Entities V1 compatibility: the ``projectdavid`` SDK's endpoints, on Callisto's own rows.

Scripts written for the Entities V1 platform run unchanged with
``ENTITIES_BASE_URL=http://HOST:PORT/entities``, with the seed-era SDK (``projectdavid`` 1.36:
stream, poll the action, stream again) and the current one (1.113: ``stream_events`` and
``ToolCallRequestEvent.execute``). Threads, messages, assistants and runs are the ones the
Assistants API serves, so a run started here can be retrieved with
``client.beta.threads.runs.retrieve``; what Entities keeps beyond them (actions, stream
positions, tools, assistant settings) is in tables of its own
(``callisto/store/entities_models.py``), so any API process serves any request. Mounted under
``/entities/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter

from callisto.api.entities import (
    completions,
    routes_assistants,
    routes_events,
    routes_runs,
    routes_threads,
)

router = APIRouter(prefix="/v1")
for _module in (routes_threads, routes_assistants, routes_runs, routes_events, completions):
    router.include_router(_module.router)

__all__ = ["router"]
