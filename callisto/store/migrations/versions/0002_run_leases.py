"""run leases: who executes a run's turn, until when, and the turn's fencing token

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float(), nullable=True))
        batch.add_column(sa.Column("turn_token", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_runs_status_lease_until", "runs", ["status", "lease_until"])
    # A turn reads the tool rounds of the thread's newest messages only.
    op.create_index("ix_run_steps_thread_id_created_at", "run_steps", ["thread_id", "created_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_run_steps_thread_id_created_at", table_name="run_steps")
    op.drop_index("ix_runs_status_lease_until", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("turn_token")
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
