"""Entities state in the database: actions, stream positions, tools, assistant settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:20:00

The Entities face kept these in each process's memory; in the database any API process can
serve any request of an Entities conversation (see ``callisto/store/entities_models.py``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "entities_actions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tool_call_id", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=256), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("triggered_at", sa.Float(), nullable=False),
        sa.Column("processed_at", sa.Float(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("output_message_id", sa.String(length=64), nullable=True),
        sa.Column("output_at", sa.Integer(), nullable=True),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tool_call_id"),
        sa.UniqueConstraint("output_message_id"),
    )
    op.create_index("ix_entities_actions_run_id_id", "entities_actions", ["run_id", "id"])
    op.create_table(
        "entities_streams",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("streamed_to", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "entities_tools",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("tool", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "entities_assistants",
        sa.Column("assistant_id", sa.String(length=64), nullable=False),
        sa.Column("max_turns", sa.Integer(), nullable=False),
        sa.Column("agent_mode", sa.Boolean(), nullable=False),
        sa.Column("decision_telemetry", sa.Boolean(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["assistant_id"], ["assistants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("assistant_id"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("entities_assistants")
    op.drop_table("entities_tools")
    op.drop_table("entities_streams")
    op.drop_index("ix_entities_actions_run_id_id", table_name="entities_actions")
    op.drop_table("entities_actions")
