"""Pure mappings of the Entities endpoints: statuses, model routing, tool definitions."""

from __future__ import annotations

import pytest

from callisto.api.entities.completions import resolve_model
from callisto.api.entities.status import ENTITIES_STATUS
from callisto.api.entities.tooldefs import entities_tool, function_tool, tool_id
from callisto.config import ProviderSettings, Settings
from callisto.engine.lifecycle import TRANSITIONS
from callisto.errors import InvalidRequest
from callisto.providers.registry import ProviderRegistry

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
