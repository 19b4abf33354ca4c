"""The order example end to end, with the scripted fake model behind the official SDK."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM
from callisto.tools import AuditTrail, MemorySink, ToolExecutor, ToolMetrics
from callisto.tools.workflow import (
    ChatArguments,
    SQLiteCheckpoints,
    StepStatus,
    WorkflowRun,
    WorkflowRunner,
    WorkflowStatus,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "order_workflow.py"
REQUEST = "I'm customer C-42 and I'd like 2 of WIDGET-7, please."
MODEL_STEPS = ["validate_customer", "check_inventory", "calculate_pricing", "send_confirmation"]


def load_example() -> ModuleType:
    """A fresh copy of examples/order_workflow.py (its fake payment service starts empty)."""
    spec = importlib.util.spec_from_file_location("order_workflow_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example() -> ModuleType:
    return load_example()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as llm:
        yield llm


def run_order(
    example: ModuleType, fake: FakeLLM, tmp_path: Path, coupon: str | None
) -> tuple[WorkflowRun, MemorySink, ToolMetrics, list[str]]:
    fake.default = example.fake_responder(example.scripted_answers(coupon))
    sink, metrics, events = MemorySink(), ToolMetrics(), []
    workflow = example.build_workflow()
    executor = ToolExecutor(workflow.toolbox, audit=AuditTrail(sink), metrics=metrics)
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    runner = WorkflowRunner(
        workflow,
        store=tmp_path / "orders.db",
        executor=executor,
        model=ChatArguments(client, model="fake-model"),
        on_event=lambda run, record: events.append(f"{record.name}:{record.status}"),
    )
    with runner, executor:
        run = runner.start_sync(REQUEST + (f" Coupon {coupon}." if coupon else ""))
    client.close()
    return run, sink, metrics, events


def test_paid_order_runs_every_step_with_arguments_from_model_or_bindings(
    example: ModuleType, fake: FakeLLM, tmp_path: Path
) -> None:
    run, sink, metrics, events = run_order(example, fake, tmp_path, coupon=None)

    assert run.status is WorkflowStatus.COMPLETED, run.error
    steps = run.steps
    assert [steps[n].status for n in steps] == [StepStatus.SUCCEEDED] * 6
    sources = {name: record.argument_source for name, record in steps.items()}
    assert sources == {
        "validate_customer": "model",
        "check_inventory": "model",
        "calculate_pricing": "model",
        "process_payment": "bindings",
        "create_order": "bindings",
        "send_confirmation": "model",
    }
    # Bound values override nothing the model sent; they complete what it chose.
    assert steps["calculate_pricing"].arguments == {
        "coupon": None,
        "product_id": "WIDGET-7",
        "quantity": 2,
        "unit_price": 12.5,
    }
    assert steps["process_payment"].arguments == {"customer_id": "C-42", "amount": 25.0}
    assert steps["create_order"].result["paid"] == "pay-1"
    assert steps["send_confirmation"].result == {
        "sent": True,
        "to": "ada@example.com",
        "subject": "Your order",
    }
    # One model request per step that leaves something to choose, each forced to its function.
    assert len(fake.requests) == len(MODEL_STEPS)
    for request, step in zip(fake.requests, MODEL_STEPS, strict=True):
        function = steps[step].function
        assert request.body["tool_choice"] == {"type": "function", "function": {"name": function}}
        assert [t["function"]["name"] for t in request.body["tools"]] == [function]
        assert REQUEST in request.messages[-1]["content"]
    # Bound parameters are not offered: the model chooses only the coupon.
    offered = fake.requests[2].body["tools"][0]["function"]["parameters"]
    assert (list(offered["properties"]), offered["required"]) == (["coupon"], ["coupon"])
    # The model sees the results of the step's dependencies.
    assert "ada@example.com" in fake.requests[1].messages[-1]["content"]
    assert '"unit_price": 12.5' in fake.requests[2].messages[-1]["content"]
    assert all(steps[s].tokens["prompt"] > 0 for s in MODEL_STEPS)
    assert steps["process_payment"].tokens == {"prompt": 0, "completion": 0}
    # Every call went through the executor: audited, counted.
    assert [r.tool for r in sink.records] == [steps[n].function for n in steps]
    assert sum(metrics.snapshot()["calls"].values()) == 6
    assert events[:2] == ["validate_customer:running", "validate_customer:succeeded"]
    assert events[-1] == "send_confirmation:succeeded"


def test_free_order_skips_payment_and_still_confirms(
    example: ModuleType, fake: FakeLLM, tmp_path: Path
) -> None:
    run, sink, _, events = run_order(example, fake, tmp_path, coupon="FREEBIE")

    assert run.status is WorkflowStatus.COMPLETED, run.error
    payment = run.steps["process_payment"]
    assert payment.status is StepStatus.SKIPPED
    assert payment.reason == "condition 'results.calculate_pricing.total > 0' is false"
    assert payment.attempts == 0
    assert "charge_payment" not in [r.tool for r in sink.records]
    assert run.steps["create_order"].arguments["payment_id"] is None
    assert run.steps["send_confirmation"].status is StepStatus.SUCCEEDED
    assert "process_payment:skipped" in events


def test_trace_is_json_and_the_store_gives_back_the_same_run(
    example: ModuleType, fake: FakeLLM, tmp_path: Path
) -> None:
    run, *_ = run_order(example, fake, tmp_path, coupon="HALF")

    trace = json.loads(run.to_json())
    assert trace["status"] == "completed"
    assert [s["name"] for s in trace["steps"]] == list(run.steps)
    step = trace["steps"][0]
    assert {"status", "arguments", "result", "error", "duration", "tokens", "retries"} <= set(step)
    assert trace["tokens"]["prompt"] == sum(s["tokens"]["prompt"] for s in trace["steps"])
    with WorkflowRunner(example.build_workflow(), store=tmp_path / "orders.db") as reader:
        assert reader.get(run.id).trace() == run.trace()
    with SQLiteCheckpoints(tmp_path / "orders.db") as store:
        assert store.run_ids([WorkflowStatus.COMPLETED]) == [run.id]


def test_the_example_runs_with_its_fake_model_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "ORDER_WORKFLOW_DB": str(tmp_path / "example.db")}
    env.pop("CHAT_BASE_URL", None)

    def example(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(EXAMPLE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = example()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "process_payment: succeeded {'payment_id': 'pay-1', 'amount': 25.0}" in done.stdout
    workflow_id = json.loads(done.stdout[done.stdout.index("{\n") :])["id"]
    again = example("--resume", workflow_id)
    assert again.returncode == 0, again.stderr
    assert ": running" not in again.stdout  # nothing runs twice
