"""Projects and their API keys: who owns which objects, and which key acts in which project.

Every top-level object (assistant, thread or conversation, response, Entities tool) carries the
``project_id`` of the key that made it, and is found only within that project. A key is kept as
the SHA-256 of its text: keys are 256 random bits, so a plain digest is enough to make a stolen
table useless, and a lookup is one indexed read. Only a prefix of the key is kept in clear, to
tell keys apart in ``callisto keys list``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import ForeignKey, Integer, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callisto.errors import InvalidRequest, NotFound
from callisto.ids import new_id
from callisto.store.models import DEFAULT_PROJECT, Base, RunRow, ThreadRow

KEY_PREFIX = "sk-cal-"
"""How every generated key begins, so a leaked one is recognisable."""
SHOWN_CHARS = len(KEY_PREFIX) + 6
"""The characters of a key kept in clear (its prefix), to tell keys apart."""
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProjectRow(Base):
    """A project: a tenant whose keys see only its own objects. Its id is its name."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(Integer)


class ApiKeyRow(Base):
    """An API key of a project, kept as the SHA-256 of its text."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), ForeignKey("projects.id"), index=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[int | None] = mapped_column(Integer)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: its row, and its text (shown once, never stored)."""

    row: ApiKeyRow
    secret: str


def key_hash(key: str | bytes) -> str:
    """Return the stored form of a key: the hex SHA-256 of its text."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


def create_key(db: Session, project: str = DEFAULT_PROJECT, name: str | None = None) -> NewKey:
    """Make a key for ``project`` (created when new) and add it to the session.

    Raises:
        InvalidRequest: The project name is not 1-64 letters, digits, ``_``, ``.`` or ``-``.
    """
    if not PROJECT_NAME.match(project):
        raise InvalidRequest(
            f"Invalid project name {project!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
    now = int(time.time())
    if db.get(ProjectRow, project) is None:
        db.add(ProjectRow(id=project, created_at=now))
        db.flush()
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=new_id("key_"),
        project_id=project,
        hash=key_hash(secret),
        prefix=secret[:SHOWN_CHARS],
        name=name,
        created_at=now,
        revoked_at=None,
    )
    db.add(row)
    return NewKey(row, secret)


def list_keys(db: Session) -> list[ApiKeyRow]:
    """Return every key, revoked ones too, oldest first."""
    return list(db.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))


def revoke_key(db: Session, key_id: str) -> ApiKeyRow:
    """Revoke a key (it stays listed, marked revoked).

    Raises:
        NotFound: No key has this id.
    """
    row = db.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"No API key found with id '{key_id}'.")
    if row.revoked_at is None:
        row.revoked_at = int(time.time())
    return row


def project_of_key(db: Session, digest: str) -> str | None:
    """Return the project of the unrevoked key with this hash, ``None`` when there is none."""
    return db.scalar(
        select(ApiKeyRow.project_id).where(ApiKeyRow.hash == digest, ApiKeyRow.revoked_at.is_(None))
    )


def any_key(db: Session) -> bool:
    """Return whether the database holds any key, revoked ones too: then every request needs
    one (revoking keys never opens a server)."""
    return db.scalar(select(ApiKeyRow.id).limit(1)) is not None


class Owned(Protocol):
    """A row of a top-level object: it has a project."""

    project_id: str


OwnedRow = TypeVar("OwnedRow", bound=Owned)


def owned(db: Session, model: type[OwnedRow], object_id: str, project: str) -> OwnedRow | None:
    """Return the object with this id if it is the project's, else ``None`` (as if unknown)."""
    row = db.get(model, object_id)
    return row if row is not None and row.project_id == project else None


def run_and_project(run_id: str, *, thread_id: str | None = None) -> Select[RunRow, str]:
    """Return the query of the run (as stored now, of ``thread_id`` when given) and its thread's
    project, for a caller to check the project (and to join more to it)."""
    query = (
        select(RunRow, ThreadRow.project_id)
        .join(ThreadRow, ThreadRow.id == RunRow.thread_id)
        .where(RunRow.id == run_id)
        .execution_options(populate_existing=True)
    )
    if thread_id is not None:
        query = query.where(RunRow.thread_id == thread_id)
    return query


def run_of_project(
    db: Session, run_id: str, project: str, *, thread_id: str | None = None
) -> RunRow | None:
    """Return the run (as stored now) if its thread is the project's (and is ``thread_id``,
    when given), else ``None``, as if unknown. One query: the run and its thread's project."""
    found = db.execute(run_and_project(run_id, thread_id=thread_id)).first()
    if found is None or found[1] != project:
        return None
    run: RunRow = found[0]
    return run


def threads_of(project: str) -> Select[str]:
    """Return the query of the ids of the project's threads (to scope runs, messages, ...)."""
    return select(ThreadRow.id).where(ThreadRow.project_id == project)
