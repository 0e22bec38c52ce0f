"""wave_profile_imports: a wave's profiles pushed per phase (sample first, the rest after the gate).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(load_sql("0010_profile_phases"))


def downgrade() -> None:
    op.execute("ALTER TABLE wave_runs ADD COLUMN import_id text, ADD COLUMN dropped_unknown integer")
    op.execute(
        "UPDATE wave_runs r SET import_id = i.import_id, dropped_unknown = i.dropped FROM ("
        " SELECT mailing_name, (array_agg(import_id ORDER BY phase DESC))[1] AS import_id,"
        " sum(dropped_unknown) AS dropped FROM wave_profile_imports GROUP BY mailing_name) i"
        " WHERE r.mailing_name = i.mailing_name"
    )
    op.execute("DROP TABLE IF EXISTS wave_profile_imports")
