"""load_log.mailings: the mailings a window's last (re)load touched, removed rows included.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0007_load_log_mailings"))


def downgrade() -> None:
    op.execute("ALTER TABLE load_log DROP COLUMN IF EXISTS mailings")
