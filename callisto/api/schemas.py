"""Request bodies of the Assistants API v2, validated strictly.

Unknown fields are refused (``extra="forbid"``) so that a typo is a clear 400, not a silently
ignored setting. Responses are built by ``callisto.store.wire``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from callisto.engine.toolschema import external_reference, schema_problem

FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
# Counts and token limits are stored in 32-bit integer columns (PostgreSQL ``integer``).
MAX_INT32 = 2**31 - 1


MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in a request body.

Deeper JSON is stored by both databases but cannot be read back (serialisers give up near 255
levels) and cannot be checked as a schema (validation recurses once per level).
"""

MAX_INSTRUCTIONS_CHARS = 256_000
"""The longest ``instructions`` (and ``additional_instructions``, and a message's text), as
OpenAI caps them."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _where(path: str) -> str:
    # A path into deeply nested JSON can be longer than anyone reads.
    where = path or "body"
    return where if len(where) <= 80 else where[:77] + "..."


def _text_problem(text: str, what: str) -> str | None:
    if "\x00" in text:
        return f"{what} contains a NUL character (\\u0000)"
    if _LONE_SURROGATE.search(text) is not None:
        return f"{what} contains a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
    return None


def unstorable_value(value: Any) -> str | None:
    """Return a description of the first value in ``value`` that cannot be stored, or ``None``.

    JSON as Python parses it may hold what no database column accepts, or what is stored but
    cannot be read back: the NUL character (PostgreSQL refuses it in text and JSONB), lone
    surrogates such as ``"\\ud800"`` (SQLite stores them; every later read fails to decode),
    ``NaN``/``Infinity`` (not JSON at all, and refused by JSONB), and nesting deeper than
    :data:`MAX_JSON_DEPTH`. Walked without recursion, so a deeply nested body cannot exhaust
    the stack.
    """
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item, f"the text at '{_where(path)}'")
            if problem is not None:
                return problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"the number at '{_where(path)}' is not finite ({item})"
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return (
                    f"the value at '{_where(path)}' nests objects and arrays more than "
                    f"{MAX_JSON_DEPTH} levels deep"
                )
            if isinstance(item, list):
                stack.extend((f"{path}[{i}]", child, depth + 1) for i, child in enumerate(item))
                continue
            for key, child in item.items():
                problem = _text_problem(key, f"a key at '{_where(path)}'")
                if problem is not None:
                    return problem
                stack.append((f"{path}.{key}" if path else key, child, depth + 1))
    return None


class Strict(BaseModel):
    """Base of request models: unknown fields, NUL characters and NaN/Infinity are errors."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = unstorable_value(data)
        if problem is not None:
            raise ValueError(problem)
        return data


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Enforce the API's metadata limits: 16 pairs, keys <= 64 chars, string values <= 512."""
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError("metadata may have at most 16 key-value pairs")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata key '{key[:20]}...' is longer than 64 characters")
        if not isinstance(item, str):
            raise ValueError(f"metadata value for '{key}' must be a string")
        if len(item) > 512:
            raise ValueError(f"metadata value for '{key}' is longer than 512 characters")
    return value


Metadata = Annotated[dict[str, Any] | None, Field(default=None)]
Instructions = Annotated[str | None, Field(max_length=MAX_INSTRUCTIONS_CHARS)]


class WithMetadata(Strict):
    """A body with an optional ``metadata`` map."""

    metadata: Metadata = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)


class FunctionDefinition(Strict):
    """A function tool as the model sees it."""

    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _parameters_are_a_schema(self) -> FunctionDefinition:
        # A broken schema would only fail later, when a run validates the model's arguments.
        if self.parameters is not None:
            try:
                Draft202012Validator.check_schema(self.parameters)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.path) or "(root)"
                raise ValueError(
                    f"the parameters of function '{self.name}' are not a valid JSON Schema: "
                    f"{exc.message} (at {where})"
                ) from None
            external = external_reference(self.parameters)
            if external is not None:
                pointer, ref = external
                raise ValueError(
                    f"the parameters of function '{self.name}' refer outside the schema at "
                    f"'{pointer or '/'}' ({ref[:200]!r}); only references inside the schema "
                    "(starting with '#') are allowed, and nothing is ever fetched"
                )
            problem = schema_problem(self.parameters)
            if problem is not None:
                raise ValueError(
                    f"the parameters of function '{self.name}' cannot be used: {problem}"
                )
        return self


class FunctionTool(Strict):
    """``{"type": "function", "function": {...}}``."""

    type: Literal["function"]
    function: FunctionDefinition


class CodeInterpreterTool(Strict):
    """``{"type": "code_interpreter"}``: stored and echoed; not executed by Callisto."""

    type: Literal["code_interpreter"]


class FileSearchTool(Strict):
    """``{"type": "file_search"}``: stored and echoed; not executed by Callisto."""

    type: Literal["file_search"]
    file_search: dict[str, Any] | None = None


