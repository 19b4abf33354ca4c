"""Audit trail (with redaction and sinks), result cache, metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from callisto.tools import (
    AuditTrail,
    ErrorCode,
    JsonLinesSink,
    LoggingSink,
    MemorySink,
    ResultCache,
    Toolbox,
    ToolCall,
    ToolExecutor,
    ToolMetrics,
    redact_secrets,
    tool,
)


def test_redaction_of_secret_looking_keys_at_any_depth() -> None:
    value = {
        "user": "ann",
        "password": "hunter2",
        "apiKey": "k",
        "nested": {
            "Authorization": "Bearer x",
            "access_token": "t",
            "list": [{"client-secret": 1}],
        },
        "author": "kept",
    }
    assert redact_secrets(value) == {
        "user": "ann",
        "password": "[REDACTED]",
        "apiKey": "[REDACTED]",
        "nested": {
            "Authorization": "[REDACTED]",
            "access_token": "[REDACTED]",
            "list": [{"client-secret": "[REDACTED]"}],
        },
        "author": "kept",
    }


@tool
def login(user: str, password: str) -> str:
    """Log in."""
    return "ok"


def test_audit_records_every_call_with_secrets_redacted(tmp_path: Path) -> None:
    memory = MemorySink()
    lines = JsonLinesSink(tmp_path / "audit.jsonl")
    with ToolExecutor(Toolbox([login]), audit=AuditTrail(memory, lines)) as ex:
        ex.execute_all_sync(
            [
                ToolCall("c1", "login", '{"user": "ann", "password": "hunter2"}'),
                ToolCall("c2", "login", '{"password": "hunter2", not json'),
                ToolCall("c3", "missing", "{}"),
            ],
            caller="tenant-1",
        )
    # Calls run concurrently: records come in completion order.
    first, second, third = sorted(memory.records, key=lambda r: r.call_id)
    assert first.arguments == {"user": "ann", "password": "[REDACTED]"}
    assert (first.tool, first.caller, first.outcome, first.code) == (
        "login",
        "tenant-1",
        "ok",
        None,
    )
    assert first.duration >= 0
    assert second.code == "INVALID_JSON"
    assert second.arguments == '{"password": "[REDACTED]", not json'
    assert third.code == "FUNCTION_NOT_FOUND"
    written = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sorted(entry["call_id"] for entry in written) == ["c1", "c2", "c3"]
    assert "hunter2" not in (tmp_path / "audit.jsonl").read_text()


def test_logging_sink(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="callisto.tools.audit"):
        AuditTrail(LoggingSink()).record(
            tool="t",
            caller=None,
            call_id="c",
            arguments={"token": "x"},
            code=None,
            duration=0.1,
            cached=False,
        )
    assert "[REDACTED]" in caplog.text and '"tool": "t"' in caplog.text


def test_a_broken_sink_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def write(self, record: object) -> None:
            raise OSError("disk full")

    memory = MemorySink()
    with ToolExecutor(Toolbox([login]), audit=AuditTrail(Broken(), memory)) as ex:
        result = ex.execute_all_sync([ToolCall("c", "login", '{"user": "a", "password": "b"}')])[0]
    assert result.ok and len(memory.records) == 1
    assert "audit sink" in caplog.text


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_for_deterministic_tools_only() -> None:
    calls: list[str] = []

    @tool(deterministic=True)
    def square(x: int) -> int:
        """Square."""
        calls.append("square")
        return x * x

    @tool
    def now(x: int) -> int:
        """Not deterministic."""
        calls.append("now")
        return x

    clock = Clock()
    cache = ResultCache(ttl=10, clock=clock)
    metrics = ToolMetrics()
    with ToolExecutor(Toolbox([square, now]), cache=cache, metrics=metrics) as ex:
        first = ex.execute_all_sync([ToolCall("1", "square", '{"x": 3}')])[0]
        # Same arguments in another key order and spacing: the canonical key matches.
        again = ex.execute_all_sync([ToolCall("2", "square", {"x": 3})])[0]
        ex.execute_all_sync([ToolCall("3", "now", '{"x": 3}'), ToolCall("4", "now", '{"x": 3}')])
        clock.now = 11
        expired = ex.execute_all_sync([ToolCall("5", "square", '{"x": 3}')])[0]
    assert (first.cached, again.cached, expired.cached) == (False, True, False)
    assert again.output == "9" and again.call_id == "2"
    assert calls == ["square", "now", "now", "square"]
    assert metrics.snapshot()["cache"] == {"hits": 1, "misses": 2, "hit_rate": pytest.approx(1 / 3)}


def test_cache_keeps_only_successes_and_evicts_oldest() -> None:
    cache = ResultCache(max_entries=2)
    for i in range(3):
        cache.put("t", {"i": i}, str(i))
    assert cache.get("t", {"i": 0}) is None
    assert cache.get("t", {"i": 2}) == "2"
    assert len(cache) == 2

    @tool(deterministic=True)
    def flaky(x: int) -> int:
        """Fails."""
        raise ValueError("no")

    cache.clear()
    with ToolExecutor(Toolbox([flaky]), cache=cache) as ex:
        ex.execute_all_sync([ToolCall("1", "flaky", '{"x": 1}')])
    assert len(cache) == 0


def test_metrics_snapshot_and_prometheus() -> None:
    metrics = ToolMetrics()
    with ToolExecutor(Toolbox([login]), metrics=metrics) as ex:
        ex.execute_all_sync(
            [
                ToolCall("1", "login", '{"user": "a", "password": "b"}'),
                ToolCall("2", "login", '{"user": "a"}'),
                ToolCall("3", "ghost", "{}"),
            ]
        )
    snap = metrics.snapshot()
    assert snap["calls"] == {"login": 2, "ghost": 1}
    assert snap["errors"] == {"login": {"VALIDATION_ERROR": 1}, "ghost": {"FUNCTION_NOT_FOUND": 1}}
    assert snap["latency"]["login"]["count"] == 2
    text = metrics.prometheus()
    assert 'callisto_tool_calls_total{tool="login"} 2' in text
    assert 'callisto_tool_errors_total{tool="ghost",code="FUNCTION_NOT_FOUND"} 1' in text
    assert 'callisto_tool_duration_seconds_bucket{tool="login",le="+Inf"} 2' in text
    assert text.endswith("\n")
    assert ErrorCode.VALIDATION_ERROR == "VALIDATION_ERROR"
