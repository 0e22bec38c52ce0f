"""consent_records, the consent_evidence view and the consent_as_of / consent_allows functions.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0008_consent_records"))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS consent_allows(text, text)")
    op.execute("DROP FUNCTION IF EXISTS consent_as_of(timestamptz, text[])")
    op.execute("DROP VIEW IF EXISTS consent_evidence")
    op.execute("DROP TABLE IF EXISTS consent_records")
