"""A campaign wave as resumable steps: plan → profile update → sample send → sample gate → full send.

Every step reads and writes its state in PostgreSQL (``wave_runs``, ``wave_recipients``,
``short_links``), so a retried task, a re-run DAG or a process killed mid-batch resumes where the
tables say it stopped:

* **plan** registers the unique mailing name in ``mailings`` and writes one ``wave_recipients`` row
  per audience member (holdout, sample or full phase, variant, idempotency key) and, for the sample,
  the rendered message with its per-recipient short links — all in one transaction. A second call for
  the same request (``request_key``: DAG id + run id) returns the stored plan; a dry run computes the
  same plan and rolls it back, so it writes and sends nothing.
* **send** marks a batch ``sending`` and commits *before* calling the platform, then records each
  answer. A crash between the two leaves rows in ``sending``; the next attempt sends them again with
  the same idempotency keys and the platform answers ``duplicate`` instead of texting twice.
* Every batch is re-checked against consent right before it goes out: a number that opted out after
  the plan is marked ``skipped_opted_out`` and never sent.
* Quiet hours: a recipient outside its local sending window gets ``send_after`` and waits.

Connections passed here must be in autocommit mode: each step commits its own transaction blocks,
and an implicit outer transaction would hide a committed ``sending`` mark from a crash-resume.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from sms_response.errors import SmsResponseError
from sms_response.events import Normaliser
from sms_response.experiments import VariantStats, assign_holdout, assign_variants, pick_winner, sample_split
from sms_response.mapping import Mapping as EventMapping
from sms_response.messages import (
    count_segments,
    new_token,
    render,
    shorten_links,
    shortening_warning,
    validate_template,
)
from sms_response.phones import PhoneNormaliser
from sms_response.platform import SmsPlatformClient
from sms_response.scheduling import QuietHours, wave_send_time
from sms_response.waves import SEGMENTS, AudienceMember, assert_sendable, build_audience, opted_out_among
from sms_response.window import Window

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

# Placeholders a template may use; custom contact attributes are available as {custom_<name>}.
BASE_FIELDS = ("given_name", "surname", "email", "postal_code", "phone")
MAILING_NAME_MAX = 128
MAX_BATCH = 1000
PROGRESS_EVERY_S = 10.0


class WaveError(SmsResponseError):
    """A wave cannot go on; the message says why and what was (not) sent."""


class SampleBelowThreshold(WaveError):
    """The sample's delivery rate is below the threshold: the wave stops after the sample."""


class UnknownCustomField(WaveError):
    """A contact attribute has no matching custom field on the platform; nothing was sent."""


def sanitise_name(raw: str) -> str:
    """What the campaign tool does to names: anything outside [A-Za-z0-9_] becomes one underscore."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")


def wave_mailing_name(campaign_code: str, wave_name: str, stamp: datetime) -> str:
    """Unique mailing name: campaign code, wave / process-box name and the request's UTC timestamp."""
    if stamp.tzinfo is None:
        raise WaveError("the wave timestamp must be timezone-aware")
    code, wave = sanitise_name(campaign_code), sanitise_name(wave_name)
    if not code or not wave:
        raise WaveError(f"campaign code {campaign_code!r} and wave name {wave_name!r} must contain letters or digits")
    suffix = stamp.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    head = f"{code}_{wave}"[: MAILING_NAME_MAX - len(suffix) - 1]
    return f"{head}_{suffix}"


