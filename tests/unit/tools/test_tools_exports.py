"""The toolkit's public surface, and that it stays apart from the server."""

from __future__ import annotations

import json
import subprocess
import sys

import callisto.tools

EXPECTED = {
    "Allowlist", "ArgumentGuard", "AuditRecord", "AuditSink", "AuditTrail", "ChatOutcome",
    "Denial", "ErrorCode", "Gate", "JsonLinesSink", "LoggingSink", "MaxRoundsExceeded",
    "MemorySink", "Rate", "RateLimit", "ResultCache", "RunOutcome", "TokenBucket", "Tool",
    "ToolCall", "ToolDefinition", "ToolDefinitionError", "ToolExecutor", "ToolLoopError",
    "ToolMetrics", "ToolRequest", "ToolResult", "ToolSignatureError", "Toolbox", "ToolkitError",
    "async_complete_with_tools", "async_run_until_done", "complete_with_tools", "no_null_bytes",
    "no_path_traversal", "normalize_schema", "read_only_sql", "redact_secrets", "run_until_done",
    "serialize_output", "tool",
    # workflows (callisto.tools.workflow)
    "ArgumentChooser", "AssistantArguments", "ChatArguments", "CheckpointStore", "Choice",
    "ChoiceRequest", "Expression", "ExpressionError", "InputRequired", "PostgresCheckpoints",
    "RetryPolicy", "SQLiteCheckpoints", "Step", "StepContext", "StepRecord", "StepStatus",
    "Workflow", "WorkflowDefinitionError", "WorkflowError", "WorkflowRun", "WorkflowRunner",
    "WorkflowStateError", "WorkflowStatus", "ask_for_input", "current_step",
}  # fmt: skip


def test_all_is_exactly_the_public_api() -> None:
    assert set(callisto.tools.__all__) == EXPECTED
    assert len(callisto.tools.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(callisto.tools, name) is not None


def test_importing_the_toolkit_does_not_import_the_server() -> None:
    code = "import json, sys, callisto.tools\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = json.loads(out)
    forbidden_roots = {
        "fastapi", "sqlalchemy", "starlette", "uvicorn", "openai", "alembic", "psycopg",
    }  # fmt: skip
    forbidden_ours = ("callisto.api", "callisto.engine", "callisto.store")
    leaked = [
        name
        for name in loaded
        if name.split(".")[0] in forbidden_roots or name.startswith(forbidden_ours)
    ]
    assert leaked == []
