"""Validation runs, window states, versioned segments with the responders / non_responders views.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0002_validation_and_segments"))


def downgrade() -> None:
    op.execute(
        "DROP VIEW IF EXISTS responders, non_responders; "
        "DROP TABLE IF EXISTS segment_current, segment_members, segment_runs, hard_failure_codes, "
        "validation_runs CASCADE"
    )
