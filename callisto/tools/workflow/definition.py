"""A workflow's definition: named steps, each calling one tool, and the checks made once.

Defining a :class:`Workflow` reports every problem at once (unknown functions and
dependencies, cycles, conditions and bindings that don't parse or read results that can't
exist yet), so one pass fixes them all.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callisto.tools.tool import Tool
from callisto.tools.toolbox import Toolbox
from callisto.tools.workflow.errors import ExpressionError, WorkflowDefinitionError
from callisto.tools.workflow.expressions import Expression
from callisto.tools.workflow.retry import RetryPolicy

STEP_NAMES = ("request", "inputs", "results", "input")
"""Names a condition or binding may read: the request text, the workflow's inputs, earlier
results by step name (``None`` for a skipped step) and the answer given to this step."""

FALLBACK_NAMES = (*STEP_NAMES, "args", "error")
"""A fallback's bindings may also read the failed step's arguments and its ``error``
(``{"code", "message"}``)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a tool to call, when, and where its arguments come from.

    Arguments are bound from ``bind`` (parameter -> expression over ``request``, ``inputs``,
    ``results``, ``input``); the model is asked for them only when some required parameter is
    not bound. It is then forced to call this step's function, and sees the request, the
    results of the step's direct dependencies and the input given to the step; bound values
    override what it chooses.

    Args:
        name: The step's name, unique in the workflow (``results.NAME`` reads its result).
        function: The tool, or its name in the workflow's toolbox.
        depends_on: Steps that must be finished (succeeded or skipped) first.
        when: A condition; when false the step is skipped, and so are its dependents unless
            they set ``run_if_skipped``.
        bind: Arguments bound from earlier results, by parameter name.
        ask: A question to ask before the step runs; the workflow waits for the answer
            (``input`` in expressions and in the model's context).
        retry: The step's retry policy (the runner's default when ``None``).
        fallback: A step run instead when this one fails for good; its result becomes this
            step's result. Its bindings may also read ``args`` and ``error``.
        run_if_skipped: Run even when a dependency was skipped (that result reads as ``None``).
        instructions: Extra guidance for the model choosing the arguments.
    """

    name: str
    function: Tool[..., Any] | str
    depends_on: Sequence[str] = ()
    when: str | None = None
    bind: Mapping[str, str] = field(default_factory=dict)
    ask: str | None = None
    retry: RetryPolicy | None = None
    fallback: Step | None = None
    run_if_skipped: bool = False
    instructions: str | None = None

    def __post_init__(self) -> None:
        depends = (self.depends_on,) if isinstance(self.depends_on, str) else self.depends_on
        object.__setattr__(self, "depends_on", tuple(depends))
        object.__setattr__(self, "bind", dict(self.bind))

    @property
    def function_name(self) -> str:
        """The name of the tool the step calls."""
        return self.function if isinstance(self.function, str) else self.function.name


@dataclass(frozen=True, slots=True)
class CompiledStep:
    """A step with its tool resolved and its expressions parsed (what the runner uses).

    Attributes:
        step: The step as written.
        tool: The tool it calls.
        condition: The parsed ``when``.
        bindings: The parsed ``bind``.
        needs_model: Whether a required parameter is left to the model.
        fallback: The compiled fallback.
    """

    step: Step
    tool: Tool[..., Any]
    condition: Expression | None
    bindings: dict[str, Expression]
    needs_model: bool
    fallback: CompiledStep | None

    @property
    def name(self) -> str:
        """The step's name."""
        return self.step.name


