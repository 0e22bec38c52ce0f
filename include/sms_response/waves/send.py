"""The batched, exactly-once send of a wave's phase (sample or full), with consent and quiet hours checked per batch.

A batch is marked ``sending`` and committed *before* the platform is called, then each answer is recorded.
A crash between the two leaves rows in ``sending``; the next attempt sends them again with the same
idempotency keys and the platform answers ``duplicate`` instead of texting twice. Every batch is re-checked
against consent right before it goes out (a number that opted out after the plan, or while earlier batches
went out, is ``skipped_opted_out`` and the rest of its batch is sent), and a recipient outside its local
sending window gets ``send_after`` and waits.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sms_response.platform import SmsPlatformClient
from sms_response.scheduling import wave_send_time
from sms_response.sqlfiles import load_sql
from sms_response.waves.audience import assert_sendable, not_sendable
from sms_response.waves.store import Conn, require_autocommit, set_status, wave_spec, wave_status

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
# Why a planned recipient is not sent after all: (not_sendable's answer, recipient status, reason).
SKIPS = (("opted_out", "skipped_opted_out", "opted out before the send"),
         ("no_consent", "skipped_no_consent", "no consent under {} at the send"))


@dataclass
class SendProgress:
    mailing_name: str
    phase: str
    sent: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped_opted_out: int = 0
    skipped_no_consent: int = 0
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
        load_sql("wave_short_links_of"), {"mailing": mailing, "phones": phones},
    ).fetchall():
        links.setdefault(phone, []).append({"token": token, "url": url})
    return [
        {"idempotency_key": key, "phone": phone, "mailing_name": mailing, "body": body, "campaign_code": campaign_code,
         "message_parts": parts, "variant": variant or "", "links": links.get(phone, [])}
        for phone, key, body, parts, variant in rows
    ]


def _skip_not_sendable(conn: Conn, mailing: str, phones: Sequence[str], policy: str,
                       progress: SendProgress) -> set[str]:
    """Mark the phones the consent policy does not allow now as skipped (with why); count and return them."""
    blocked = not_sendable(conn, phones, policy)
    for why, skip_status, reason in SKIPS:
        skipped = sorted(p for p, w in blocked.items() if w == why)
        if skipped:
            conn.execute(load_sql("wave_skip_not_sendable"), {"mailing": mailing, "phones": skipped,
                                                               "status": skip_status, "reason": reason.format(policy)})
    progress.skipped_opted_out += sum(1 for w in blocked.values() if w == "opted_out")
    progress.skipped_no_consent += sum(1 for w in blocked.values() if w == "no_consent")
    return set(blocked)


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
    require_autocommit(conn)
    spec = wave_spec(conn, mailing)
    quiet = spec.quiet_hours()
    policy = spec.audience.consent_policy
    size = batch_size or spec.batch_size
    progress = SendProgress(mailing, phase)
    rows = conn.execute(load_sql("wave_unsent_recipients"), {"mailing": mailing, "phase": phase}).fetchall()
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
            conn.execute(load_sql("wave_set_send_after"),
                         {"phones": list(later), "ats": list(later.values()), "mailing": mailing})
        # Consent is absolute: whoever opted out, or lost the consent the policy needs, since the plan is never sent.
        blocked = _skip_not_sendable(conn, mailing, [r[0] for r in due], policy, progress)
    due = [r for r in due if r[0] not in blocked]
    progress.waiting = len(later)
    progress.next_send_at = min(later.values()) if later else None
    batch_no = int(conn.execute(load_sql("wave_last_batch_no"),
                                {"mailing": mailing}).fetchone()[0])  # type: ignore[index]
    started, last_log = time.monotonic(), time.monotonic()
    for chunk in _chunks(due, size):
        with conn.transaction():
            # An import may have brought an opt-out while the earlier batches went out: that number is skipped
            # like one that opted out before the send (the rest of the batch goes), not a reason to fail the wave.
            late = _skip_not_sendable(conn, mailing, [r[0] for r in chunk], policy, progress)
            if late:
                log.info("wave %s %s: %d recipient(s) lost consent during the send; skipped", mailing, phase,
                         len(late))
            batch = [r for r in chunk if r[0] not in late]
            if not batch:
                continue
            batch_no += 1
            phones = [r[0] for r in batch]
            assert_sendable(conn, phones, policy)  # belt and braces: raises rather than text an opted-out number
            conn.execute(load_sql("wave_mark_sending"), {"batch_no": batch_no, "mailing": mailing, "phones": phones})
        messages = _messages(conn, mailing, spec.campaign_code, batch)
        results = client.send_batch(messages)
        sent_at = now()
        updates: list[dict[str, Any]] = []
        counts: Counter[str] = Counter()
        for phone, res in zip(phones, results, strict=True):
            status = res.get("status")
            counts[str(status)] += 1
            if status in ("accepted", "duplicate"):
                updates.append({"status": "sent", "message_id": res.get("message_id"), "sent_at": sent_at,
                                "reason": None, "mailing": mailing, "phone": phone})
            else:
                updates.append({"status": "failed", "message_id": None, "sent_at": None,
                                "reason": str(res.get("reason") or status)[:200], "mailing": mailing, "phone": phone})
        with conn.transaction():
            conn.cursor().executemany(load_sql("wave_record_send"), updates)
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
                set_status(conn, mailing, "sample_sent")
            elif phase == "full" and current in ("sample_passed", "sending"):
                set_status(conn, mailing, "completed")
        elif phase == "full":
            set_status(conn, mailing, "sending")
    log.info("wave %s %s: %s", mailing, phase, json.dumps(progress.to_json()))
    return progress
