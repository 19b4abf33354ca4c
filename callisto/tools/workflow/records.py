"""What a workflow run remembers: one record per step and one per run, and the trace as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class StepStatus(StrEnum):
    """Where a step is. ``running`` is also what a step interrupted by a crash is left in."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_INPUT = "waiting_for_input"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"


FINISHED = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED})


class WorkflowStatus(StrEnum):
    """Where a run is. A run whose process died is still ``running`` until resumed."""

    RUNNING = "running"
    WAITING_FOR_INPUT = "waiting_for_input"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(slots=True)
class StepRecord:
    """One step of one run: checkpointed when it starts, retries, waits and ends.

    Attributes:
        name: The step's name.
        status: Where it is.
        function: The tool called.
        arguments: The arguments it was called with (recorded before the call, so a rerun
            after a crash uses the same ones).
        argument_source: ``"model"`` or ``"bindings"``.
        result: The function's return value as JSON data.
        error: ``{"code", "message"}`` of the final failure.
        reason: Why it was skipped.
        idempotency_key: Stays the same across retries and reruns of this step.
        attempts: Calls of the function so far.
        corrections: Times the model was asked again because its arguments were refused.
        started_at: Unix time of the first start.
        finished_at: Unix time it ended.
        tokens: Model tokens spent choosing arguments: ``{"prompt", "completion"}``.
        question: What it waits for, while ``waiting_for_input``.
        answer: The input given to it (``None`` until there is one).
        answered: Whether an input was given (the input itself may be ``None``).
        fallback: The fallback's own record, when the fallback ran.
    """

    name: str
    status: StepStatus = StepStatus.PENDING
    function: str | None = None
    arguments: dict[str, Any] | None = None
    argument_source: str | None = None
    result: Any = None
    error: dict[str, str] | None = None
    reason: str | None = None
    idempotency_key: str | None = None
    attempts: int = 0
    corrections: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    question: str | None = None
    answer: Any = None
    answered: bool = False
    fallback: StepRecord | None = None

    @property
    def retries(self) -> int:
        """Calls after the first."""
        return max(self.attempts - 1, 0)

    @property
    def duration(self) -> float | None:
        """Seconds from the first start to the end, once ended."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def add_tokens(self, prompt: int, completion: int) -> None:
        """Count model tokens spent on this step."""
        self.tokens = {
            "prompt": self.tokens["prompt"] + prompt,
            "completion": self.tokens["completion"] + completion,
        }

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data, with ``retries`` and ``duration``."""
        data = asdict(self)
        data["status"] = self.status.value
        data["retries"] = self.retries
        data["duration"] = self.duration
        data["fallback"] = self.fallback.to_dict() if self.fallback is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        """Read a record written by :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["status"] = StepStatus(values.get("status", "pending"))
        if values.get("fallback") is not None:
            values["fallback"] = cls.from_dict(values["fallback"])
        return cls(**values)


@dataclass(slots=True)
class WorkflowRun:
    """One run of a workflow: its request, state and steps; what ``start``/``resume`` return.

    Attributes:
        id: The workflow id, for :meth:`WorkflowRunner.resume`.
        workflow: The workflow's name.
        status: Where the run is.
        request: The user's request, given to the model choosing arguments.
        inputs: Data for expressions (``inputs``).
        steps: Each step's record, in the workflow's order.
        error: Why the run failed.
        created_at: Unix time it was started.
        updated_at: Unix time of the last change.
        elapsed: Seconds spent running, over every process that ran it (for the deadline).
        definition: The fingerprint of the workflow's definition when the run started.
    """

    id: str
    workflow: str
    status: WorkflowStatus = WorkflowStatus.RUNNING
    request: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    elapsed: float = 0.0
    definition: str = ""

    @property
    def waiting(self) -> list[StepRecord]:
        """The steps waiting for input."""
        return [r for r in self.steps.values() if r.status is StepStatus.WAITING_FOR_INPUT]

    @property
    def question(self) -> str | None:
        """The question of the (first) step waiting for input."""
        waiting = self.waiting
        return waiting[0].question if waiting else None

    @property
    def results(self) -> dict[str, Any]:
        """The results of the steps that succeeded, by step name."""
        return {n: r.result for n, r in self.steps.items() if r.status is StepStatus.SUCCEEDED}

    def header(self) -> dict[str, Any]:
        """The run without its steps, as JSON data (what the store keeps per run)."""
        return {
            "id": self.id,
            "workflow": self.workflow,
            "status": self.status.value,
            "request": self.request,
            "inputs": self.inputs,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "elapsed": self.elapsed,
            "definition": self.definition,
        }

    def trace(self) -> dict[str, Any]:
        """The whole run as JSON data: the header, the question, and every step's record."""
        tokens = {"prompt": 0, "completion": 0}
        for record in self.steps.values():
            for kind in tokens:
                tokens[kind] += record.tokens[kind]
        return {
            **self.header(),
            "question": self.question,
            "tokens": tokens,
            "steps": [record.to_dict() for record in self.steps.values()],
        }

    def to_json(self, **options: Any) -> str:
        """:meth:`trace` as a JSON string; ``options`` go to :func:`json.dumps`."""
        return json.dumps(self.trace(), **options)

    @classmethod
    def from_header(cls, header: dict[str, Any], steps: dict[str, StepRecord]) -> WorkflowRun:
        """Rebuild a run from :meth:`header` and its step records."""
        known = {f.name for f in fields(cls)} - {"steps"}
        values = {key: value for key, value in header.items() if key in known}
        values["status"] = WorkflowStatus(values["status"])
        return cls(**values, steps=steps)
