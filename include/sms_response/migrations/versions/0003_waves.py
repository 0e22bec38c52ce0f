"""Contacts, wave recipients and short links for campaign waves.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0003_waves"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS short_links, wave_recipients, contacts CASCADE")
