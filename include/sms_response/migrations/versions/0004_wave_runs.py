"""Wave runs: one row per campaign wave; per-recipient message, schedule and send outcome.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0004_wave_runs"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS wave_runs CASCADE")
    op.execute(
        "ALTER TABLE wave_recipients DROP COLUMN IF EXISTS message_body, DROP COLUMN IF EXISTS send_after, "
        "DROP COLUMN IF EXISTS message_id, DROP COLUMN IF EXISTS sent_at, DROP COLUMN IF EXISTS batch_no, "
        "DROP COLUMN IF EXISTS reason"
    )
