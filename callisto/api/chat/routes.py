"""``POST /v1/chat/completions``: OpenAI's Chat Completions, for any configured model.

The model routes like a run's (``PROVIDER/MODEL``, an alias, or the default provider) and the
request goes through the same provider adapters, text tool-call families included, so a model
that writes its calls as text answers with real ``tool_calls``. Stateless: nothing is stored.

A provider failure before any output is an HTTP error (429 for the provider's rate limit, 400
when it refused the request, 504 on a timeout, 502 otherwise); once a stream has begun, it ends
with an ``error`` frame, which the SDK raises.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callisto.api.chat.complete import Deadlines, InvalidToolCalls, Reply, complete
from callisto.api.chat.convert import to_request
from callisto.api.chat.schemas import ChatCompletionCreate
from callisto.api.chat.wire import DONE, Completion, error_chunk, tool_calls_body
from callisto.api.deps import State
from callisto.api.errors import error_response
from callisto.api.streaming import sse_response
from callisto.engine.retry import RetryPolicy
from callisto.errors import (
    NotFound,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from callisto.providers.base import ReasoningDelta, TextDelta

log = logging.getLogger("callisto.chat")

router = APIRouter(tags=["chat"])


def _provider_error(exc: ProviderError) -> tuple[int, str, str, str]:
    """Return the status, error type, code and message a provider failure is answered with."""
    message = f"The model provider failed: {exc.message}"
    if isinstance(exc, InvalidToolCalls):
        return 502, "server_error", "invalid_tool_calls", exc.message
    if isinstance(exc, ProviderRateLimited):
        return 429, "rate_limit_exceeded", "rate_limit_exceeded", message
    if isinstance(exc, ProviderBadRequest):
        return 400, "invalid_request_error", "invalid_prompt", message
    if isinstance(exc, ProviderTimeout):
        return 504, "server_error", "timeout", message
    return 502, "server_error", exc.code or "server_error", message


def _error_response(exc: ProviderError) -> JSONResponse:
    status, error_type, code, message = _provider_error(exc)
    response = error_response(status, message, error_type, code=code)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(0, int(exc.retry_after)))
    return response


@router.post("/chat/completions")
async def create_chat_completion(body: ChatCompletionCreate, state: State) -> Any:
    """Answer a chat completion, whole or streamed."""
    providers = state.runs.providers
    name, model = providers.split(body.model)
    provider, _ = providers.resolve(body.model)
    request = to_request(body, model)
    chat, runs = state.settings.chat, state.settings.runs
    events = complete(
        provider,
        request,
        retry=RetryPolicy(max_retries=providers.settings_for(name).max_retries),
        deadlines=Deadlines(runs.first_token_timeout, runs.model_call_timeout),
        repair=chat.tool_calls == "repair",
        retries=chat.tool_call_retries,
    )
    completion = Completion(model=f"{name}/{model}")
    if not body.stream:
        try:
            return await _whole(completion, events)
        except ProviderError as exc:
            return _error_response(exc)
        finally:
            await events.aclose()
    try:
        # The first event is awaited before answering: a failure before any output is an
        # HTTP error the SDK raises (and may retry), not a broken stream.
        first = await anext(events)
    except ProviderError as exc:
        await events.aclose()
        return _error_response(exc)
    except BaseException:
        await events.aclose()
        raise
    options = body.stream_options
    with_usage = bool(options is not None and options.include_usage)
    return sse_response(_chunks(completion, first, events, with_usage=with_usage))


async def _whole(
    completion: Completion, events: AsyncIterator[TextDelta | ReasoningDelta | Reply]
) -> Any:
    async for event in events:
        if isinstance(event, Reply):
            body = completion.body(
                event.text, event.calls, event.finish_reason, event.usage, event.reasoning
            )
            return JSONResponse(body)
    raise AssertionError("a completion ends with its reply")  # pragma: no cover


async def _chunks(
    completion: Completion,
    first: TextDelta | ReasoningDelta | Reply,
    events: AsyncGenerator[TextDelta | ReasoningDelta | Reply, None],
    *,
    with_usage: bool,
) -> AsyncIterator[bytes]:
    """Yield the SSE frames of a streamed completion, ending with ``[DONE]``.

    The provider's stream is closed when this ends, a client that went away included.
    """
    yield completion.chunk({"role": "assistant", "content": ""}, with_usage=with_usage)
    event = first
    try:
        while True:
            if isinstance(event, TextDelta):
                yield completion.chunk({"content": event.text}, with_usage=with_usage)
            elif isinstance(event, ReasoningDelta):
                yield completion.chunk({"reasoning_content": event.text}, with_usage=with_usage)
            else:
                for index, call in enumerate(tool_calls_body(event.calls)):
                    yield completion.chunk(
                        {"tool_calls": [{"index": index, **call}]}, with_usage=with_usage
                    )
                yield completion.chunk({}, event.finish_reason, with_usage=with_usage)
                if with_usage:
                    yield completion.chunk(None, usage=event.usage, with_usage=True)
                yield DONE
                return
            event = await anext(events)
    except ProviderError as exc:
        _, error_type, code, message = _provider_error(exc)
        yield error_chunk(message, error_type, code)
    except Exception:
        log.exception("chat completion stream failed")
        yield error_chunk("The server had an error while streaming.", "server_error", None)
    finally:
        await events.aclose()


@router.get("/chat/completions")
async def list_chat_completions() -> dict[str, Any]:
    """List stored chat completions: there are none, Callisto stores none."""
    return {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


@router.get("/chat/completions/{completion_id}")
async def retrieve_chat_completion(completion_id: str) -> Any:
    """Retrieve a stored chat completion: always a 404, Callisto stores none."""
    raise NotFound(
        f"No chat completion found with id '{completion_id}': Callisto stores no chat "
        "completions (store=true is refused)."
    )
