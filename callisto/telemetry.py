"""Telemetry: the engine's Prometheus metrics, OpenTelemetry spans and run log, in one place.

The engine calls into this module at the few places where what it counts happens: a run's
status change (:func:`run_transition`, from ``lifecycle.transition``), a turn (:func:`traced_turn`)
and a model call (:func:`traced_provider_call`) of the runner, a tool-call repair, a batch of the
store writer, and the dispatcher's runs in flight. It imports nothing of Callisto's, so any
layer may use it.

OpenTelemetry is optional (the ``otel`` extra): without it, no span is made and everything else
works the same. Spans follow the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ...). The tracer comes from the global
tracer provider, so spans go wherever the process's OpenTelemetry SDK sends them.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram

try:
    from opentelemetry import trace as otel_trace
except ImportError:  # the [otel] extra is not installed: no spans
    otel_trace = None  # type: ignore[assignment]

P = ParamSpec("P")
T = TypeVar("T")

run_log = logging.getLogger("callisto.runs")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

RUNS_STARTED = Counter("callisto_runs_started", "Runs that began their first turn.", ["model"])
RUNS_ENDED = Counter(
    "callisto_runs_ended", "Runs that reached a terminal status.", ["model", "status"]
)
TURN_SECONDS = Histogram(
    "callisto_turn_duration_seconds",
    "Duration of one turn of a run: prompt, model calls, tool-call checks, writes.",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "callisto_provider_calls",
    "Model calls by provider and outcome (ok, cancelled (a cancel or a model deadline), "
    "or the error's class).",
    ["provider", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "callisto_provider_call_duration_seconds",
    "Duration of one model call, first byte to last.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "callisto_time_to_first_token_seconds",
    "Time from sending a model call to its first text or tool-call fragment.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
TOOL_CALL_REPAIRS = Counter(
    "callisto_tool_call_repairs",
    "Invalid tool calls sent back to the model for correction.",
    ["model"],
)
WRITER_BATCH_SIZE = Histogram(
    "callisto_writer_batch_size",
    "Transaction functions committed together by the store writer.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
WRITER_COMMIT_SECONDS = Histogram(
    "callisto_writer_commit_seconds",
    "Time a store writer batch held the database, from its first statement to its commit.",
    buckets=_LATENCY_BUCKETS,
)
RUNS_IN_FLIGHT = Gauge(
    "callisto_runs_in_flight", "Turns executing or waiting for a slot in this process."
)


class _Counts(Protocol):
    @property
    def active(self) -> int: ...


_dispatchers: weakref.WeakSet[Any] = weakref.WeakSet()
RUNS_IN_FLIGHT.set_function(lambda: float(sum(d.active for d in list(_dispatchers))))


def track_in_flight(dispatcher: _Counts) -> None:
    """Count ``dispatcher.active`` in ``callisto_runs_in_flight`` while the dispatcher lives."""
    _dispatchers.add(dispatcher)


def writer_batch(size: int, seconds: float) -> None:
    """Record one committed batch of the store writer."""
    WRITER_BATCH_SIZE.observe(size)
    WRITER_COMMIT_SECONDS.observe(seconds)


def tool_call_repaired(model: str) -> None:
    """Record that invalid tool calls of ``model`` went back to it for correction."""
    TOOL_CALL_REPAIRS.labels(model).inc()


# --- run state changes ----------------------------------------------------------------------

TIMELINE_RUNS = 10_000
"""How many runs' timelines this process keeps (the oldest are forgotten first)."""

_timelines: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()
_model_calls: dict[str, list[ModelCall]] = {}  # of runs that have a timeline
_timelines_lock = threading.Lock()  # transitions happen on the store writer's thread
_turn_of: contextvars.ContextVar[str | None] = contextvars.ContextVar("callisto_turn", default=None)


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One model call of a run's turn: when it started and ended (Unix seconds), how it went.

    ``first_output`` is when its first text or tool-call fragment came (``None``: none came).
    """

    start: float
    end: float
    first_output: float | None
    outcome: str


class _RunLike(Protocol):
    id: str
    thread_id: str
    model: str
    created_at: int
    started_at: int | None
    usage: dict[str, Any] | None


def timeline(run_id: str) -> list[tuple[str, float]]:
    """Return the statuses ``run_id`` entered in this process, with when (Unix seconds).

    Empty for a run whose first turn this process did not start. The first entry is
    ``queued`` at the run's creation.
    """
    with _timelines_lock:
        return list(_timelines.get(run_id, ()))


def model_calls(run_id: str) -> list[ModelCall]:
    """Return the model calls of ``run_id``'s turns, for a run that has a :func:`timeline`."""
    with _timelines_lock:
        return list(_model_calls.get(run_id, ()))


