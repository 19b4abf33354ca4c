"""``/ui``: the run inspector, server-rendered pages with a little hand-written JavaScript.

Pages: the threads with their runs (filters by status and model), a thread's messages and runs,
and a run's steps, tool calls (arguments, outputs, refused repair rounds), messages and timing
waterfall, which follow the run's events live. Each page can also be fetched as a fragment
(``?fragment=1``), which is how the script refreshes it in place.

When the server has API keys, the pages ask for one and keep it in an HttpOnly cookie limited
to ``/ui``; the API-key middleware lets ``/ui`` through so that this form can be shown, and
every page here checks the cookie (or an ``Authorization``/``X-API-Key`` header) itself, and
shows only the threads and runs of that key's project.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from callisto.api.deps import State, get_or_404
from callisto.api.routes.events import run_events
from callisto.api.ui import views
from callisto.errors import NotFound
from callisto.store.models import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, ThreadRow

router = APIRouter(prefix="/ui", include_in_schema=False)

COOKIE = "callisto_ui_key"
STATUSES = (*ACTIVE_RUN_STATUSES, *TERMINAL_RUN_STATUSES)
STATIC = {"ui.js": "text/javascript", "ui.css": "text/css"}

_templates = Environment(
    loader=PackageLoader("callisto.api.ui", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_templates.filters["when"] = _when


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _presented(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


async def _project_or_login(request: Request, state: State) -> str | Response:
    """Return the project of the request's key, or the key form when it brings none that fits
    (an open server shows the ``default`` project)."""
    presented = _presented(request)
    project = await state.keys.project_of(presented.encode() if presented else None)
    if project is not None:
        return project
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _page("login.html", 401, next=target, wrong=False, auth=True)


def _safe_next(target: str) -> str:
    """Return ``target`` if it is a page of the inspector, else the inspector's start page."""
    if target.startswith("/ui") and "//" not in target and "\\" not in target:
        return target
    return "/ui"


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    """Check the key from the form; keep it in a cookie and go on to the page asked for."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/ui"])[0])
    if not key or await state.keys.project_of(key.encode()) is None:
        return _page("login.html", 401, next=target, wrong=True, auth=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the key's cookie."""
    response = RedirectResponse("/ui", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """Serve the inspector's script and style sheet."""
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound(f"No file {name!r} in the inspector's static files.")
    body = resources.files("callisto.api.ui").joinpath("static", name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("")
@router.get("/")
async def threads(
    request: Request,
    state: State,
    status: Annotated[str, Query()] = "",
    model: Annotated[str, Query()] = "",
    fragment: Annotated[bool, Query()] = False,
) -> Response:
    """The project's newest threads and their runs, filtered by run status and model."""
    project = await _project_or_login(request, state)
    if isinstance(project, Response):
        return project
    filters = views.Filters(status=status if status in STATUSES else "", model=model)
    async with state.sessions() as db:
        data = await views.thread_list(db, filters, project, models=not fragment)
    name = "_threads.html" if fragment else "threads.html"
    return _page(name, **data, filters=filters, statuses=STATUSES, auth=await _auth(state))


@router.get("/threads/{thread_id}")
async def thread(
    request: Request, thread_id: str, state: State, fragment: bool = False
) -> Response:
    """A thread's messages and runs."""
    project = await _project_or_login(request, state)
    if isinstance(project, Response):
        return project
    async with state.sessions() as db:
        row = await get_or_404(db, ThreadRow, thread_id, "thread", project)
        data = await views.thread_detail(db, row)
    name = "_thread.html" if fragment else "thread.html"
    return _page(name, **data, auth=await _auth(state))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def run(
    request: Request, thread_id: str, run_id: str, state: State, fragment: bool = False
) -> Response:
    """A run: its steps, tool calls, messages and waterfall, following its events live."""
    project = await _project_or_login(request, state)
    if isinstance(project, Response):
        return project
    async with state.sessions() as db:
        row = await state.runs.get_run(db, thread_id, run_id, project=project)
        data = await views.run_detail(db, row)
    name = "_run.html" if fragment else "run.html"
    return _page(name, **data, auth=await _auth(state))


@router.get("/threads/{thread_id}/runs/{run_id}/events")
async def events(
    request: Request,
    thread_id: str,
    run_id: str,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """The run's events (as ``/v1/threads/{thread_id}/runs/{run_id}/events``), for the page."""
    project = await _project_or_login(request, state)
    if isinstance(project, Response):
        return project
    return await run_events(thread_id, run_id, state, project, None, last_event_id)


async def _auth(state: State) -> bool:
    """Whether the server asks for keys (the pages then offer to log out)."""
    return not await state.keys.is_open()
