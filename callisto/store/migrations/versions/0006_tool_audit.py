"""tool audit trail

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "tool_audit",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tool_call_id", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=256), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tool_audit_project_id_id", "tool_audit", ["project_id", "id"])
    op.create_index("ix_tool_audit_run_id", "tool_audit", ["run_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_tool_audit_run_id", table_name="tool_audit")
    op.drop_index("ix_tool_audit_project_id_id", table_name="tool_audit")
    op.drop_table("tool_audit")
