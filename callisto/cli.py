"""The ``callisto`` command: ``serve``, ``worker``, ``migrate``, ``demo``."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("callisto")


def _settings(args: argparse.Namespace) -> object:
    from callisto.config import Settings

    overrides = {
        key: value
        for key, value in (
            ("database_url", getattr(args, "database_url", None)),
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("dispatch", getattr(args, "dispatch", None)),
            ("allow_open", getattr(args, "allow_open", None) or None),
        )
        if value is not None
    }
    return Settings(**overrides)


def _logged_settings(args: argparse.Namespace) -> Any:
    """Return the settings, with logging configured at their level."""
    from callisto.config import Settings

    settings = _settings(args)
    assert isinstance(settings, Settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    import uvicorn

    from callisto.api.app import create_app
    from callisto.api.serving import server_options
    from callisto.config import is_loopback

    settings = _logged_settings(args)
    if not settings.api_keys():
        if not is_loopback(settings.host) and not settings.allow_open:
            log.error(
                "Refusing to serve OPEN (no CALLISTO_API_KEY) on non-loopback address %s: "
                "anyone who reaches it could use it. Set CALLISTO_API_KEY, bind 127.0.0.1, "
                "or pass --allow-open (CALLISTO_ALLOW_OPEN=1) if an open server is meant.",
                settings.host,
            )
            return 2
        log.warning(
            "CALLISTO_API_KEY is not set: the server runs OPEN, with no authentication. "
            "Set CALLISTO_API_KEY before exposing it beyond this machine."
        )
        if not is_loopback(settings.host):
            log.warning("Serving OPEN on non-loopback address %s.", settings.host)
    # The port is bound before the app starts: a second server started by mistake on a taken
    # port stops here, before it touches any run.
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"callisto: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        # "auto" takes uvloop (installed with uvicorn[standard]) where it runs, asyncio
        # elsewhere. No route speaks WebSocket, so none is loaded.
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

    from callisto.engine.jobs import run_worker

    settings = _logged_settings(args)
    if not settings.database_url.startswith("postgresql"):
        print("callisto worker: the job queue needs a PostgreSQL database_url", file=sys.stderr)
        return 2
    if settings.event_log != "redis":
        print(
            "callisto worker: set event_log = 'redis' and redis_url, so API processes see "
            "the events of the turns this worker executes",
            file=sys.stderr,
        )
        return 2
    asyncio.run(run_worker(settings, args.concurrency))
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Bring the database schema up to date and exit."""
    from callisto.config import Settings
    from callisto.store.database import run_migrations

    settings = _settings(args)
    assert isinstance(settings, Settings)
    run_migrations(settings.database_url)
    if settings.database_url.startswith("postgresql"):
        from callisto.engine.jobs import install_job_schema

        install_job_schema(settings.database_url)  # the scaled mode's job queue
    print("database is up to date")
    return 0


def demo(args: argparse.Namespace) -> int:
    """Run the end-to-end function-calling demo on the offline model."""
    from callisto.demo import main as demo_main

    return demo_main(database_url=args.database_url)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``callisto`` command."""
    parser = argparse.ArgumentParser(prog="callisto", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_serve = commands.add_parser("serve", help="run the API server")
    p_serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p_serve.add_argument("--database-url", default=None, help="sqlite:///PATH or postgresql://...")
    p_serve.add_argument(
        "--dispatch",
        choices=("embedded", "queue"),
        default=None,
        help="embedded: execute runs in this process (default); queue: API only, "
        "`callisto worker` processes execute the runs",
    )
    p_serve.add_argument(
        "--allow-open",
        action="store_true",
        default=None,
        help="serve without API keys on a non-loopback address (refused otherwise)",
    )
    p_serve.set_defaults(func=serve)
    p_worker = commands.add_parser("worker", help="execute runs from the job queue (scaled mode)")
    p_worker.add_argument("--database-url", default=None, help="postgresql://...")
    p_worker.add_argument(
        "--concurrency", type=int, default=64, help="turns executed at once (default 64)"
    )
    p_worker.set_defaults(func=worker)
    p_migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    p_migrate.add_argument("--database-url", default=None)
    p_migrate.set_defaults(func=migrate)
    p_demo = commands.add_parser("demo", help="run the function-calling demo on the offline model")
    p_demo.add_argument("--database-url", default=None)
    p_demo.set_defaults(func=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callisto`` command."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
