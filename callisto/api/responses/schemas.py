"""Request bodies of the Responses and Conversations APIs.

Top-level bodies refuse unknown fields, as the Assistants bodies do. Items accept the extra
keys the SDKs echo back from earlier output (``id``, ``status``, ``phase``...), so a client can
send a response's output items as the next input unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from callisto.api.schemas import MAX_INT32, FunctionDefinition, Strict, check_metadata


class _Item(BaseModel):
    """Base of input items: keys the SDKs echo back are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")


class InputText(_Item):
    """``input_text`` (and ``output_text``, ``text`` parts of echoed messages)."""

    type: Literal["input_text", "output_text", "text"]
    text: str


class InputImage(_Item):
    """``input_image``: a URL (or data URL); uploaded files are not supported."""

    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] | None = None


class Refusal(_Item):
    """``refusal`` parts of echoed assistant messages."""

    type: Literal["refusal"]
    refusal: str


class InputFile(_Item):
    """``input_file``: refused with a clear message (no file storage yet)."""

    type: Literal["input_file"]


ContentPart = Annotated[InputText | InputImage | Refusal | InputFile, Field(discriminator="type")]
Role = Literal["user", "assistant", "system", "developer"]


class MessageItem(_Item):
    """A message: ``{type: "message", role, content}`` or the bare ``{role, content}``."""

    type: Literal["message"] = "message"
    role: Role
    content: str | list[ContentPart]


class FunctionCallItem(_Item):
    """A call the model made, sent back as context."""

    type: Literal["function_call"]
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    arguments: str


class FunctionCallOutputItem(_Item):
    """The output of a call, for the model's next turn."""

    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: str | list[ContentPart]


def _item_type(value: Any) -> str:
    """Return an item's ``type``; a bare ``{role, content}`` is a message."""
    if isinstance(value, dict):
        return str(value.get("type") or "message")
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_type),
]


class FunctionToolParam(Strict):
    """A function tool, flat: ``{type: "function", name, description, parameters, strict}``."""

    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def definition(self) -> FunctionDefinition:
        """Return the tool as the Assistants face validates and stores it (checks the schema)."""
        return FunctionDefinition(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            strict=self.strict,
        )


class NamedFunction(Strict):
    """``{type: "function", name}``."""

    type: Literal["function"]
    name: str


class AllowedTool(BaseModel):
    """One tool of ``allowed_tools``."""

    type: Literal["function"]
    name: str


class AllowedTools(Strict):
    """``{type: "allowed_tools", mode, tools}``: the model may use only these."""

    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[AllowedTool]


ToolChoice = Literal["none", "auto", "required"] | NamedFunction | AllowedTools


class TextFormatPlain(Strict):
    """``{type: "text"}`` or ``{type: "json_object"}``."""

    type: Literal["text", "json_object"]


class TextFormatSchema(Strict):
    """``{type: "json_schema", name, schema, description?, strict?}``."""

    type: Literal["json_schema"]
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    schema_: Annotated[dict[str, Any], Field(alias="schema")]
    description: str | None = None
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TextConfig(Strict):
    """``text``: the output format (``verbosity`` is accepted and echoed)."""

    format: Annotated[TextFormatPlain | TextFormatSchema, Field(discriminator="type")] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ConversationRef(Strict):
    """``conversation: {id}``."""

    id: str


class ResponseCreate(Strict):
    """POST /responses. Fields Callisto does not act on are accepted where the SDK sends them."""

    model: Annotated[str, Field(min_length=1, max_length=256)]
    input: Annotated[str, Field(min_length=1)] | list[InputItem] | None = None
    instructions: str | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    text: TextConfig | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    background: bool | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # Accepted and ignored: they change nothing a function-calling server does.
    reasoning: dict[str, Any] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    top_logprobs: Annotated[int | None, Field(ge=0, le=20)] = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)

    def conversation_id(self) -> str | None:
        """Return the id of ``conversation`` (given as a string or ``{id}``)."""
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation


ConversationItems = Annotated[list[InputItem], Field(max_length=20)]


class ConversationCreate(Strict):
    """POST /conversations."""

    items: ConversationItems | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)


class ConversationUpdate(Strict):
    """POST /conversations/{id}."""

    metadata: dict[str, Any]

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(value) or {}


class ItemsCreate(Strict):
    """POST /conversations/{id}/items."""

    items: Annotated[list[InputItem], Field(min_length=1, max_length=20)]
