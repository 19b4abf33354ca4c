"""Request bodies of ``POST /v1/chat/completions``, validated strictly.

Unknown fields are refused, as everywhere in Callisto, and so is a parameter of OpenAI's that
Callisto does not honour (``seed``, ``stop``, ``logprobs``, ``n`` above 1, ...) unless it has
its neutral value: a clear 400 rather than a setting silently ignored. Content is text: image,
audio and file parts are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from callisto.api.schemas import (
    FUNCTION_NAME_PATTERN,
    MAX_INT32,
    FunctionTool,
    JsonSchemaFormat,
    NamedToolChoice,
    Strict,
    TextFormat,
)

Role = Literal["system", "developer", "user", "assistant", "tool"]


def content_text(value: Any, role: str) -> str | None:
    """Return a message's content as text: a string, or the text of its parts joined by lines.

    Raises:
        ValueError: A part is not text (an assistant's ``refusal`` part counts as text).
    """
    if value is None or isinstance(value, str):
        return value
    texts: list[str] = []
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" or (kind == "refusal" and role == "assistant"):
            if not isinstance(part.get(kind), str):
                raise ValueError(f"a '{kind}' part needs a string '{kind}'")
            texts.append(part[kind])
        else:
            raise ValueError(
                f"content parts of type {kind!r} are not supported: Callisto's chat completions "
                "take text parts only"
            )
    return "\n".join(texts)


class CalledFunction(Strict):
    """The ``function`` of an earlier assistant tool call."""

    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    arguments: str


class ToolCallParam(Strict):
    """A tool call of an earlier assistant message."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    type: Literal["function"]
    function: CalledFunction


class Message(Strict):
    """One message of the conversation; which fields apply depends on ``role``."""

    role: Role
    content: str | list[Any] | None = None
    name: str | None = None
    tool_calls: list[ToolCallParam] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    # An assistant's reasoning, as this endpoint (and vLLM, DeepSeek) returns it, to be sent on
    # to the models that want it back (the provider's reasoning_replay).
    reasoning_content: str | None = None
    # What the SDK sends back when a reply's message object is appended to the conversation.
    annotations: list[Any] | None = None
    audio: None = None
    function_call: None = None

    @field_validator("content", mode="after")
    @classmethod
    def _text_only(cls, value: str | list[Any] | None) -> str | list[Any] | None:
        content_text(value, "assistant")  # the role is checked again in :meth:`text`
        return value

    @model_validator(mode="after")
    def _fields_of_the_role(self) -> Message:
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError(f"only assistant messages have tool_calls, not {self.role} messages")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_call_id is not None and self.role != "tool":
            raise ValueError(f"only tool messages have a tool_call_id, not {self.role} messages")
        if self.refusal is not None and self.role != "assistant":
            raise ValueError("only assistant messages have a refusal")
        if self.reasoning_content is not None and self.role != "assistant":
            raise ValueError("only assistant messages have reasoning_content")
        if self.content is None and not (
            self.role == "assistant" and (self.tool_calls or self.refusal is not None)
        ):
            raise ValueError(f"a {self.role} message needs content")
        if self.role != "assistant":
            content_text(self.content, self.role)
        return self

    def text(self) -> str | None:
        """Return the content as text."""
        text = content_text(self.content, self.role)
        if text is None and self.refusal is not None:
            return self.refusal
        return text


class StreamOptions(Strict):
    """``stream_options``."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


ChatToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ChatCompletionCreate(Strict):
    """``POST /v1/chat/completions``."""

    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Annotated[list[Message], Field(min_length=1)]
    tools: Annotated[list[FunctionTool] | None, Field(max_length=128)] = None
    tool_choice: ChatToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: TextFormat | JsonSchemaFormat | None = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    store: bool | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    # OpenAI parameters Callisto cannot honour: accepted only with their neutral value, which
    # some clients send on every request (see ``callisto.api.chat.convert.UNSUPPORTED``).
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    service_tier: str | None = None
    modalities: list[str] | None = None
