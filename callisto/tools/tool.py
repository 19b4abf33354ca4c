"""A tool: a callable, what the model sees of it, and how its arguments are checked."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from callisto.tools._arguments import Binder, Bound, ModelBinder, SchemaBinder
from callisto.tools._function_schema import describe_function
from callisto.tools._strict import to_strict
from callisto.tools.definition import ToolDefinition
from callisto.tools.errors import ToolDefinitionError, ToolSignatureError
from callisto.tools.normalize import definition_from_dict, safe_function_name

P = ParamSpec("P")
R = TypeVar("R")


class Tool(Generic[P, R]):
    """A function the model may call, with its :class:`ToolDefinition` and argument binder.

    A ``Tool`` still calls like the function it wraps, so decorating a function with
    :func:`tool` doesn't change how the rest of the program uses it.

    Args:
        function: What runs; sync or async.
        definition: What the model sees.
        binder: Validates an arguments object and returns ``(args, kwargs)``.
        timeout: Seconds a call may take; ``None`` uses the executor's default.
        deterministic: Whether equal arguments always give an equal result, so the executor
            may cache results.
    """

    def __init__(
        self,
        function: Callable[P, R],
        definition: ToolDefinition,
        binder: Binder,
        *,
        timeout: float | None = None,
        deterministic: bool = False,
    ) -> None:
        self.function = function
        self.definition = definition
        self.timeout = timeout
        self.deterministic = deterministic
        # An object whose class defines ``async def __call__`` is async too.
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            type(function).__call__
        )
        self._binder = binder
        functools.update_wrapper(self, function)

    @property
    def name(self) -> str:
        """The function name the model calls."""
        return self.definition.name

    def bind(self, arguments: Mapping[str, Any]) -> Bound:
        """Validate an arguments object and return ``(args, kwargs)`` for :attr:`function`.

        Raises:
            callisto.tools._arguments.ArgumentsInvalid: Listing every field at fault.
        """
        return self._binder.bind(arguments)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the wrapped function directly, without validation."""
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, async={self.is_async}, deterministic={self.deterministic})"

    @classmethod
    def from_function(
        cls,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        timeout: float | None = None,
        deterministic: bool = False,
    ) -> Tool[P, R]:
        """Build a tool from a typed function; see :func:`tool` for the arguments.

        Raises:
            ToolSignatureError: Listing every unsupported part of the signature at once.
        """
        tool_name = name or safe_function_name(getattr(function, "__name__", "function"))
        qualname = getattr(function, "__qualname__", tool_name)
        described, problems = describe_function(function, tool_name)
        if described is None:
            raise ToolSignatureError(qualname, problems)
        parameters = described.json_schema
        if strict:
            parameters, problems = to_strict(parameters)
            if problems:
                raise ToolSignatureError(qualname, sorted(set(problems)))
        definition = ToolDefinition(
            name=tool_name,
            description=description or described.description,
            parameters=parameters,
            strict=True if strict else None,
        )
        binder = ModelBinder(described, strict=strict)
        return cls(function, definition, binder, timeout=timeout, deterministic=deterministic)

    @classmethod
    def from_definition(
        cls,
        definition: Mapping[str, Any] | ToolDefinition,
        handler: Callable[..., Any],
        *,
        strict: bool | None = None,
        timeout: float | None = None,
        deterministic: bool = False,
    ) -> Tool[..., Any]:
        """Build a tool from a definition dict (OpenAI or loose, e.g. BFCL) and a handler.

        The handler is called with the validated arguments as keyword arguments.

        Args:
            definition: The definition, normalised by :func:`definition_from_dict`.
            handler: The callable (sync or async) that runs the call.
            strict: Overrides the definition's ``strict`` flag.
            timeout: Seconds a call may take.
            deterministic: Whether results may be cached.

        Raises:
            ToolDefinitionError: The definition is unusable or ``handler`` is not callable.
        """
        if not callable(handler):
            raise ToolDefinitionError(
                f"the handler for a dict tool must be callable, not {handler!r}"
            )
        if isinstance(definition, ToolDefinition):
            resolved = definition
        else:
            resolved = definition_from_dict(definition, strict=strict)
        binder = SchemaBinder(resolved.parameters)
        return cls(handler, resolved, binder, timeout=timeout, deterministic=deterministic)


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    timeout: float | None = None,
    deterministic: bool = False,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    timeout: float | None = None,
    deterministic: bool = False,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make a tool of a typed function, sync or async; usable bare or with options.

    The schema comes from the signature and type hints (``Literal``, enums, ``Annotated``
    constraints, pydantic models, dataclasses, optionals and defaults) and the docstring
    (summary, and one description per parameter in Google, numpy or Sphinx style)::

        @tool
        def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
            '''Get the current weather.

            Args:
                city: The city name, e.g. "Tokyo".
                unit: Temperature unit.
            '''

    Args:
        function: The function (when used as bare ``@tool``).
        name: The name the model calls; defaults to the function's name.
        description: Overrides the docstring's description.
        strict: Produce a schema OpenAI's strict mode accepts (all properties required, optional
            ones nullable, objects closed) and mark the definition ``strict``.
        timeout: Seconds a call may take before it ends with ``TIMEOUT``.
        deterministic: Equal arguments give equal results, so results may be cached.

    Returns:
        The :class:`Tool`, or a decorator making one.

    Raises:
        ToolSignatureError: At decoration time, listing every unsupported part at once.
    """

    def decorate(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool.from_function(
            fn,
            name=name,
            description=description,
            strict=strict,
            timeout=timeout,
            deterministic=deterministic,
        )

    return decorate if function is None else decorate(function)
