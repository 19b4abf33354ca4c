"""Workflows whose model works through a real Callisto server's Assistants API.

The order example chooses its arguments with :class:`AssistantArguments`: one run per step on a
new thread, the function forced by ``tool_choice``, the fake model behind Callisto answering.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM
from callisto.tools.workflow import AssistantArguments, StepStatus, WorkflowRunner, WorkflowStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order_workflow.py"


@pytest.fixture
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("order_workflow_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def answering(fake_llm: FakeLLM, example: ModuleType) -> Iterator[FakeLLM]:
    """The session's fake model, answering the order's forced calls (FREEBIE coupon)."""
    before = fake_llm.default
    fake_llm.default = example.fake_responder(example.scripted_answers("FREEBIE"))
    yield fake_llm
    fake_llm.default = before


def test_order_through_an_assistants_thread(
    openai_client: openai.OpenAI, answering: FakeLLM, example: ModuleType, tmp_path: Path
) -> None:
    assistant = openai_client.beta.assistants.create(model="fake/fake-model")
    runner = WorkflowRunner(
        example.build_workflow(),
        store=tmp_path / "orders.db",
        model=AssistantArguments(openai_client, assistant_id=assistant.id),
    )
    with runner:
        run = runner.start_sync("I'm C-42; 2 of WIDGET-7 with coupon FREEBIE.")

    assert run.status is WorkflowStatus.COMPLETED, run.error
    assert run.steps["process_payment"].status is StepStatus.SKIPPED
    assert run.steps["calculate_pricing"].arguments["coupon"] == "FREEBIE"
    assert run.steps["send_confirmation"].result["to"] == "ada@example.com"
    # Callisto passed the forced choice and the single tool on to the model.
    forced = [r.body.get("tool_choice") for r in answering.requests]
    assert len(forced) == 4
    assert forced[0] == {"type": "function", "function": {"name": "lookup_customer"}}
    # Only the function to call was offered, without the parameters the workflow binds.
    pricing = answering.requests[2].body["tools"][0]["function"]
    assert pricing["name"] == "calculate_total_price"
    assert list(pricing["parameters"]["properties"]) == ["coupon"]
    # Each choice's run was cancelled once read; its usage, reported once over, is counted.
    assert all(
        run.steps[s].tokens["prompt"] > 0 for s in ("validate_customer", "send_confirmation")
    )


def test_the_example_runs_against_callisto(server: Any, answering: FakeLLM, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALLISTO_BASE_URL": server.url + "/v1",
        "CALLISTO_MODEL": "fake/fake-model",
        "ORDER_WORKFLOW_DB": str(tmp_path / "example.db"),
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--assistants", "--coupon", "FREEBIE"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "process_payment: skipped condition 'results.calculate_pricing.total > 0' is false" in (
        done.stdout
    )
    assert "send_confirmation: succeeded" in done.stdout
