"""Audiences: any source, consent policy and the consent record of every send, frequency-cap indexes.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0009_audiences"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS sms_sent_phone_time")
    op.execute("DROP INDEX IF EXISTS wave_recipients_phone")
    op.execute("ALTER TABLE wave_recipients DROP COLUMN planned_at, DROP COLUMN consent_status, "
               "DROP COLUMN consent_source, DROP COLUMN consent_ref, DROP COLUMN consent_recorded_at, "
               "DROP COLUMN consent_record_id, DROP COLUMN consent_event_id")
    op.execute("ALTER TABLE wave_runs DROP COLUMN consent_policy, DROP COLUMN excluded")
