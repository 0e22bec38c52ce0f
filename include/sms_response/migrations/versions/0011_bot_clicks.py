"""Suspected bot clicks: sms_interactions.suspected_bot_click (Braze Currents' is_suspected_bot_click).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0011_bot_clicks"))


def downgrade() -> None:
    op.execute("ALTER TABLE sms_interactions DROP COLUMN suspected_bot_click")
