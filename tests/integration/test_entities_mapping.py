"""Pure mappings of the Entities endpoints: statuses, model routing, tool definitions, actions."""

from __future__ import annotations

import pytest

from callisto.api.entities.actions import action_id, action_read, action_status, embedded_action
from callisto.api.entities.completions import resolve_model
from callisto.api.entities.status import ENTITIES_STATUS
from callisto.api.entities.tooldefs import entities_tool, function_tool, tool_id
from callisto.config import ProviderSettings, Settings
from callisto.engine.lifecycle import TRANSITIONS
from callisto.errors import InvalidRequest
from callisto.providers.registry import ProviderRegistry
from callisto.store.entities_models import EntitiesActionRow
from callisto.store.models import RunRow

# projectdavid_common 0.19.0, schemas/runs_schema.py: RunStatus.
ENTITIES_RUN_STATUSES = {
    "queued",
    "in_progress",
    "action_required",
    "completed",
    "failed",
    "cancelled",
    "pending",
    "processing",
    "expired",
    "retrying",
}


def test_every_callisto_status_has_an_entities_word() -> None:
    assert set(ENTITIES_STATUS) == set(TRANSITIONS)
    assert set(ENTITIES_STATUS.values()) <= ENTITIES_RUN_STATUSES
    assert ENTITIES_STATUS["requires_action"] == "action_required"


@pytest.fixture
def providers() -> ProviderRegistry:
    return ProviderRegistry(
        Settings(providers={"hyperbolic": ProviderSettings(base_url="http://127.0.0.1:9/v1")})
    )


def test_models_route_to_the_provider_they_name(providers: ProviderRegistry) -> None:
    model = "hyperbolic/deepseek-ai/DeepSeek-V3"
    assert resolve_model(providers, "Hyperbolic", model) == model
    assert resolve_model(providers, "Hyperbolic", "deepseek-ai/DeepSeek-V3") == model
    assert resolve_model(providers, "whatever", "Hyperbolic/x") == "hyperbolic/x"
    with pytest.raises(InvalidRequest, match="'togetherai'"):
        resolve_model(providers, "togetherai", "together-ai/model")


def test_without_a_provider_name_models_route_as_callisto_routes_them(
    providers: ProviderRegistry,
) -> None:
    # The current SDK sends no provider: a configured prefix, else the default provider.
    assert resolve_model(providers, None, "Hyperbolic/x") == "hyperbolic/x"
    with pytest.raises(InvalidRequest, match="names no configured provider"):
        resolve_model(providers, None, "llama-3")  # no default provider is configured
    with_default = ProviderRegistry(
        Settings(
            default_provider="hyperbolic",
            providers={"hyperbolic": ProviderSettings(base_url="http://127.0.0.1:9/v1")},
        )
    )
    assert resolve_model(with_default, None, "llama-3") == "llama-3"
    strict = ProviderRegistry(Settings(default_provider="nowhere", providers={}))
    with pytest.raises(InvalidRequest, match="nowhere"):
        resolve_model(strict, None, "llama-3")


def test_tool_ids_follow_the_definition_however_it_is_nested() -> None:
    fn = {"name": "get_flight_times", "parameters": {"type": "object", "properties": {}}}
    tools = [
        function_tool(fn),
        function_tool({"function": fn}),
        function_tool({"type": "function", "function": fn}),
    ]
    assert len({tool_id(t) for t in tools}) == 1
    wire = entities_tool(tools[0])
    assert wire["function"]["function"]["description"] == ""
    with pytest.raises(InvalidRequest, match="Invalid function definition"):
        function_tool({"name": "bad name!"})


def _action(**fields: object) -> EntitiesActionRow:
    base: dict[str, object] = {
        "id": "act_1",
        "run_id": "run_1",
        "tool_call_id": "call_1",
        "tool_name": "get_flight_times",
        "arguments": '{"departure": "LAX", "arrival": "JFK"}',
        "turn_index": 0,
        "status": "pending",
        "triggered_at": 0.0,
        "processed_at": None,
        "result": None,
        "output": None,
    }
    return EntitiesActionRow(**{**base, **fields})


def test_action_ids_follow_call_ids_both_ways() -> None:
    assert action_id("call_01abc") == "act_01abc"
    assert action_id("act_01abc") == "act_01abc"


def test_an_action_reads_as_both_sdk_generations_validate_it() -> None:
    run = RunRow(id="run_1", status="requires_action", tools=[], expires_at_exact=60.0)
    full = action_read(_action(), run)
    # projectdavid_common 0.77.0 ActionRead (extra="forbid"): exactly these keys.
    assert set(full) == {
        "id", "run_id", "tool_id", "tool_name", "tool_call_id", "turn_index", "decision",
        "confidence_score", "triggered_at", "expires_at", "is_processed", "processed_at",
        "status", "function_args", "result",
    }  # fmt: skip
    assert list(full["function_args"]) == ["departure", "arrival"]
    # 0.19.0's ActionRead, embedded in runs, forbids the newer keys.
    assert "tool_call_id" not in embedded_action(_action(), run)
    assert set(embedded_action(_action(), run)) <= set(full)


@pytest.mark.parametrize(
    ("run_status", "action", "expected"),
    [
        ("requires_action", {}, "pending"),
        ("expired", {}, "expired"),
        ("cancelled", {"status": "processing"}, "cancelled"),
        ("completed", {}, "cancelled"),
        ("completed", {"output": "x", "status": "completed"}, "completed"),
        ("failed", {"status": "failed"}, "failed"),
    ],
)
def test_an_action_left_without_output_ends_with_its_run(
    run_status: str, action: dict[str, object], expected: str
) -> None:
    assert action_status(_action(**action), RunRow(status=run_status)) == expected
