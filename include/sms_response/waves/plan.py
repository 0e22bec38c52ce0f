"""Planning a wave: its audience split into holdout, sample (per variant) and full phase, its messages and short links.

``plan_wave`` registers the unique mailing name and writes one ``wave_recipients`` row per audience member
(with an idempotency key) and, for the sample, the rendered message with its per-recipient short links, all
in one transaction. A second call for the same request returns the stored plan; a dry run computes the same
plan and rolls it back, so it writes and sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from sms_response.contacts.sources import SourceError
from sms_response.experiments import assign_holdout, assign_variants, sample_split
from sms_response.messages import (
    count_segments,
    new_token,
    render,
    shorten_links,
    shortening_warning,
    validate_template,
)
from sms_response.rejects import RejectedRows
from sms_response.sqlfiles import load_sql
from sms_response.waves.audience import Audience, AudienceMember, build_audience
from sms_response.waves.request import WaveError, WaveSpec, idempotency_key, sanitise_name, wave_mailing_name
from sms_response.waves.sources import AudienceFolders, fill_candidates, read_source
from sms_response.waves.store import Conn, require_autocommit
from sms_response.waves.targeting import AudienceError

log = logging.getLogger(__name__)

# Placeholders a template may use; custom contact attributes are available as {custom_<name>}.
BASE_FIELDS = ("given_name", "surname", "email", "postal_code", "phone")


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
    source: str = ""
    consent_policy: str = ""
    candidates: int = 0
    excluded: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)



def short_link_row(mailing: str, phone: str, link: tuple[int, str, str]) -> dict[str, Any]:
    """The ``short_links`` row of one link of a recipient's message (``link``: index, token, target url)."""
    index, token, url = link
    return {"token": token, "mailing": mailing, "phone": phone, "link_index": index, "url": url}


def _stored_plan(conn: Conn, request_key: str) -> WavePlan | None:
    require_autocommit(conn)
    row = conn.execute(load_sql("wave_run_by_request"), {"request_key": request_key}).fetchone()
    if row is None:
        return None
    mailing, status, params, audience, holdout, excluded = row
    counts: dict[str, int] = dict(conn.execute(load_sql("wave_phase_counts"), {"mailing": mailing}).fetchall())
    parts: dict[str, int] = dict(conn.execute(load_sql("wave_parts_by_variant"), {"mailing": mailing}).fetchall())
    variants = list(params.get("variants", {}))
    spec = WaveSpec(**params)
    return WavePlan(mailing, status, audience or 0, holdout or 0, counts.get("sample", 0), counts.get("full", 0),
                    variants, {v: int(parts.get(v) or 0) for v in variants}, {}, resumed=True,
                    source=spec.audience.label(spec.source_mailing, spec.segment),
                    consent_policy=spec.audience.consent_policy,
                    candidates=(audience or 0) + sum(excluded.values()), excluded=dict(excluded))


