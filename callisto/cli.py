"""The ``callisto`` command: ``serve``, ``worker``, ``migrate``, ``keys``, ``demo``.

A mistake in the settings (a flag, a ``CALLISTO_*`` variable, the config file) or a database
that cannot be reached ends the command with one line on stderr naming the source, the key and
what to do, and exit status 2, as argparse does for a bad flag.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from callisto import __version__

if TYPE_CHECKING:
    from callisto.config import LoadedSettings

log = logging.getLogger("callisto")

USAGE_ERROR = 2
"""Exit status of a command refused for its settings, as argparse exits for a bad flag."""

SETTING_FLAGS = {
    "database_url": "--database-url",
    "host": "--host",
    "port": "--port",
    "dispatch": "--dispatch",
    "allow_open": "--allow-open",
    "log_format": "--log-format",
}
"""Flags that set a setting: setting name -> flag, as errors name it."""


def _load(args: argparse.Namespace) -> LoadedSettings:
    """Read the settings with the command's flags on top; print a warning per unknown key."""
    from callisto.config import load_settings

    loaded = load_settings(
        {key: (flag, getattr(args, key, None)) for key, flag in SETTING_FLAGS.items()}
    )
    for warning in loaded.warnings:
        print(f"callisto: warning: {warning}", file=sys.stderr)
    return loaded


