"""Task bodies of ``sms_campaign_wave`` that are plain TaskFlow functions (the waiting ones are operators)."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sms_response.consent.policy import DEFAULT_POLICY
from sms_response.consent.records import parse_opt_status_export
from sms_response.consent.store import load_consent
from sms_response.messages import TemplateError
from sms_response.phones import PhoneNormaliser
from sms_response.rejects import RejectedRows
from sms_response.settings import Settings
from sms_response.waves.plan import plan_wave
from sms_response.waves.report import wave_report
from sms_response.waves.request import WaveError, WaveSpec
from sms_response.waves.sources import AudienceFolders
from sms_response.waves.store import wave_for_request
from sms_response.waves.targeting import AudienceError, AudienceSpec
from sms_rt_airflow.constants import WAVE_CONF_KEYS
from sms_rt_airflow.hooks import SmsPlatformHook, db_connection
from sms_rt_airflow.operators import request_key, wave_of

log = logging.getLogger(__name__)


# The form's fields of each audience source (the form keeps what was typed when the source changes: the fields of
# the other sources are ignored, with a warning, rather than refused).
SOURCE_FIELDS = {
    "segment": ("response_types", "action_names", "link", "variant"),
    "view": ("audience_view",),
    "query": ("audience_query", "query_params"),
    "list": ("audience_list_file",),
}


def audience_from_params(params: Any) -> AudienceSpec:
    """The audience part of the form / conf (keys as the DAG's Params name them)."""
    source = params.get("audience_source") or "segment"
    mine = set(SOURCE_FIELDS.get(source, ()))
    ignored = sorted(k for fields in SOURCE_FIELDS.values() for k in fields if k not in mine and params.get(k))

    def get(key: str) -> Any:
        return params.get(key) if key in mine else None

    if ignored:
        log.warning("audience source %r: ignoring the other sources' field(s) %s", source, ", ".join(ignored))
    return AudienceSpec(
        source=source,
        relation=get("audience_view") or "",
        query=get("audience_query") or "",
        query_params=dict(get("query_params") or {}),
        list_file=get("audience_list_file") or "",
        response_types=tuple(get("response_types") or ()),
        action_names=tuple(get("action_names") or ()),
        link=str(get("link") or ""),
        variant=get("variant") or "",
        frequency_cap=int(params.get("frequency_cap") or 0),
        frequency_days=int(params.get("frequency_days") or 7),
        exclude_hard_failures=bool(params.get("exclude_hard_failures", True)),
        exclude_holdout_of=params.get("exclude_holdout_of") or "",
        consent_policy=params.get("consent_policy") or DEFAULT_POLICY,
    )


def spec_from_params(params: Any) -> WaveSpec:
    variants = dict(params.get("variants") or {})
    if not variants:
        variants = {"A": params["template"]}
    audience = audience_from_params(params)
    return WaveSpec(
        campaign_code=params["campaign_code"],
        wave_name=params["wave_name"],
        source_mailing=params["source_mailing"] if audience.source == "segment" else "",
        segment=params["segment"],
        variants=variants,
        sample_size=int(params["sample_size"]),
        sample_threshold=float(params["sample_threshold"]),
        batch_size=int(params["batch_size"]),
        holdout_pct=float(params["holdout_pct"]),
        quiet_start=params["quiet_hours_start"],
        quiet_end=params["quiet_hours_end"],
        quiet_fallback_tz=params["quiet_hours_fallback_tz"],
        winner_metric=params["winner_metric"],
        min_per_variant=int(params["min_per_variant"]),
        audience=audience,
    )


def plan(context: Any) -> dict[str, Any]:
    """Register the mailing and the recipients (or, for a dry run, report size, parts and credits only)."""
    params = context["params"]
    unknown = sorted(set(getattr(context["dag_run"], "conf", None) or {}) - set(WAVE_CONF_KEYS))
    if unknown:
        raise AirflowFailException(
            f"invalid wave request: unknown conf key(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(WAVE_CONF_KEYS)}. Nothing was planned or sent."
        )
    try:
        spec = spec_from_params(params)
    except (WaveError, AudienceError, TemplateError, KeyError, ValueError) as exc:
        raise AirflowFailException(f"invalid wave request: {exc}. Nothing was planned or sent.") from exc
    dag_run = context["dag_run"]
    # Stable for the run (a retry or re-run of it gets the same mailing name): the logical date when the
    # run has one, else the moment it was triggered for.
    stamp = dag_run.logical_date or dag_run.run_after
    hook = SmsPlatformHook()
    settings = Settings.from_env()
    folders = AudienceFolders(settings.saved_query_dir, settings.audience_list_dir)
    client = hook.get_conn()
    with db_connection(autocommit=True) as conn:
        try:
            if wave_for_request(conn, request_key(context)) is None:
                if params.get("refresh_consent", True):
                    refresh_consent(conn, client, settings)
                known_custom = client.contact_fields()["custom"] if spec.audience.source != "segment" else None
            else:
                known_custom = None  # already planned: plan_wave returns the stored plan
            result = plan_wave(conn, spec, request_key=request_key(context), stamp=stamp,
                               short_link_base=hook.short_link_base(), dry_run=bool(params.get("dry_run")),
                               folders=folders, known_custom=known_custom)
        except (WaveError, TemplateError, RejectedRows) as exc:
            raise AirflowFailException(str(exc)) from exc
        finally:
            client.close()
    return result.to_json()


def refresh_consent(conn: Any, client: Any, settings: Settings) -> None:
    """Load the platform's opt-status export (idempotent), so the plan decides on today's opt-ins."""
    parsed = parse_opt_status_export(client.opt_status(), PhoneNormaliser(settings.default_region))
    loaded = load_consent(conn, parsed, "the platform's opt-status export", unit="subscriber")
    log.info("%s", loaded.summary())


def report(context: Any) -> dict[str, Any]:
    with db_connection(autocommit=True) as conn:
        out = wave_report(conn, wave_of(conn, context))
    log.info("wave report: %s", out)
    return out
