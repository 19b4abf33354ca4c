"""Overhead of the client toolkit per tool call: validation, dispatch, serialisation.

Plain script, no pass/fail: prints a table of microseconds per call. The target for
validating a typical call is under 20 us, with validators compiled once per schema and cached.

    .venv/bin/python bench/bench_tools.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from callisto.tools import (
    ArgumentGuard,
    AuditTrail,
    MemorySink,
    Toolbox,
    ToolCall,
    ToolExecutor,
    ToolMetrics,
    no_null_bytes,
    serialize_output,
    tool,
)
from callisto.tools._arguments import ArgumentsInvalid, compiled_validator


@tool
def get_weather(
    city: str,
    unit: Literal["celsius", "fahrenheit"] = "celsius",
    days: Annotated[int, Field(ge=1, le=14)] = 1,
) -> dict[str, Any]:
    """Get the weather."""
    return {"city": city, "unit": unit, "days": days, "temperature": 21.5}


@tool
async def get_weather_async(city: str, days: int = 1) -> str:
    """Get the weather (async)."""
    return f"{city}: sunny"


ARGS = {"city": "Tokyo", "unit": "celsius", "days": 3}
RAW = json.dumps(ARGS)
BAD_ARGS = {"city": 7, "unit": "kelvin", "days": 30}


def per_call_us(fn: Callable[[], object], *, seconds: float = 0.5) -> float:
    """Mean microseconds per call of ``fn``, over about ``seconds`` of calls."""
    for _ in range(200):
        fn()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            fn()
        count += 100
    return elapsed / count * 1e6


def async_per_call_us(make: Callable[[], Any], *, batch: int = 1, rounds: int = 2000) -> float:
    """Mean microseconds per call of an async operation covering ``batch`` calls."""

    async def loop() -> float:
        for _ in range(50):
            await make()
        started = time.perf_counter()
        for _ in range(rounds):
            await make()
        return (time.perf_counter() - started) / (rounds * batch) * 1e6

    return asyncio.run(loop())


def _refused(target: Any) -> None:
    with contextlib.suppress(ArgumentsInvalid):
        target.bind(BAD_ARGS)


def main() -> None:
    """Measure and print."""
    schema = get_weather.definition.parameters
    validator = compiled_validator(schema)
    toolbox = Toolbox([get_weather, get_weather_async])
    dict_tool = toolbox.add_definition(
        {"name": "weather.lookup", "parameters": {**schema, "type": "dict"}}, lambda **kw: kw
    )
    plain = ToolExecutor(toolbox)
    loaded = ToolExecutor(
        toolbox,
        gates=[ArgumentGuard(no_null_bytes)],
        audit=AuditTrail(MemorySink()),
        metrics=ToolMetrics(),
    )
    call_async = ToolCall("call_1", "get_weather_async", '{"city": "Tokyo"}')
    call_sync = ToolCall("call_1", "get_weather", RAW)
    ten = [ToolCall(f"call_{i}", "get_weather_async", '{"city": "Oslo"}') for i in range(10)]

    rows = [
        ("json.loads of the arguments", per_call_us(lambda: json.loads(RAW))),
        ("validate: pydantic binder (@tool)", per_call_us(lambda: get_weather.bind(ARGS))),
        ("validate: dict tool (fast accept path)", per_call_us(lambda: dict_tool.bind(ARGS))),
        ("validate: dict tool, invalid (jsonschema)", per_call_us(lambda: _refused(dict_tool))),
        ("validate: jsonschema, compiled + cached", per_call_us(lambda: validator.is_valid(ARGS))),
        (
            "validate: jsonschema, errors listed",
            per_call_us(lambda: list(validator.iter_errors(ARGS))),
        ),
        ("cache lookup of compiled validator", per_call_us(lambda: compiled_validator(schema))),
        ("serialise a dict result", per_call_us(lambda: serialize_output({"a": 1, "b": [1, 2]}))),
        ("execute: async tool, no policies", async_per_call_us(lambda: plain.execute(call_async))),
        (
            "execute: async tool, guard+audit+metrics",
            async_per_call_us(lambda: loaded.execute(call_async)),
        ),
        (
            "execute: sync tool (thread pool)",
            async_per_call_us(lambda: plain.execute(call_sync), rounds=1000),
        ),
        (
            "execute_all: 10 async calls, per call",
            async_per_call_us(lambda: plain.execute_all(ten), batch=10, rounds=300),
        ),
    ]
    plain.close()
    loaded.close()

    width = max(len(name) for name, _ in rows)
    print(f"{'operation'.ljust(width)}  us/call")
    print(f"{'-' * width}  -------")
    for name, micros in rows:
        print(f"{name.ljust(width)}  {micros:7.2f}")


if __name__ == "__main__":
    main()
