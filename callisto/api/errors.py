"""The one place where errors become HTTP responses in OpenAI's error shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from callisto.errors import CallistoError

log = logging.getLogger("callisto.api")


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


def _location(loc: tuple[Any, ...]) -> str | None:
    # FastAPI prefixes locations with "body"/"query"/"path"; the API names the parameter.
    parts = [str(p) for p in loc[1:] if not str(p).startswith("function-")]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "We could not parse the JSON body of your request: it is not valid JSON.", None
    param = _location(tuple(first.get("loc", ())))
    kind = first.get("type")
    if kind == "extra_forbidden":
        message = f"Unknown parameter: '{param}'."
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} found.)"
    return message, param


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

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "The server had an error while processing your request.", "server_error"
        )
