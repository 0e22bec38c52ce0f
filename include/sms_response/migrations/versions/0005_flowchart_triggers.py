"""Flowchart triggers: requests from campaign flowcharts (table rows or drop files) and what they started.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0005_flowchart_triggers"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS flowchart_triggers CASCADE")
