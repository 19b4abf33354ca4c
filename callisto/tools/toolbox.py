"""The registry of tools offered to a model and called on its behalf."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from callisto.tools.definition import ToolDefinition
from callisto.tools.errors import ToolDefinitionError
from callisto.tools.tool import Tool


class Toolbox:
    """Holds tools by name and hands out their definitions in the shapes the APIs want.

    Typed functions are added as they are (or as :class:`Tool` objects made by ``@tool``);
    definitions written as dicts, including loose real-world ones such as BFCL's, are added with
    a handler by :meth:`add_definition`.

    Args:
        tools: Tools or typed functions to add at once.

    Example::

        toolbox = Toolbox([get_weather, get_time])
        client.beta.assistants.create(model="offline/demo", tools=toolbox.openai_tools())
    """

    def __init__(self, tools: Iterable[Tool[..., Any] | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool[..., Any]] = {}
        self._aliases: dict[str, str] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool[..., Any] | Callable[..., Any], /) -> Tool[..., Any]:
        """Add a tool, or a typed function made into one; usable as a decorator.

        Args:
            item: A :class:`Tool`, or a function for :meth:`Tool.from_function`.

        Returns:
            The tool added.

        Raises:
            ToolDefinitionError: The name is already taken.
            ToolSignatureError: A function's signature is unsupported.
        """
        added = item if isinstance(item, Tool) else Tool.from_function(item)
        self._register(added, alias=None)
        return added

    def add_definition(
        self,
        definition: Mapping[str, Any] | ToolDefinition,
        handler: Callable[..., Any],
        *,
        strict: bool | None = None,
        timeout: float | None = None,
        deterministic: bool = False,
    ) -> Tool[..., Any]:
        """Add a tool defined as a dict (OpenAI's format or a loose one) with its handler.

        The definition is normalised (see :mod:`callisto.tools.normalize`). A name OpenAI would
        refuse (``math.factorial``) is offered as a safe one (``math_factorial``); calls under
        either name reach the handler.

        Args:
            definition: The definition.
            handler: Called with the validated arguments as keyword arguments; sync or async.
            strict: Overrides the definition's ``strict`` flag.
            timeout: Seconds a call may take.
            deterministic: Whether results may be cached.

        Returns:
            The tool added.

        Raises:
            ToolDefinitionError: The definition is unusable or its name is taken.
        """
        added = Tool.from_definition(
            definition, handler, strict=strict, timeout=timeout, deterministic=deterministic
        )
        original = _original_name(definition)
        self._register(added, alias=original if original != added.name else None)
        return added

    def _register(self, item: Tool[..., Any], *, alias: str | None) -> None:
        if item.name in self._tools or item.name in self._aliases:
            raise ToolDefinitionError(f"a tool named {item.name!r} is already in the toolbox")
        if alias is not None and (alias in self._tools or alias in self._aliases):
            raise ToolDefinitionError(f"a tool named {alias!r} is already in the toolbox")
        self._tools[item.name] = item
        if alias is not None:
            self._aliases[alias] = item.name

    def get(self, name: str) -> Tool[..., Any] | None:
        """Return the tool called ``name`` (or registered under that original name), if any."""
        found = self._tools.get(name)
        if found is None and name in self._aliases:
            found = self._tools[self._aliases[name]]
        return found

    def remove(self, name: str) -> None:
        """Remove the tool called ``name``; a name not present is ignored."""
        self._tools.pop(self._aliases.pop(name, name), None)
        self._aliases = {
            alias: real for alias, real in self._aliases.items() if real in self._tools
        }

    @property
    def names(self) -> list[str]:
        """The tool names, in the order they were added."""
        return list(self._tools)

    def definitions(self) -> list[ToolDefinition]:
        """The definitions of all tools, in the order they were added."""
        return [item.definition for item in self._tools.values()]

    def openai_tools(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Return ``[{"type": "function", "function": {...}}, ...]``.

        The same list suits ``assistants.create``, ``runs.create`` and
        ``chat.completions.create``.

        Args:
            names: Offer only these tools (in this order); all of them when ``None``.
        """
        return [d.openai_tool() for d in self._selected(names)]

    def responses_tools(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Return the flat tool list of the Responses API; see :meth:`openai_tools`."""
        return [d.responses_tool() for d in self._selected(names)]

    def _selected(self, names: Iterable[str] | None) -> list[ToolDefinition]:
        if names is None:
            return self.definitions()
        chosen = []
        for name in names:
            item = self.get(name)
            if item is None:
                raise KeyError(f"no tool named {name!r} in the toolbox")
            chosen.append(item.definition)
        return chosen

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"Toolbox({self.names!r})"


def _original_name(definition: Mapping[str, Any] | ToolDefinition) -> str | None:
    if isinstance(definition, ToolDefinition):
        return definition.name
    inner = definition.get("function")
    source = inner if isinstance(inner, Mapping) else definition
    name = source.get("name")
    return name if isinstance(name, str) else None
