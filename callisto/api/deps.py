"""What every route needs: the server state, database sessions and list parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from callisto.api.auth import KeyResolver
from callisto.api.middleware import PROJECT_STATE
from callisto.config import Settings
from callisto.engine.service import RunService
from callisto.errors import NotFound
from callisto.store.pagination import list_body, page
from callisto.store.projects import OwnedRow

Row = TypeVar("Row")


@dataclass(slots=True)
class ServerState:
    """Everything the routes share, built once at start (see ``callisto.api.app``)."""

    settings: Settings
    sessions: async_sessionmaker[Any]
    runs: RunService
    keys: KeyResolver


async def project(request: Request) -> str:
    """Return the project the request acts in, as the API-key middleware found it.

    Raises:
        RuntimeError: The app runs without the middleware (it would otherwise serve every
            project's objects).
    """
    found: str | None = request.scope.get("state", {}).get(PROJECT_STATE)
    if found is None:
        raise RuntimeError("no project: the app runs without callisto's AuthMiddleware")
    return found


Project = Annotated[str, Depends(project)]
"""The project of the request's API key: every object a route reads or writes is its."""


async def server_state(request: Request) -> ServerState:
    """Return the server state stored on the app.

    ``async`` like every dependency that does no blocking work: FastAPI runs a plain ``def`` one
    in its thread pool, a thread hand-off on every request.
    """
    state: ServerState = request.app.state.callisto
    return state


State = Annotated[ServerState, Depends(server_state)]


async def session(state: State) -> AsyncIterator[AsyncSession]:
    """Yield a database session for one request."""
    async with state.sessions() as db:
        yield db


Session = Annotated[AsyncSession, Depends(session)]


@dataclass(slots=True)
class ListParams:
    """``limit``, ``order``, ``after`` and ``before`` of a list request."""

    limit: int
    order: Literal["asc", "desc"]
    after: str | None
    before: str | None


async def list_params(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> ListParams:
    """Read the list parameters from the query string."""
    return ListParams(limit=limit, order=order, after=after, before=before)


Listing = Annotated[ListParams, Depends(list_params)]


async def list_response(
    db: AsyncSession,
    query: Select[Row],
    id_column: InstrumentedAttribute[str],
    listing: ListParams,
    to_wire: Callable[[Row], Any],
) -> Any:
    """Return one page of ``query`` as the API's list object."""
    rows, more = await page(
        db,
        query,
        id_column,
        limit=listing.limit,
        order=listing.order,
        after=listing.after,
        before=listing.before,
    )
    return list_body(rows, more, to_wire)


async def get_or_404(
    db: AsyncSession, model: type[OwnedRow], object_id: str, what: str, project: str
) -> OwnedRow:
    """Return the project's row with ``object_id`` or raise a 404 naming it (another
    project's row answers the same 404 as an unknown id)."""
    row = await db.get(model, object_id)
    if row is None or row.project_id != project:
        raise NotFound(f"No {what} found with id '{object_id}'.", param=None)
    return row
