"""One step's execution: arguments (bindings or model), calls with retries, fallback, waiting."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic_core

from callisto.tools.results import ErrorCode, ToolCall, ToolResult
from callisto.tools.workflow.context import StepContext, reset_current_step, set_current_step
from callisto.tools.workflow.definition import CompiledStep
from callisto.tools.workflow.errors import ExpressionError
from callisto.tools.workflow.models import ChoiceRequest
from callisto.tools.workflow.records import StepRecord, StepStatus
from callisto.tools.workflow.retry import MODEL_ERROR

if TYPE_CHECKING:
    from callisto.tools.workflow._session import Session

# Arguments the model chose that these codes refuse go back to the model to correct.
_CORRECTABLE = frozenset({ErrorCode.VALIDATION_ERROR.value, ErrorCode.INVALID_JSON.value})


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one try of a step produced no result.

    Attributes:
        code: An :class:`ErrorCode` value, ``MODEL_ERROR``, ``BINDING_ERROR`` or ``MAX_STEPS``.
        message: What went wrong.
        rejected: The model's arguments as sent, when they were refused.
    """

    code: str
    message: str
    rejected: str | None = None


class _Outcome:
    """A try ended with a result, or with the step waiting for input."""


SUCCEEDED = _Outcome()
WAITING = _Outcome()


