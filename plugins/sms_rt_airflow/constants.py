"""Connection ids, tags and shared defaults, in one place (Assets: ``assets``). Import-light for DAG files."""

from __future__ import annotations

from datetime import timedelta

# The one definition of a mailing name's shape (import-light), re-exported for the DAG files.
from sms_response.run_conf import MAILING_NAME_PATTERN as MAILING_NAME_PATTERN

# A mailing name, or empty (a field only some choices of the form need).
OPTIONAL_MAILING_NAME_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9_.\-]{0,127})?$"

PLATFORM_CONN_ID = "sms_platform"
RESPONSE_DB_CONN_ID = "sms_rt_postgres"

OWNER = "marketing-ops"
TAGS_PIPELINE = ["sms", "response-tracking", "ingest"]
TAGS_SEGMENTS = ["sms", "response-tracking", "segments"]
TAGS_METRICS = ["sms", "campaign", "metrics"]


def default_args(execution_timeout: timedelta) -> dict[str, object]:
    """Task defaults shared by every DAG: owner, retries with exponential backoff, a timeout."""
    return {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": execution_timeout,
    }
TAGS_WAVES = ["sms", "campaign", "wave"]
TAGS_FLOWCHART = ["sms", "response-tracking", "flowchart-trigger"]

# Every key a sms_campaign_wave conf may carry (the DAG's Params; a DAG integrity test keeps them equal).
WAVE_CONF_KEYS = (
    "campaign_code", "source_mailing", "segment", "wave_name", "template", "variants", "sample_size",
    "sample_threshold", "sample_wait_minutes", "batch_size", "dry_run", "holdout_pct", "quiet_hours_start",
    "quiet_hours_end", "quiet_hours_fallback_tz", "winner_metric", "min_per_variant",
    # audience (sms_response.waves.targeting)
    "audience_source", "audience_view", "audience_query", "query_params", "audience_list_file", "response_types",
    "action_names", "link", "variant", "frequency_cap", "frequency_days", "exclude_hard_failures",
    "exclude_holdout_of", "consent_policy", "refresh_consent",
)