class Workflow:
    """A named set of steps forming a graph without cycles.

    Args:
        name: The workflow's name (stored with each run; a run resumes only under it).
        steps: The steps, in any order.
        toolbox: Where step functions given by name are found; by default a toolbox of the
            :class:`Tool` objects the steps name.

    Raises:
        WorkflowDefinitionError: Listing every problem found.
    """

    def __init__(self, name: str, steps: Iterable[Step], *, toolbox: Toolbox | None = None) -> None:
        self.name = name
        self.steps: tuple[Step, ...] = tuple(steps)
        problems: list[str] = []
        self.toolbox = toolbox if toolbox is not None else _toolbox_of(self.steps, problems)
        by_name: dict[str, Step] = {}
        for step in self.steps:
            if not step.name:
                problems.append("a step has an empty name")
            elif step.name in by_name:
                problems.append(f"two steps are named {step.name!r}")
            by_name[step.name] = step
        order = _order(self.steps, by_name, problems)
        self.order: tuple[str, ...] = tuple(order or by_name)
        self.ancestors = _ancestors(self.steps, self.order) if order else {}
        compiled = {}
        for step in self.steps:
            found = self._compile(step, problems, STEP_NAMES)
            if found is not None:
                compiled[step.name] = found
        if problems:
            raise WorkflowDefinitionError(name, problems)
        self.compiled: dict[str, CompiledStep] = compiled
        self.dependents: dict[str, list[str]] = {name: [] for name in self.order}
        for step in self.steps:
            for dependency in step.depends_on:
                self.dependents[dependency].append(step.name)

    def step(self, name: str) -> CompiledStep:
        """The compiled step called ``name``."""
        return self.compiled[name]

    @property
    def fingerprint(self) -> str:
        """A digest of the steps' shape: names, functions, dependencies, expressions, options.

        A run records it when it starts; resuming it under a workflow whose fingerprint differs
        is refused unless asked for. Function bodies are not part of it, so fixing a
        function's code doesn't strand the runs in flight.
        """
        shape = [_shape(step) for step in sorted(self.steps, key=lambda s: s.name)]
        canonical = json.dumps([self.name, shape], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def _compile(
        self, step: Step, problems: list[str], names: Sequence[str], owner: Step | None = None
    ) -> CompiledStep | None:
        where = f"step {step.name!r}" if owner is None else f"the fallback of {owner.name!r}"
        before = len(problems)
        tool = self.toolbox.get(step.function_name)
        if tool is None:
            known = ", ".join(self.toolbox.names) or "none"
            problems.append(f"{where}: unknown function {step.function_name!r} (known: {known})")
        reader = owner or step
        condition = self._expression(step.when, where, "condition", names, reader, problems)
        bindings = {}
        for parameter, source in step.bind.items():
            parsed = self._expression(
                source, where, f"binding of {parameter!r}", names, reader, problems
            )
            if parsed is not None:
                bindings[parameter] = parsed
        schema = tool.definition.parameters if tool is not None else {}
        properties = schema.get("properties") or {}
        unknown = [p for p in step.bind if tool is not None and p not in properties]
        if unknown:
            problems.append(f"{where}: binds {unknown} which {tool and tool.name} does not take")
        if step.ask is not None and not (isinstance(step.ask, str) and step.ask.strip()):
            problems.append(f"{where}: 'ask' must be a non-empty question")
        fallback = None
        if step.fallback is not None:
            fallback = self._compile_fallback(step, problems)
        if owner is not None and (step.depends_on or step.when or step.ask or step.fallback):
            problems.append(f"{where}: a fallback takes only a function, bind and retry")
        if tool is None or len(problems) > before:
            return None
        required = set(schema.get("required") or ())
        return CompiledStep(
            step=step,
            tool=tool,
            condition=condition,
            bindings=bindings,
            needs_model=bool(required - set(bindings)),
            fallback=fallback,
        )

    def _compile_fallback(self, step: Step, problems: list[str]) -> CompiledStep | None:
        assert step.fallback is not None
        return self._compile(step.fallback, problems, FALLBACK_NAMES, owner=step)

    def _expression(
        self,
        source: str | None,
        where: str,
        what: str,
        names: Sequence[str],
        reader: Step,
        problems: list[str],
    ) -> Expression | None:
        if source is None:
            return None
        try:
            parsed = Expression.parse(source, names)
        except ExpressionError as exc:
            problems.append(f"{where}: {what} {exc}")
            return None
        for name in sorted(parsed.steps):
            if name not in self.order:
                problems.append(
                    f"{where}: {what} reads results.{name}, but no step is named {name!r}"
                )
            elif self.ancestors and name not in self.ancestors[reader.name]:
                problems.append(
                    f"{where}: {what} reads results.{name}, but {name!r} is not among "
                    f"the dependencies of {reader.name!r}"
                )
        return parsed


def _shape(step: Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "function": step.function_name,
        "depends_on": list(step.depends_on),
        "when": step.when,
        "bind": dict(step.bind),
        "ask": step.ask,
        "run_if_skipped": step.run_if_skipped,
        "fallback": _shape(step.fallback) if step.fallback is not None else None,
    }


def _toolbox_of(steps: Sequence[Step], problems: list[str]) -> Toolbox:
    """A toolbox of the tools the steps (and their fallbacks) name."""
    toolbox = Toolbox()
    pending = list(steps)
    while pending:
        step = pending.pop(0)
        if step.fallback is not None:
            pending.append(step.fallback)
        if isinstance(step.function, str):
            continue
        present = toolbox.get(step.function.name)
        if present is None:
            toolbox.add(step.function)
        elif present is not step.function:
            problems.append(f"two different tools are named {step.function.name!r}")
    return toolbox


def _order(steps: Sequence[Step], by_name: Mapping[str, Step], problems: list[str]) -> list[str]:
    """The steps in an order where each comes after its dependencies; ``[]`` if impossible."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    valid = True
    for step in steps:
        known = []
        for dependency in step.depends_on:
            if dependency in by_name:
                known.append(dependency)
            else:
                valid = False
                problems.append(f"step {step.name!r} depends on unknown step {dependency!r}")
        sorter.add(step.name, *known)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(reversed(exc.args[1]))
        problems.append(f"the dependencies form a cycle: {cycle} (each depends on the next)")
        return []
    return order if valid else []


def _ancestors(steps: Sequence[Step], order: Sequence[str]) -> dict[str, frozenset[str]]:
    """Every step each step depends on, directly or not."""
    direct = {step.name: step.depends_on for step in steps}
    found: dict[str, frozenset[str]] = {}
    for name in order:
        found[name] = frozenset(direct[name]).union(*(found[d] for d in direct[name]))
    return found
