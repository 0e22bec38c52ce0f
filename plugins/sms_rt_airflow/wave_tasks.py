"""Task bodies of ``sms_campaign_wave`` that are plain TaskFlow functions (the waiting ones are operators)."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sms_response.messages import TemplateError
from sms_response.waves.plan import plan_wave
from sms_response.waves.report import wave_report
from sms_response.waves.request import WaveError, WaveSpec
from sms_rt_airflow.constants import WAVE_CONF_KEYS
from sms_rt_airflow.hooks import SmsPlatformHook, db_connection
from sms_rt_airflow.operators import request_key, wave_of

log = logging.getLogger(__name__)


def spec_from_params(params: Any) -> WaveSpec:
    variants = dict(params.get("variants") or {})
    if not variants:
        variants = {"A": params["template"]}
    return WaveSpec(
        campaign_code=params["campaign_code"],
        wave_name=params["wave_name"],
        source_mailing=params["source_mailing"],
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
    except (WaveError, TemplateError, KeyError, ValueError) as exc:
        raise AirflowFailException(f"invalid wave request: {exc}") from exc
    dag_run = context["dag_run"]
    # Stable for the run (a retry or re-run of it gets the same mailing name): the logical date when the
    # run has one, else the moment it was triggered for.
    stamp = dag_run.logical_date or dag_run.run_after
    base = SmsPlatformHook().short_link_base()
    with db_connection(autocommit=True) as conn:
        try:
            result = plan_wave(conn, spec, request_key=request_key(context), stamp=stamp, short_link_base=base,
                               dry_run=bool(params.get("dry_run")))
        except (WaveError, TemplateError) as exc:
            raise AirflowFailException(str(exc)) from exc
    return result.to_json()


def report(context: Any) -> dict[str, Any]:
    with db_connection(autocommit=True) as conn:
        out = wave_report(conn, wave_of(conn, context))
    log.info("wave report: %s", out)
    return out