def _logged(args: argparse.Namespace) -> LoadedSettings:
    """Return the settings, with logging configured at their level."""
    from callisto.telemetry import configure_logging

    loaded = _load(args)
    configure_logging(loaded.settings.log_level, loaded.settings.log_format)
    # Alembic says at INFO which plugins it loaded; the start-up lines say what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return loaded


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    import uvicorn

    from callisto._keys_command import has_stored_keys
    from callisto._startup import check_event_log, open_database, startup_lines
    from callisto.api.app import create_app
    from callisto.api.serving import server_options
    from callisto.config import is_loopback

    loaded = _logged(args)
    settings = loaded.settings
    database = open_database(loaded)  # connects only: the app's lifespan migrates
    check_event_log(loaded)
    stored_keys = has_stored_keys(settings)
    if not settings.api_keys() and not stored_keys:
        if not is_loopback(settings.host) and not settings.allow_open:
            log.error(
                "Refusing to serve OPEN (no CALLISTO_API_KEY, no key made with 'callisto keys "
                "create') on non-loopback address %s: anyone who reaches it could use it. "
                "Set CALLISTO_API_KEY or create a key, bind 127.0.0.1, or pass --allow-open "
                "(CALLISTO_ALLOW_OPEN=1) if an open server is meant.",
                settings.host,
            )
            return USAGE_ERROR
        log.warning(
            "CALLISTO_API_KEY is not set and no key was made with 'callisto keys create': the "
            "server runs OPEN, with no authentication, until a key is created. Set one before "
            "exposing it beyond this machine."
        )
        if not is_loopback(settings.host):
            log.warning("Serving OPEN on non-loopback address %s.", settings.host)
    # The port is bound before the app starts: a second server started by mistake on a taken
    # port stops here, before it touches any run.
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        from callisto.config import ConfigError

        raise ConfigError(
            f"{loaded.source_of(('port',))}: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror}; choose another host or port, or stop the process that holds it"
        ) from None
    for line in startup_lines(loaded, database, stored_keys=stored_keys):
        log.info("%s", line)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        # Uvicorn's records go through the root logger (so --log-format applies to them); its
        # line per request is replaced by callisto.http's, at DEBUG.
        log_config=None,
        access_log=False,
        # "auto" takes uvloop (a dependency of callisto) where it runs, asyncio elsewhere. No
        # route speaks WebSocket, so none is loaded.
        loop="auto",
        ws="none",
        # httptools with bounded headers and a header timeout, and the idle timeout.
        **server_options(settings),
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def worker(args: argparse.Namespace) -> int:
    """Execute run turns from the job queue (the scaled mode) until interrupted."""
    import asyncio

    from callisto._startup import check_event_log, open_database
    from callisto.config import ConfigError

    loaded = _logged(args)
    settings = loaded.settings
    database = open_database(loaded)
    if not database.startswith("postgresql"):
        raise ConfigError(
            f"{loaded.source_of(('database_url',))}: callisto worker takes its jobs from "
            "PostgreSQL: set a postgresql:// database_url"
        )
    if settings.event_log != "redis":
        raise ConfigError(
            f"{loaded.source_of(('event_log',))}: callisto worker needs event_log = 'redis' "
            "and redis_url, so API processes see the events of the turns it executes"
        )
    check_event_log(loaded)
    from callisto.api import metrics
    from callisto.engine.jobs import run_worker  # procrastinate: the [postgres] extra

    # A worker serves no API: its turn and model-call metrics are scraped on metrics_port.
    stop_metrics = metrics.start(settings)
    try:
        asyncio.run(run_worker(settings, args.concurrency))
    finally:
        stop_metrics()
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Bring the database schema up to date and exit."""
    from callisto._startup import open_database

    loaded = _load(args)
    settings = loaded.settings
    database = open_database(loaded, migrate=True)
    if settings.database_url.startswith("postgresql"):
        from callisto.engine.jobs import install_job_schema

        install_job_schema(settings.database_url)  # the scaled mode's job queue
    print(f"database {database} is up to date")
    return 0


def keys(args: argparse.Namespace) -> int:
    """Create, list or revoke API keys, on the configured database (migrated first)."""
    from callisto._startup import open_database

    loaded = _load(args)
    open_database(loaded, migrate=True)
    result: int = args.keys_func(loaded, args)
    return result


def demo(args: argparse.Namespace) -> int:
    """Run the end-to-end function-calling demo on the offline model."""
    from callisto._startup import check_database_url, require_package

    if args.database_url is not None:
        check_database_url(args.database_url, "--database-url")
    # The demo drives the server with the official SDK, which the server does not need.
    require_package("openai", "callisto demo")
    from callisto.demo import main as demo_main

    return demo_main(database_url=args.database_url)


DESCRIPTION = (
    "Callisto: a self-hosted server for the OpenAI Assistants API v2 that runs function-calling "
    "conversations on any model."
)


def _settings_epilog() -> str:
    """Say where settings come from and name their environment variables, for ``--help``."""
    from callisto.config import Settings

    names = []
    for name in Settings.model_fields:
        suffix = {"runs": "__<SETTING>", "providers": "__<NAME>__<SETTING>"}.get(name, "")
        names.append(f"CALLISTO_{name.upper()}{suffix}")
    return "\n".join(
        [
            "settings, highest first: these flags; environment variables CALLISTO_*; the TOML",
            "file named by CALLISTO_CONFIG, else callisto.toml in the working directory;",
            "then the defaults. Every setting is described in docs/configuration.md.",
            "",
            "environment variables:",
            textwrap.fill(", ".join(names), width=78, initial_indent="  ", subsequent_indent="  "),
        ]
    )


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    """Add a command whose --help ends with where settings come from."""
    return commands.add_parser(
        name,
        help=summary,
        description=summary[:1].upper() + summary[1:] + ".",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``callisto`` command."""
    parser = argparse.ArgumentParser(
        prog="callisto",
        description=DESCRIPTION,
        epilog="'callisto COMMAND --help' shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"callisto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p_serve = _command(commands, "serve", "run the API server")
    p_serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p_serve.add_argument("--database-url", default=None, help="sqlite:///PATH or postgresql://...")
    p_serve.add_argument(
        "--dispatch",
        choices=("embedded", "queue"),
        default=None,
        help="embedded: execute runs in this process (default); queue: API only, "
        "callisto worker processes execute the runs",
    )
    p_serve.add_argument(
        "--allow-open",
        action="store_const",
        const=True,
        default=None,
        help="serve without API keys on a non-loopback address (refused otherwise)",
    )
    p_serve.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="log lines (default text)"
    )
    p_serve.set_defaults(func=serve)
    p_worker = _command(commands, "worker", "execute runs from the job queue (scaled mode)")
    p_worker.add_argument("--database-url", default=None, help="postgresql://...")
    p_worker.add_argument(
        "--concurrency", type=int, default=64, help="turns executed at once (default 64)"
    )
    p_worker.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="log lines (default text)"
    )
    p_worker.set_defaults(func=worker)
    p_migrate = _command(commands, "migrate", "apply database migrations and exit")
    p_migrate.add_argument(
        "--database-url", default=None, help="sqlite:///PATH or postgresql://..."
    )
    p_migrate.set_defaults(func=migrate)
    from callisto._keys_command import add_parser as add_keys_parser

    add_keys_parser(lambda name, summary: _command(commands, name, summary), keys)
    p_demo = commands.add_parser("demo", help="run the function-calling demo on the offline model")
    p_demo.add_argument(
        "--database-url", default=None, help="default: SQLite in a temporary folder"
    )
    p_demo.set_defaults(func=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callisto`` command."""
    from callisto.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"callisto: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return result


if __name__ == "__main__":
    sys.exit(main())
