"""
### SMS campaign wave: the next wave to responders or non-responders of a mailing

Trigger it from the UI form, the REST API (`POST /api/v2/dags/sms_campaign_wave/dagRuns` with a
`conf`) or another DAG. Steps, each resumable (state lives in `wave_runs` / `wave_recipients`):

1. **plan_wave**: the chosen segment of the source mailing joined with `contacts`, minus every
   opted-out number and everyone already in the new mailing; registers the unique mailing name
   `<campaign>_<wave>_<run timestamp>` in `mailings`; holdout, sample and variant assignment
   (deterministic); messages rendered with per-recipient short links. A **dry run** reports audience
   size, parts and credits and writes and sends nothing (later tasks skip).
2. **update_profiles_sample**: the sample's profiles only, as a contact update import (base64 CSV +
   column mappings); polled in the triggerer until Completed/Failed; numbers the platform does not
   know are not sent.
3. **send_sample** → **sample_gate**: checks the share of the sample the import could reach, waits
   `sample_wait_minutes` for responses, checks the sample's delivery rate; below `sample_threshold`
   either way the run fails and nobody else is pushed or sent; picks the winning variant (click or
   conversion rate, one-sided z-test, minimum sample per variant).
4. **update_profiles_full**: the rest of the audience's profiles (holdout excluded), only now.
5. **send_full**: the rest in batches with per-recipient idempotency keys; consent re-checked per
   batch; recipients outside their local quiet hours wait (deferred) until their window opens.

A retry or re-run of any task never texts anyone twice; the holdout is recorded, never sent.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from sms_response.run_conf import FILE_NAME_PATTERN, RELATION_PATTERN, RESPONSE_TYPES
from sms_rt_airflow.constants import OPTIONAL_MAILING_NAME_PATTERN, TAGS_WAVES, default_args
from sms_rt_airflow.operators import ProfileUpdateOperator, SampleGateOperator, WaveSendOperator

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


@dag(
    dag_id="sms_campaign_wave",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    dagrun_timeout=timedelta(days=3),
    doc_md=__doc__,
    tags=TAGS_WAVES,
    default_args=default_args(execution_timeout=timedelta(hours=2)),
    params={
        "campaign_code": Param("", type="string", minLength=1, maxLength=40, pattern=r"^[A-Za-z0-9_\-]+$",
                               description="Campaign code (first part of the wave's mailing name)."),
        "audience_source": Param("segment", type="string", enum=["segment", "view", "query", "list"],
                                 description="Who the wave goes to: a segment of an earlier mailing, a view, a "
                                             "saved query or a list file (then the source's fields below)."),
        "source_mailing": Param("", type="string", pattern=OPTIONAL_MAILING_NAME_PATTERN,
                                description="Segment source: the mailing whose segment this wave follows up."),
        "segment": Param("non_responders", type="string", enum=["responders", "non_responders"],
                         description="Segment source: its responders or non-responders."),
        "response_types": Param([], type="array", items={"type": "string", "enum": list(RESPONSE_TYPES)},
                                uniqueItems=True, description="Segment source, responders: only those with a "
                                                              "response of these types."),
        "action_names": Param([], type="array", items={"type": "string", "minLength": 1}, uniqueItems=True,
                              description="Segment source, responders: only those who tapped one of these actions."),
        "link": Param("", type="string", pattern=r"^([1-9][0-9]{0,2}|https?://\S+)?$",
                      description="Segment source, responders: only those who clicked this link (its position, "
                                  "1 for the first, or its URL)."),
        "variant": Param("", type="string", pattern=r"^[A-Za-z0-9_]{0,32}$",
                         description="Segment source: only recipients of this A/B variant of the source wave."),
        "audience_view": Param("", type="string", pattern=RELATION_PATTERN,
                               description="View source: NAME or SCHEMA.NAME of a view or table."),
        "audience_query": Param("", type="string", pattern=FILE_NAME_PATTERN,
                                description="Query source: a saved query, <name>.sql in SMS_RT_QUERY_DIR."),
        "query_params": Param({}, type="object", description="Query source: values of its %(name)s parameters."),
        "audience_list_file": Param("", type="string", pattern=FILE_NAME_PATTERN,
                                    description="List source: a CSV file in SMS_RT_AUDIENCE_DIR."),
        "consent_policy": Param("opt_in_required", type="string", enum=["opt_in_required", "not_opted_out"],
                                description="opt_in_required: only phones whose latest consent record is an "
                                            "opt-in; not_opted_out: any phone not opted out."),
        "refresh_consent": Param(True, type="boolean",
                                 description="Load the platform's opt-status export before planning."),
        "frequency_cap": Param(0, type="integer", minimum=0, maximum=1000,
                               description="At most this many messages per phone in frequency_days days, across "
                                           "all waves and campaigns (0: no cap)."),
        "frequency_days": Param(7, type="integer", minimum=1, maximum=365),
        "exclude_hard_failures": Param(True, type="boolean",
                                       description="Leave out phones a send ever hard-failed to."),
        "exclude_holdout_of": Param("", type="string", pattern=OPTIONAL_MAILING_NAME_PATTERN,
                                    description="Leave out the holdout of this earlier wave."),
        "wave_name": Param("", type="string", minLength=1, maxLength=60,
                           description="Wave / process-box name, e.g. 'Reminder'."),
        "template": Param("", type="string", minLength=1, maxLength=1000,
                          description="Message; placeholders {given_name} {surname} {email} {postal_code} "
                                      "{custom_<attribute>}; links become per-recipient short links."),
        "variants": Param({}, type="object", additionalProperties={"type": "string", "minLength": 1},
                          description="Optional A/B variants {name: template}; the first is the control."),
        "sample_size": Param(10, type="integer", minimum=1, maximum=100000),
        "sample_threshold": Param(0.9, type="number", minimum=0, maximum=1,
                                  description="Minimum delivery rate of the sample to go on."),
        "sample_wait_minutes": Param(60, type="number", minimum=0, maximum=1440,
                                     description="Time for the sample's responses before judging it."),
        "batch_size": Param(100, type="integer", minimum=1, maximum=1000),
        "dry_run": Param(False, type="boolean"),
        "holdout_pct": Param(0.0, type="number", minimum=0, maximum=50,
                             description="Share of the audience recorded but never sent (lift baseline)."),
        "quiet_hours_start": Param("08:00", type="string", pattern=HHMM),
        "quiet_hours_end": Param("21:00", type="string", pattern=HHMM),
        "quiet_hours_fallback_tz": Param("America/New_York", type="string",
                                         description="Zone for numbers without a usable time zone."),
        "winner_metric": Param("click_rate", type="string", enum=["click_rate", "conversion_rate"]),
        "min_per_variant": Param(30, type="integer", minimum=0),
    },
)
def sms_campaign_wave() -> None:
    @task
    def plan_wave(**context: object) -> dict[str, object]:
        """Audience, unique mailing name, holdout / sample / variants, messages with short links."""
        from sms_rt_airflow import wave_tasks

        return wave_tasks.plan(context)

    @task(trigger_rule="none_failed")
    def wave_report(**context: object) -> dict[str, object]:
        """Recipients by state, winner, sample outcome."""
        from sms_rt_airflow import wave_tasks

        return wave_tasks.report(context)

    sample_profiles = ProfileUpdateOperator(
        task_id="update_profiles_sample", phase="sample",
        doc_md="Contact update import of the sample's recipients only; polled in the triggerer.")
    sample = WaveSendOperator(
        task_id="send_sample", phase="sample", doc_md="Send the sample (split across variants), exactly once.")
    gate = SampleGateOperator(
        task_id="sample_gate", sample_wait_minutes="{{ params.sample_wait_minutes }}",
        doc_md="Stop if the sample's import reached too few or too few were delivered; pick the winning variant.")
    full_profiles = ProfileUpdateOperator(
        task_id="update_profiles_full", phase="full",
        doc_md="Contact update import of the rest of the audience, once the sample passed; polled in the triggerer.")
    full = WaveSendOperator(
        task_id="send_full", phase="full",
        doc_md="Send everyone else in batches with idempotency keys; wait for quiet hours to end.")
    plan_wave() >> sample_profiles >> sample >> gate >> full_profiles >> full >> wave_report()


sms_campaign_wave()
