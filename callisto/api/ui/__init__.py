"""``/ui``: the run inspector, server-rendered pages with a little hand-written JavaScript.

Pages: the threads with their runs (filters by status and model), a thread's messages and runs,
and a run's steps, tool calls (arguments, outputs, refused repair rounds), messages and timing
waterfall, which follow the run's events live. Each page can also be fetched as a fragment
(``?fragment=1``), which is how the script refreshes it in place.

When the server has API keys, the pages ask for one and keep it in an HttpOnly cookie limited
to ``/ui``; the API-key middleware lets ``/ui`` through so that this form can be shown, and
every page here checks the cookie (or an ``Authorization``/``X-API-Key`` header) itself.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from callisto.api.deps import State
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


def _accepted(key: str | None, keys: list[str]) -> bool:
    if key is None:
        return False
    # Compare against every key in constant time so the answer leaks nothing.
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def _login_if_needed(request: Request, state: State) -> Response | None:
    """Return the key form when the server has keys and the request brings none that fits."""
    keys = state.settings.api_keys()
    if not keys or _accepted(_presented(request), keys):
        return None
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
    if not _accepted(key, state.settings.api_keys()):
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
    """The newest threads and their runs, filtered by run status and model."""
    if (denied := _login_if_needed(request, state)) is not None:
        return denied
    filters = views.Filters(status=status if status in STATUSES else "", model=model)
    async with state.sessions() as db:
        data = await views.thread_list(db, filters, models=not fragment)
    name = "_threads.html" if fragment else "threads.html"
    return _page(name, **data, filters=filters, statuses=STATUSES, auth=_auth(state))


@router.get("/threads/{thread_id}")
async def thread(
    request: Request, thread_id: str, state: State, fragment: bool = False
) -> Response:
    """A thread's messages and runs."""
    if (denied := _login_if_needed(request, state)) is not None:
        return denied
    async with state.sessions() as db:
        row = await db.get(ThreadRow, thread_id)
        if row is None:
            raise NotFound(f"No thread found with id '{thread_id}'.")
        data = await views.thread_detail(db, row)
    name = "_thread.html" if fragment else "thread.html"
    return _page(name, **data, auth=_auth(state))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def run(
    request: Request, thread_id: str, run_id: str, state: State, fragment: bool = False
) -> Response:
    """A run: its steps, tool calls, messages and waterfall, following its events live."""
    if (denied := _login_if_needed(request, state)) is not None:
        return denied
    async with state.sessions() as db:
        row = await state.runs.get_run(db, thread_id, run_id)
        data = await views.run_detail(db, row)
    name = "_run.html" if fragment else "run.html"
    return _page(name, **data, auth=_auth(state))


@router.get("/threads/{thread_id}/runs/{run_id}/events")
async def events(
    request: Request,
    thread_id: str,
    run_id: str,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """The run's events (as ``/v1/threads/{thread_id}/runs/{run_id}/events``), for the page."""
    if (denied := _login_if_needed(request, state)) is not None:
        return denied
    return await run_events(thread_id, run_id, state, None, last_event_id)


def _auth(state: State) -> bool:
    return bool(state.settings.api_keys())
