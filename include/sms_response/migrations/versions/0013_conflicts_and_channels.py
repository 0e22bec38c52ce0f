"""Conflicting re-deliveries (event_conflicts) and skipped events of other channels (load_log.skipped).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0013_conflicts_and_channels"))


def downgrade() -> None:
    op.execute("DROP TABLE event_conflicts")
    op.execute("ALTER TABLE load_log DROP COLUMN skipped, DROP COLUMN skipped_by_channel, DROP COLUMN conflicts")