def _add_model_call(run_id: str, call: ModelCall) -> None:
    with _timelines_lock:
        if run_id in _timelines:
            _model_calls.setdefault(run_id, []).append(call)


def _record(
    run: _RunLike, previous: str, to: str, now: float, created_ms: Callable[[str], int]
) -> float | None:
    """Add ``to`` to the run's timeline; return the seconds spent in ``previous`` if known."""
    with _timelines_lock:
        entries = _timelines.get(run.id)
        if entries is None:
            if previous != "queued" or run.started_at is not None:
                return None  # the run began elsewhere (another process, before a restart)
            # Inserted queued: its creation is the start.
            try:
                created = created_ms(run.id) / 1000
            except ValueError:  # an id not made by callisto.ids (tests)
                created = float(run.created_at)
            entries = _timelines[run.id] = [(previous, created)]
            while len(_timelines) > TIMELINE_RUNS:
                forgotten, _ = _timelines.popitem(last=False)
                _model_calls.pop(forgotten, None)
        since = entries[-1][1] if entries[-1][0] == previous else None
        entries.append((to, now))
    return None if since is None else max(0.0, now - since)


def run_transition(
    run: _RunLike, previous: str, to: str, terminal: bool, created_ms: Callable[[str], int]
) -> None:
    """Count, time and log one status change of ``run`` (called by ``lifecycle.transition``).

    ``created_ms`` reads a run's creation time (Unix milliseconds) from its id.

    Logs one INFO line on ``callisto.runs`` with the run, thread, model, statuses, the seconds
    spent in the previous status and the tokens used so far; the same as fields for JSON logs.
    """
    now = time.time()
    duration = _record(run, previous, to, now, created_ms)
    if to == "in_progress" and run.started_at is None:
        RUNS_STARTED.labels(run.model).inc()
    if terminal:
        RUNS_ENDED.labels(run.model, to).inc()
    if not run_log.isEnabledFor(logging.INFO):
        return
    tokens = int((run.usage or {}).get("total_tokens", 0))
    run_log.info(
        "run %s %s -> %s after %s (thread %s, model %s, %d tokens)",
        run.id,
        previous,
        to,
        "?" if duration is None else f"{duration:.3f} s",
        run.thread_id,
        run.model,
        tokens,
        extra={
            "run_id": run.id,
            "thread_id": run.thread_id,
            "model": run.model,
            "previous_status": previous,
            "status": to,
            "duration_s": None if duration is None else round(duration, 6),
            "total_tokens": tokens,
        },
    )


# --- spans ----------------------------------------------------------------------------------


def _start_span(name: str, kind: str, attributes: dict[str, Any]) -> Any:
    """Start a span (not made current) under the current one, or return ``None``."""
    if otel_trace is None:
        return None
    tracer = otel_trace.get_tracer("callisto")
    return tracer.start_span(name, kind=getattr(otel_trace.SpanKind, kind), attributes=attributes)


def _end_span(span: Any, error: BaseException | None) -> None:
    if span is None:
        return
    if error is not None and not isinstance(error, GeneratorExit):
        span.record_exception(error)
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, type(error).__name__))
    span.end()


