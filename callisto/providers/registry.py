"""Providers by name, and the routing of ``provider/model`` strings to them."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import httpx

from callisto.config import ModelSettings, ProviderSettings, Settings
from callisto.errors import InvalidRequest, ProviderError
from callisto.providers.base import Provider

log = logging.getLogger(__name__)

LIST_MODELS_TIMEOUT = 3.0
"""Seconds an OpenAI-compatible provider has to answer ``GET /models`` for ``/v1/models``."""

# kind -> (module, class); imported when a provider of that kind is built, so unused kinds cost
# nothing.
ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("callisto.providers.openai", "OpenAIProvider"),
    "anthropic": ("callisto.providers.anthropic", "AnthropicProvider"),
    "gemini": ("callisto.providers.gemini", "GeminiProvider"),
    "offline": ("callisto.providers.offline", "OfflineProvider"),
}


def _adapter_class(kind: str) -> Any:
    module_name, class_name = ADAPTERS[kind]
    return getattr(importlib.import_module(module_name), class_name)


def _build_error(name: str, settings: ProviderSettings, exc: Exception) -> ProviderError:
    """Return the error of a provider that could not be built (bad settings, say)."""
    from callisto.providers._http import redact

    key = settings.api_key.get_secret_value() if settings.api_key else None
    message = f"Provider '{name}' could not be set up: {type(exc).__name__}: {exc}"
    return ProviderError(redact(message, key))


def _uses_text_calls(settings: ProviderSettings) -> bool:
    """Whether the provider, or one of its models, has tool calls or results written as text."""
    layers: list[ProviderSettings | ModelSettings] = [settings, *settings.models.values()]
    return any(
        layer.tool_format not in (None, "native") or layer.tool_result_style not in (None, "native")
        for layer in layers
    )


class ProviderRegistry:
    """Builds each configured provider once and routes model strings to them.

    :meth:`start` builds them all when the server starts, so the first run on each does not pay
    for importing its adapter and setting up its HTTP client (TLS included, about 100 ms). One
    that fails to build then is built on first use, as without :meth:`start`.

    A model written ``NAME/MODEL`` goes to provider ``NAME`` with ``MODEL`` (which may itself
    contain slashes, as in ``hyperbolic/deepseek-ai/DeepSeek-V3``). A configured alias is
    replaced by its target first. A model with no configured prefix goes, whole, to the default
    provider if one is set, and is refused otherwise: no model is answered by a provider the
    caller did not ask for.
    """

    def __init__(self, settings: Settings) -> None:
        """Read the provider settings; adapters are created by :meth:`start` or on first use."""
        self._settings = settings.provider_settings()
        self._default = settings.default_provider
        self._alias_names = dict(settings.model_aliases)
        self.aliases = {name.lower(): target for name, target in settings.model_aliases.items()}
        self._providers: dict[str, Provider] = {}
        self._wrapped: dict[tuple[str, str], Provider] = {}

    @property
    def names(self) -> list[str]:
        """Return the configured provider names."""
        return sorted(self._settings)

    def split(self, model: str) -> tuple[str, str]:
        """Return ``(provider_name, model_name)`` for a model string (or an alias of one).

        Raises:
            InvalidRequest: The model routes to no configured provider (a 400 naming them).
        """
        target = self.aliases.get(model.lower())
        routed = self._route(model if target is None else target)
        if routed is None:
            alias = "" if target is None else f" is an alias of '{target}', which"
            raise InvalidRequest(
                f"Model '{model}'{alias} names no configured provider: write it as "
                f"PROVIDER/MODEL, or configure an alias or a default provider. "
                f"{self._configured()}",
                param="model",
            )
        return routed

    def _route(self, model: str) -> tuple[str, str] | None:
        prefix, sep, rest = model.partition("/")
        if sep and rest and prefix.lower() in self._settings:
            return prefix.lower(), rest
        if self._default is None or not model:
            return None
        if self._default not in self._settings:
            raise InvalidRequest(
                f"Model '{model}' names no configured provider, and the default provider "
                f"'{self._default}' is not configured. {self._configured()}",
                param="model",
            )
        return self._default, model

    def _configured(self) -> str:
        return f"Configured providers: {', '.join(self.names)}."

    async def list_models(self) -> dict[str, str]:
        """Return the models a client can name, each with the provider that serves it.

        Every alias whose target routes; for each provider, the models it lists itself when it
        is OpenAI-compatible and answers ``GET /models`` within :data:`LIST_MODELS_TIMEOUT`, or
        else one ``NAME/*`` entry (any model of that provider); and the models given their own
        settings (``[providers.NAME.models.MODEL]``).
        """
        models: dict[str, str] = {}
        for alias, target in self._alias_names.items():
            try:
                models[alias] = self.split(target)[0]
            except InvalidRequest:
                continue
        listed = await asyncio.gather(*(self._listed(name) for name in self.names))
        for name, remote in zip(self.names, listed, strict=True):
            if remote is None:
                models[f"{name}/*"] = name
            for model in [*(remote or []), *self._settings[name].models]:
                models[f"{name}/{model}"] = name
        return models

    async def _listed(self, name: str) -> list[str] | None:
        """Return the model ids an OpenAI-compatible provider lists, or ``None`` if it does not."""
        settings = self._settings[name]
        if settings.kind != "openai":
            return None
        from callisto.providers.openai import DEFAULT_BASE_URL

        headers = dict(settings.headers)
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        base_url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=LIST_MODELS_TIMEOUT, headers=headers) as client:
                response = await client.get(base_url + "/models")
                response.raise_for_status()
                data = response.json()["data"]
                return [str(item["id"]) for item in data]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            # The type only: a message could quote the URL's or the body's secrets.
            log.info("provider '%s' did not list its models (%s)", name, type(exc).__name__)
            return None

    def settings_for(self, name: str) -> ProviderSettings:
        """Return the settings of provider ``name``."""
        return self._settings[name]

    async def start(self) -> None:
        """Build every configured provider now, and load the text tool-call parsers if used.

        Never raises for a provider that cannot be built: it is logged and built on first use.
        An alias, or a default provider, that routes nowhere is logged too (its requests will
        be refused with a 400).
        """
        for alias in self._alias_names:
            try:
                self.split(alias)
            except InvalidRequest as exc:
                log.warning("model alias '%s' routes nowhere: %s", alias, exc.message)
        if self._default is not None and self._default not in self._settings:
            log.warning(
                "default_provider '%s' is not configured. %s", self._default, self._configured()
            )
        for name in self.names:
            try:
                self._base(name)
            except ProviderError as exc:
                log.warning("%s; it will be built again on first use", exc.message)
        if any(_uses_text_calls(settings) for settings in self._settings.values()):
            importlib.import_module("callisto.providers.textcalls")

    def _base(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            settings = self._settings[name]
            try:
                provider = _adapter_class(settings.kind)(name, settings)
            except Exception as exc:
                raise _build_error(name, settings, exc) from exc
            self._providers[name] = provider
        return provider

    def resolve(self, model: str) -> tuple[Provider, str]:
        """Return the provider for ``model`` (wrapped for text tool calls if configured)."""
        name, model_name = self.split(model)
        key = (name, model_name)
        wrapped = self._wrapped.get(key)
        if wrapped is not None:
            return wrapped, model_name
        provider = self._base(name)
        effective = self._settings[name].for_model(model_name)
        if effective.tool_format != "native" or effective.tool_result_style != "native":
            from callisto.providers.textcalls import TextToolCallProvider, tool_formats

            if effective.tool_format.strip().lower() not in tool_formats():
                raise InvalidRequest(
                    f"Provider '{name}' has tool_format '{effective.tool_format}', which is not "
                    f"one of: {', '.join(tool_formats())}.",
                    param="model",
                )

            # The engine validates every call and asks the model to fix bad ones, so calls the
            # parser rejects reach it too rather than vanishing.
            provider = TextToolCallProvider(
                provider,
                effective.tool_format,
                effective.tool_result_style,
                surface_rejected=True,
            )
        self._wrapped[key] = provider
        return provider, model_name

    async def aclose(self) -> None:
        """Close every provider that was created."""
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
        self._wrapped.clear()
