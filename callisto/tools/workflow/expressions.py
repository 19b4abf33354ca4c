"""Conditions and bindings: a small expression language over JSON data, never Python's ``eval``.

An expression is parsed by :mod:`ast`, checked against an allowlist of syntax, and evaluated by
`simpleeval <https://pypi.org/project/simpleeval/>`_ with no functions at all. It can use:

- literals: numbers, strings, ``True``/``False``/``None``, lists, tuples and dicts;
- the names the workflow offers (``request``, ``inputs``, ``results``, ``input``, ...);
- ``a.b`` and ``a["b"]`` on mappings (both are key lookups, never a Python attribute), ``a[0]``
  on lists and strings;
- ``+ - * / // %``, comparisons (``in``, ``not in``, ``is``, ``is not`` too), ``and``/``or``/
  ``not``, and ``x if condition else y``.

Everything else is refused when the expression is parsed: function and method calls, lambdas,
comprehensions, f-strings, ``**``, bit operators, and any name or key starting with ``_``. A
``.`` on something that is not a mapping is refused when evaluated, so no expression can reach
a Python attribute or method. simpleeval also caps the size of strings and numbers it builds.

``results.check_inventory`` (or ``results["check_inventory"]``) names a step's result; the
workflow checks at definition that such a step exists and comes before the expression's step.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import simpleeval

from callisto.tools.workflow.errors import ExpressionError

MAX_LENGTH = 2_000
RESULTS = "results"

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.List,
    ast.Tuple,
    ast.Dict,
)
_REFUSED_WORDING: dict[type[ast.AST], str] = {
    ast.Call: "function and method calls are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Pow: "** is not allowed",
}


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed and checked expression, ready to evaluate many times.

    Attributes:
        source: The expression as written.
        names: The top-level names it reads.
        steps: The steps whose results it reads (``results.NAME`` / ``results["NAME"]``).
    """

    source: str
    names: frozenset[str]
    steps: frozenset[str]
    _tree: ast.Expression

    @classmethod
    def parse(cls, source: str, allowed_names: Iterable[str]) -> Expression:
        """Parse and check ``source``.

        Args:
            source: The expression.
            allowed_names: The names it may read.

        Returns:
            The expression.

        Raises:
            ExpressionError: It does not parse, or uses syntax or names it may not (all such
                problems in one message).
        """
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("an expression must be a non-empty string")
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"an expression may be at most {MAX_LENGTH} characters long")
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"{source!r} does not parse: {exc.msg}") from None
        allowed = frozenset(allowed_names)
        problems, names, steps = _check(tree, allowed)
        if problems:
            raise ExpressionError(f"{source!r}: " + "; ".join(dict.fromkeys(problems)))
        return cls(source, frozenset(names), frozenset(steps), tree)

    def evaluate(self, namespace: Mapping[str, Any]) -> Any:
        """Evaluate over ``namespace`` (JSON-like data: mappings, lists, scalars).

        Raises:
            ExpressionError: A key or index is missing, an operation does not apply to its
                values, or a ``.`` is used on something that is not a mapping.
        """
        evaluator = simpleeval.EvalWithCompoundTypes(names=dict(namespace))
        evaluator.functions = {}
        evaluator.nodes[ast.Attribute] = lambda node: _key(evaluator._eval(node.value), node.attr)
        try:
            return evaluator.eval(self.source, previously_parsed=self._tree.body)
        except ExpressionError as exc:
            raise ExpressionError(f"{self.source!r}: {exc}") from None
        except (simpleeval.InvalidExpression, LookupError, TypeError, ArithmeticError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ExpressionError(f"{self.source!r} failed: {detail}") from None

    def __str__(self) -> str:
        return self.source


def _key(container: Any, key: str) -> Any:
    """``a.b``: a key lookup on a mapping, and nothing else."""
    if not isinstance(container, Mapping):
        kind = "None" if container is None else type(container).__name__
        raise ExpressionError(f"'.{key}' needs a mapping, not {kind}")
    if key not in container:
        raise ExpressionError(f"no key {key!r} (there are: {', '.join(map(str, container))})")
    return container[key]


def _check(tree: ast.Expression, allowed: frozenset[str]) -> tuple[list[str], set[str], set[str]]:
    problems: list[str] = []
    names: set[str] = set()
    steps: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            problems.append(
                _REFUSED_WORDING.get(type(node), f"{type(node).__name__} is not allowed")
            )
        elif isinstance(node, ast.Name):
            names.add(node.id)
            if node.id not in allowed:
                problems.append(f"unknown name {node.id!r} (known: {', '.join(sorted(allowed))})")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            problems.append(f"'.{node.attr}': names starting with '_' are not allowed")
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            problems.append("'**' unpacking is not allowed")
        step = _result_reference(node)
        if step is not None:
            steps.add(step)
        elif _is_results(getattr(node, "value", None)) and isinstance(node, ast.Subscript):
            problems.append("results[...] must name a step as a string literal")
    return problems, names, steps


def _is_results(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Name) and node.id == RESULTS


def _result_reference(node: ast.AST) -> str | None:
    """The step named by ``results.NAME`` or ``results["NAME"]``, if ``node`` is one."""
    if isinstance(node, ast.Attribute) and _is_results(node.value):
        return node.attr
    if (
        isinstance(node, ast.Subscript)
        and _is_results(node.value)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None