def traced_turn(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Wrap the runner's turn method ``(self, run, ...)``: a span and the turn's duration.

    The span (``invoke_agent``, internal) is current while the turn runs, so its model calls'
    spans are its children; the turn itself is a child of the request that started it.
    """

    @functools.wraps(method)
    async def turn(*args: P.args, **kwargs: P.kwargs) -> T:
        run = args[1]
        model = str(getattr(run, "model", ""))
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": str(getattr(run, "assistant_id", "")),
            "gen_ai.conversation.id": str(getattr(run, "thread_id", "")),
            "gen_ai.request.model": model,
            "callisto.run.id": str(getattr(run, "id", "")),
        }
        started = time.perf_counter()
        span = _start_span(f"invoke_agent {attributes['gen_ai.agent.id']}", "INTERNAL", attributes)
        error: BaseException | None = None
        turn_of = _turn_of.set(attributes["callisto.run.id"])
        try:
            if span is None:
                return await method(*args, **kwargs)
            with otel_trace.use_span(span, end_on_exit=False, record_exception=False):
                return await method(*args, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _turn_of.reset(turn_of)
            TURN_SECONDS.labels(model).observe(time.perf_counter() - started)
            if span is not None:
                # Only what the row holds: after a failed write its attributes are expired, and
                # loading them would raise in place of the turn's own error.
                loaded = vars(run)
                usage = loaded.get("usage") or {}
                span.set_attribute("gen_ai.usage.input_tokens", usage.get("prompt_tokens", 0))
                span.set_attribute("gen_ai.usage.output_tokens", usage.get("completion_tokens", 0))
                span.set_attribute("callisto.run.status", str(loaded.get("status", "")))
            _end_span(span, error)

    return turn


def traced_provider_call(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Wrap the runner's streaming method ``(self, provider, request, ...)``.

    The provider is replaced by a view whose ``stream`` observes each model call (retries are
    calls of their own): its latency, time to first token, outcome, and a ``chat`` span.
    """

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        observed = (args[0], _ObservedProvider(args[1]), *args[2:])
        return await cast(Callable[..., Awaitable[T]], method)(*observed, **kwargs)

    return call


class _ObservedProvider:
    """A provider whose ``stream`` is observed; everything else is the provider's own."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def stream(self, request: Any) -> AsyncIterator[Any]:
        return _observed_stream(self._inner, request)


# Provider events are recognised by their class names: this module imports no Callisto types.
_FIRST_OUTPUT = frozenset({"TextDelta", "ToolCallDelta"})


async def _observed_stream(provider: Any, request: Any) -> AsyncIterator[Any]:
    name = str(getattr(provider, "name", "unknown"))
    model = str(getattr(request, "model", ""))
    span = _start_span(
        f"chat {model}",
        "CLIENT",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": name,
            "gen_ai.request.model": model,
        },
    )
    started = time.perf_counter()
    wall = time.time()
    first_output: float | None = None
    outcome = "error"
    error: BaseException | None = None
    inner = provider.stream(request)
    try:
        async for event in inner:
            kind = type(event).__name__
            if first_output is None and kind in _FIRST_OUTPUT:
                first_output = time.perf_counter() - started
                FIRST_TOKEN_SECONDS.labels(name).observe(first_output)
            elif span is not None and kind == "Usage":
                span.set_attribute("gen_ai.usage.input_tokens", event.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", event.completion_tokens)
            elif span is not None and kind == "Finish":
                span.set_attribute("gen_ai.response.finish_reasons", [str(event.reason)])
            yield event
        outcome = "ok"
    except BaseException as exc:
        error = exc
        outcome = "cancelled" if type(exc).__name__ in _STOPS else type(exc).__name__
        raise
    finally:
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        elapsed = time.perf_counter() - started
        PROVIDER_CALLS.labels(name, outcome).inc()
        PROVIDER_SECONDS.labels(name).observe(elapsed)
        run_id = _turn_of.get()
        if run_id is not None:
            first = None if first_output is None else wall + first_output
            _add_model_call(run_id, ModelCall(wall, wall + elapsed, first, outcome))
        _end_span(span, error)


_STOPS = frozenset({"CancelledError", "GeneratorExit"})


# --- logs -----------------------------------------------------------------------------------

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send the root logger's records to stderr at ``level``, as text lines or JSON objects.

    In JSON, each record is one object with ``asctime``, ``levelname``, ``name`` and
    ``message``, plus a record's extra fields (a run state change carries ``run_id``,
    ``thread_id``, ``model``, ``status``, ...).
    """
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
