"""Settings: one object for the whole program.

Sources, highest priority first: keyword arguments (the CLI's flags), environment variables
``CALLISTO_*`` (nested keys joined with ``__``, e.g. ``CALLISTO_PROVIDERS__VLLM__BASE_URL``), an
optional TOML file (``callisto.toml`` in the working directory, or the path in
``CALLISTO_CONFIG``), then the defaults below. Well-known provider keys in the environment
(``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``) add providers ``openai``,
``anthropic`` and ``gemini`` when they are not configured otherwise.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from callisto._config_file import (
    ConfigError,
    ConfigFile,
    config_file_path,
    env_lookup,
    env_name,
    nested_env_settings,
    read_config_file,
    unknown_keys,
)

__all__ = [
    "ConfigError",
    "LoadedSettings",
    "ModelSettings",
    "ProviderSettings",
    "RunSettings",
    "Settings",
    "load_settings",
]

ProviderKind = Literal["openai", "anthropic", "gemini", "offline"]
ToolFormat = str  # "native", "auto", or a text family name (see callisto.providers.textcalls)
ToolResultStyle = Literal["native", "user_text"]
ReasoningReplay = Literal["auto", "none", "field", "think_tags"]


class ProviderSettings(BaseModel):
    """One configured model provider.

    Attributes:
        kind: Which API it speaks.
        base_url: The API's base URL (e.g. ``http://127.0.0.1:8001/v1`` for vLLM).
        api_key: The key sent to the API. Never logged, never in an error message.
        timeout: Seconds to wait for a connection or for the next chunk of a stream.
        max_retries: Retries of a failed call (timeouts, 5xx, 429) before the run fails.
        tool_format: ``native`` (the API's own tool calling), ``auto`` (native calls, and calls
            written as text recognised too), or a text family such as ``hermes``.
        tool_result_style: ``native`` sends tool results as tool messages; ``user_text`` as
            user text, for models that ignore tool messages.
        reasoning_replay: How reasoning goes back to the model with the tool calls it came
            with: ``field`` (the assistant message's ``reasoning_content``), ``think_tags``
            (a ``<think>`` block at the start of its content), ``none``, or ``auto`` (chosen by
            model name, see :mod:`callisto.providers.replay`).
        template_opens_think: The model's chat template opens ``<think>`` in the prompt, so a
            reply starts inside the reasoning (only ``</think>`` appears in it).
        models: Per-model overrides of ``tool_format``, ``tool_result_style``,
            ``reasoning_replay`` and ``template_opens_think``.
        headers: Extra HTTP headers sent with every request.
        max_connections: Connections open to the API at once, each carrying one model call
            (the HTTP clients' usual 100 would queue the 101st concurrent run behind the
            others). An idle connection is kept for the next call for 4 s.
    """

    kind: ProviderKind = "openai"
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout: float = 60.0
    max_retries: int = 2
    tool_format: ToolFormat = "native"
    tool_result_style: ToolResultStyle = "native"
    reasoning_replay: ReasoningReplay = "auto"
    template_opens_think: bool = False
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(default=1024, ge=1)

    def for_model(self, model: str) -> ProviderSettings:
        """Return these settings with the overrides for ``model`` applied."""
        override = self.models.get(model)
        if override is None:
            return self
        changes = override.model_dump(exclude_none=True)
        return self.model_copy(update=changes)


class ModelSettings(BaseModel):
    """Overrides for one model of a provider."""

    tool_format: ToolFormat | None = None
    tool_result_style: ToolResultStyle | None = None
    reasoning_replay: ReasoningReplay | None = None
    template_opens_think: bool | None = None


class RunSettings(BaseModel):
    """How runs behave.

    Attributes:
        expires_after: Seconds from a run's creation to its ``expires_at``.
        poll_after_ms: The least ``openai-poll-after-ms`` sent with a non-terminal run (the
            SDK's poll helpers wait that long between polls). It grows by 2 ms per run in
            flight, so polls do not swamp a busy server.
        poll_after_max_ms: The most ``openai-poll-after-ms`` (under a second, so no poll
            helper waits that long).
        max_concurrent: Runs executing at once in one process.
        tool_call_retries: How many times a model is asked to correct an invalid tool call.
        sweep_interval: Seconds between sweeps for expired runs and runs to take over.
        lease_seconds: How long a process holds a run's turn without renewing it: a turn
            whose process died is taken over after at most this plus ``sweep_interval``.
        heartbeat_interval: Seconds between lease renewals, which is also how soon a cancel
            or expiry written by another process stops a turn.
        first_token_timeout: Seconds a model call may take to send its first text, reasoning
            or tool call (keep-alive bytes do not count).
        model_call_timeout: Seconds a whole model call may take.
        history_max_messages: The most thread messages a turn reads (the newest); fewer
            with ``truncation_strategy`` ``last_messages`` or ``max_prompt_tokens``.
    """

    expires_after: float = 600.0
    poll_after_ms: int = 10
    poll_after_max_ms: int = 500
    max_concurrent: int = 1024
    tool_call_retries: int = 2
    sweep_interval: float = 1.0
    lease_seconds: float = Field(default=10.0, gt=1.0)
    heartbeat_interval: float = Field(default=0.5, gt=0.0)
    first_token_timeout: float = Field(default=120.0, gt=0.0)
    model_call_timeout: float = Field(default=600.0, gt=0.0)
    history_max_messages: int = Field(default=1000, ge=1)


class ChatSettings(BaseModel):
    """How ``POST /v1/chat/completions`` treats the tool calls a model makes.

    Attributes:
        tool_calls: ``repair`` checks each call against the request's tools and asks the model
            to correct bad ones (at most ``tool_call_retries`` times); ``pass_through`` returns
            the calls as the model made them, unchecked.
        tool_call_retries: How many times a model is asked to correct its calls.
    """

    tool_calls: Literal["repair", "pass_through"] = "repair"
    tool_call_retries: int = Field(default=2, ge=0)


class LimitSettings(BaseModel):
    """Limits on clients and connections.

    The per-client limits (a client is its API key, or its address when the server runs open)
    are off by default only when the server runs open on a loopback address; ``0`` turns one
    off explicitly.

    Attributes:
        requests_per_second: Sustained requests a second per client (default 500).
        request_burst: Requests a client may make at once (default twice the rate).
        runs_in_flight: Unfinished runs per client (default 256).
        max_header_bytes: The most bytes of request line and headers in one request.
        header_timeout: Seconds a connection may take to send a request's headers, counted
            from its first byte (or from the connection when it is the first request).
        keep_alive_timeout: Seconds an idle connection is kept open between requests.
        body_timeout: Seconds a request's body may take to arrive in full.
    """

    requests_per_second: float | None = Field(default=None, ge=0)
    request_burst: int | None = Field(default=None, ge=1)
    runs_in_flight: int | None = Field(default=None, ge=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout: float = Field(default=10.0, gt=0)
    keep_alive_timeout: float = Field(default=5.0, gt=0)
    body_timeout: float = Field(default=60.0, gt=0)


DEFAULT_REQUESTS_PER_SECOND = 500.0
DEFAULT_RUNS_IN_FLIGHT = 256


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lowercase_names(providers: dict[Any, Any]) -> dict[str, Any]:
    """Return ``providers`` keyed by lower-case names, merging entries that differ only in case."""
    merged: dict[str, Any] = {}
    for name, value in providers.items():
        key = str(name).lower()
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class _LowercaseProviders(PydanticBaseSettingsSource):
    """Wraps a settings source so its provider names are lower case before sources merge.

    Environment variable names arrive lower-cased and a TOML table may be ``[providers.VLLM]``;
    unless each source agrees on the name first, the merge keeps both entries and one
    source's fields for that provider are lost.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` delegates to the wrapped source."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the wrapped source's values with provider names in lower case."""
        data = self.inner()
        providers = data.get("providers")
        if isinstance(providers, dict):
            data = {**data, "providers": _lowercase_names(providers)}
        return data


class _FileSource(PydanticBaseSettingsSource):
    """The settings of a config file already read (so its errors name the file and line)."""

    def __init__(self, settings_cls: type[BaseSettings], config: ConfigFile):
        super().__init__(settings_cls)
        self.file = config

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` returns the whole file."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the file's data."""
        return dict(self.file.data)


def _default_database_url() -> str:
    return "sqlite:///" + str(Path("data") / "callisto.db")


class Settings(BaseSettings):
    """All of Callisto's settings.

    Attributes:
        database_url: ``sqlite:///PATH`` or ``postgresql://...``.
        redis_url: Redis for the distributed event log and dispatch, if used.
        event_log: Where run events are kept for streams: ``memory`` (this process only) or
            ``redis`` (Redis Streams at ``redis_url``, shared by every process).
        api_key: One key or several separated by commas, of the ``default`` project; unset
            (and no key made with ``callisto keys create``) means the server runs open.
        key_cache_seconds: How long a process trusts what it read about a stored API key:
            a key created or revoked with ``callisto keys`` takes effect within this time.
        host: Address to bind.
        port: Port to bind.
        max_body_bytes: The largest request body accepted.
        default_provider: Provider for models that name no configured provider; unset, such a
            model is refused (``offline`` makes the built-in stand-in answer them, on purpose).
        model_aliases: Model names routed to another model (``"gpt-4-1106-preview" =
            "vllm/Qwen2.5-7B-Instruct"``), matched ignoring case.
        providers: Providers by name.
        chat: ``POST /v1/chat/completions`` behaviour.
        runs: Run behaviour.
        limits: Limits on clients and connections.
        cors_origins: Origins browsers may call the API from (``*`` for any); none by default.
        allow_open: Serve without API keys on a non-loopback address (refused otherwise).
        log_level: Python logging level name.
        log_format: ``text`` (one line per record) or ``json`` (one JSON object per line).
        metrics_port: When set, ``/metrics`` is also served without a key on this port, on
            ``host`` (for a scraper inside the network); the API port serves it with a key.
        dispatch: ``embedded``: this process executes the turns of its runs (the default,
            no other service needed). ``queue``: the scaled mode; this process serves the API
            only and enqueues turns for ``callisto worker`` processes (needs PostgreSQL and
            ``event_log = "redis"``).
    """

    model_config = SettingsConfigDict(
        env_prefix="CALLISTO_",
        env_nested_delimiter="__",
        extra="ignore",
        toml_file=None,
    )

    database_url: str = Field(default_factory=_default_database_url)
    redis_url: str | None = None
    event_log: Literal["memory", "redis"] = "memory"
    api_key: SecretStr | None = None
    key_cache_seconds: float = Field(default=5.0, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = 4 * 1024 * 1024
    default_provider: str | None = None
    model_aliases: dict[str, str] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    runs: RunSettings = Field(default_factory=RunSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_open: bool = False
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    dispatch: Literal["embedded", "queue"] = "embedded"

    @field_validator("dispatch")
    @classmethod
    def _scaled_mode_needs_shared_services(cls, value: str, info: ValidationInfo) -> str:
        # A field validator (dispatch is declared after the fields it checks), so an error
        # names dispatch and the flag, variable or file line that set it.
        if value == "queue":
            if not str(info.data.get("database_url", "")).startswith("postgresql"):
                raise ValueError(
                    "dispatch = 'queue' (the scaled mode) needs a PostgreSQL database_url"
                )
            if info.data.get("event_log") != "redis":
                raise ValueError(
                    "dispatch = 'queue' (the scaled mode) needs event_log = 'redis' and "
                    "redis_url, so every process sees every run's events"
                )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # The environment gives one string: CALLISTO_CORS_ORIGINS=https://a.example,https://b.example
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _lowercase_provider_names(cls, value: Any) -> Any:
        # Environment variable names come upper-case (CALLISTO_PROVIDERS__VLLM__...).
        if isinstance(value, dict):
            return _lowercase_names(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise ValueError("use one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("default_provider")
    @classmethod
    def _lowercase_default_provider(cls, value: str | None) -> str | None:
        return value.lower() if value else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read keyword arguments, then the environment, then the TOML file.

        Raises:
            ConfigError: ``CALLISTO_CONFIG`` names no file, or the file cannot be read or parsed.
        """
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            sources.append(_FileSource(settings_cls, read_config_file(path)))
        return tuple(_LowercaseProviders(settings_cls, source) for source in sources)

    def api_keys(self) -> list[str]:
        """Return the accepted API keys; an empty list means the server runs open."""
        if self.api_key is None:
            return []
        return [k.strip() for k in self.api_key.get_secret_value().split(",") if k.strip()]

    def open_on_loopback(self) -> bool:
        """Whether the server runs open (no keys) on a loopback address only."""
        return not self.api_keys() and is_loopback(self.host)

    def client_limits(self) -> tuple[float, int, int]:
        """Return the per-client ``(requests per second, burst, runs in flight)`` in force.

        Unset limits take their defaults, or are off (``0``) when the server runs open on
        loopback.
        """
        off = self.open_on_loopback()
        rate = self.limits.requests_per_second
        if rate is None:
            rate = 0.0 if off else DEFAULT_REQUESTS_PER_SECOND
        runs = self.limits.runs_in_flight
        if runs is None:
            runs = 0 if off else DEFAULT_RUNS_IN_FLIGHT
        burst = self.limits.request_burst or max(1, math.ceil(rate * 2))
        return rate, burst, runs

    def provider_settings(self) -> dict[str, ProviderSettings]:
        """Return the configured providers plus those implied by well-known environment keys.

        The built-in ``offline`` provider is always present.
        """
        providers = dict(self.providers)
        implied = {
            "openai": ("OPENAI_API_KEY", "openai", "https://api.openai.com/v1"),
            "anthropic": ("ANTHROPIC_API_KEY", "anthropic", "https://api.anthropic.com"),
            "gemini": (
                "GEMINI_API_KEY",
                "gemini",
                "https://generativelanguage.googleapis.com/v1beta",
            ),
        }
        for name, (env, kind, url) in implied.items():
            key = os.environ.get(env)
            if key and name not in providers:
                providers[name] = ProviderSettings(
                    kind=kind,
                    base_url=url,
                    api_key=SecretStr(key),
                )
        providers.setdefault("offline", ProviderSettings(kind="offline"))
        return providers


ProviderSettings.model_rebuild()


@dataclass
class LoadedSettings:
    """Settings, with what is needed to tell a person where each value came from.

    Attributes:
        settings: The settings.
        config_file: The config file read, if any.
        flags: Command-line flags given, by setting name (``{"port": "--port"}``).
        warnings: One line per key that no setting has (it was ignored).
    """

    settings: Settings
    config_file: ConfigFile | None = None
    flags: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def source_of(self, keys: tuple[str, ...]) -> str:
        """Name where ``keys`` was set: a flag, an environment variable, or a file and line."""
        return _source_of(keys, self.flags, self.config_file)


def _source_of(keys: tuple[str, ...], flags: Mapping[str, str], config: ConfigFile | None) -> str:
    # Flags win over the environment, which wins over the file, as when settings are read.
    if keys and keys[0] in flags:
        return flags[keys[0]]
    variable = env_lookup(keys)
    if variable is not None:
        return variable
    if config is not None and config.has(keys):
        return config.where(keys)
    return "the default"


def load_settings(flags: Mapping[str, tuple[str, Any]] | None = None) -> LoadedSettings:
    """Read the settings as the ``callisto`` command does, with errors a person can act on.

    Args:
        flags: Command-line values by setting name, each with the flag that gave it
            (``{"port": ("--port", 9000)}``); values that are ``None`` were not given.

    Returns:
        The settings, and a warning for each key of the config file or of a nested
        ``CALLISTO_*__*`` variable that no setting has, with the nearest known name.

    Raises:
        ConfigError: One line naming the source (flag, variable, or file and line), the key and
            what is wrong.
    """
    given = {key: pair for key, pair in (flags or {}).items() if pair[1] is not None}
    names = {key: flag for key, (flag, _) in given.items()}
    path = config_file_path()
    config = read_config_file(path) if path is not None else None
    try:
        settings = Settings(**{key: value for key, (_, value) in given.items()})
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc, names, config)) from None
    except SettingsError as exc:
        raise ConfigError(f"{exc}: nested CALLISTO_* values must be valid JSON") from None
    return LoadedSettings(settings, config, names, _unknown_key_warnings(config))


def _validation_message(
    exc: ValidationError, flags: Mapping[str, str], config: ConfigFile | None
) -> str:
    errors = exc.errors()
    first = errors[0]
    keys = tuple(str(part) for part in first["loc"])
    value = repr(first.get("input"))
    if keys[-1] == "api_key" or "headers" in keys:  # keys and auth headers are never shown
        value = "***"
    elif len(value) > 60:
        value = value[:57] + "..."
    reason = str(first["msg"]).removeprefix("Value error, ")
    message = (
        f"{_source_of(keys, flags, config)}: {'.'.join(keys)} = {value} is not valid: "
        f"{reason[:1].lower()}{reason[1:]}"
    )
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message


def _unknown_key_warnings(config_file: ConfigFile | None) -> list[str]:
    warnings = []
    if config_file is not None:
        for unknown in unknown_keys(config_file.data, Settings):
            where = config_file.where(unknown.keys)
            nearest = ".".join((*unknown.keys[:-1], unknown.nearest)) if unknown.nearest else None
            warnings.append(f"{where}: {_unknown_text('.'.join(unknown.keys), nearest)}")
    for unknown in unknown_keys(nested_env_settings(Settings), Settings):
        nearest = env_name((*unknown.keys[:-1], unknown.nearest)) if unknown.nearest else None
        warnings.append(_unknown_text(env_name(unknown.keys), nearest))
    return warnings


def _unknown_text(name: str, nearest: str | None) -> str:
    hint = f"did you mean '{nearest}'?" if nearest else "see docs/configuration.md"
    return f"unknown setting '{name}' is ignored; {hint}"
