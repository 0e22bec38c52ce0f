"""Campaign metrics: per-recipient facts, per-mailing, per-day, link, action, inbox, timing, variant and lift
tables, campaign totals, and the report_* views over them.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from sms_response.sqlfiles import load_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VIEWS = ("report_mailings", "report_campaigns", "report_campaign_days", "report_links", "report_actions",
         "report_variants")
TABLES = ("metric_recipients", "metric_mailings", "metric_mailing_days", "metric_failures", "metric_links",
          "metric_actions", "metric_inbox", "metric_response_timing", "metric_variants", "metric_lift",
          "metric_campaigns")


def upgrade() -> None:
    op.execute(load_sql("0006_metrics"))


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.execute("DROP FUNCTION IF EXISTS metric_rates")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
