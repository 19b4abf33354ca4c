"""The client toolkit: typed functions as tools, their execution, policies and run drivers.

Importing this package never imports the server (FastAPI, SQLAlchemy, ``callisto.api``,
``callisto.engine``, ``callisto.store``); the ``openai`` SDK is only used through the client
objects you pass to the drivers.

Example::

    from callisto.tools import Toolbox, run_until_done, tool

    @tool
    def get_weather(city: str) -> str:
        '''Get the current weather in a city.'''
        return "sunny"

    toolbox = Toolbox([get_weather])
    assistant = client.beta.assistants.create(model="offline/demo", tools=toolbox.openai_tools())
    outcome = run_until_done(client, thread.id, assistant.id, toolbox)

Multi-step workflows over the same tools (dependencies, conditions, durable checkpoints) are in
:mod:`callisto.tools.workflow`, and exported here too.
"""

from callisto.tools.audit import (
    AuditRecord,
    AuditSink,
    AuditTrail,
    JsonLinesSink,
    LoggingSink,
    MemorySink,
    redact_secrets,
)
from callisto.tools.cache import ResultCache
from callisto.tools.chat import ChatOutcome, async_complete_with_tools, complete_with_tools
from callisto.tools.definition import ToolDefinition
from callisto.tools.errors import (
    MaxRoundsExceeded,
    ToolDefinitionError,
    ToolkitError,
    ToolLoopError,
    ToolSignatureError,
)
from callisto.tools.executor import ToolExecutor
from callisto.tools.guards import ArgumentGuard, no_null_bytes, no_path_traversal, read_only_sql
from callisto.tools.metrics import ToolMetrics
from callisto.tools.normalize import normalize_schema
from callisto.tools.policy import Allowlist, Denial, Gate, ToolRequest
from callisto.tools.ratelimit import Rate, RateLimit, TokenBucket
from callisto.tools.results import ErrorCode, ToolCall, ToolResult
from callisto.tools.runs import RunOutcome, async_run_until_done, run_until_done
from callisto.tools.serialize import serialize_output
from callisto.tools.tool import Tool, tool
from callisto.tools.toolbox import Toolbox
from callisto.tools.workflow import (
    ArgumentChooser,
    AssistantArguments,
    ChatArguments,
    CheckpointStore,
    Choice,
    ChoiceRequest,
    Expression,
    ExpressionError,
    InputRequired,
    PostgresCheckpoints,
    RetryPolicy,
    SQLiteCheckpoints,
    Step,
    StepContext,
    StepRecord,
    StepStatus,
    Workflow,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowRun,
    WorkflowRunner,
    WorkflowStateError,
    WorkflowStatus,
    ask_for_input,
    current_step,
)

__all__ = [
    "Allowlist",
    "ArgumentChooser",
    "ArgumentGuard",
    "AssistantArguments",
    "AuditRecord",
    "AuditSink",
    "AuditTrail",
    "ChatArguments",
    "ChatOutcome",
    "CheckpointStore",
    "Choice",
    "ChoiceRequest",
    "Denial",
    "ErrorCode",
    "Expression",
    "ExpressionError",
    "Gate",
    "InputRequired",
    "JsonLinesSink",
    "LoggingSink",
    "MaxRoundsExceeded",
    "MemorySink",
    "PostgresCheckpoints",
    "Rate",
    "RateLimit",
    "ResultCache",
    "RetryPolicy",
    "RunOutcome",
    "SQLiteCheckpoints",
    "Step",
    "StepContext",
    "StepRecord",
    "StepStatus",
    "TokenBucket",
    "Tool",
    "ToolCall",
    "ToolDefinition",
    "ToolDefinitionError",
    "ToolExecutor",
    "ToolLoopError",
    "ToolMetrics",
    "ToolRequest",
    "ToolResult",
    "ToolSignatureError",
    "Toolbox",
    "ToolkitError",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowRun",
    "WorkflowRunner",
    "WorkflowStateError",
    "WorkflowStatus",
    "ask_for_input",
    "async_complete_with_tools",
    "async_run_until_done",
    "complete_with_tools",
    "current_step",
    "no_null_bytes",
    "no_path_traversal",
    "normalize_schema",
    "read_only_sql",
    "redact_secrets",
    "run_until_done",
    "serialize_output",
    "tool",
]
