"""consent_as_of planned per call with its own array (linear in the wave's audience; was quadratic).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0014_consent_as_of_planned"))


def downgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION consent_as_of(as_of timestamptz, phones text[] DEFAULT NULL)
        RETURNS TABLE (phone_e164 text, status text, source text, source_ref text, recorded_at timestamptz,
                       record_id bigint, event_id text)
        LANGUAGE sql STABLE AS $$
            SELECT DISTINCT ON (e.phone_e164)
                   e.phone_e164, e.status, e.source, e.source_ref, e.recorded_at, e.record_id, e.event_id
            FROM consent_evidence e
            WHERE e.recorded_at <= as_of AND (phones IS NULL OR e.phone_e164 = ANY (phones))
            ORDER BY e.phone_e164, e.recorded_at DESC, (e.status = 'opted_out') DESC, e.source, e.source_ref
        $$
    """)
