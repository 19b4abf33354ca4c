"""Entities V1 compatibility: the ``projectdavid`` SDK's endpoints, on Callisto's own rows.

Scripts written for the Entities V1 platform (``projectdavid`` 1.36) run unchanged with
``ENTITIES_BASE_URL=http://HOST:PORT/entities``: threads, messages, assistants and runs are the
ones the Assistants API serves, so a run started here can be retrieved with
``client.beta.threads.runs.retrieve``. Mounted under ``/entities/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter

from callisto.api.entities import completions, routes_assistants, routes_runs, routes_threads

router = APIRouter(prefix="/v1")
for _module in (routes_threads, routes_assistants, routes_runs, completions):
    router.include_router(_module.router)

__all__ = ["router"]
