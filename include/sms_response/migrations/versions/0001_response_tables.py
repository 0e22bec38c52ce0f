"""Response tables: events (partitioned by event time), rejects, consent, mailings, load log.

Revision ID: 0001
Revises:
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0001_response_tables"))


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS sms_sent, sms_interactions, event_index, event_rejects, "
        "sms_consent, mailings, load_log CASCADE"
    )
