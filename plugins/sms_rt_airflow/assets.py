"""The package's Assets, each defined once: DAG files schedule on them, tasks emit events on them."""

from __future__ import annotations

from airflow.sdk import Asset

# Airflow requires postgres:// URIs of the form postgres://host:port/db/schema/table; the host part is a
# logical name here (the tables may live on the embedded server or anywhere).
RESPONSE_TABLES_URI = "postgres://sms-rt:5432/sms_rt/sms_rt/sms_response_tables"
SEGMENTS_URI = "postgres://sms-rt:5432/sms_rt/sms_rt/sms_segments"

# Emitted by sms_response_tracking.publish for each published window; schedules sms_segments_refresh.
RESPONSE_TABLES = Asset(name="sms_response_tables", uri=RESPONSE_TABLES_URI)
# Emitted by sms_segments_refresh with the segment runs it made.
SEGMENTS = Asset(name="sms_segments", uri=SEGMENTS_URI)
# Emitted by sms_campaign_metrics with the mailings and campaigns it refreshed.
CAMPAIGN_METRICS_URI = "postgres://sms-rt:5432/sms_rt/sms_rt/sms_campaign_metrics"
CAMPAIGN_METRICS = Asset(name="sms_campaign_metrics", uri=CAMPAIGN_METRICS_URI)
