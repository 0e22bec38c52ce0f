"""The persistent raw phone → E.164 lookup (phone_lookup).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0012_phone_lookup"))


def downgrade() -> None:
    op.execute("DROP TABLE phone_lookup")