class StepExecution:
    """Runs one step of a run to its end (or to a question), checkpointing on the way."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.runner = session.runner
        self.run_state = session.run
        self.compiled = session.workflow.step(name)
        self.record = session.run.steps[name]

    async def run(self) -> None:
        """Run the step, then its fallback if it fails for good."""
        record = self.record
        record.started_at = record.started_at or time.time()
        record.status = StepStatus.RUNNING
        if record.fallback is None:  # not resuming into a fallback that had started
            namespace = self.session.namespace(record.name)
            outcome = await self._tries(self.compiled, record, namespace, self._key())
            if outcome is WAITING:
                return
            if outcome is SUCCEEDED:
                self.session.end(record, StepStatus.SUCCEEDED)
                return
            assert isinstance(outcome, Failure)
            record.error = {"code": outcome.code, "message": outcome.message}
            if self.compiled.fallback is None:
                self.session.end(record, StepStatus.FAILED)
                return
        await self._fall_back()

    async def _fall_back(self) -> None:
        record, fallback = self.record, self.compiled.fallback
        assert fallback is not None
        part = record.fallback or StepRecord(fallback.name, function=fallback.tool.name)
        part.started_at = part.started_at or time.time()
        part.status = StepStatus.RUNNING
        record.fallback = part
        namespace = {
            **self.session.namespace(record.name),
            "args": record.arguments,
            "error": record.error,
        }
        outcome = await self._tries(fallback, part, namespace, self._key() + ":fallback")
        if outcome is WAITING:
            return
        if outcome is SUCCEEDED:
            record.result = part.result
            self.session.end(record, StepStatus.SUCCEEDED)
            return
        assert isinstance(outcome, Failure)
        message = f"{outcome.message} (the fallback {fallback.name!r} failed too)"
        self.session.end(record, StepStatus.FAILED, error=(outcome.code, message))

    def _key(self) -> str:
        return f"{self.run_state.id}:{self.record.name}"

    async def _tries(
        self, compiled: CompiledStep, part: StepRecord, namespace: dict[str, Any], key: str
    ) -> _Outcome | Failure:
        """Try until a result, a question, or a failure the policy does not retry."""
        policy = compiled.step.retry or self.runner.retry
        part.idempotency_key = key
        tries = part.attempts
        rejected: tuple[str, str] | None = None
        while True:
            tries += 1
            outcome = await self._try(compiled, part, namespace, rejected)
            if not isinstance(outcome, Failure):
                return outcome
            if outcome.rejected is not None and part.corrections < self.runner.argument_retries:
                part.corrections += 1
                part.arguments = None
                rejected = (outcome.rejected, outcome.message)
                tries -= 1  # a correction is not a retry
                continue
            delay = policy.delay_before(tries + 1, outcome.code)
            if delay is None:
                return outcome
            if outcome.rejected is not None:  # ask the model afresh, telling it why
                part.arguments = None
                rejected = (outcome.rejected, outcome.message)
            await asyncio.sleep(delay)

    async def _try(
        self,
        compiled: CompiledStep,
        part: StepRecord,
        namespace: dict[str, Any],
        rejected: tuple[str, str] | None,
    ) -> _Outcome | Failure:
        if part.arguments is None:
            failure = await self._arguments(compiled, part, namespace, rejected)
            if failure is not None:
                return failure
        assert part.arguments is not None
        if self._calls_made() >= self.runner.max_steps:
            limit = self.runner.max_steps
            return Failure("MAX_STEPS", f"the run made its most function calls ({limit})")
        part.attempts += 1
        self.session.tick()
        self.session.checkpoint(self.record)
        context = StepContext(
            workflow_id=self.run_state.id,
            step=self.record.name,
            idempotency_key=part.idempotency_key or self._key(),
            attempt=part.attempts,
            answer=self.record.answer,
            answered=self.record.answered,
        )
        token = set_current_step(context)
        try:
            call = ToolCall(
                id=context.idempotency_key, name=compiled.tool.name, arguments=part.arguments
            )
            result = await self.runner.executor.execute(call, caller=self.runner.caller)
        finally:
            reset_current_step(token)
        if context.question is not None:
            self.record.status, self.record.question = (
                StepStatus.WAITING_FOR_INPUT,
                context.question,
            )
            self.session.tick()
            self.session.checkpoint(self.record, ended=True)
            return WAITING
        if result.ok:
            part.result = _json_value(result)
            part.status, part.finished_at = StepStatus.SUCCEEDED, time.time()
            return SUCCEEDED
        code = result.code.value if result.code is not None else "EXECUTION_ERROR"
        from_model = part.argument_source == "model" and code in _CORRECTABLE
        rejected_text = json.dumps(part.arguments) if from_model else None
        return Failure(code, result.message or "", rejected=rejected_text)

    async def _arguments(
        self,
        compiled: CompiledStep,
        part: StepRecord,
        namespace: dict[str, Any],
        rejected: tuple[str, str] | None,
    ) -> Failure | None:
        """Set ``part.arguments`` from the bindings and, when needed, the model."""
        try:
            bound = {name: e.evaluate(namespace) for name, e in compiled.bindings.items()}
        except ExpressionError as exc:
            return Failure("BINDING_ERROR", str(exc))
        if not compiled.needs_model:
            part.arguments, part.argument_source = bound, "bindings"
            return None
        model = self.runner.model
        assert model is not None  # the runner refuses such a workflow without a model
        results = namespace["results"]
        request = ChoiceRequest(
            workflow_id=self.run_state.id,
            step=self.record.name,
            tool=compiled.tool,
            request=self.run_state.request,
            results={d: results.get(d) for d in self.compiled.step.depends_on},
            input=self.record.answer,
            fixed=bound,
            instructions=compiled.step.instructions,
            rejected=rejected,
        )
        try:
            choice = await model.choose(request)
        except Exception as exc:  # API errors of any client, NoChoice: all retried alike
            return Failure(MODEL_ERROR, f"{type(exc).__name__}: {exc}")
        part.add_tokens(choice.prompt_tokens, choice.completion_tokens)
        part.argument_source = "model"
        chosen = _as_object(choice.arguments)
        if isinstance(chosen, str):
            raw = choice.arguments if isinstance(choice.arguments, str) else str(choice.arguments)
            return Failure(ErrorCode.INVALID_JSON.value, chosen, rejected=raw)
        part.arguments = {**chosen, **bound}
        return None

    def _calls_made(self) -> int:
        records = self.run_state.steps.values()
        return sum(r.attempts + (r.fallback.attempts if r.fallback else 0) for r in records)


def _as_object(arguments: Any) -> dict[str, Any] | str:
    """The arguments as a dict, or what is wrong with them."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return f"The arguments are not valid JSON ({exc}). Send one JSON object."
    if not isinstance(arguments, dict):
        return "The arguments must be a JSON object with named fields."
    return arguments


def _json_value(result: ToolResult) -> Any:
    """The function's return value as JSON data (a cached result only has its output text)."""
    if not result.cached:
        return pydantic_core.to_jsonable_python(result.value, fallback=str)
    try:
        return json.loads(result.output)
    except json.JSONDecodeError:
        return result.output
