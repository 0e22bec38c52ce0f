"""What the package tells Airflow about itself when installed into any Airflow 3 (a wheel, an image, MWAA,
Astronomer, Cloud Composer): the provider entry point ``apache_airflow_provider`` returns
``get_provider_info()``.

A module of its own, outside ``sms_rt_airflow``: Airflow calls ``get_provider_info`` whenever it loads its
configuration (every ``import airflow``), so it imports nothing.

It registers the connection type ``sms_platform`` with its own form in the UI, declared here (Airflow 3.2+
reads ``conn-fields`` and ``ui-field-behaviour`` from the provider info without importing the hook; the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour`` are deprecated since 3.2): base URL or host, the API
token as the password field, and the extras every adapter reads as labelled fields (blank fields mean the
default; ``SmsPlatformHook`` ignores them). Extras without a field of their own stay in the Extra JSON.

The dashboard plugin is registered by the ``airflow.plugins`` entry point (Airflow loads those in every
component; the provider info's ``plugins`` list is read only when ``[core] lazy_discover_providers`` is off),
and the DAG files ship as the DAG bundle ``sms_rt_airflow.bundle.SmsRtDagBundle``.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "sms-response-tracking"  # must equal the distribution's name
PLATFORM_CONN_TYPE = "sms_platform"
INTEGRATION = "SMS response tracking"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _number(label: str, description: str, kind: str = "number", **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


# Keys are the extras' names (what SmsPlatformHook and sms_response.adapters read).
PLATFORM_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "platform": _text("Platform", "Whose event feed this is: simulator (this package's event API), ubx (Acoustic "
                      "Exchange event files), twilio (Event Streams receiver), braze (Currents in S3)",
                      enum=["simulator", "ubx", "twilio", "braze"], default="simulator"),
    "timeout_connect": _number("Connect timeout (s)", "Seconds to open a connection (default 5)", minimum=0.1),
    "timeout_read": _number("Read timeout (s)", "Seconds to wait for an answer (default 60)", minimum=0.1),
    "retries": _number("Attempts per call", "Exponential backoff with jitter, Retry-After honoured (default 8)",
                       kind="integer", minimum=1, maximum=50),
    "short_link_base": _text("Short-link base URL", "Where per-recipient links of campaign waves point "
                             "(default: the base URL + /r)"),
    "lookback_hours": _number("Twilio / Braze: look-back (hours)", "How far before a window events published "
                              "late may lie (default 24 for twilio, 72 for braze)", minimum=0, maximum=744),
    "events_dir": _text("Twilio: receiver folder", "The Event Streams receiver's --dir (shared with the workers)"),
    "bucket": _text("Braze: Currents bucket", "The bucket Currents writes to (login / token: the S3 key pair)"),
    "prefix": _text("Braze: key prefix", "The Currents integration's folder in the bucket"),
    "endpoint_url": _text("Braze: S3 endpoint URL", "Only for S3-compatible storage other than AWS"),
    "region": _text("Braze: S3 region", "e.g. us-east-1"),
    "ubx_paging": _text("UBX: paging of the event-file list", "cursor (default), offset or none",
                        enum=["cursor", "offset", "none", None]),
    "ubx_mailing_attribute": _text("UBX: mailing name attribute", "The event attribute holding the unique "
                                   "mailing name (default campaignName)"),
    "ubx_endpoint": _text("UBX: endpoint name", "Names the endpoint's ledger (default: the login)"),
}

PLATFORM_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {
        "host": "Base URL or host",
        "schema": "Scheme (http / https)",
        "login": "Login (UBX endpoint, Braze S3 key id)",
        "password": "API token (Braze: S3 secret key)",
    },
    "placeholders": {
        "host": "api.example-sms.com or https://api.example-sms.com",
        "schema": "https",
        "events_dir": "/data/twilio-events",
        "bucket": "acme-braze-currents",
        "extra": '{"mailing_services": {"MG…": "SPRING26_Wave1_Offer_20261120090000"}}',
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (runtime schema ``provider_info.schema.json``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION,
        "description": "SMS campaign response tracking: the SMS platform connection, its hooks, triggers, "
                       "sensors and operators, the campaign dashboard and the DAGs as a DAG bundle.",
        "integrations": [{"integration-name": INTEGRATION, "tags": ["service"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["sms_rt_airflow.hooks"]}],
        "operators": [{"integration-name": INTEGRATION,
                       "python-modules": ["sms_rt_airflow.operators", "sms_rt_airflow.flowchart_operators"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["sms_rt_airflow.sensors"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["sms_rt_airflow.triggers"]}],
        "bundles": [{"integration-name": INTEGRATION, "python-modules": ["sms_rt_airflow.bundle"]}],
        "connection-types": [{
            "connection-type": PLATFORM_CONN_TYPE,
            "hook-class-name": "sms_rt_airflow.hooks.SmsPlatformHook",
            "hook-name": "SMS platform",
            "conn-fields": PLATFORM_CONN_FIELDS,
            "ui-field-behaviour": PLATFORM_FIELD_BEHAVIOUR,
        }],
    }
