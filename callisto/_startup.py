"""What the ``callisto`` command checks before it serves, and what it says when it starts.

Each check turns the failure a user meets first (a malformed or unsupported database URL, a
database that refuses the connection, a missing driver, an unreachable Redis) into one
:class:`ConfigError` line naming where the value came from and what to do, instead of the
traceback of a server that failed in its lifespan.
"""

from __future__ import annotations

import importlib

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from callisto import __version__
from callisto.config import ConfigError, LoadedSettings, ProviderSettings
from callisto.errors import InvalidRequest
from callisto.providers._http import shown_url

_EXTRAS = {"psycopg": "postgres", "procrastinate": "postgres", "redis": "redis", "openai": "demo"}
"""The extra of the package that installs each optional module."""


def masked_url(url: str) -> str:
    """Return a database or Redis URL with its password shown as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # it might still hold a password: show none of it
        return "(a URL that does not parse)"


def require_package(module: str, what: str) -> None:
    """Raise a :class:`ConfigError` naming the extra to install when ``module`` is missing.

    Args:
        module: The optional module (``psycopg``, ``redis``, ``openai``).
        what: What needs it, to start the message with.
    """
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{what} needs the {module} package, which is not installed: "
            f"pip install 'callisto[{_EXTRAS[module]}]'"
        ) from None


def check_database_url(url: str, source: str) -> str:
    """Return the backend of a database URL (``sqlite`` or ``postgresql``).

    Args:
        url: The URL.
        source: Where it was set, to name in the error.

    Raises:
        ConfigError: It does not parse, or names another database.
    """
    from callisto.store.database import sync_url

    try:
        return sync_url(url).get_backend_name()
    except InvalidRequest as exc:
        message = exc.message
        if "sqlite:///PATH" not in message:
            message += "; write sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        raise ConfigError(f"{source}: {message}") from None


def open_database(loaded: LoadedSettings, *, migrate: bool = False) -> str:
    """Check the database URL and connect; with ``migrate``, bring the schema up to date.

    Returns:
        The URL with its password masked, to show.

    Raises:
        ConfigError: The URL is malformed or names an unsupported database, its driver is not
            installed, or the database cannot be reached or opened.
    """
    from callisto.store.database import check_connection, run_migrations

    url = loaded.settings.database_url
    source = loaded.source_of(("database_url",))
    backend = check_database_url(url, source)
    shown = masked_url(url)
    if backend == "postgresql":
        require_package("psycopg", f"{source}: PostgreSQL")
        require_package("procrastinate", f"{source}: PostgreSQL")
    try:
        if migrate:
            run_migrations(url)
        else:
            check_connection(url)
    except DBAPIError as exc:
        lines = (line.strip() for line in str(exc.orig).splitlines())
        reason = ". ".join(line for line in lines if line).removeprefix("connection failed: ")
        advice = (
            "check that its folder exists and is writable"
            if backend == "sqlite"
            else "check the host and port, that PostgreSQL runs there, and that the role "
            "and the database exist"
        )
        raise ConfigError(
            f"{source}: cannot open the database {shown}: {reason}; {advice}"
        ) from None
    except OSError as exc:  # the SQLite file's folder could not be created
        raise ConfigError(
            f"{source}: cannot create the folder of the database {shown} "
            f"({exc.strerror or type(exc).__name__}); choose a writable path"
        ) from None
    return shown


def check_event_log(loaded: LoadedSettings) -> None:
    """Check that a Redis event log has a URL, its client package, and a server that answers.

    Raises:
        ConfigError: One of those is missing.
    """
    settings = loaded.settings
    if settings.event_log != "redis":
        return
    source = loaded.source_of(("event_log",))
    if not settings.redis_url:
        raise ConfigError(
            f"{source}: event_log = 'redis' needs redis_url: set CALLISTO_REDIS_URL "
            "(redis://HOST:6379/0), or use event_log = 'memory'"
        )
    require_package("redis", f"{source}: event_log = 'redis'")
    import redis

    url_source = loaded.source_of(("redis_url",))
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as exc:
        raise ConfigError(
            f"{url_source}: cannot reach Redis at {masked_url(settings.redis_url)}: "
            f"{str(exc).rstrip('.')}; "
            "check that Redis runs there"
        ) from None


def _describe_provider(name: str, provider: ProviderSettings) -> str:
    parts: list[str] = [provider.kind]
    if provider.base_url:
        parts.append(f"at {shown_url(provider.base_url)}")
    if provider.tool_format != "native":
        parts.append(f"tool calls as {provider.tool_format}")
    if provider.models:
        parts.append(f"model settings for {', '.join(sorted(provider.models))}")
    return f"provider {name}: {', '.join(parts)}"


def startup_lines(loaded: LoadedSettings, database: str, *, stored_keys: bool = False) -> list[str]:
    """Return what a person starting the server needs to know, one line each.

    Args:
        loaded: The settings.
        database: The database URL with its password masked.
    """
    settings = loaded.settings
    if settings.event_log == "redis" and settings.redis_url:
        events = f"event log: redis at {masked_url(settings.redis_url)} (shared by processes)"
    else:
        events = "event log: memory (streams are served by this process only)"
    dispatch = (
        "queue (callisto worker processes execute the runs; this one serves the API)"
        if settings.dispatch == "queue"
        else "embedded (this process executes the runs)"
    )
    lines = [f"Callisto {__version__}", f"database: {database}", f"dispatch: {dispatch}", events]
    providers = settings.provider_settings()
    lines += [_describe_provider(name, providers[name]) for name in sorted(providers)]
    lines.append(f"models without a provider/ prefix go to provider {settings.default_provider}")
    keys = len(settings.api_keys())
    if stored_keys:
        lines.append(
            f"auth: an API key is required ({keys} in CALLISTO_API_KEY, and the projects' "
            "keys made with 'callisto keys create')"
        )
    elif keys:
        lines.append(f"auth: an API key is required ({keys} accepted)")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{settings.port}"
    lines.append(f"OpenAI base_url: {base}/v1; API docs: {base}/docs; run inspector: {base}/ui")
    return lines