def plan_wave(
    conn: Conn,
    spec: WaveSpec,
    *,
    request_key: str,
    stamp: datetime,
    short_link_base: str,
    dry_run: bool = False,
    token: Callable[[], str] = new_token,
    folders: AudienceFolders | None = None,
    known_custom: Sequence[str] | None = None,
) -> WavePlan:
    """Register the mailing and write the wave's recipients, or return the plan already stored.

    ``folders``: where saved queries and list files are (needed by those sources); ``known_custom``: the
    platform's custom fields, so a source column matching none of them is refused before anything is planned.
    A bad audience (a query that writes, a missing view, a rejected row, …) raises :class:`WaveError` naming
    the row or field, with nothing planned or sent.
    """
    stored = _stored_plan(conn, request_key)
    if stored is not None:
        if stored.variants != list(spec.variants):
            raise WaveError(f"request {request_key} already planned mailing {stored.mailing_name} with other variants")
        log.info("wave %s already planned for this request (status %s); resuming", stored.mailing_name, stored.status)
        return stored
    mailing = wave_mailing_name(spec.campaign_code, spec.wave_name, stamp)
    label = spec.audience.label(spec.source_mailing, spec.segment)
    try:
        source_rows = read_source(conn, spec.audience, folders or AudienceFolders(Path("queries"), Path("lists")))
        with conn.transaction(force_rollback=dry_run):
            conn.execute(load_sql("wave_plan_lock"))
            taken = conn.execute(load_sql("wave_mailing_taken"), {"mailing": mailing}).fetchone()
            if taken:
                raise WaveError(f"mailing name {mailing} is already registered; use another wave name or timestamp")
            conn.execute(load_sql("wave_register_mailing"), {"mailing": mailing, "campaign_code": spec.campaign_code})
            fill_candidates(conn, spec.audience, spec.source_mailing, spec.segment, source_rows,
                            known_custom=known_custom)
            found = build_audience(conn, spec.audience, mailing)
            plan = _write_plan(conn, spec, mailing, found, short_link_base, token, dry_run, request_key)
    except (AudienceError, SourceError, RejectedRows) as exc:
        raise WaveError(f"audience ({label}): {exc}\nNothing was planned or sent.") from exc
    plan.source, plan.consent_policy = label, spec.audience.consent_policy
    plan.candidates, plan.excluded = found.candidates, found.excluded
    log.info(
        "wave %s %s: audience %d of %d candidates (%s; excluded %s), holdout %d, sample %d, full %d, parts %s, "
        "credits %s", mailing, "dry run (nothing written or sent)" if dry_run else "planned", plan.audience,
        found.candidates, label, {k: v for k, v in found.excluded.items() if v}, plan.holdout, plan.sample,
        plan.full, plan.parts_by_variant, plan.credits_by_variant,
    )
    for w in plan.warnings:
        log.warning("wave %s: %s", mailing, w)
    return plan


def _write_plan(conn: Conn, spec: WaveSpec, mailing: str, found: Audience, short_link_base: str,
                token: Callable[[], str], dry_run: bool, request_key: str) -> WavePlan:
    """Holdout, sample and variants of the audience; its recipients, short links and run row written."""
    audience = found.members
    known = set(BASE_FIELDS) | {f"custom_{sanitise_name(k)}" for a in audience for k in a.custom}
    for name, template in spec.variants.items():
        try:
            validate_template(template, known)
        except ValueError as exc:
            raise WaveError(f"template of variant {name}: {exc}") from exc
    by_phone = {a.phone_e164: a for a in audience}
    source_mailing = spec.source_mailing or None
    treatment, holdout = assign_holdout(list(by_phone), spec.holdout_pct, seed=mailing)
    variants = list(spec.variants)
    if len(treatment) <= spec.sample_size:
        assignment = assign_variants(treatment, variants, seed=mailing)
        sample = {v: sorted(p for p, a in assignment.items() if a == v) for v in variants}
    else:
        sample = sample_split(treatment, spec.sample_size, variants, seed=mailing)
    in_sample = {p: v for v, phones in sample.items() for p in phones}
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    warnings: list[str] = []
    parts: dict[str, int] = {v: 0 for v in variants}
    for phone in sorted(by_phone):
        member = by_phone[phone]
        variant = in_sample.get(phone)
        row: dict[str, Any] = {
            "mailing": mailing, "phone": phone, "contact_id": member.contact_id, "source": source_mailing,
            "segment": spec.segment_label, "variant": variant, "holdout": phone in holdout,
            "key": idempotency_key(mailing, phone), "body": None, "parts": None,
            "phase": "sample" if variant else "full", "status": "holdout" if phone in holdout else "pending",
            **{f"consent_{k}": v for k, v in asdict(member.consent).items()},
        }
        if variant is not None:
            msg = render_message(spec.variants[variant], member, short_link_base, token)
            row.update(body=msg.body, parts=msg.parts)
            links.extend(short_link_row(mailing, phone, link) for link in msg.links)
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
            cur.executemany(load_sql("wave_insert_recipient"), rows)
        if links:
            cur.executemany(load_sql("wave_insert_short_link"), links)
    conn.execute(load_sql("wave_insert_run"), {
        "mailing": mailing, "request_key": request_key, "campaign_code": spec.campaign_code,
        "wave_name": spec.wave_name, "source": source_mailing, "segment": spec.segment_label,
        "params": Jsonb(spec.to_json()), "audience": len(by_phone), "holdout": len(holdout),
        "parts": max(parts.values(), default=0), "credits": max(credits.values(), default=0),
        "consent_policy": spec.audience.consent_policy, "excluded": Jsonb(found.excluded),
    })
    return plan
