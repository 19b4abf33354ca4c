"""Durable multi-step workflows: declared steps calling tools, run concurrently, resumable.

A :class:`Workflow` names its steps, each calling one tool, with dependencies, a condition in a
safe expression language, and arguments bound from earlier results or chosen by a model. A
:class:`WorkflowRunner` runs it through the toolkit's :class:`~callisto.tools.ToolExecutor`
(validation, timeouts, gates, audit, metrics), checkpoints every step in SQLite or PostgreSQL,
and resumes a run after a crash or with the input it waits for::

    workflow = Workflow("order", [
        Step("validate_customer", lookup_customer),
        Step("calculate_pricing", calculate_total_price, depends_on=["validate_customer"],
             bind={"customer_id": "results.validate_customer.customer_id"}),
        Step("process_payment", charge_payment, depends_on=["calculate_pricing"],
             when="results.calculate_pricing.total > 0"),
    ])
    runner = WorkflowRunner(workflow, store="orders.db", model=ChatArguments(client, model=...))
    run = runner.start_sync("Order two widgets for customer C-1")
    run = runner.resume_sync(run.id)          # after a crash, from any process

See ``docs/workflows.md`` for the guide.
"""

from callisto.tools.workflow.context import (
    InputRequired,
    StepContext,
    ask_for_input,
    current_step,
)
from callisto.tools.workflow.definition import Step, Workflow
from callisto.tools.workflow.errors import (
    ExpressionError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowStateError,
)
from callisto.tools.workflow.expressions import Expression
from callisto.tools.workflow.models import (
    ArgumentChooser,
    AssistantArguments,
    ChatArguments,
    Choice,
    ChoiceRequest,
)
from callisto.tools.workflow.records import StepRecord, StepStatus, WorkflowRun, WorkflowStatus
from callisto.tools.workflow.retry import RetryPolicy
from callisto.tools.workflow.runner import WorkflowRunner
from callisto.tools.workflow.store import CheckpointStore, PostgresCheckpoints, SQLiteCheckpoints

__all__ = [
    "ArgumentChooser",
    "AssistantArguments",
    "ChatArguments",
    "CheckpointStore",
    "Choice",
    "ChoiceRequest",
    "Expression",
    "ExpressionError",
    "InputRequired",
    "PostgresCheckpoints",
    "RetryPolicy",
    "SQLiteCheckpoints",
    "Step",
    "StepContext",
    "StepRecord",
    "StepStatus",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowRun",
    "WorkflowRunner",
    "WorkflowStateError",
    "WorkflowStatus",
    "ask_for_input",
    "current_step",
]
