"""Running workflows: concurrency, skips, retries, fallbacks, limits, policies, model corrections."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM, Reply
from callisto.tools import Allowlist, ToolExecutor, tool
from callisto.tools.workflow import (
    ChatArguments,
    RetryPolicy,
    SQLiteCheckpoints,
    Step,
    StepStatus,
    Workflow,
    WorkflowDefinitionError,
    WorkflowRun,
    WorkflowRunner,
    WorkflowStateError,
    WorkflowStatus,
    ask_for_input,
    current_step,
)


@tool
def echo(value: str) -> dict[str, str]:
    """Return the value."""
    return {"value": value}


def bound(name: str, function: Any = echo, value: str = "'x'", **options: Any) -> Step:
    """A step whose single argument ``value`` is bound."""
    return Step(name, function, bind={"value": value}, **options)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def start(workflow: Workflow, store: Path, **options: Any) -> WorkflowRun:
    with WorkflowRunner(workflow, store=store, **options) as runner:
        return runner.start_sync("a request", inputs={"n": 3})


# --- concurrency -----------------------------------------------------------------------------


def test_parallel_branches_really_overlap(store: Path) -> None:
    # Both branches wait at one barrier: neither can finish unless the other runs meanwhile.
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def branch(value: str) -> str:
        """Meet the other branch."""
        barrier.wait()
        return value

    workflow = Workflow(
        "fan",
        [
            bound("a"),
            bound("left", branch, "'L'", depends_on=["a"]),
            bound("right", branch, "'R'", depends_on=["a"]),
            bound("join", value="results.left + results.right", depends_on=["left", "right"]),
        ],
    )
    run = start(workflow, store)
    assert run.status is WorkflowStatus.COMPLETED, run.error
    assert run.results["join"] == {"value": "LR"}
    assert not barrier.broken


@pytest.mark.parametrize("bound_to", [1, 2])
def test_concurrency_is_bounded(store: Path, bound_to: int) -> None:
    in_flight, most = 0, 0

    @tool
    async def busy(value: str) -> str:
        """Yield to the loop a few times while counted as running."""
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(10):
            await asyncio.sleep(0)
        in_flight -= 1
        return value

    workflow = Workflow("wide", [bound(f"s{i}", busy) for i in range(4)])
    run = start(workflow, store, max_concurrency=bound_to)
    assert run.status is WorkflowStatus.COMPLETED
    assert most == bound_to


# --- skipping --------------------------------------------------------------------------------


def test_a_false_condition_skips_the_step_and_its_dependents_unless_they_opt_out(
    store: Path,
) -> None:
    workflow = Workflow(
        "skips",
        [
            bound("a", when="inputs.n > 5"),
            bound("b", depends_on=["a"]),
            bound(
                "c",
                value="'ran' if results.b is None else 'no'",
                depends_on=["b"],
                run_if_skipped=True,
            ),
        ],
    )
    run = start(workflow, store)
    assert run.status is WorkflowStatus.COMPLETED
    steps = run.steps
    assert (steps["a"].status, steps["a"].reason) == (
        StepStatus.SKIPPED,
        "condition 'inputs.n > 5' is false",
    )
    assert (steps["b"].status, steps["b"].reason) == (StepStatus.SKIPPED, "a was skipped")
    assert steps["c"].status is StepStatus.SUCCEEDED
    assert steps["c"].result == {"value": "ran"}
    assert run.trace()["steps"][1]["reason"] == "a was skipped"


def test_a_condition_that_fails_when_evaluated_fails_the_run(store: Path) -> None:
    workflow = Workflow("bad", [bound("a"), bound("b", depends_on=["a"], when="results.a.nope")])
    run = start(workflow, store)
    assert run.status is WorkflowStatus.FAILED
    assert run.steps["b"].error is not None
    assert run.steps["b"].error["code"] == "CONDITION_ERROR"
    assert "no key 'nope'" in (run.error or "")


# --- failures, retries, fallbacks ------------------------------------------------------------


def flaky(failures: int) -> tuple[Any, list[tuple[str, int]]]:
    """A tool failing ``failures`` times, then succeeding; and the (key, attempt) of each call."""
    calls: list[tuple[str, int]] = []

    @tool
    def unreliable(value: str) -> str:
        """Fail a few times."""
        context = current_step()
        calls.append((context.idempotency_key, context.attempt))
        if len(calls) <= failures:
            raise ConnectionError("the service is down")
        return value

    return unreliable, calls


def test_a_failing_step_is_retried_with_the_same_idempotency_key(store: Path) -> None:
    unreliable, calls = flaky(failures=2)
    workflow = Workflow("retry", [bound("a", unreliable, retry=RetryPolicy(max_attempts=3))])
    run = start(workflow, store)
    assert run.status is WorkflowStatus.COMPLETED
    record = run.steps["a"]
    assert (record.attempts, record.retries) == (3, 2)
    assert calls == [(f"{run.id}:a", 1), (f"{run.id}:a", 2), (f"{run.id}:a", 3)]
    assert run.trace()["steps"][0]["retries"] == 2


def test_retries_spent_fail_the_run_with_a_clear_error_and_stop_dependents(store: Path) -> None:
    unreliable, calls = flaky(failures=5)
    workflow = Workflow("retry", [bound("a", unreliable), bound("b", depends_on=["a"])])
    run = start(workflow, store, retry=RetryPolicy(max_attempts=2))
    assert run.status is WorkflowStatus.FAILED
    assert len(calls) == 2
    assert run.error == (
        "step 'a' failed: EXECUTION_ERROR: unreliable failed: ConnectionError: the service is down"
    )
    assert run.steps["b"].status is StepStatus.PENDING


def test_a_refusal_that_would_repeat_is_not_retried(store: Path) -> None:
    workflow = Workflow("typed", [Step("a", echo, bind={"value": "inputs.n"})])  # int, not str
    run = start(workflow, store, retry=RetryPolicy(max_attempts=5))
    assert run.steps["a"].attempts == 1
    assert run.steps["a"].error is not None
    assert run.steps["a"].error["code"] == "VALIDATION_ERROR"


def test_a_fallback_takes_over_when_retries_are_spent(store: Path) -> None:
    unreliable, calls = flaky(failures=99)
    backup = Step("cached_copy", echo, bind={"value": "'cached ' + args.value + ' ' + error.code"})
    workflow = Workflow(
        "fallback",
        [
            bound("a", unreliable, "'fresh'", retry=RetryPolicy(max_attempts=2), fallback=backup),
            bound("b", depends_on=["a"], value="results.a.value"),
        ],
    )
    run = start(workflow, store)
    assert run.status is WorkflowStatus.COMPLETED
    record = run.steps["a"]
    assert record.status is StepStatus.SUCCEEDED
    assert record.result == {"value": "cached fresh EXECUTION_ERROR"}
    assert record.error is not None and record.error["code"] == "EXECUTION_ERROR"
    assert record.fallback is not None and record.fallback.status is StepStatus.SUCCEEDED
    assert record.fallback.idempotency_key == f"{run.id}:a:fallback"
    assert len(calls) == 2
    assert run.results["b"] == {"value": "cached fresh EXECUTION_ERROR"}


def test_a_failing_fallback_fails_the_run(store: Path) -> None:
    unreliable, _ = flaky(failures=99)
    workflow = Workflow("fallback", [bound("a", unreliable, fallback=Step("again", echo))])
    broken = Workflow("fallback", [bound("a", unreliable, fallback=bound("again", unreliable))])
    assert workflow.step("a").fallback is not None  # a model would choose its arguments
    run = start(broken, store)
    assert run.status is WorkflowStatus.FAILED
    assert "(the fallback 'again' failed too)" in (run.error or "")


# --- limits ----------------------------------------------------------------------------------


def test_max_steps_bounds_the_calls_of_a_run(store: Path) -> None:
    unreliable, calls = flaky(failures=99)
    workflow = Workflow("limit", [bound("a", unreliable, retry=RetryPolicy(max_attempts=50))])
    run = start(workflow, store, max_steps=3)
    assert run.status is WorkflowStatus.FAILED
    assert len(calls) == 3
    assert run.steps["a"].error == {
        "code": "MAX_STEPS",
        "message": "the run made its most function calls (3)",
    }


def test_the_deadline_stops_a_run_that_takes_too_long(store: Path) -> None:
    never = asyncio.Event()

    @tool
    async def stuck(value: str) -> str:
        """Wait for something that never happens."""
        await never.wait()
        return value

    workflow = Workflow("slow", [bound("a"), bound("b", stuck, depends_on=["a"])])
    run = start(workflow, store, deadline=0.3)
    assert run.status is WorkflowStatus.FAILED
    assert run.steps["a"].status is StepStatus.SUCCEEDED
    assert run.steps["b"].error is not None
    assert run.steps["b"].error["code"] == "DEADLINE_EXCEEDED"
    assert run.error == "the deadline of 0.3 s passed"


# --- the executor's policies apply -----------------------------------------------------------


def test_gates_of_the_executor_apply_to_steps(store: Path) -> None:
    workflow = Workflow("gated", [bound("a")])
    with ToolExecutor(workflow.toolbox, gates=[Allowlist({"ops": ["echo"]})]) as executor:
        run = start(workflow, store, executor=executor, caller="guest")
        assert run.steps["a"].error is not None
        assert run.steps["a"].error["code"] == "FORBIDDEN"
        allowed = start(workflow, store.with_name("other.db"), executor=executor, caller="ops")
        assert allowed.status is WorkflowStatus.COMPLETED


def test_the_runner_refuses_an_executor_without_the_steps_functions(store: Path) -> None:
    workflow = Workflow("w", [bound("a")])
    other = ToolExecutor(Workflow("other", [bound("b", flaky(0)[0])]).toolbox)
    with other, pytest.raises(WorkflowDefinitionError, match="has no function 'echo'"):
        WorkflowRunner(workflow, store=store, executor=other)


def test_a_step_left_to_the_model_needs_a_model(store: Path) -> None:
    runner = WorkflowRunner(Workflow("w", [Step("a", echo)]), store=store)
    with (
        runner,
        pytest.raises(WorkflowDefinitionError, match="to the model, but the runner has no"),
    ):
        runner.start_sync("hi")


# --- waiting for input (same process; other processes in test_workflow_durability) ------------


def test_a_step_asks_then_continues_with_the_answer(store: Path) -> None:
    calls: list[tuple[str, Any]] = []

    @tool
    def pick_size(value: str) -> str:
        """Ask which size, inside the function."""
        calls.append((current_step().idempotency_key, value))
        return str(ask_for_input("Which size?"))

    workflow = Workflow(
        "ask",
        [
            bound("colour", ask="Which colour?", value="input"),
            bound("size", pick_size, depends_on=["colour"], value="results.colour.value"),
        ],
    )
    with WorkflowRunner(workflow, store=store) as runner:
        run = runner.start_sync("a shirt")
        assert (run.status, run.question) == (WorkflowStatus.WAITING_FOR_INPUT, "Which colour?")
        assert run.steps["colour"].attempts == 0
        run = runner.resume_sync(run.id, input="red")
        assert (run.status, run.question) == (WorkflowStatus.WAITING_FOR_INPUT, "Which size?")
        run = runner.resume_sync(run.id)  # no input: still waiting, nothing runs again
        assert run.status is WorkflowStatus.WAITING_FOR_INPUT and len(calls) == 1
        run = runner.resume_sync(run.id, input="M")
        assert run.status is WorkflowStatus.COMPLETED
        assert run.results == {"colour": {"value": "red"}, "size": "M"}
        assert calls == [(f"{run.id}:size", "red")] * 2
        with pytest.raises(WorkflowStateError, match="waiting: none"):
            runner.resume_sync(run.id, input="more")
        with pytest.raises(WorkflowStateError, match="no workflow run 'wf_nope'"):
            runner.resume_sync("wf_nope")


def test_a_finished_run_is_returned_as_it_is(store: Path) -> None:
    unreliable, calls = flaky(failures=0)
    workflow = Workflow("once", [bound("a", unreliable)])
    with WorkflowRunner(workflow, store=store) as runner:
        run = runner.start_sync()
        again = runner.resume_sync(run.id)
    assert again.status is WorkflowStatus.COMPLETED and len(calls) == 1
    other = WorkflowRunner(Workflow("another", [bound("a")]), store=store)
    with other, pytest.raises(WorkflowStateError, match="belongs to workflow 'once'"):
        other.get(run.id)


# --- the model's arguments -------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as llm:
        yield llm


def model_runner(workflow: Workflow, store: Path, fake: FakeLLM, **options: Any) -> WorkflowRunner:
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    return WorkflowRunner(
        workflow, store=store, model=ChatArguments(client, model="fake-model"), **options
    )


def test_refused_model_arguments_go_back_to_the_model(store: Path, fake: FakeLLM) -> None:
    fake.script(
        Reply.tool_calls(("echo", {"value": 42})),
        Reply.tool_calls(("echo", "{not json")),
        Reply.tool_calls(("echo", {"value": "fixed"})),
    )
    with model_runner(Workflow("fix", [Step("a", echo)]), store, fake) as runner:
        run = runner.start_sync("say fixed")
    assert run.status is WorkflowStatus.COMPLETED
    record = run.steps["a"]
    assert (record.corrections, record.result) == (2, {"value": "fixed"})
    second = fake.requests[1].messages[-1]["content"]
    assert (
        'Your previous arguments {"value": 42} were refused: Invalid arguments for echo' in second
    )
    assert "not valid JSON" in fake.requests[2].messages[-1]["content"]


def test_a_model_that_never_calls_fails_the_step(store: Path, fake: FakeLLM) -> None:
    fake.default = Reply.text("I'd rather chat.")
    workflow = Workflow(
        "mute",
        [Step("a", echo, retry=RetryPolicy(max_attempts=2, retry_on=frozenset({"MODEL_ERROR"})))],
    )
    with model_runner(workflow, store, fake) as runner:
        run = runner.start_sync("say something")
    assert run.status is WorkflowStatus.FAILED
    assert len(fake.requests) == 2
    assert run.steps["a"].error == {
        "code": "MODEL_ERROR",
        "message": "NoChoice: the model called no function instead of echo",
    }


# --- one driver at a time --------------------------------------------------------------------


def test_a_process_that_lost_its_lease_writes_nothing_more(store: Path) -> None:
    taken: list[bool] = []

    @tool
    async def stall(value: str) -> str:
        """Block the event loop past the lease (no renewal), while another process takes over."""
        time.sleep(0.6)  # noqa: ASYNC251 - on purpose: the loop can't renew a 0.2 s lease
        with SQLiteCheckpoints(store) as other:
            taken.append(other.claim(current_step().workflow_id, "another-process", 60))
        return value

    workflow = Workflow("stalling", [bound("a", stall), bound("b", depends_on=["a"])])
    with WorkflowRunner(workflow, store=store, lease=0.2) as runner:
        with pytest.raises(WorkflowStateError, match="lost its lease"):
            runner.start_sync(workflow_id="wf_stalled")
        assert taken == [True]
        left = runner.get("wf_stalled")
    assert left.steps["a"].status is StepStatus.RUNNING  # the stalled process's result: lost
    assert left.steps["b"].status is StepStatus.PENDING
    successor = WorkflowRunner(workflow, store=store)
    with successor, pytest.raises(WorkflowStateError, match="is being driven by another process"):
        successor.resume_sync("wf_stalled")


async def test_an_async_client_and_async_start(store: Path, fake: FakeLLM) -> None:
    fake.script(Reply.tool_calls(("echo", {"value": "async"})))
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    runner = WorkflowRunner(
        Workflow("async", [Step("a", echo), bound("b", depends_on=["a"], value="results.a.value")]),
        store=store,
        model=ChatArguments(client, model="fake-model"),
    )
    with runner:
        run = await runner.start("say async")
        again = await runner.resume(run.id)
    await client.close()
    assert run.status is WorkflowStatus.COMPLETED
    assert run.results == {"a": {"value": "async"}, "b": {"value": "async"}}
    assert again.trace() == run.trace()


def test_a_timeout_of_the_executor_is_retried(store: Path) -> None:
    release = asyncio.Event()
    calls: list[int] = []

    @tool(timeout=0.2)
    async def slow_once(value: str) -> str:
        """Hang on the first call, answer on the next."""
        calls.append(current_step().attempt)
        if len(calls) == 1:
            await release.wait()  # never set: the executor's timeout ends this call
        return value

    workflow = Workflow("timeout", [bound("a", slow_once, retry=RetryPolicy(max_attempts=2))])
    run = start(workflow, store)
    assert run.status is WorkflowStatus.COMPLETED
    assert calls == [1, 2]
    assert run.steps["a"].retries == 1


def test_other_branches_go_on_while_steps_wait_for_input(store: Path) -> None:
    workflow = Workflow(
        "two questions",
        [
            bound("size", ask="Which size?", value="input"),
            bound("colour", ask="Which colour?", value="input"),
            bound("unrelated"),
            bound("order", depends_on=["size", "colour"], value="results.size.value"),
        ],
    )
    with WorkflowRunner(workflow, store=store) as runner:
        run = runner.start_sync()
        assert run.status is WorkflowStatus.WAITING_FOR_INPUT
        assert [r.name for r in run.waiting] == ["size", "colour"]
        assert run.steps["unrelated"].status is StepStatus.SUCCEEDED
        with pytest.raises(WorkflowStateError, match="waiting: size, colour"):
            runner.resume_sync(run.id, input="L")
        run = runner.resume_sync(run.id, input="L", step="size")
        assert run.question == "Which colour?"
        run = runner.resume_sync(run.id, input="red")
    assert run.status is WorkflowStatus.COMPLETED
    assert run.results["order"] == {"value": "L"}


def test_a_run_resumes_only_under_the_definition_it_started_with(store: Path) -> None:
    asked = Workflow("shop", [bound("a", ask="Go?"), bound("b", depends_on=["a"])])
    changed = Workflow("shop", [bound("a", ask="Go?"), bound("b", depends_on=["a"], when="input")])
    assert asked.fingerprint != changed.fingerprint
    assert asked.fingerprint == Workflow("shop", list(reversed(asked.steps))).fingerprint
    with WorkflowRunner(asked, store=store) as runner:
        run = runner.start_sync()
    with WorkflowRunner(changed, store=store) as runner:
        with pytest.raises(WorkflowStateError, match="changed since run"):
            runner.resume_sync(run.id, input="yes")
        assert runner.get(run.id).waiting[0].answered is False  # nothing was written
        run = runner.resume_sync(run.id, input="yes", changed_definition=True)
    assert run.status is WorkflowStatus.COMPLETED
    assert run.definition == changed.fingerprint
    assert run.steps["b"].reason == "condition 'input' is false"  # b read its own (no) input
