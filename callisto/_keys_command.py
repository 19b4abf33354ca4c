"""``callisto keys create|list|revoke``: the API keys of projects, kept hashed in the database.

The commands work on the database the settings name (as ``callisto serve`` reads them), and
bring its schema up to date first. A new key is printed once, alone on stdout (so a script can
capture it); the database keeps only its SHA-256 and its first characters.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from callisto.config import LoadedSettings, Settings

T = TypeVar("T")


def _in_transaction(settings: Settings, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one committed transaction on the settings' database."""
    from callisto.store.database import create_sync_engine

    engine = create_sync_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as db, db.begin():
            return work(db)
    finally:
        engine.dispose()


def has_stored_keys(settings: Settings) -> bool:
    """Return whether the database holds a key, revoked or not (``False`` before it is
    migrated)."""
    from sqlalchemy.exc import DBAPIError

    from callisto.store.projects import any_key

    try:
        return _in_transaction(settings, any_key)
    except DBAPIError:  # no api_keys table yet: the server's start migrates
        return False


def _when(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def create(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    """Make a key, print it once (stdout) and what it is (stderr)."""
    from callisto.config import ConfigError
    from callisto.errors import InvalidRequest
    from callisto.store.projects import create_key

    try:
        made = _in_transaction(loaded.settings, lambda db: create_key(db, args.project, args.name))
    except InvalidRequest as exc:
        raise ConfigError(f"--project: {exc.message}") from None
    print(
        f"Created API key {made.row.id} of project '{made.row.project_id}'. It is shown this "
        "once (the database keeps only its hash): store it now.",
        file=sys.stderr,
    )
    print(made.secret)
    return 0


def list_(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    """Print every key: id, project, shown prefix, name, created, revoked."""
    from callisto.store.projects import list_keys

    rows = _in_transaction(
        loaded.settings,
        lambda db: [
            (r.id, r.project_id, r.prefix + "...", r.name or "-", r.created_at, r.revoked_at)
            for r in list_keys(db)
        ],
    )
    table = [("ID", "PROJECT", "KEY", "NAME", "CREATED (UTC)", "REVOKED (UTC)")]
    table += [(i, p, k, n, _when(c), _when(r)) for i, p, k, n, c, r in rows]
    widths = [max(len(row[col]) for row in table) for col in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def revoke(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    """Revoke a key; say when servers stop accepting it."""
    from callisto.config import ConfigError
    from callisto.errors import NotFound
    from callisto.store.projects import revoke_key

    try:
        project = _in_transaction(
            loaded.settings, lambda db: revoke_key(db, args.key_id).project_id
        )
    except NotFound as exc:
        raise ConfigError(f"{exc.message} 'callisto keys list' shows the keys.") from None
    print(
        f"Revoked API key {args.key_id} of project '{project}'. Servers refuse it within "
        f"{loaded.settings.key_cache_seconds:g} seconds (key_cache_seconds)."
    )
    return 0


def add_parser(
    command: Callable[[str, str], argparse.ArgumentParser], run: Callable[..., int]
) -> None:
    """Add ``keys`` and its subcommands with ``command(name, summary)``; ``run`` executes one."""
    p_keys = command("keys", "create, list and revoke the API keys of projects")
    actions = p_keys.add_subparsers(dest="keys_command", required=True)
    p_create = actions.add_parser("create", help="make a key and print it, once")
    p_create.add_argument(
        "--project", default="default", help="its project, made if new (default: default)"
    )
    p_create.add_argument("--name", default=None, help="a label to tell keys apart")
    p_create.set_defaults(func=run, keys_func=create)
    p_list = actions.add_parser("list", help="list the keys (their first characters only)")
    p_list.set_defaults(func=run, keys_func=list_)
    p_revoke = actions.add_parser("revoke", help="revoke a key")
    p_revoke.add_argument("key_id", help="the key's id, as 'callisto keys list' shows it")
    p_revoke.set_defaults(func=run, keys_func=revoke)
    for action in (p_create, p_list, p_revoke):
        action.add_argument(
            "--database-url", default=None, help="sqlite:///PATH or postgresql://..."
        )
