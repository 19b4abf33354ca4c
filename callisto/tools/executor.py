"""Validate and execute tool calls: in parallel, with timeouts, policies, audit and metrics.

Every call ends in a :class:`ToolResult`, never an exception: an unknown function, bad JSON,
arguments that break the schema, a refusal by a gate, a timeout or an exception in the tool each
become a result with a stable :class:`ErrorCode` and a message telling the model what to fix.
One call's failure never stops the others.

Timeouts: async tools are cancelled when their time is up. A sync tool runs in a worker thread
of a bounded pool, and Python can't kill a thread: on timeout the call's result is ``TIMEOUT``
at once, but the thread runs on, abandoned, until the function returns, and holds a pool slot
meanwhile. This works on every platform and from any thread (no signals).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from callisto.tools._arguments import ArgumentsInvalid
from callisto.tools.audit import AuditTrail
from callisto.tools.cache import ResultCache
from callisto.tools.metrics import ToolMetrics
from callisto.tools.policy import Gate, ToolRequest
from callisto.tools.results import ErrorCode, ToolCall, ToolResult
from callisto.tools.serialize import DEFAULT_MAX_CHARS, serialize_output
from callisto.tools.tool import Tool
from callisto.tools.toolbox import Toolbox


class ToolExecutor:
    """Runs the calls a model asks for against a :class:`Toolbox`.

    Args:
        toolbox: The tools.
        gates: Policies asked in order before a call is validated and run (allowlist, guards,
            rate limits); the first denial ends the call.
        cache: Result cache for tools marked ``deterministic``.
        audit: Audit trail receiving a record per call.
        metrics: Metrics receiving every result.
        timeout: Seconds a call may take when its tool sets no timeout; ``None`` for no limit.
        max_workers: Threads for sync tools.
        max_output_chars: Outputs longer than this are truncated with a marker.
        show_exception_details: Include the exception's text in ``EXECUTION_ERROR`` messages
            (the model often can fix its call from it); turn off if tools' errors may leak
            internals.
    """

    def __init__(
        self,
        toolbox: Toolbox,
        *,
        gates: Sequence[Gate] = (),
        cache: ResultCache | None = None,
        audit: AuditTrail | None = None,
        metrics: ToolMetrics | None = None,
        timeout: float | None = 60.0,
        max_workers: int = 8,
        max_output_chars: int | None = DEFAULT_MAX_CHARS,
        show_exception_details: bool = True,
    ) -> None:
        self.toolbox = toolbox
        self.gates = list(gates)
        self.cache = cache
        self.audit = audit
        self.metrics = metrics
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        self.show_exception_details = show_exception_details
        self._max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def execute_all(
        self, calls: Iterable[Any], *, caller: str | None = None
    ) -> list[ToolResult]:
        """Run calls concurrently; results come back in the calls' order.

        Async tools run on the event loop, sync tools in the thread pool, so the total time is
        close to the slowest call's.

        Args:
            calls: SDK tool-call objects, dicts or :class:`ToolCall` (see
                :meth:`ToolCall.from_any`).
            caller: Who the calls run for (for allowlists, rate limits, the audit trail).

        Returns:
            One result per call.
        """
        return list(await asyncio.gather(*(self.execute(call, caller=caller) for call in calls)))

    def execute_all_sync(
        self, calls: Iterable[Any], *, caller: str | None = None
    ) -> list[ToolResult]:
        """Blocking :meth:`execute_all`, for synchronous programs.

        Inside a thread with a running event loop it runs the calls on a loop in a helper
        thread, so it never blocks-on-itself; prefer :meth:`execute_all` there.
        """
        pending = list(calls)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.execute_all(pending, caller=caller))
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callisto-loop") as helper:
            return helper.submit(asyncio.run, self.execute_all(pending, caller=caller)).result()

    async def execute(self, call: Any, *, caller: str | None = None) -> ToolResult:
        """Validate and run one call; never raises for anything the call or tool does.

        Args:
            call: The call, in any shape :meth:`ToolCall.from_any` reads.
            caller: Who the call runs for.

        Returns:
            The result, successful or with an error code.
        """
        started = time.perf_counter()
        parsed = ToolCall.from_any(call)
        arguments: Any = parsed.arguments
        try:
            result, arguments = await self._run(parsed, caller)
        except Exception as exc:  # a bug in a gate or sink must still give the model an answer
            result = ToolResult.failure(parsed, ErrorCode.EXECUTION_ERROR, f"Internal error: {exc}")
        duration = time.perf_counter() - started
        result = _with_duration(result, duration)
        if self.metrics is not None:
            self.metrics.record(result)
        if self.audit is not None:
            self.audit.record(
                tool=parsed.name,
                caller=caller,
                call_id=parsed.id,
                arguments=arguments,
                code=result.code.value if result.code else None,
                duration=duration,
                cached=result.cached,
            )
        return result

    async def _run(self, call: ToolCall, caller: str | None) -> tuple[ToolResult, Any]:
        """Run one call; also return its arguments as parsed so far, for the audit trail."""
        tool = self.toolbox.get(call.name)
        if tool is None:
            available = ", ".join(self.toolbox.names) or "none"
            message = f"There is no function named {call.name!r}. Available functions: {available}."
            return ToolResult.failure(call, ErrorCode.FUNCTION_NOT_FOUND, message), call.arguments
        arguments = _parse_arguments(call.arguments)
        if isinstance(arguments, str):
            return ToolResult.failure(call, ErrorCode.INVALID_JSON, arguments), call.arguments
        request = ToolRequest(call=call, tool=tool, caller=caller, arguments=arguments)
        for gate in self.gates:
            denial = gate.check(request)
            if denial is not None:
                return ToolResult.failure(call, denial.code, denial.message), arguments
        try:
            args, kwargs = tool.bind(arguments)
        except ArgumentsInvalid as exc:
            fields = "; ".join(f"{path}: {message}" for path, message in exc.errors)
            message = f"Invalid arguments for {tool.name}: {fields}. Fix these and call again."
            return ToolResult.failure(call, ErrorCode.VALIDATION_ERROR, message), arguments
        return await self._cached_invoke(call, tool, arguments, args, kwargs), arguments

    async def _cached_invoke(
        self,
        call: ToolCall,
        tool: Tool[..., Any],
        arguments: Mapping[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> ToolResult:
        use_cache = self.cache is not None and tool.deterministic
        if use_cache and self.cache is not None:
            hit = self.cache.get(tool.name, arguments)
            if self.metrics is not None:
                self.metrics.record_cache(hit=hit is not None)
            if hit is not None:
                return ToolResult(call.id, call.name, hit, cached=True)
        result = await self._invoke(call, tool, args, kwargs)
        if use_cache and self.cache is not None and result.ok:
            self.cache.put(tool.name, arguments, result.output)
        return result

    async def _invoke(
        self, call: ToolCall, tool: Tool[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ToolResult:
        limit = tool.timeout if tool.timeout is not None else self.timeout
        try:
            value = await asyncio.wait_for(self._start(tool, args, kwargs), limit)
            output = serialize_output(value, max_chars=self.max_output_chars)
        except TimeoutError:
            message = (
                f"{tool.name} did not finish within {limit:g} s. "
                "Try a smaller request or continue without it."
            )
            return ToolResult.failure(call, ErrorCode.TIMEOUT, message)
        except Exception as exc:  # the tool's own failure, reported to the model
            detail = f": {type(exc).__name__}: {exc}" if self.show_exception_details else "."
            message = f"{tool.name} failed{detail}"
            return ToolResult.failure(call, ErrorCode.EXECUTION_ERROR, message)
        return ToolResult(call.id, call.name, output, value=value)

    async def _start(
        self, tool: Tool[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if tool.is_async:
            return await tool.function(*args, **kwargs)
        loop = asyncio.get_running_loop()
        # Copy the context so contextvars (request ids, tracing) reach the worker thread.
        context = contextvars.copy_context()
        job = functools.partial(context.run, tool.function, *args, **kwargs)
        return await loop.run_in_executor(self._thread_pool(), job)

    def _thread_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._max_workers, thread_name_prefix="callisto-tool"
            )
        return self._pool

    def close(self) -> None:
        """Release the thread pool without waiting for abandoned (timed-out) calls."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ToolExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _parse_arguments(raw: str | Mapping[str, Any]) -> Mapping[str, Any] | str:
    """Return the arguments object, or a message saying what is wrong with the JSON."""
    if isinstance(raw, Mapping):
        return raw
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        return f"The arguments are not valid JSON ({exc}). Send them again as one JSON object."
    if not isinstance(value, dict):
        kind = type(value).__name__
        return f"The arguments must be a JSON object, not {kind}. Send {{...}} with named fields."
    return value


def _with_duration(result: ToolResult, duration: float) -> ToolResult:
    return ToolResult(
        result.call_id,
        result.name,
        result.output,
        code=result.code,
        message=result.message,
        duration=duration,
        cached=result.cached,
        value=result.value,
    )