Tool = Annotated[FunctionTool | CodeInterpreterTool | FileSearchTool, Field(discriminator="type")]
MAX_TOOLS = 128
"""The most tools one assistant or run may have, as OpenAI allows."""


def _distinct_function_names(tools: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for tool in tools:
        if isinstance(tool, FunctionTool):
            name = tool.function.name
            if name in seen:
                raise ValueError(f"two tools are named '{name}'; function names must be unique")
            seen.add(name)
    return tools


Tools = Annotated[list[Tool], Field(max_length=MAX_TOOLS), AfterValidator(_distinct_function_names)]


class TextFormat(Strict):
    """``{"type": "text"}`` or ``{"type": "json_object"}``."""

    type: Literal["text", "json_object"]


class JsonSchemaFormat(Strict):
    """``{"type": "json_schema", "json_schema": {name, schema, strict, description}}``."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any]


ResponseFormat = Literal["auto"] | TextFormat | JsonSchemaFormat


class TextPart(Strict):
    """A text content part of a new message."""

    type: Literal["text"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_INSTRUCTIONS_CHARS)]


ImageDetail = Literal["auto", "low", "high"]


class ImageUrl(Strict):
    """``{"url", "detail"?}`` of an image URL part."""

    url: Annotated[str, Field(min_length=1)]
    detail: ImageDetail | None = None


class ImageFile(Strict):
    """``{"file_id", "detail"?}`` of an image file part."""

    file_id: Annotated[str, Field(min_length=1)]
    detail: ImageDetail | None = None


class ImageUrlPart(Strict):
    """An image URL content part."""

    type: Literal["image_url"]
    image_url: ImageUrl


class ImageFilePart(Strict):
    """An image file content part."""

    type: Literal["image_file"]
    image_file: ImageFile


ContentPart = Annotated[TextPart | ImageUrlPart | ImageFilePart, Field(discriminator="type")]


class MessageCreate(WithMetadata):
    """POST /threads/{id}/messages, and items of a thread's initial messages."""

    role: Literal["user", "assistant"]
    content: (
        Annotated[str, Field(min_length=1, max_length=MAX_INSTRUCTIONS_CHARS)]
        | Annotated[list[ContentPart], Field(min_length=1)]
    )
    attachments: list[dict[str, Any]] | None = None


class MessageUpdate(WithMetadata):
    """POST /threads/{id}/messages/{id}: metadata only."""


class AssistantFields(WithMetadata):
    """Fields shared by assistant create and update."""

    name: Annotated[str | None, Field(max_length=256)] = None
    description: Annotated[str | None, Field(max_length=512)] = None
    instructions: Instructions = None
    tools: Tools | None = None
    tool_resources: dict[str, Any] | None = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


class AssistantCreate(AssistantFields):
    """POST /assistants."""

    model: Annotated[str, Field(min_length=1, max_length=256)]


class AssistantUpdate(AssistantFields):
    """POST /assistants/{id}."""

    model: Annotated[str | None, Field(min_length=1, max_length=256)] = None

    @field_validator("model")
    @classmethod
    def _model_not_null(cls, value: str | None) -> str | None:
        # Omitting ``model`` keeps it; an explicit null would leave the assistant without one.
        if value is None:
            raise ValueError("an assistant needs a model; omit 'model' to keep the current one")
        return value


class ThreadCreate(WithMetadata):
    """POST /threads."""

    messages: list[MessageCreate] | None = None
    tool_resources: dict[str, Any] | None = None


class ThreadUpdate(WithMetadata):
    """POST /threads/{id}."""

    tool_resources: dict[str, Any] | None = None


class TruncationStrategy(Strict):
    """How much of the thread a run sends to the model."""

    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None


class NamedFunction(Strict):
    """The ``function`` of a named tool choice."""

    name: str


class NamedToolChoice(Strict):
    """``{"type": "function", "function": {"name": ...}}``."""

    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class RunFields(WithMetadata):
    """The run parameters shared by create run and create thread and run."""

    assistant_id: str
    model: str | None = None
    instructions: Instructions = None
    tools: Tools | None = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    stream: bool | None = None
    max_prompt_tokens: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


class RunCreate(RunFields):
    """POST /threads/{id}/runs."""

    additional_instructions: Instructions = None
    additional_messages: list[MessageCreate] | None = None


class ThreadAndRunCreate(RunFields):
    """POST /threads/runs."""

    thread: ThreadCreate | None = None
    tool_resources: dict[str, Any] | None = None


class RunUpdate(WithMetadata):
    """POST /threads/{id}/runs/{id}: metadata only."""


class ToolOutput(Strict):
    """One output for a pending call."""

    tool_call_id: str
    output: str


class SubmitToolOutputs(Strict):
    """POST .../submit_tool_outputs."""

    tool_outputs: list[ToolOutput]
    stream: bool | None = None


def dump(model: BaseModel | None) -> Any:
    """Return a model (or ``None``) as plain JSON data, leaving out unset optional keys."""
    if model is None:
        return None
    return model.model_dump(mode="json", exclude_none=True)
