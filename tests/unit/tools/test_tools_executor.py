"""ToolExecutor: every error code, timeouts, parallelism, serialisation, isolation of failures."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import json
import threading
import time
import uuid
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from callisto.tools import ErrorCode, Toolbox, ToolCall, ToolExecutor, serialize_output, tool


@tool
def add(a: int, b: Annotated[int, Field(ge=0)] = 0) -> int:
    """Add two numbers."""
    return a + b


@tool
def explode(reason: str) -> None:
    """Always fails."""
    raise RuntimeError(reason)


@tool(timeout=0.05)
def sleepy(seconds: float) -> str:
    """Sleeps in a thread."""
    time.sleep(seconds)
    return "woke"


@tool(timeout=0.05)
async def async_sleepy(seconds: float) -> str:
    """Sleeps on the loop."""
    await asyncio.sleep(seconds)
    return "woke"


@pytest.fixture
def executor() -> ToolExecutor:
    with ToolExecutor(Toolbox([add, explode, sleepy, async_sleepy])) as ex:
        yield ex  # type: ignore[misc]


def error_of(output: str) -> dict[str, str]:
    return json.loads(output)["error"]  # type: ignore[no-any-return]


async def test_success_with_json_string_and_dict(executor: ToolExecutor) -> None:
    first, second = await executor.execute_all(
        [ToolCall("c1", "add", '{"a": 2, "b": 3}'), ToolCall("c2", "add", {"a": 1})]
    )
    assert (first.ok, first.output, first.value, first.call_id) == (True, "5", 5, "c1")
    assert second.output == "1"
    assert first.tool_output() == {"tool_call_id": "c1", "output": "5"}
    assert second.chat_message() == {"role": "tool", "tool_call_id": "c2", "content": "1"}


async def test_function_not_found_lists_available(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("c", "subtract", "{}"))
    assert result.code is ErrorCode.FUNCTION_NOT_FOUND
    assert error_of(result.output)["code"] == "FUNCTION_NOT_FOUND"
    assert "add" in result.message  # type: ignore[operator]


@pytest.mark.parametrize("raw", ['{"a": 1', "[1, 2]", "nonsense", '"text"'])
async def test_invalid_json(executor: ToolExecutor, raw: str) -> None:
    result = await executor.execute(ToolCall("c", "add", raw))
    assert result.code is ErrorCode.INVALID_JSON
    assert "JSON" in result.message  # type: ignore[operator]


async def test_empty_arguments_mean_empty_object(executor: ToolExecutor) -> None:
    result = await executor.execute({"id": "c", "function": {"name": "add", "arguments": ""}})
    assert result.code is ErrorCode.VALIDATION_ERROR
    assert "a: Field required" in result.message  # type: ignore[operator]


async def test_validation_error_names_fields(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("c", "add", '{"a": "x", "b": -1}'))
    assert result.code is ErrorCode.VALIDATION_ERROR
    message = error_of(result.output)["message"]
    assert "a: Input should be a valid integer" in message
    assert "b: Input should be greater than or equal to 0" in message


async def test_execution_error_is_reported_not_raised(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("c", "explode", '{"reason": "disk full"}'))
    assert result.code is ErrorCode.EXECUTION_ERROR
    assert "RuntimeError: disk full" in result.message  # type: ignore[operator]


async def test_exception_details_can_be_hidden() -> None:
    with ToolExecutor(Toolbox([explode]), show_exception_details=False) as ex:
        result = await ex.execute(ToolCall("c", "explode", '{"reason": "secret path"}'))
    assert "secret" not in result.output


async def test_sync_timeout_abandons_thread(executor: ToolExecutor) -> None:
    started = time.perf_counter()
    result = await executor.execute(ToolCall("c", "sleepy", '{"seconds": 0.5}'))
    assert result.code is ErrorCode.TIMEOUT
    assert time.perf_counter() - started < 0.4
    assert "0.05 s" in result.message  # type: ignore[operator]


async def test_async_timeout(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("c", "async_sleepy", '{"seconds": 5}'))
    assert result.code is ErrorCode.TIMEOUT


async def test_default_timeout_applies_to_tools_without_one() -> None:
    @tool
    async def slow() -> None:
        """Doc."""
        await asyncio.sleep(5)

    with ToolExecutor(Toolbox([slow]), timeout=0.05) as ex:
        assert (await ex.execute(ToolCall("c", "slow", "{}"))).code is ErrorCode.TIMEOUT


def test_timeout_works_from_a_non_main_thread(executor: ToolExecutor) -> None:
    found: list[Any] = []
    worker = threading.Thread(
        target=lambda: found.extend(
            executor.execute_all_sync([ToolCall("c", "sleepy", '{"seconds": 0.5}')])
        )
    )
    worker.start()
    worker.join(5)
    assert found[0].code is ErrorCode.TIMEOUT


async def test_one_failure_never_stops_the_others(executor: ToolExecutor) -> None:
    results = await executor.execute_all(
        [
            ToolCall("1", "explode", '{"reason": "x"}'),
            ToolCall("2", "nope", "{}"),
            ToolCall("3", "add", "{bad"),
            ToolCall("4", "async_sleepy", '{"seconds": 5}'),
            ToolCall("5", "add", '{"a": 1, "b": 1}'),
        ]
    )
    assert [r.call_id for r in results] == ["1", "2", "3", "4", "5"]
    assert [r.code for r in results] == [
        ErrorCode.EXECUTION_ERROR,
        ErrorCode.FUNCTION_NOT_FOUND,
        ErrorCode.INVALID_JSON,
        ErrorCode.TIMEOUT,
        None,
    ]


def test_parallel_sync_calls_take_the_slowest_not_the_sum() -> None:
    @tool
    def wait(seconds: float) -> float:
        """Blocking wait."""
        time.sleep(seconds)
        return seconds

    @tool
    async def await_(seconds: float) -> float:
        """Async wait."""
        await asyncio.sleep(seconds)
        return seconds

    calls = [ToolCall(str(i), "wait", '{"seconds": 0.2}') for i in range(3)]
    calls.append(ToolCall("a", "await_", '{"seconds": 0.2}'))
    with ToolExecutor(Toolbox([wait, await_]), max_workers=4) as ex:
        started = time.perf_counter()
        results = ex.execute_all_sync(calls)
        elapsed = time.perf_counter() - started
    assert all(r.ok for r in results)
    assert elapsed < 0.5  # the sum would be 0.8 s


async def test_execute_all_sync_inside_a_running_loop(executor: ToolExecutor) -> None:
    # A sync driver called from async code must not deadlock on the running loop.
    results = executor.execute_all_sync([ToolCall("c", "add", '{"a": 1}')])
    assert results[0].output == "1"


async def test_sdk_shaped_calls_are_read() -> None:
    from openai.types.beta.threads.required_action_function_tool_call import (
        Function,
        RequiredActionFunctionToolCall,
    )

    call = RequiredActionFunctionToolCall(
        id="call_1", type="function", function=Function(name="add", arguments='{"a": 4}')
    )
    with ToolExecutor(Toolbox([add])) as ex:
        result = await ex.execute(call)
    assert (result.call_id, result.output) == ("call_1", "4")


# --- serialisation -------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


class Model(BaseModel):
    when: datetime.datetime
    amount: decimal.Decimal


@dataclasses.dataclass
class Data:
    id: uuid.UUID
    colors: set[Color]


def test_serialize_passes_strings_through() -> None:
    assert serialize_output("plain text") == "plain text"
    assert serialize_output(None) == ""


def test_serialize_rich_values_as_json() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    text = serialize_output(
        {
            "model": Model(when=when, amount=decimal.Decimal("1.50")),
            "data": Data(uuid.UUID(int=1), {Color.RED}),
            "date": when.date(),
        }
    )
    value = json.loads(text)
    assert value["model"] == {"when": "2026-01-02T03:04:05Z", "amount": "1.50"}
    assert value["data"] == {"id": "00000000-0000-0000-0000-000000000001", "colors": ["red"]}
    assert value["date"] == "2026-01-02"


def test_serialize_unknown_objects_with_str() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert json.loads(serialize_output([Thing()])) == ["a thing"]


@pytest.mark.parametrize("cap", [10, 50, 200])
def test_serialize_truncates_within_the_cap(cap: int) -> None:
    text = serialize_output("x" * 1000, max_chars=cap)
    assert len(text) <= cap
    if cap >= 50:
        assert "[truncated" in text and text.startswith("x")


async def test_executor_caps_output() -> None:
    @tool
    def big() -> str:
        """Big."""
        return "y" * 10_000

    with ToolExecutor(Toolbox([big]), max_output_chars=100) as ex:
        result = await ex.execute(ToolCall("c", "big", "{}"))
    assert len(result.output) <= 100 and "truncated" in result.output
