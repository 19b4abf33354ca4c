"""Defining workflows: every problem at once; expressions that can't reach Python; retry policy."""

from __future__ import annotations

from typing import Any

import pytest

from callisto.tools import ErrorCode, Toolbox, tool
from callisto.tools.workflow import (
    Expression,
    ExpressionError,
    RetryPolicy,
    Step,
    Workflow,
    WorkflowDefinitionError,
)

NAMES = ("request", "inputs", "results", "input")


@tool
def lookup(customer_id: str) -> dict[str, Any]:
    """Look a customer up."""
    return {"customer_id": customer_id, "email": "a@b.c"}


@tool
def charge(customer_id: str, amount: float) -> str:
    """Charge."""
    return "ok"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        Workflow(
            "broken",
            [
                Step("a", lookup, depends_on=["c"]),
                Step("b", lookup, depends_on=["a"]),
                Step("c", lookup, depends_on=["b"]),
                Step("d", charge, depends_on=["nowhere"], when="results.d.amount >"),
                Step("e", "send_fax"),
                Step("f", charge, bind={"customer_id": "results.ghost.id", "tip": "1"}),
            ],
        )
    problems = caught.value.problems
    assert "step 'd' depends on unknown step 'nowhere'" in problems
    assert "the dependencies form a cycle: a -> c -> b -> a (each depends on the next)" in problems
    assert any("step 'd': condition 'results.d.amount >' does not parse" in p for p in problems)
    assert "step 'e': unknown function 'send_fax' (known: lookup, charge)" in problems
    assert (
        "step 'f': binding of 'customer_id' reads results.ghost, but no step is named 'ghost'"
        in problems
    )
    assert "step 'f': binds ['tip'] which charge does not take" in problems
    assert len(problems) == 6
    assert "workflow 'broken' is not valid" in str(caught.value)


def test_an_expression_may_only_read_results_of_steps_that_come_before() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        Workflow(
            "race",
            [
                Step("a", lookup),
                Step("b", lookup),
                Step("pay", charge, depends_on=["a"], when="results.b.email", bind={}),
            ],
        )
    assert caught.value.problems == [
        "step 'pay': condition reads results.b, but 'b' is not among the dependencies of 'pay'"
    ]


def test_functions_by_name_come_from_the_toolbox() -> None:
    workflow = Workflow("named", [Step("a", "lookup")], toolbox=Toolbox([lookup]))
    assert workflow.step("a").tool is lookup
    assert workflow.step("a").needs_model  # customer_id is required and not bound


def test_a_fully_bound_step_needs_no_model() -> None:
    workflow = Workflow(
        "bound",
        [
            Step("a", lookup, bind={"customer_id": "inputs.customer"}),
            Step(
                "b",
                charge,
                depends_on=["a"],
                bind={"customer_id": "results.a.customer_id", "amount": "inputs.amount * 2"},
            ),
        ],
    )
    assert not workflow.step("a").needs_model
    assert not workflow.step("b").needs_model
    assert workflow.order == ("a", "b")


def test_a_fallback_is_checked_like_a_step_and_may_read_args_and_error() -> None:
    Workflow(
        "ok",
        [
            Step(
                "a",
                lookup,
                fallback=Step("backup", lookup, bind={"customer_id": "args.customer_id"}),
            )
        ],
    )
    with pytest.raises(WorkflowDefinitionError) as caught:
        Workflow(
            "bad",
            [Step("a", lookup, fallback=Step("backup", "missing", depends_on=["a"]))],
        )
    assert caught.value.problems == [
        "the fallback of 'a': unknown function 'missing' (known: lookup)",
        "the fallback of 'a': a fallback takes only a function, bind and retry",
    ]


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("len(results)", "function and method calls are not allowed"),
        ("inputs.keys()", "function and method calls are not allowed"),
        ("results.a.__class__", "names starting with '_' are not allowed"),
        ("inputs._secret", "names starting with '_' are not allowed"),
        ("__import__", "unknown name '__import__'"),
        ("open", "unknown name 'open'"),
        ("(lambda: 1)", "lambdas are not allowed"),
        ("[x for x in inputs]", "comprehensions are not allowed"),
        ("f'{inputs}'", "f-strings are not allowed"),
        ("2 ** 1000", "** is not allowed"),
        ("(y := 1)", "assignments are not allowed"),
        ("{**inputs}", "'**' unpacking is not allowed"),
        ("results[request]", "results[...] must name a step as a string literal"),
    ],
)
def test_expressions_that_reach_beyond_data_are_refused_when_parsed(
    source: str, refusal: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        Expression.parse(source, NAMES)
    assert refusal in str(caught.value)


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("inputs.amount.real", "'.real' needs a mapping, not int"),
        ("inputs.name.upper", "'.upper' needs a mapping, not str"),
        ("inputs.items", "no key 'items'"),  # a key lookup, never dict.items
        ("inputs.get", "no key 'get'"),
        ("results.a.email", "'.email' needs a mapping, not None"),
        ("'x' * 10000000", "IterableTooLong"),
        ("inputs.amount / 0", "ZeroDivisionError"),
    ],
)
def test_evaluation_never_reaches_a_python_attribute(source: str, refusal: str) -> None:
    expression = Expression.parse(source, NAMES)
    namespace = {"inputs": {"amount": 3, "name": "ann"}, "results": {"a": None}}
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(namespace)
    assert refusal in str(caught.value)


def test_expressions_read_json_data() -> None:
    namespace = {
        "request": "two widgets",
        "inputs": {"sizes": ["S", "M"], "total": 12.5},
        "results": {"pricing": {"total": 0}, "stock": {"items": [{"sku": "W"}]}},
        "input": None,
    }
    cases = {
        "results.pricing.total > 0": False,
        "results['pricing']['total'] == 0 and 'widgets' in request": True,
        "inputs.total * 2 - 5": 20.0,
        "results.stock['items'][0].sku": "W",
        "'M' in inputs.sizes and input is None": True,
        "inputs.total if results.pricing.total else 'free'": "free",
        "not (1 < inputs.total <= 20)": False,
    }
    for source, expected in cases.items():
        assert Expression.parse(source, NAMES).evaluate(namespace) == expected, source
    assert Expression.parse("results.pricing.total", NAMES).steps == {"pricing"}


def test_retry_policy_is_a_pure_function_of_attempt_and_code() -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay=0.5, multiplier=2, max_delay=1.5)
    timeout = ErrorCode.TIMEOUT.value
    assert [policy.delay_before(n, timeout) for n in (2, 3, 4, 5)] == [0.5, 1.0, 1.5, None]
    assert policy.delay_before(2, ErrorCode.VALIDATION_ERROR.value) is None
    assert policy.delay_before(2, ErrorCode.FORBIDDEN.value) is None
    assert RetryPolicy().delay_before(2, timeout) is None
    only_model = RetryPolicy(max_attempts=2, retry_on=frozenset({"MODEL_ERROR"}))
    assert only_model.delay_before(2, "MODEL_ERROR") == 0.0
    assert only_model.delay_before(2, timeout) is None
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_a_workflow_refuses_a_condition_that_calls_or_reaches_an_attribute() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        Workflow(
            "sneaky",
            [
                Step("a", lookup, when="request.startswith('x')"),
                Step("b", lookup, depends_on=["a"], when="results.a.__class__"),
            ],
        )
    assert caught.value.problems == [
        """step 'a': condition "request.startswith('x')": function and method calls are not allowed""",
        "step 'b': condition 'results.a.__class__': '.__class__': names starting with '_' are "
        "not allowed",
    ]