def idempotency_key(mailing_name: str, phone_e164: str) -> str:
    """One key per recipient and mailing: the platform sends a key at most once, whoever retries."""
    return hashlib.sha256(f"{mailing_name}|{phone_e164}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class WaveSpec:
    """What a wave request asks for (the DAG's Params)."""

    campaign_code: str
    wave_name: str
    source_mailing: str
    segment: str
    variants: dict[str, str]  # variant name -> message template, in order; the first is the control
    sample_size: int = 10
    sample_threshold: float = 0.9
    batch_size: int = 100
    holdout_pct: float = 0.0
    quiet_start: str = "08:00"
    quiet_end: str = "21:00"
    quiet_fallback_tz: str = "America/New_York"
    winner_metric: str = "click_rate"
    min_per_variant: int = 30
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise WaveError(f"segment must be one of {', '.join(SEGMENTS)}, not {self.segment!r}")
        if not self.variants:
            raise WaveError("a wave needs a message template")
        for name in self.variants:
            if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
                raise WaveError(f"variant name {name!r} must be 1-32 letters, digits or underscores")
        if self.sample_size < 1:
            raise WaveError(f"sample_size must be at least 1, got {self.sample_size}")
        if not 0.0 <= self.sample_threshold <= 1.0:
            raise WaveError(f"sample_threshold must be a delivery rate in [0, 1], got {self.sample_threshold}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise WaveError(f"batch_size must be within 1..{MAX_BATCH}, got {self.batch_size}")
        self.quiet_hours()  # validates the window and the fallback zone

    def quiet_hours(self) -> QuietHours:
        try:
            return QuietHours(dtime.fromisoformat(self.quiet_start), dtime.fromisoformat(self.quiet_end),
                              self.quiet_fallback_tz)
        except ValueError as exc:
            raise WaveError(f"quiet hours: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlannedMessage:
    body: str
    parts: int
    links: list[tuple[int, str, str]]  # (link index, token, target url)
    warning: str | None


def _fields(member: AudienceMember) -> dict[str, str | None]:
    fields: dict[str, str | None] = {
        "given_name": member.given_name, "surname": member.surname, "email": member.email,
        "postal_code": member.postal_code, "phone": member.phone_e164,
    }
    fields.update({f"custom_{sanitise_name(k)}": None if v is None else str(v) for k, v in member.custom.items()})
    return fields


def render_message(template: str, member: AudienceMember, short_link_base: str,
                   token: Callable[[], str] = new_token) -> PlannedMessage:
    """Fill the template for one recipient and replace every link by its own short link."""
    text = render(template, _fields(member))
    links: list[tuple[int, str, str]] = []

    def make_short(i: int, url: str) -> str:
        t = token()
        links.append((i, t, url))
        return f"{short_link_base.rstrip('/')}/{t}"

    body, _ = shorten_links(text, make_short)
    return PlannedMessage(body, count_segments(body).parts, links, shortening_warning(text, body))


@dataclass
class WavePlan:
    mailing_name: str
    status: str
    audience: int
    holdout: int
    sample: int
    full: int
    variants: list[str]
    parts_by_variant: dict[str, int]
    credits_by_variant: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------------------------------

_INSERT_RECIPIENT = """
INSERT INTO wave_recipients (mailing_name, phone_e164, contact_id, source_mailing, segment, variant, holdout, phase,
                             idempotency_key, status, message_body, message_parts)
VALUES (%(mailing)s, %(phone)s, %(contact_id)s, %(source)s, %(segment)s, %(variant)s, %(holdout)s, %(phase)s,
        %(key)s, %(status)s, %(body)s, %(parts)s)
"""
_INSERT_LINK = """
INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url)
VALUES (%s, %s, %s, %s, %s)
"""


def _require_autocommit(conn: Conn) -> None:
    if not conn.autocommit:
        raise ValueError("wave steps need an autocommit connection (each step commits its own transactions)")


def _stored_plan(conn: Conn, request_key: str) -> WavePlan | None:
    _require_autocommit(conn)
    row = conn.execute(
        "SELECT mailing_name, status, params, audience_size, holdout_size FROM wave_runs WHERE request_key = %s",
        (request_key,),
    ).fetchone()
    if row is None:
        return None
    mailing, status, params, audience, holdout = row
    counts: dict[str, int] = dict(conn.execute(
        "SELECT phase, count(*) FROM wave_recipients WHERE mailing_name = %s AND NOT holdout GROUP BY phase",
        (mailing,),
    ).fetchall())
    parts: dict[str, int] = dict(conn.execute(
        "SELECT variant, max(message_parts) FROM wave_recipients WHERE mailing_name = %s AND variant IS NOT NULL "
        "GROUP BY variant", (mailing,),
    ).fetchall())
    variants = list(params.get("variants", {}))
    return WavePlan(mailing, status, audience or 0, holdout or 0, counts.get("sample", 0), counts.get("full", 0),
                    variants, {v: int(parts.get(v) or 0) for v in variants}, {}, resumed=True)


def plan_wave(
    conn: Conn,
    spec: WaveSpec,
    *,
    request_key: str,
    stamp: datetime,
    short_link_base: str,
    dry_run: bool = False,
    token: Callable[[], str] = new_token,
) -> WavePlan:
    """Register the mailing and write the wave's recipients, or return the plan already stored."""
    stored = _stored_plan(conn, request_key)
    if stored is not None:
        if stored.variants != list(spec.variants):
            raise WaveError(f"request {request_key} already planned mailing {stored.mailing_name} with other variants")
        log.info("wave %s already planned for this request (status %s); resuming", stored.mailing_name, stored.status)
        return stored
    mailing = wave_mailing_name(spec.campaign_code, spec.wave_name, stamp)
    with conn.transaction(force_rollback=dry_run):
        taken = conn.execute("SELECT 1 FROM mailings WHERE mailing_name = %s", (mailing,)).fetchone()
        if taken:
            raise WaveError(f"mailing name {mailing} is already registered; use another wave name or timestamp")
        conn.execute(
            "INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%s, %s, 'wave')",
            (mailing, spec.campaign_code),
        )
        audience = build_audience(conn, spec.source_mailing, spec.segment, mailing)
        known = set(BASE_FIELDS) | {f"custom_{sanitise_name(k)}" for a in audience for k in a.custom}
        for name, template in spec.variants.items():
            try:
                validate_template(template, known)
            except ValueError as exc:
                raise WaveError(f"template of variant {name}: {exc}") from exc
        by_phone = {a.phone_e164: a for a in audience}
        treatment, holdout = assign_holdout(list(by_phone), spec.holdout_pct, seed=mailing)
        variants = list(spec.variants)
        if len(treatment) <= spec.sample_size:
            assignment = assign_variants(treatment, variants, seed=mailing)
            sample = {v: sorted(p for p, a in assignment.items() if a == v) for v in variants}
        else:
            sample = sample_split(treatment, spec.sample_size, variants, seed=mailing)
        in_sample = {p: v for v, phones in sample.items() for p in phones}
        rows: list[dict[str, Any]] = []
        links: list[tuple[str, str, str, int, str]] = []
        warnings: list[str] = []
        parts: dict[str, int] = {v: 0 for v in variants}
        for phone in sorted(by_phone):
            member = by_phone[phone]
            variant = in_sample.get(phone)
            row: dict[str, Any] = {
                "mailing": mailing, "phone": phone, "contact_id": member.contact_id, "source": spec.source_mailing,
                "segment": spec.segment, "variant": variant, "holdout": phone in holdout,
                "key": idempotency_key(mailing, phone), "body": None, "parts": None,
                "phase": "sample" if variant else "full", "status": "holdout" if phone in holdout else "pending",
            }
            if variant is not None:
                msg = render_message(spec.variants[variant], member, short_link_base, token)
                row.update(body=msg.body, parts=msg.parts)
                links.extend((t, mailing, phone, i, url) for i, t, url in msg.links)
                parts[variant] = max(parts[variant], msg.parts)
                if msg.warning and msg.warning not in warnings:
                    warnings.append(f"variant {variant}: {msg.warning}")
            rows.append(row)
        # Full-phase parts per variant are not known before the winner; estimate with the first member.
        if dry_run or not in_sample:
            for v, template in spec.variants.items():
                for phone in sorted(by_phone)[:50]:
                    parts[v] = max(parts[v], render_message(template, by_phone[phone], short_link_base, token).parts)
        n_treatment = len(treatment)
        credits = {v: parts[v] * n_treatment for v in variants}
        plan = WavePlan(mailing, "dry_run" if dry_run else "planned", len(by_phone), len(holdout),
                        len(in_sample), n_treatment - len(in_sample), variants, parts, credits, warnings,
                        dry_run=dry_run)
        with conn.cursor() as cur:
            if rows:
                cur.executemany(_INSERT_RECIPIENT, rows)
            if links:
                cur.executemany(_INSERT_LINK, links)
        conn.execute(
            """INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, source_mailing, segment,
                                      params, status, audience_size, holdout_size, message_parts, credits)
               VALUES (%s, %s, %s, %s, %s, %s, %s, 'planned', %s, %s, %s, %s)""",
            (mailing, request_key, spec.campaign_code, spec.wave_name, spec.source_mailing, spec.segment,
             Jsonb(spec.to_json()), len(by_phone), len(holdout), max(parts.values(), default=0),
             max(credits.values(), default=0)),
        )
    log.info(
        "wave %s %s: audience %d (holdout %d, sample %d, full %d), parts %s, credits %s",
        mailing, "dry run (nothing written or sent)" if dry_run else "planned", plan.audience, plan.holdout,
        plan.sample, plan.full, parts, credits,
    )
    for w in warnings:
        log.warning("wave %s: %s", mailing, w)
    return plan


def wave_spec(conn: Conn, mailing: str) -> WaveSpec:
    row = conn.execute("SELECT params FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    return WaveSpec(**row[0])


def wave_status(conn: Conn, mailing: str) -> str:
    row = conn.execute("SELECT status FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    return str(row[0])


def _set_status(conn: Conn, mailing: str, status: str, reason: str | None = None, **extra: Any) -> None:
    sets: list[sql.Composable] = [sql.SQL("status = %(status)s"), sql.SQL("reason = coalesce(%(reason)s, reason)"),
            sql.SQL("updated_at = now()")]
    sets += [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in extra]
    conn.execute(
        sql.SQL("UPDATE wave_runs SET {} WHERE mailing_name = %(mailing)s").format(sql.SQL(", ").join(sets)),
        {"status": status, "reason": reason, "mailing": mailing, **extra},
    )


# ---------------------------------------------------------------------------------------------------------------------
# Profile update (contact import)
# ---------------------------------------------------------------------------------------------------------------------

SYSTEM_COLUMNS = (("phone", "phone_e164"), ("email", "email"), ("first_name", "given_name"),
                  ("last_name", "surname"), ("postal_code", "postal_code"), ("birthday", "birthdate"))


def custom_field_name(attribute: str) -> str:
    """Listrak-style: a custom attribute maps to the custom field of the same name, spaces as underscores."""
    return attribute.strip().replace(" ", "_")


def profile_import_file(conn: Conn, mailing: str, known_custom: Sequence[str]) -> tuple[str, list[dict[str, Any]], int]:
    """Base64 CSV and column mappings of the wave's recipients (holdout excluded: they get nothing)."""
    rows = conn.execute(
        """SELECT w.phone_e164, c.email, c.given_name, c.surname, c.postal_code, c.birthdate,
                  coalesce(c.custom, '{}'::jsonb)
           FROM wave_recipients w LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
           WHERE w.mailing_name = %s AND NOT w.holdout ORDER BY w.phone_e164""",
        (mailing,),
    ).fetchall()
    custom_keys = sorted({k for r in rows for k in r[6]})
    fields = {k: custom_field_name(k) for k in custom_keys}
    unknown = sorted(f for f in fields.values() if f not in set(known_custom))
    if unknown:
        raise UnknownCustomField(
            f"contact attribute(s) {', '.join(repr(u) for u in unknown)} match no custom field on the platform "
            f"(known: {', '.join(known_custom) or 'none'}); create the field(s) or drop the attribute. "
            "Nothing was sent."
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in SYSTEM_COLUMNS] + [fields[k] for k in custom_keys])
    for r in rows:
        custom = r[6]
        writer.writerow([("" if v is None else str(v)) for v in r[:6]]
                        + [("" if custom.get(k) is None else str(custom[k])) for k in custom_keys])
    mappings = [{"column_index": i, "field": name} for i, (name, _) in enumerate(SYSTEM_COLUMNS)]
    mappings += [{"column_index": len(SYSTEM_COLUMNS) + i, "field": f"custom:{fields[k]}"}
                 for i, k in enumerate(custom_keys)]
    return base64.b64encode(out.getvalue().encode()).decode(), mappings, len(rows)


def start_profile_update(conn: Conn, client: SmsPlatformClient, mailing: str) -> str:
    """Start (once) the contact update import of the wave's recipients; returns the import's resource id."""
    _require_autocommit(conn)
    row = conn.execute("SELECT import_id FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    if row[0]:
        return str(row[0])
    fields = client.contact_fields()
    file_b64, mappings, n = profile_import_file(conn, mailing, fields["custom"])
    resource_id = client.start_contact_import(file_b64, mappings)
    with conn.transaction():
        conn.execute("UPDATE wave_runs SET import_id = %s, updated_at = now() WHERE mailing_name = %s",
                     (resource_id, mailing))
    log.info("wave %s: contact update import %s started for %d recipients", mailing, resource_id, n)
    return resource_id


def finish_profile_update(conn: Conn, mailing: str, status: Mapping[str, Any]) -> int:
    """Record a finished import: phones the platform dropped as unknown are not sent. Returns their number."""
    state = status.get("status")
    if state == "Failed":
        with conn.transaction():
            _set_status(conn, mailing, "failed", f"contact import failed: {status.get('message', 'no reason given')}")
        raise WaveError(f"wave {mailing}: the contact update import failed; nothing was sent")
    if state != "Completed":
        raise WaveError(f"wave {mailing}: import is {state!r}, not finished")
    dropped = [str(p) for p in status.get("dropped_unknown") or []]
    with conn.transaction():
        conn.execute(
            """UPDATE wave_recipients SET status = 'dropped', reason = 'unknown to the platform', updated_at = now()
               WHERE mailing_name = %s AND phone_e164 = ANY(%s) AND status = 'pending'""",
            (mailing, dropped),
        )
        if wave_status(conn, mailing) == "planned":
            _set_status(conn, mailing, "profiles_updated", dropped_unknown=len(dropped))
    log.info("wave %s: profiles updated; %d number(s) unknown to the platform will not be sent", mailing, len(dropped))
    return len(dropped)


# ---------------------------------------------------------------------------------------------------------------------
# Send
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class SendProgress:
    mailing_name: str
    phase: str
    sent: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped_opted_out: int = 0
    batches: int = 0
    waiting: int = 0
    next_send_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.waiting == 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["next_send_at"] = self.next_send_at.isoformat() if self.next_send_at else None
        return d


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _messages(conn: Conn, mailing: str, campaign_code: str, rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    phones = [r[0] for r in rows]
    links: dict[str, list[dict[str, str]]] = {}
    for phone, token, url in conn.execute(
        "SELECT phone_e164, token, target_url FROM short_links WHERE mailing_name = %s AND phone_e164 = ANY(%s) "
        "ORDER BY phone_e164, link_index", (mailing, phones),
    ).fetchall():
        links.setdefault(phone, []).append({"token": token, "url": url})
    return [
        {"idempotency_key": key, "phone": phone, "mailing_name": mailing, "body": body, "campaign_code": campaign_code,
         "message_parts": parts, "variant": variant or "", "links": links.get(phone, [])}
        for phone, key, body, parts, variant in rows
    ]


def send_phase(
    conn: Conn,
    client: SmsPlatformClient,
    mailing: str,
    phase: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch_size: int | None = None,
) -> SendProgress:
    """Send every due recipient of ``phase`` in batches; recipients outside quiet hours wait (``send_after``)."""
    if phase not in ("sample", "full"):
        raise ValueError(f"phase must be sample or full, not {phase!r}")
    _require_autocommit(conn)
    spec = wave_spec(conn, mailing)
    quiet = spec.quiet_hours()
    size = batch_size or spec.batch_size
    progress = SendProgress(mailing, phase)
    rows = conn.execute(
        """SELECT phone_e164, idempotency_key, message_body, message_parts, variant FROM wave_recipients
           WHERE mailing_name = %s AND phase = %s AND status IN ('pending', 'sending') AND message_body IS NOT NULL
           ORDER BY phone_e164""",
        (mailing, phase),
    ).fetchall()
    instant = now()
    due: list[tuple[Any, ...]] = []
    later: dict[str, datetime] = {}
    for r in rows:
        at = wave_send_time(r[0], instant, quiet)
        if at <= instant:
            due.append(r)
        else:
            later[r[0]] = at
    with conn.transaction():
        if later:  # one set-based update: a night-time wave can have most of its audience waiting
            conn.execute(
                "UPDATE wave_recipients w SET send_after = u.at, updated_at = now() "
                "FROM unnest(%s::text[], %s::timestamptz[]) AS u(phone, at) "
                "WHERE w.mailing_name = %s AND w.phone_e164 = u.phone",
                (list(later), list(later.values()), mailing),
            )
        # Consent is absolute: whoever opted out since the plan is never sent.
        opted = set(opted_out_among(conn, [r[0] for r in due]))
        if opted:
            conn.execute(
                "UPDATE wave_recipients SET status = 'skipped_opted_out', reason = 'opted out before the send', "
                "updated_at = now() WHERE mailing_name = %s AND phone_e164 = ANY(%s)", (mailing, sorted(opted)),
            )
    progress.skipped_opted_out = len(opted)
    due = [r for r in due if r[0] not in opted]
    progress.waiting = len(later)
    progress.next_send_at = min(later.values()) if later else None
    batch_no = int(conn.execute("SELECT coalesce(max(batch_no), 0) FROM wave_recipients WHERE mailing_name = %s",
                                (mailing,)).fetchone()[0])  # type: ignore[index]
    started, last_log = time.monotonic(), time.monotonic()
    for batch in _chunks(due, size):
        batch_no += 1
        phones = [r[0] for r in batch]
        with conn.transaction():
            assert_sendable(conn, phones)  # belt and braces: raises rather than text an opted-out number
            conn.execute(
                "UPDATE wave_recipients SET status = 'sending', batch_no = coalesce(batch_no, %s), updated_at = now() "
                "WHERE mailing_name = %s AND phone_e164 = ANY(%s)", (batch_no, mailing, phones),
            )
        messages = _messages(conn, mailing, spec.campaign_code, batch)
        results = client.send_batch(messages)
        sent_at = now()
        updates: list[tuple[Any, ...]] = []
        counts: Counter[str] = Counter()
        for phone, res in zip(phones, results, strict=True):
            status = res.get("status")
            counts[str(status)] += 1
            if status in ("accepted", "duplicate"):
                updates.append(("sent", res.get("message_id"), sent_at, None, mailing, phone))
            else:
                updates.append(("failed", None, None, str(res.get("reason") or status)[:200], mailing, phone))
        with conn.transaction():
            conn.cursor().executemany(
                "UPDATE wave_recipients SET status = %s, message_id = coalesce(%s, message_id), "
                "sent_at = coalesce(sent_at, %s), reason = %s, updated_at = now() "
                "WHERE mailing_name = %s AND phone_e164 = %s", updates,
            )
        progress.sent += counts["accepted"]
        progress.duplicates += counts["duplicate"]
        progress.failed += len(batch) - counts["accepted"] - counts["duplicate"]
        progress.batches += 1
        if time.monotonic() - last_log >= PROGRESS_EVERY_S:
            rate = (progress.sent + progress.duplicates) / max(time.monotonic() - started, 1e-9)
            log.info("wave %s %s: %d batches, %d sent, %d duplicates, %.0f msg/s", mailing, phase,
                     progress.batches, progress.sent, progress.duplicates, rate)
            last_log = time.monotonic()
    with conn.transaction():
        if not later:
            current = wave_status(conn, mailing)
            if phase == "sample" and current in ("planned", "profiles_updated"):
                _set_status(conn, mailing, "sample_sent")
            elif phase == "full" and current in ("sample_passed", "sending"):
                _set_status(conn, mailing, "completed")
        elif phase == "full":
            _set_status(conn, mailing, "sending")
    log.info("wave %s %s: %s", mailing, phase, json.dumps(progress.to_json()))
    return progress


# ---------------------------------------------------------------------------------------------------------------------
# Sample gate
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class SampleResult:
    mailing_name: str
    ready: bool
    attempted: int = 0
    delivered: int = 0
    pending: int = 0
    delivery_rate: float | None = None
    passed: bool | None = None
    winner: str | None = None
    winner_reason: str | None = None
    variant_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    sample_sent_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["sample_sent_at"] = self.sample_sent_at.isoformat() if self.sample_sent_at else None
        return d


def sample_sent_at(conn: Conn, mailing: str) -> datetime | None:
    row = conn.execute("SELECT max(sent_at) FROM wave_recipients WHERE mailing_name = %s AND phase = 'sample'",
                       (mailing,)).fetchone()
    return row[0] if row else None


def _responders_by_phone(client: SmsPlatformClient, mapping: EventMapping, mailing: str, start: datetime,
                         end: datetime) -> dict[str, set[str]]:
    """Read-only look at the platform's interactions of the wave so far: phone -> interaction types."""
    out: dict[str, set[str]] = {}
    if end <= start:
        return out
    window = Window.filtered(start, end, codes=["interactedSMS"], mailings=[mailing])
    normaliser = Normaliser(mapping, window, "sample-peek", PhoneNormaliser())
    for page in client.pages(window, codes=["interactedSMS"], mailings=[mailing], page_size=1000):
        for n, envelope in enumerate(page.envelopes):
            for row in normaliser.normalise(envelope, f"{page.number}:{n}"):
                itype = getattr(row, "interaction_type", None)
                if itype:
                    out.setdefault(row.phone_e164, set()).add(itype)  # type: ignore[union-attr]
    return out


def evaluate_sample(
    conn: Conn,
    client: SmsPlatformClient,
    mapping: EventMapping,
    mailing: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    short_link_base: str,
    token: Callable[[], str] = new_token,
) -> SampleResult:
    """Check the sample's delivery rate; pick the winning variant; render the full phase with it.

    Not ready (``ready=False``) while the platform still reports a sample message as pending.
    Raises :class:`SampleBelowThreshold` (and records ``sample_failed``) when too few were delivered.
    """
    _require_autocommit(conn)
    spec = wave_spec(conn, mailing)
    status = wave_status(conn, mailing)
    if status in ("sample_passed", "sending", "completed"):
        row = conn.execute("SELECT winner, sample_stats FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
        assert row is not None
        return SampleResult(mailing, True, passed=True, winner=row[0],
                            variant_stats=(row[1] or {}).get("variants", {}))
    if status == "sample_failed":
        stored = conn.execute("SELECT reason FROM wave_runs WHERE mailing_name = %s", (mailing,)).fetchone()
        raise SampleBelowThreshold(str(stored[0] if stored else "sample failed"))
    rows = conn.execute(
        """SELECT phone_e164, variant, status, message_id, sent_at FROM wave_recipients
           WHERE mailing_name = %s AND phase = 'sample' AND status IN ('sent', 'failed', 'sending', 'pending')""",
        (mailing,),
    ).fetchall()
    if any(r[2] in ("sending", "pending") for r in rows):
        return SampleResult(mailing, False, pending=sum(r[2] in ("sending", "pending") for r in rows))
    ids = [r[3] for r in rows if r[2] == "sent" and r[3]]
    statuses = client.message_statuses(ids) if ids else {}
    delivered_phones = {r[0] for r in rows if statuses.get(r[3] or "", {}).get("status") == "delivered"}
    final = {"delivered", "failed", "undelivered"}
    pending = sum(1 for i in ids if statuses.get(i, {}).get("status") not in final)
    first_sent = min((r[4] for r in rows if r[4] is not None), default=None)
    result = SampleResult(mailing, pending == 0, attempted=len(rows), delivered=len(delivered_phones),
                          pending=pending, sample_sent_at=first_sent)
    if pending:
        return result
    rate = len(delivered_phones) / len(rows) if rows else 1.0
    result.delivery_rate = round(rate, 4)
    result.passed = rate >= spec.sample_threshold
    variants = list(spec.variants)
    responses: dict[str, set[str]] = {}
    if len(variants) > 1 and first_sent is not None:
        responses = _responders_by_phone(client, mapping, mailing, first_sent - timedelta(minutes=1), now())
    success_type = "click" if spec.winner_metric == "click_rate" else "conversion"
    stats = []
    for v in variants:
        members = [r[0] for r in rows if r[1] == v and r[0] in delivered_phones]
        successes = sum(1 for p in members if success_type in responses.get(p, set()))
        stats.append(VariantStats(v, len(members), successes))
        result.variant_stats[v] = {"recipients": len(members), "successes": successes}
    decision = pick_winner(stats, metric=spec.winner_metric, alpha=spec.alpha,
                           min_per_variant=spec.min_per_variant, default=variants[0])
    result.winner, result.winner_reason = decision.winner, decision.reason
    sample_stats = Jsonb({"delivery_rate": result.delivery_rate, "attempted": len(rows),
                          "delivered": len(delivered_phones), "variants": result.variant_stats,
                          "winner_reason": decision.reason, "p_value": decision.p_value})
    if not result.passed:
        reason = (f"sample delivery rate {rate:.1%} ({len(delivered_phones)}/{len(rows)}) is below the threshold "
                  f"{spec.sample_threshold:.1%}; the wave stopped after the sample, nobody else was sent")
        with conn.transaction():
            _set_status(conn, mailing, "sample_failed", reason, sample_stats=sample_stats)
        raise SampleBelowThreshold(reason)
    assert decision.winner is not None
    _render_full_phase(conn, mailing, spec, decision.winner, short_link_base, token, sample_stats)
    log.info("wave %s: sample delivered %.1f%%; winner %s (%s)", mailing, rate * 100, decision.winner,
             decision.reason)
    return result


def _render_full_phase(conn: Conn, mailing: str, spec: WaveSpec, winner: str, short_link_base: str,
                       token: Callable[[], str], sample_stats: Jsonb) -> None:
    template = spec.variants[winner]
    rows = conn.execute(
        """SELECT w.phone_e164, coalesce(c.contact_id, w.contact_id), c.email, c.given_name, c.surname, c.postal_code,
                  c.birthdate, coalesce(c.custom, '{}'::jsonb)
           FROM wave_recipients w LEFT JOIN contacts c ON c.phone_e164 = w.phone_e164
           WHERE w.mailing_name = %s AND w.phase = 'full' AND NOT w.holdout AND w.message_body IS NULL""",
        (mailing,),
    ).fetchall()
    with conn.transaction():
        updates: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        for r in rows:
            msg = render_message(template, AudienceMember(*r), short_link_base, token)
            updates.append((winner, msg.body, msg.parts, mailing, r[0]))
            links.extend((t, mailing, r[0], i, url) for i, t, url in msg.links)
        with conn.cursor() as cur:
            if updates:
                cur.executemany(
                    "UPDATE wave_recipients SET variant = %s, message_body = %s, message_parts = %s, "
                    "updated_at = now() WHERE mailing_name = %s AND phone_e164 = %s", updates,
                )
            if links:
                cur.executemany(_INSERT_LINK, links)
        _set_status(conn, mailing, "sample_passed", winner=winner, sample_stats=sample_stats)


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------


def wave_report(conn: Conn, mailing: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT status, reason, winner, audience_size, holdout_size, dropped_unknown, sample_stats FROM wave_runs "
        "WHERE mailing_name = %s", (mailing,),
    ).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    by_status: dict[str, int] = dict(conn.execute(
        "SELECT status, count(*) FROM wave_recipients WHERE mailing_name = %s GROUP BY status", (mailing,),
    ).fetchall())
    return {"mailing_name": mailing, "status": row[0], "reason": row[1], "winner": row[2], "audience": row[3],
            "holdout": row[4], "dropped_unknown": row[5], "sample": row[6], "recipients_by_status": by_status}
