"""responses

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("previous_response_id", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("store", sa.Boolean(), nullable=False),
        sa.Column("begins", sa.String(length=64), nullable=False),
        sa.Column("ends", sa.String(length=64), nullable=True),
        sa.Column("start_seq", sa.Integer(), nullable=False),
        sa.Column("usage_base", _JSON, nullable=True),
        sa.Column("settled", _JSON, nullable=True),
        sa.Column("request", _JSON, nullable=False),
        sa.Column("input_items", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_responses_thread_id_id", "responses", ["thread_id", "id"])
    op.create_index("ix_responses_run_id", "responses", ["run_id"])
    op.create_table(
        "conversation_rounds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("calls", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_conversation_rounds_thread_id_id", "conversation_rounds", ["thread_id", "id"]
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_conversation_rounds_thread_id_id", table_name="conversation_rounds")
    op.drop_table("conversation_rounds")
    op.drop_index("ix_responses_run_id", table_name="responses")
    op.drop_index("ix_responses_thread_id_id", table_name="responses")
    op.drop_table("responses")
