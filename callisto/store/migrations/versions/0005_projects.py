"""projects: projects, hashed API keys, and the project of every top-level object

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:00:00

Existing objects go to the ``default`` project, the project of ``CALLISTO_API_KEY``'s keys, but
the Responses API's assistant, which goes to ``callisto:internal``, a project no key acts in.
``entities_tools`` is rebuilt with the key ``(project_id, id)``: its ids are digests of the
definition, so two projects may keep the same one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_OWNED = ("assistants", "threads", "responses")


def _project_id(*, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(
        "project_id",
        sa.String(length=64),
        nullable=False,
        server_default="default",
        primary_key=primary_key,
    )


def upgrade() -> None:
    """Apply this revision."""
    projects = op.create_table(
        "projects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(projects, [{"id": "default", "created_at": 0}])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_api_keys_project_id", "api_keys", ["project_id"])
    for table in _OWNED:
        op.add_column(table, _project_id())
    op.execute(
        "UPDATE assistants SET project_id = 'callisto:internal' WHERE id = 'callisto_responses'"
    )
    op.create_index("ix_assistants_project_id_id", "assistants", ["project_id", "id"])
    op.create_index("ix_threads_project_id_id", "threads", ["project_id", "id"])
    _rebuild_entities_tools(
        [_project_id(primary_key=True)], "SELECT id, created_at, tool FROM entities_tools"
    )


def _rebuild_entities_tools(key: list[sa.Column[str]], rows: str) -> None:
    """Replace ``entities_tools`` by a copy with ``key`` before its id, filled from ``rows``."""
    op.create_table(
        "entities_tools_new",
        *key,
        sa.Column("id", sa.String(length=64), nullable=False, primary_key=True),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("tool", _JSON, nullable=False),
    )
    op.execute(f"INSERT INTO entities_tools_new (id, created_at, tool) {rows}")
    op.drop_table("entities_tools")
    op.rename_table("entities_tools_new", "entities_tools")


def downgrade() -> None:
    """Revert this revision: the default project's tools stay, other projects' are dropped."""
    _rebuild_entities_tools(
        [],
        "SELECT id, created_at, tool FROM entities_tools WHERE project_id = 'default'",
    )
    op.drop_index("ix_threads_project_id_id", table_name="threads")
    op.drop_index("ix_assistants_project_id_id", table_name="assistants")
    for table in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("project_id")
    op.drop_index("ix_api_keys_project_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("projects")
