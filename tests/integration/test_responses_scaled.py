"""Responses in the scaled mode: 2 API processes, workers executing the runs, events on Redis.

A background response is executed by a worker and taken over when that worker is killed; any
API process polls it and resumes its stream; a function-call round trip starts on one API
process and continues on the other.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx
import openai
import pytest

from tests.integration import test_scaled
from tests.integration.test_responses import WEATHER
from tests.integration.test_scaled import TAKEOVER_BOUND, Deployment, client_for

# The scaled deployment of test_scaled: PostgreSQL, Redis, API and worker processes.
fake = test_scaled.fake
deployment = test_scaled.deployment

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def wait_response(client: openai.OpenAI, response_id: str, wanted: set[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status in wanted:
            return response
        assert time.monotonic() < deadline, f"response stayed {response.status}"
        time.sleep(0.05)


def test_background_response_is_taken_over_and_resumed_anywhere(deployment: Deployment) -> None:
    (_, api_a), (_, api_b) = deployment.apis
    a, b = client_for(api_a), client_for(api_b)
    response = a.responses.create(model="fake/m", input="slow background", background=True)
    assert response.status == "queued"
    wait_response(b, response.id, {"in_progress"}, 30)
    time.sleep(1.0)  # the reply is streaming on a worker
    for worker in deployment.workers:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deployment.start_worker()
    done = wait_response(b, response.id, {"completed", "failed", "cancelled"}, TAKEOVER_BOUND + 30)
    assert done.status == "completed", done.error
    assert done.output_text.strip() == " ".join(["slow"] * 60)
    events = list(b.responses.retrieve(response.id, stream=True))
    assert events[-1].type == "response.completed"
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers))
    resumed = list(a.responses.retrieve(response.id, stream=True, starting_after=numbers[-3]))
    assert [e.sequence_number for e in resumed] == numbers[-2:]
    a.close()
    b.close()


def test_function_calls_continue_on_another_api_process(deployment: Deployment) -> None:
    (_, api_a), (_, api_b) = deployment.apis
    a, b = client_for(api_a), client_for(api_b)
    first = a.responses.create(model="fake/m", input="Quito", tools=[WEATHER])
    [call] = [o for o in first.output if o.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Quito"}
    with b.responses.stream(
        model="fake/m",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny in Quito"}
        ],
    ) as stream:
        second = stream.get_final_response()
    assert second.output_text == "Answer: sunny in Quito"
    assert (
        httpx.get(f"{api_a}/v1/responses/{second.id}").json()["output"][0]["content"][0]["text"]
        == "Answer: sunny in Quito"
    )
    a.close()
    b.close()


def test_cancel_through_the_other_api_process(deployment: Deployment) -> None:
    (_, api_a), (_, api_b) = deployment.apis
    a, b = client_for(api_a), client_for(api_b)
    response = a.responses.create(model="fake/m", input="slow cancel", background=True)
    # Cancel once the reply streams on a worker.
    deadline = time.monotonic() + 30
    while not a.responses.retrieve(response.id).output:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = b.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert a.responses.retrieve(response.id).status == "cancelled"
    a.close()
    b.close()
