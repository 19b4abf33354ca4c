"""The one place where errors become HTTP responses in OpenAI's error shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from callisto.errors import CallistoError

log = logging.getLogger("callisto.api")

BUSY_RETRY_AFTER = 1
"""Seconds a client is asked to wait (``Retry-After``) when no database connection was free."""


def error_body(
    message: str,
    error_type: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Return ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    error_type: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    """Return an OpenAI-shaped error response."""
    return JSONResponse(error_body(message, error_type, param=param, code=code), status_code=status)


# Pydantic names the member of a union it tried inside an error's location: a type ("str",
# "list[...]", "function-after[...]"), a model class ("TextFormat") or, right after a list index,
# the tag of a discriminated union ("function" in tools[0].function.function.name). The API
# names parameters only.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "is-instance"})
_UNION_TAGS = frozenset(
    {"function", "code_interpreter", "file_search", "text", "image_url", "image_file"}
)


def _is_type_tag(part: str, previous: str | None) -> bool:
    if part in _TYPE_TAGS or "[" in part or part[:1].isupper():
        return True
    if part.startswith(("function-", "constrained-")):
        return True
    return previous is not None and previous.isdigit() and part in _UNION_TAGS


def _location(loc: tuple[Any, ...]) -> str | None:
    # FastAPI prefixes locations with "body"/"query"/"path"; the API names the parameter.
    parts: list[str] = []
    previous: str | None = None
    for raw in loc[1:]:
        part = str(raw)
        if not _is_type_tag(part, previous):
            parts.append(part)
        previous = part
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = list(exc.errors())
    if not errors:
        return "Invalid request.", None
    # Of a union's failed members, the one of the input's own type says what is wrong
    # (a part without "url"), not the one of another type ("Input should be a valid string").
    errors.sort(key=lambda e: (str(e.get("type", "")).endswith("_type"), -len(e.get("loc", ()))))
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "We could not parse the JSON body of your request: it is not valid JSON.", None
    param = _location(tuple(first.get("loc", ())))
    kind = first.get("type")
    detail = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = f"Unknown parameter: '{param}'."
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    elif param is None and kind in ("model_attributes_type", "dict_type"):
        message = "The request body must be a JSON object."
    elif param is None:
        message = f"Invalid request body: {detail}."
    else:
        message = f"Invalid value for '{param}': {detail}."
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} found.)"
    return message, param


def _server_busy(request: Request, cause: str, message: str) -> JSONResponse:
    """A 503 ``server_busy`` with Retry-After, logged as one line: the client may retry (the
    SDK does, after Retry-After)."""
    log.warning("answered 503 to %s %s: %s", request.method, request.url.path, cause)
    response = error_response(503, message, "server_error", code="server_busy")
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


OPENAI_RESOURCES = frozenset(
    {
        "audio",
        "batches",
        "chat",
        "chatkit",
        "completions",
        "containers",
        "conversations",
        "embeddings",
        "evals",
        "files",
        "fine_tuning",
        "images",
        "models",
        "moderations",
        "organization",
        "realtime",
        "responses",
        "uploads",
        "vector_stores",
        "videos",
    }
)
"""The first path segment after ``/v1`` of OpenAI's APIs; an unmatched path under one of them
is an OpenAI endpoint Callisto does not implement, not a mistyped URL. Some of these APIs may be
partly served: only paths no route matches get here."""


def not_found_message(method: str, path: str) -> str:
    """Return the message of a 404 for a path no route serves."""
    resource = path.removeprefix("/v1/").split("/", 1)[0] if path.startswith("/v1/") else ""
    if resource in OPENAI_RESOURCES:
        return (
            f"Callisto does not implement {method} {path} (an endpoint of OpenAI's "
            f"'{resource}' API)."
        )
    return f"Invalid URL ({method} {path})"


def install_error_handlers(app: FastAPI) -> None:
    """Map every error, ours and the framework's, to an OpenAI-shaped JSON response."""

    @app.exception_handler(CallistoError)
    async def _callisto(_request: Request, exc: CallistoError) -> JSONResponse:
        return error_response(
            exc.status_code, exc.message, exc.error_type, param=exc.param, code=exc.code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, param=param)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value validation let through: the request's fault, and the
        # driver's message may quote SQL, so it stays in the log.
        log.warning(
            "database refused a value on %s %s: %s", request.method, request.url.path, exc.orig
        )
        return error_response(400, "The request contains a value the database cannot store.")

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed in use for the pool's whole timeout: overload, not a
        # fault. One line in the log, since a traceback per refused request would only bury
        # the cause.
        reason = str(exc).split(" (Background on this error", 1)[0]
        return _server_busy(
            request,
            f"no database connection was free in time ({reason})",
            "The server is busy: no database connection was free in time. Please retry shortly.",
        )

    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # The connection was lost (a restart, a failover, a terminated backend) or the
        # transaction lost a deadlock: nothing was saved, and the same request can succeed.
        return _server_busy(
            request,
            "database error " + str(exc.orig or exc).split("\n", 1)[0],
            "The server could not reach its database; nothing was changed. Please retry.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = not_found_message(request.method, request.url.path)
        elif exc.status_code == 405:
            allowed = allowed_methods(app, request)
            response = error_response(
                405,
                f"Method {request.method} is not allowed on {request.url.path} "
                f"(allowed: {', '.join(allowed)}).",
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "The server had an error while processing your request.", "server_error"
        )


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Return every method some route answers on the request's path.

    Starlette's own ``Allow`` names only the methods of the first route whose path matched,
    while a path such as ``/v1/assistants`` has a route per method; so each method is tried
    against the app's routes.
    """
    allowed = []
    for method in _METHODS:
        # A fresh scope: the request's own carries the state of its routing so far.
        scope = {"type": "http", "path": request.url.path, "root_path": "", "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed
