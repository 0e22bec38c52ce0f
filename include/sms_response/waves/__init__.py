"""A campaign wave as resumable steps: plan → profile update → sample send → sample gate → full send → report.

One module per step, so "where is X decided" is one hop:

* ``request``: what a wave asks for (:class:`WaveSpec`) and its validation, the mailing name, idempotency keys;
* ``targeting``: what an audience is made of (:class:`AudienceSpec`: source, filters, exclusions, consent policy);
* ``sources``: the candidates of a segment, view, saved query or list file;
* ``audience``: who of them a wave may text (consent policy, exclusions, frequency cap) and the consent guard
  of every batch;
* ``plan``: holdout, sample and variant assignment, rendered messages and short links;
* ``profiles``: the contact update imports, the sample's first, the rest's after the gate;
* ``send``: the batched exactly-once send (consent per batch, quiet hours / ``send_after``);
* ``sample_gate``: the sample's delivery rate and the winning variant;
* ``report``: a wave's outcome;
* ``store``: the ``wave_runs`` row the steps share (stored request, status).

Every step reads and writes its state in PostgreSQL (``wave_runs``, ``wave_recipients``, ``short_links``),
so a retried task, a re-run DAG or a process killed mid-batch resumes where the tables say it stopped.
Connections passed here must be in autocommit mode: each step commits its own transaction blocks, and an
implicit outer transaction would hide a committed ``sending`` mark from a crash-resume.

Import from the step's module; the names below are re-exported for convenience.
"""

from sms_response.contacts.fields import custom_field_name
from sms_response.waves.audience import (
    SEGMENTS,
    AudienceMember,
    ConsentViolation,
    assert_sendable,
    build_audience,
    not_sendable,
)
from sms_response.waves.plan import PlannedMessage, WavePlan, plan_wave, render_message
from sms_response.waves.profiles import (
    UnknownCustomField,
    finish_profile_update,
    start_profile_update,
)
from sms_response.waves.report import wave_report
from sms_response.waves.request import WaveError, WaveSpec, idempotency_key, sanitise_name, wave_mailing_name
from sms_response.waves.sample_gate import SampleBelowThreshold, SampleResult, evaluate_sample, sample_sent_at
from sms_response.waves.send import SendProgress, send_phase
from sms_response.waves.store import wave_spec, wave_status

__all__ = [
    "SEGMENTS",
    "AudienceMember",
    "ConsentViolation",
    "PlannedMessage",
    "SampleBelowThreshold",
    "SampleResult",
    "SendProgress",
    "UnknownCustomField",
    "WaveError",
    "WavePlan",
    "WaveSpec",
    "assert_sendable",
    "build_audience",
    "custom_field_name",
    "evaluate_sample",
    "finish_profile_update",
    "idempotency_key",
    "not_sendable",
    "plan_wave",
    "render_message",
    "sample_sent_at",
    "sanitise_name",
    "send_phase",
    "start_profile_update",
    "wave_mailing_name",
    "wave_report",
    "wave_spec",
    "wave_status",
]
