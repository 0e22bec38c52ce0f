"""Campaign metrics on real PostgreSQL: every figure of docs/metrics.md against values computed by hand.

Data arrives the way production data does (``event_fixtures``): envelopes landed per window, imported
with ``import_window`` and published through ``load_log``. A wave's assignments, its run and the short
links are written directly, as the wave DAG writes them. Each expected number is a literal derived in
a comment from the fixture, never computed with the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from event_fixtures import (
    import_landed,
    interaction_envelope,
    land,
    land_and_import_result,
    publish,
    sent_envelope,
)
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from sms_response.metrics.pricing import Pricing
from sms_response.metrics.refresh import MetricsRefresh, affected_mailings, refresh_metrics
from sms_response.window import Window

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[TupleRow]

MIN, H = timedelta(minutes=1), timedelta(hours=1)
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
S = T0 + MIN  # blast 1 (and the notice) sent 2026-11-20 10:01 UTC
S2 = S + 24 * H  # blast 2: 2026-11-21 10:01
S3 = S + 48 * H  # blast 3: 2026-11-22 10:01
SW = T0 + 2 * H  # the wave's first message: 2026-11-20 12:00

SPRING, AUTUMN, WAVE = "SPRING26", "AUTUMN26", "WAVE26"
M1 = "SPRING26_Blast1_20261120"
M2 = "SPRING26_Blast2_20261121"
M3 = "SPRING26_Blast3_20261122"
MF = "AUTUMN26_Notice_20261120"  # encodings, parts, credits, failures
MG = "GHOST26_Old_20261001"  # a click on an old link, no message of it in any published window
MW = "WAVE26_Wave1_Offer_20261120120000"

W_ALL = Window(T0, T0 + 96 * H)  # every event of the fixture (the latest: S + 72h)
W_LATE = Window(T0 + 96 * H, T0 + 97 * H)  # a later window: late events, timestamped long before it opened
# Credits per part differ by encoding (and neither is 1, so a missing factor shows).
PRICING = Pricing(gsm7=Decimal("0.5"), ucs2=Decimal("1.5"))

SALE, TERMS = "https://shop.example/sale", "https://shop.example/terms"
BODY_M1 = "Spring sale: 20€ off at https://s.example/abc Reply STOP to opt out"  # "€": GSM-7 extension table
GSM_SHORT = "Your parcel is on its way"  # GSM-7 basic table, 25 septets: 1 part
GSM_LONG = "Spring sale: 20€ off everything! " * 6  # 198 characters, 204 septets (€ is ESC + e): 2 parts of 153
UCS2_LONG = "Spring sale 🌸 " * 6  # the emoji is in no GSM table: UCS-2, 90 UTF-16 units: 2 parts of 67
UCS2_SHORT = "Merci, ça arrive"  # "ç" is not GSM-7 (only "Ç" is): UCS-2, 1 part

METRIC_TABLES = ("metric_recipients", "metric_mailings", "metric_mailing_days", "metric_failures", "metric_links",
                 "metric_actions", "metric_inbox", "metric_response_timing", "metric_variants", "metric_lift",
                 "metric_campaigns")


def p(n: int) -> str:
    return f"+1201555{n:04d}"


def w(n: int) -> str:
    return f"+1202555{n:04d}"


def tok(n: int, link: int) -> str:
    return f"m1-{n:02d}-{link}"


# ---------------------------------------------------------------------------------------------------------------------
# Envelopes
# ---------------------------------------------------------------------------------------------------------------------


def sent(eid: str, phone: str, ts: datetime, mailing: str, campaign: str, status: str = "delivered", code: int = 0,
         **extra: Any) -> dict[str, Any]:
    return sent_envelope(eid, phone, ts, mailing, status, code, campaignCode=campaign, **extra)


def click(eid: str, phone: str, ts: datetime, mailing: str, token: str | None = None, url: str = SALE
          ) -> dict[str, Any]:
    return interaction_envelope(eid, phone, ts, "click", mailing, url=url, linkToken=token)


def reply(eid: str, phone: str, ts: datetime, mailing: str, body: str, keyword: str | None = None) -> dict[str, Any]:
    return interaction_envelope(eid, phone, ts, "reply", mailing, messageBody=body, keyword=keyword)


def action(eid: str, phone: str, ts: datetime, mailing: str, name: str) -> dict[str, Any]:
    return interaction_envelope(eid, phone, ts, "action", mailing, actionName=name)


def conversion(eid: str, phone: str, ts: datetime, mailing: str, value: str) -> dict[str, Any]:
    return interaction_envelope(eid, phone, ts, "conversion", mailing, value=value)


def blast1() -> list[dict[str, Any]]:
    """M1: 14 phones, one message each (p11 two), every body GSM-7, 1 part each (said for odd phones only)."""

    def s1(eid: str, n: int, ts: datetime = S, status: str = "delivered", code: int = 0,
           carrier: str | None = None) -> dict[str, Any]:
        return sent(eid, p(n), ts, M1, SPRING, status, code, carrierNetwork=carrier, messageBody=BODY_M1,
                    messageParts=1 if n % 2 else None)

    return [
        # p1: duplicate clicks on link 0 (3) and one on link 1; first response after 10 min
        s1("a01", 1), click("a01k1", p(1), S + 10 * MIN, M1, tok(1, 0)), click("a01k2", p(1), S + 12 * MIN, M1, tok(1, 0)),
        click("a01k3", p(1), S + 40 * MIN, M1, tok(1, 0)), click("a01k4", p(1), S + 20 * MIN, M1, tok(1, 1), TERMS),
        # p2: STOP reply, then a click and a BUY tap: an opt-out, a click and a tap, never a reply or response
        s1("a02", 2), reply("a02r", p(2), S + 5 * MIN, M1, "STOP"), click("a02k", p(2), S + 8 * MIN, M1, tok(2, 0)),
        action("a02a", p(2), S + 10 * MIN, M1, "BUY"),
        # p3: two free-text replies; the first (after 2 min) is the first response, the second the latest reply
        s1("a03", 3), reply("a03r1", p(3), S + 2 * MIN, M1, "What time do you open?"),
        reply("a03r2", p(3), S + 3 * H, M1, "Thanks!"),
        # p4: BUY twice, INFO once, then a conversion of 25.00; first response after 30 min
        s1("a04", 4), action("a04a1", p(4), S + 30 * MIN, M1, "BUY"), action("a04a2", p(4), S + 31 * MIN, M1, "BUY"),
        action("a04a3", p(4), S + 32 * MIN, M1, "INFO"), conversion("a04v", p(4), S + 45 * MIN, M1, "25.00"),
        # p5: a click on link 1 after 100 min, an INFO tap after 2 h
        s1("a05", 5), click("a05k", p(5), S + 100 * MIN, M1, tok(5, 1), TERMS), action("a05a", p(5), S + 2 * H, M1, "INFO"),
        # p6: a conversion of 10.50 after 5 h (the web shop; no click)
        s1("a06", 6), conversion("a06v", p(6), S + 5 * H, M1, "10.50"),
        # p7, p8: clicks after 20 h (2026-11-21 06:01) and 30 h (2026-11-21 16:01)
        s1("a07", 7), click("a07k", p(7), S + 20 * H, M1, tok(7, 0)),
        s1("a08", 8), click("a08k", p(8), S + 30 * H, M1, tok(8, 0)),
        # p9: a click exactly 72 h after delivery (the window is half-open): a click, no response
        s1("a09", 9), click("a09k", p(9), S + 72 * H, M1, tok(9, 0)),
        # p10: failed (unknown destination)
        s1("a10", 10, status="failed", code=30005, carrier="CarrierX"),
        # p11: undelivered, delivered again 30 min later, clicked 10 min after that
        s1("a11a", 11, status="undelivered", code=30003, carrier="CarrierY"), s1("a11b", 11, S + 30 * MIN),
        click("a11k", p(11), S + 40 * MIN, M1, tok(11, 0)),
        # p12: STOP (with the platform's keyword), a click while opted out, START, a click 3 h after delivery
        s1("a12", 12), reply("a12r1", p(12), S + H, M1, "Stop please", keyword="stop"),
        click("a12k1", p(12), S + 90 * MIN, M1, tok(12, 0)), reply("a12r2", p(12), S + 2 * H, M1, "START"),
        click("a12k2", p(12), S + 3 * H, M1, tok(12, 0)),
        # p13: delivered, nothing else
        s1("a13", 13),
        # p14: a click whose token is not in short_links (reported under its URL) after 50 min
        s1("a14", 14), click("a14k", p(14), S + 50 * MIN, M1, "expired-token", SALE + "?utm=sms"),
    ]


def blasts2and3() -> list[dict[str, Any]]:
    """M2 and M3 of the same campaign, texting some of M1's phones again (bodies unknown: GSM-7, 1 part)."""
    return [
        sent("b01", p(1), S2, M2, SPRING), click("b01k", p(1), S2 + 5 * MIN, M2, url="https://shop.example/new"),
        # p2 opted out on M1 (any mailing counts): this click is no response
        sent("b02", p(2), S2, M2, SPRING), click("b02k", p(2), S2 + 10 * MIN, M2, url="https://shop.example/new"),
        sent("b03", p(3), S2, M2, SPRING), sent("b13", p(13), S2, M2, SPRING),
        sent("b15", p(15), S2, M2, SPRING, "failed", 30006, carrierNetwork="CarrierZ"),
        sent("c01", p(1), S3, M3, SPRING), conversion("c01v", p(1), S3 + H, M3, "40"),
        sent("c13", p(13), S3, M3, SPRING), reply("c13r", p(13), S3 + 2 * H, M3, "Love it"),
        sent("c15", p(15), S3, M3, SPRING),
        sent("c16", p(16), S3, M3, SPRING, "undelivered", 30003, carrierNetwork="CarrierY"),
    ]


def notice() -> list[dict[str, Any]]:
    """MF: one message per phone p21..p28, GSM-7 and UCS-2, single- and multi-part, delivered or not."""

    def f(eid: str, n: int, body: str | None, parts: int | None, status: str = "delivered", code: int = 0,
          carrier: str | None = None) -> dict[str, Any]:
        return sent(eid, p(n), S, MF, AUTUMN, status, code, messageBody=body, messageParts=parts, carrierNetwork=carrier)

    return [
        f("f1", 21, GSM_SHORT, 1), f("f2", 22, GSM_LONG, 2), f("f3", 23, UCS2_LONG, 2),
        f("f4", 24, UCS2_LONG, 2, "failed", 30005, "CarrierX"), f("f5", 25, GSM_LONG, 2, "failed", 30005, "CarrierX"),
        f("f6", 26, GSM_SHORT, 1, "undelivered", 30003, "CarrierY"),
        f("f7", 27, None, None, "failed", 30006, "CarrierZ"),  # body and parts unknown: GSM-7, 1 part
        f("f8", 28, UCS2_SHORT, 1, "undelivered", 30003, "CarrierY"),
    ]


def ghost() -> list[dict[str, Any]]:
    return [click("g30k", p(30), S + H, MG, url="https://shop.example/old")]


# The wave: A = w1..w35, B = w36..w70 (w70 skipped for an earlier opt-out: never texted, still "texted" for
# lift, intention to treat), holdout = w71..w150. The lift response counts were chosen to reproduce Newcombe
# (1998), Table II example (a): 56/70 against 48/80.
A, B, HOLDOUT = range(1, 36), range(36, 71), range(71, 151)


def wave() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(1, 70):  # w70 is not sent; w69's message fails
        status, code = ("failed", 30005) if n == 69 else ("delivered", 0)
        out.append(sent(f"w{n}s", w(n), SW, MW, WAVE, status, code, messageBody="Hi, your offer: https://s.example/w1",
                        messageParts=1))
    out += [click(f"w{n}k", w(n), SW + 10 * MIN, MW, url="https://shop.example/offer") for n in range(1, 31)]
    out += [click(f"w{n}k", w(n), SW + 20 * MIN, MW, url="https://shop.example/offer") for n in range(36, 62)]
    out += [conversion(f"w{n}v", w(n), SW + H, MW, "20") for n in range(1, 9)]
    out += [conversion(f"w{n}v", w(n), SW + H, MW, "30") for n in range(36, 42)]
    out += [
        click("w31k", w(31), SW + 72 * H, MW, url="https://shop.example/offer"),  # window closed: a click only
        reply("w32r", w(32), SW + 5 * MIN, MW, "STOP"),
        click("w32k", w(32), SW + 6 * MIN, MW, url="https://shop.example/offer"),  # opted out: a click only
    ]
    # The holdout, never texted, converts (the web shop) or replies (an earlier thread) by other paths.
    out += [conversion(f"w{n}v", w(n), SW + 3 * H, MW, "15") for n in range(71, 79)]
    out += [reply(f"w{n}r", w(n), SW + 4 * H, MW, "info?") for n in range(79, 119)]
    out += [
        conversion("w119v", w(119), SW + 72 * H + MIN, MW, "15"),  # after the lift window
        conversion("w120v", w(120), SW - H, MW, "15"),  # before the wave's first message
    ]
    return out


def all_events() -> list[dict[str, Any]]:
    return blast1() + blasts2and3() + notice() + ghost() + wave()


# ---------------------------------------------------------------------------------------------------------------------
# Rows the wave DAG writes, and reading the figures
# ---------------------------------------------------------------------------------------------------------------------


def seed_wave_and_links(db: Conn) -> None:
    """The wave's mailing, run and assignments, and M1's short links (2 per phone), as the wave DAG writes them."""
    with db.transaction():
        db.execute("INSERT INTO mailings (mailing_name, campaign_code, source) VALUES (%s, %s, 'wave')", (MW, WAVE))
        db.execute(
            "INSERT INTO wave_runs (mailing_name, request_key, campaign_code, wave_name, source_mailing, segment, "
            "params, status, winner, sample_stats, audience_size, holdout_size, message_parts, credits) "
            "VALUES (%s, 'test|wave1', %s, 'Wave1', %s, 'non_responders', %s, 'completed', 'A', %s, 70, 80, 1, 69)",
            (MW, WAVE, M1, Jsonb({"variants": ["A", "B"]}), Jsonb({"p_value": 0.03, "winner_reason": "click rate"})))
        assignments = (
            [(w(n), "A", False, "sent") for n in A]
            + [(w(n), "B", False, "skipped_opted_out" if n == 70 else "sent") for n in B]
            + [(w(n), None, True, "holdout") for n in HOLDOUT]
        )
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO wave_recipients (mailing_name, phone_e164, source_mailing, segment, variant, holdout, "
                "idempotency_key, status) VALUES (%s, %s, %s, 'non_responders', %s, %s, %s, %s)",
                [(MW, phone, M1, variant, holdout, f"{MW}|{phone}", status)
                 for phone, variant, holdout, status in assignments])
            cur.executemany(
                "INSERT INTO short_links (token, mailing_name, phone_e164, link_index, target_url) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(tok(n, k), M1, p(n), k, (SALE, TERMS)[k]) for n in range(1, 15) for k in (0, 1)])


def refresh(db: Conn, mailings: Sequence[str] | None = None, **kw: Any) -> MetricsRefresh:
    db.commit()
    kw.setdefault("pricing", PRICING)
    return refresh_metrics(db, mailings, **kw)


def refresh_after_publish(db: Conn, load_id: str, touched: Iterable[str]) -> MetricsRefresh:
    """What ``sms_campaign_metrics`` does for a published window: its mailings, plus those whose responses
    an opt-out or opt-in in it can change."""
    mailings = set(touched) | set(affected_mailings(db, [load_id]))
    return refresh(db, sorted(mailings))


def load_and_publish(db: Conn, schema: str, root: Path, window: Window, events: list[dict[str, Any]]) -> str:
    r = land_and_import_result(db, schema, root, window, events)
    publish(db, r.load_id)
    return r.load_id


def rows(db: Conn, query: str, *params: Any) -> list[dict[str, Any]]:
    cur = db.execute(query, params)
    names = [d.name for d in cur.description or ()]
    out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return out


def one(db: Conn, query: str, *params: Any) -> dict[str, Any]:
    [row] = rows(db, query, *params)
    return row


def pick(row: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: row[k] for k in keys}


def figures(expected: dict[str, Any]) -> dict[str, Any]:
    """``expected`` with its float rates compared to 1e-6 relative, everything else exactly."""
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in expected.items()}


def snapshot(db: Conn) -> dict[str, list[str]]:
    """Every metric row (but its refresh time), sorted: equal snapshots mean no figure changed."""
    out: dict[str, list[str]] = {}
    for table in METRIC_TABLES:
        got = db.execute(sql.SQL("SELECT (to_jsonb(t) - 'refreshed_at')::text FROM {} t").format(
            sql.Identifier(table))).fetchall()
        out[table] = sorted(str(r[0]) for r in got)
    db.commit()
    return out


@pytest.fixture
def base(db: Conn, schema: str, tmp_path: Path) -> str:
    """The whole fixture in one published window, refreshed once (a full rebuild)."""
    seed_wave_and_links(db)
    load_id = load_and_publish(db, schema, tmp_path, W_ALL, all_events())
    refresh(db)
    return load_id


# ---------------------------------------------------------------------------------------------------------------------
# Expected figures, by hand
# ---------------------------------------------------------------------------------------------------------------------

M1_FIGURES: dict[str, Any] = {
    "campaign_code": SPRING, "source": "events", "first_sent_at": S, "last_sent_at": S + 30 * MIN,
    "sent": 15,  # p1..p14 one message each, p11 a second one
    "recipients": 14,  # p1..p14
    "delivered": 13, "failed": 1, "undelivered": 1,  # p10 failed, p11's first undelivered, the other 13 delivered
    "delivered_recipients": 13,  # all but p10 (p11's second message arrived)
    "parts": 15, "parts_gsm7": 15, "parts_ucs2": 0,  # 1 part each (said or not), "€" keeps GSM-7
    "credits": Decimal("7.5"), "credits_undelivered": Decimal("1.0"),  # 15 × 0.5; p10 + p11's first: 2 × 0.5
    "clicks": 13,  # p1 4, p2 1, p5 1, p7 1, p8 1, p9 1, p11 1, p12 2, p14 1
    "unique_clickers": 9,  # p1, p2, p5, p7, p8, p9, p11, p12, p14
    # p1, p3, p4, p5, p6, p7, p8, p11, p12, p14 (not p2: opted out; p9: at 72 h; p10: failed; p13: silent)
    "responders": 10,
    "replies": 2, "repliers": 1,  # p3's two; STOP / START replies are opt-outs / opt-ins
    "opt_outs": 2,  # p2, p12
    "conversions": 2, "converters": 2, "conversion_value": Decimal("35.50"),  # p4 25.00 + p6 10.50
    "response_window_hours": 72,
    "delivery_rate": 13 / 15, "click_rate": 9 / 13, "response_rate": 10 / 13, "reply_rate": 1 / 13,
    "unsubscribe_rate": 2 / 13, "conversion_rate": 2 / 13,
    "cost_per_response": Decimal("0.75"),  # 7.5 / 10
    "cost_per_conversion": Decimal("3.75"),  # 7.5 / 2
}

M1_PER_PHONE = {  # metric_recipients: (messages, clicks, replies, actions, conversions, opted_out, first response)
    p(1): (1, 4, 0, 0, 0, False, S + 10 * MIN),
    p(2): (1, 1, 0, 1, 0, True, None),  # the click and the tap came after STOP
    p(9): (1, 1, 0, 0, 0, False, None),  # the click at exactly 72 h
    p(10): (1, 0, 0, 0, 0, False, None),
    p(11): (2, 1, 0, 0, 0, False, S + 40 * MIN),
    p(12): (1, 2, 0, 0, 0, True, S + 3 * H),  # the click at 90 min was while opted out
}


SPRING_DAYS = [  # report_campaign_days: (day, sent, delivered, credits, clicks, responses, replies, opt-outs, conversions)
    # M1's messages; clicks p1 ×4, p2, p5, p11, p12 ×2, p14; first responses of p1, p3, p4, p5, p6, p11, p12, p14;
    # p3's replies; STOPs of p2, p12; conversions of p4, p6
    (date(2026, 11, 20), 15, 13, Decimal("7.5"), 10, 8, 2, 2, 2),
    # M2's messages; clicks of p7, p8 (M1) and p1, p2 (M2); first responses of p7, p8 (M1) and p1 (M2)
    (date(2026, 11, 21), 5, 4, Decimal("2.5"), 4, 3, 0, 0, 0),
    # M3's messages; p1's conversion, p13's reply: both first responses to M3
    (date(2026, 11, 22), 4, 3, Decimal("2.0"), 0, 2, 1, 0, 1),
    # p9's click at exactly 72 h: an event of the day, no response
    (date(2026, 11, 23), 0, 0, Decimal(0), 1, 0, 0, 0, 0),
]

M1_TIMING = [  # metric_response_timing of M1: (kind, bucket, label, responders)
    # first delivered message → first response: p3 2 min | p1 10, p11 10 (from its 2nd, delivered, message)
    # | p4 30, p14 50 | p5 100 | p6 300, p12 180 (exactly 3 h: the later bucket) | p7 1200 | p8 1800
    ("hour_of_day", 6, "06:00", 1),  # p7 (2026-11-21 06:01 UTC)
    ("hour_of_day", 10, "10:00", 5),  # p1 10:11, p3 10:03, p4 10:31, p11 10:41, p14 10:51
    ("hour_of_day", 11, "11:00", 1),  # p5 11:41
    ("hour_of_day", 13, "13:00", 1),  # p12 13:01
    ("hour_of_day", 15, "15:00", 1),  # p6 15:01
    ("hour_of_day", 16, "16:00", 1),  # p8 (2026-11-21 16:01 UTC)
    ("minutes_to_respond", 0, "0–5 min", 1),
    ("minutes_to_respond", 5, "5–15 min", 2),
    ("minutes_to_respond", 15, "15–60 min", 2),
    ("minutes_to_respond", 60, "1–3 h", 1),
    ("minutes_to_respond", 180, "3–12 h", 2),
    ("minutes_to_respond", 720, "12–24 h", 1),
    ("minutes_to_respond", 1440, "24 h and more", 1),
]


def campaign_days(db: Conn) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows(
        db, "SELECT day, sent, delivered, credits, clicks, responses, replies, opt_outs, conversions "
            "FROM report_campaign_days WHERE campaign_code = %s ORDER BY day", SPRING)]


def response_timing(db: Conn) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows(
        db, "SELECT kind, bucket, label, responders FROM metric_response_timing WHERE mailing_name = %s "
            "ORDER BY kind, bucket", M1)]


def test_mailing_figures_follow_the_glossary(db: Conn, base: str) -> None:
    got = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M1)
    assert pick(got, M1_FIGURES) == figures(M1_FIGURES)
    per_phone = {r["phone_e164"]: (r["messages"], r["clicks"], r["replies"], r["actions"], r["conversions"],
                                   r["opted_out"], r["first_response_at"])
                 for r in rows(db, "SELECT * FROM metric_recipients WHERE mailing_name = %s", M1)}
    assert len(per_phone) == 14
    assert {k: per_phone[k] for k in M1_PER_PHONE} == M1_PER_PHONE


def test_a_stop_reply_is_an_opt_out_and_a_click_after_it_is_a_click_not_a_response(db: Conn, base: str) -> None:
    # p2 replied STOP to M1 at S + 5 min: that stops it responding to M1 and to M2 a day later (any mailing).
    m2 = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M2)
    assert pick(m2, ("clicks", "unique_clickers", "responders", "opt_outs")) == {
        "clicks": 2, "unique_clickers": 2,  # p1 and p2 clicked M2's link
        "responders": 1,  # only p1: p2 was opted out
        "opt_outs": 0}
    p2 = rows(db, "SELECT mailing_name, clicks, replies, opted_out, first_response_at FROM metric_recipients "
                  "WHERE phone_e164 = %s ORDER BY mailing_name", p(2))
    assert [tuple(r.values()) for r in p2] == [(M1, 1, 0, True, None), (M2, 1, 0, False, None)]
    inbox = one(db, "SELECT reply_text, classification, is_latest FROM metric_inbox WHERE phone_e164 = %s", p(2))
    assert inbox == {"reply_text": "STOP", "classification": "opt_out", "is_latest": True}
    # No response means no timing either: p2 is in no bucket (the 10 M1 responders are).
    assert one(db, "SELECT sum(responders) AS n FROM metric_response_timing "
                   "WHERE mailing_name = %s AND kind = 'minutes_to_respond'", M1) == {"n": 10}


def test_links_are_reported_per_link_index_and_target_url(db: Conn, base: str) -> None:
    links = rows(db, "SELECT link_index, target_url, clicks, unique_clickers, median_minutes_to_click, click_rate "
                     "FROM report_links WHERE mailing_name = %s ORDER BY link_index NULLS LAST", M1)
    assert [tuple(r.values()) for r in links] == [
        # link 0: p1 ×3, p2, p7, p8, p9, p11, p12 ×2 = 10 clicks by 7 phones; minutes from the phone's first
        # message (S, also p11's undelivered one) to its first click: 8, 10, 40, 90, 1200, 1800, 4320 → 90
        (0, SALE, 10, 7, 90.0, pytest.approx(7 / 13)),
        # link 1: p1 after 20 min, p5 after 100 min: median of two → 60
        (1, TERMS, 2, 2, 60.0, pytest.approx(2 / 13)),
        # p14's token is not in short_links: reported under the click's URL, no link index
        (None, SALE + "?utm=sms", 1, 1, 50.0, pytest.approx(1 / 13)),
    ]


def test_encoding_parts_credits_and_failures(db: Conn, base: str) -> None:
    mf = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", MF)
    expected = {
        "sent": 8, "recipients": 8, "delivered": 3, "failed": 3, "undelivered": 2,  # f1-f3 / f4, f5, f7 / f6, f8
        # parts 1 + 2 + 2 + 2 + 2 + 1 + 1 (unknown) + 1 = 12; GSM-7: f1 1, f2 2, f5 2, f6 1, f7 1 = 7;
        # UCS-2 (emoji, "ç"): f3 2, f4 2, f8 1 = 5
        "parts": 12, "parts_gsm7": 7, "parts_ucs2": 5,
        # credits: GSM-7 parts × 0.5 + UCS-2 parts × 1.5 = 3.5 + 7.5 = 11.0; not delivered (f4-f8):
        # f4 2 × 1.5 + f5 2 × 0.5 + f6 0.5 + f7 0.5 + f8 1.5 = 6.5
        "credits": Decimal("11.0"), "credits_undelivered": Decimal("6.5"),
        "delivery_rate": 3 / 8,
    }
    assert pick(mf, expected) == figures(expected)
    failures = rows(db, "SELECT mailing_name, delivery_status, status_code, carrier, messages, credits "
                        "FROM metric_failures ORDER BY mailing_name, delivery_status, status_code")
    assert [tuple(r.values()) for r in failures if r["mailing_name"] in (MF, M1)] == [
        (MF, "failed", 30005, "CarrierX", 2, Decimal("4.0")),  # f4 3.0 (UCS-2) + f5 1.0 (GSM-7)
        (MF, "failed", 30006, "CarrierZ", 1, Decimal("0.5")),  # f7
        (MF, "undelivered", 30003, "CarrierY", 2, Decimal("2.0")),  # f6 0.5 + f8 1.5
        (M1, "failed", 30005, "CarrierX", 1, Decimal("0.5")),  # p10
        (M1, "undelivered", 30003, "CarrierY", 1, Decimal("0.5")),  # p11's first message
    ]


def test_default_pricing_is_one_credit_per_part(db: Conn, base: str) -> None:
    refresh(db, [MF], pricing=Pricing())
    mf = one(db, "SELECT credits, credits_undelivered FROM metric_mailings WHERE mailing_name = %s", MF)
    assert mf == {"credits": Decimal(12), "credits_undelivered": Decimal(7)}  # parts 12; not delivered f4-f8: 2+2+1+1+1


def test_campaign_of_three_blasts_counts_a_phone_once(db: Conn, base: str) -> None:
    m2 = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M2)
    m3 = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M3)
    assert pick(m2, ("sent", "recipients", "delivered", "failed", "delivered_recipients", "credits",
                     "credits_undelivered")) == {
        "sent": 5, "recipients": 5, "delivered": 4, "failed": 1, "delivered_recipients": 4,  # p15 failed
        "credits": Decimal("2.5"), "credits_undelivered": Decimal("0.5")}  # bodies unknown: GSM-7, 5 × 0.5
    assert pick(m3, ("sent", "delivered_recipients", "undelivered", "responders", "repliers", "converters",
                     "conversion_value")) == {
        "sent": 4, "delivered_recipients": 3, "undelivered": 1,  # p16 undelivered
        "responders": 2, "repliers": 1, "converters": 1, "conversion_value": Decimal(40)}  # p1 converted, p13 replied

    got = one(db, "SELECT * FROM report_campaigns WHERE campaign_code = %s", SPRING)
    expected = {
        "mailings": 3, "first_sent_at": S, "last_sent_at": S3,
        "sent": 24, "delivered": 20, "failed": 2, "undelivered": 2, "parts": 24,  # 15 + 5 + 4 messages
        "credits": Decimal("12.0"), "credits_undelivered": Decimal("2.0"),  # 7.5 + 2.5 + 2.0; 1.0 + 0.5 + 0.5
        "clicks": 15, "replies": 3, "conversions": 3, "conversion_value": Decimal("75.50"),  # sums over blasts
        # distinct phones: p1 (in all three blasts) and p13 (all three) count once
        "recipients": 16,  # p1..p14, p15 (M2, M3), p16 (M3)
        "delivered_recipients": 14,  # M1's 13 + p15 (delivered by M3); not p10, p16
        "unique_clickers": 9,  # M1's 9; M2's clickers p1, p2 are among them
        "responders": 11,  # M1's 10 + p13 (M3); p1 responded to all three: once
        "repliers": 2, "opt_outs": 2, "converters": 3,  # p3, p13; p2, p12; p4, p6, p1
        "delivery_rate": 20 / 24, "click_rate": 9 / 14, "response_rate": 11 / 14, "reply_rate": 2 / 14,
        "unsubscribe_rate": 2 / 14, "conversion_rate": 3 / 14,
        "cost_per_response": 12 / 11, "cost_per_conversion": 12 / 3,
    }
    got["cost_per_response"], got["cost_per_conversion"] = float(got["cost_per_response"]), float(
        got["cost_per_conversion"])
    assert pick(got, expected) == figures(expected)

    assert campaign_days(db) == SPRING_DAYS


def test_tracked_actions(db: Conn, base: str) -> None:
    got = rows(db, "SELECT action_name, taps, unique_responders, share_of_responders FROM report_actions "
                   "WHERE mailing_name = %s ORDER BY action_name", M1)
    assert [tuple(r.values()) for r in got] == [
        ("BUY", 3, 1, pytest.approx(1 / 10)),  # p4 ×2 and p2 (after STOP: a tap, not a response); of 10 responders
        ("INFO", 2, 2, pytest.approx(2 / 10)),  # p4, p5
    ]


def test_inbox_keeps_every_reply_and_marks_the_latest_per_phone(db: Conn, base: str) -> None:
    got = rows(db, "SELECT phone_e164, replied_at, reply_text, keyword, classification, minutes_since_send, "
                   "is_latest FROM metric_inbox WHERE mailing_name = %s ORDER BY phone_e164, replied_at", M1)
    assert [tuple(r.values()) for r in got] == [
        (p(2), S + 5 * MIN, "STOP", None, "opt_out", 5.0, True),
        (p(3), S + 2 * MIN, "What time do you open?", None, "free_text", 2.0, False),
        (p(3), S + 3 * H, "Thanks!", None, "free_text", 180.0, True),
        (p(12), S + H, "Stop please", "STOP", "opt_out", 60.0, False),
        (p(12), S + 2 * H, "START", None, "opt_in", 120.0, True),
    ]


def test_response_timing_buckets_and_hour_of_day(db: Conn, base: str) -> None:
    assert response_timing(db) == M1_TIMING


def test_days_and_hours_are_utc_whatever_the_session_time_zone(db: Conn, base: str) -> None:
    db.execute("SET TIME ZONE 'Pacific/Auckland'")  # UTC+13 in November: every day and hour would shift
    refresh(db)
    assert campaign_days(db) == SPRING_DAYS
    assert response_timing(db) == M1_TIMING


def test_rates_are_null_when_their_denominator_is_zero(db: Conn, base: str) -> None:
    rate_names = ("delivery_rate", "click_rate", "response_rate", "reply_rate", "unsubscribe_rate", "conversion_rate",
                  "cost_per_response", "cost_per_conversion")
    # MG: a click on an old link by a phone MG never texted (no message of it is published): not a figure
    # of MG, which has no recipient and so no row at all.
    assert rows(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", MG) == []
    # Nothing sent, nobody delivered, nobody responded: every rate and cost is empty, none is 0.
    nothing = one(db, "SELECT * FROM metric_rates(0, 0, 0, 0, 0, 0, 0, 0, 0)")
    assert pick(nothing, rate_names) == dict.fromkeys(rate_names)
    # MF: 3 delivered recipients and no response: rates are 0, the costs per response / conversion are empty
    mf = one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", MF)
    assert pick(mf, rate_names) == {
        "delivery_rate": pytest.approx(3 / 8), "click_rate": 0.0, "response_rate": 0.0, "reply_rate": 0.0,
        "unsubscribe_rate": 0.0, "conversion_rate": 0.0, "cost_per_response": None, "cost_per_conversion": None}


def test_response_window_is_a_parameter(db: Conn, base: str) -> None:
    refresh(db, [M1], response_window=H)
    got = one(db, "SELECT responders, response_window_hours FROM metric_mailings WHERE mailing_name = %s", M1)
    # first responses under 60 min after delivery: p1 10, p3 2, p4 30, p11 10, p14 50 (p5's is at 100 min)
    assert got == {"responders": 5, "response_window_hours": 1}


# ---------------------------------------------------------------------------------------------------------------------
# A wave: variants, the holdout and lift
# ---------------------------------------------------------------------------------------------------------------------


def test_wave_variants_and_lift_over_the_holdout(db: Conn, base: str) -> None:
    got = rows(db, "SELECT variant_group, is_holdout, assigned, sent, delivered, clicks, unique_clickers, responders, "
                   "lift_responders, lift_converters, converters, conversion_value FROM metric_variants "
                   "WHERE mailing_name = %s ORDER BY variant_group", MW)
    assert [tuple(r.values()) for r in got] == [
        # A: 35 messages, all delivered; clicks w1..w30 + w31 (at 72 h) + w32 (after STOP) = 32, of which only
        # w1..w30 are responses; w1..w8 converted (20 each)
        ("A", False, 35, 35, 35, 32, 32, 30, 30, 8, 8, Decimal(160)),
        # B: w36..w70 assigned, w70 never texted (34 messages), w69's failed (33 delivered); w36..w61 clicked;
        # w36..w41 converted (30 each)
        ("B", False, 35, 34, 33, 26, 26, 26, 26, 6, 6, Decimal(180)),
        # holdout: never texted, so no response by M's rule; by the lift clock (the wave's first message + 72 h):
        # w71..w78 converted, w79..w118 replied = 48; w119 (after) and w120 (before) converted outside it
        ("holdout", True, 80, 0, 0, 0, 0, 0, 48, 8, 10, Decimal(150)),
    ]
    lift = {r["outcome"]: r for r in rows(db, "SELECT * FROM metric_lift WHERE mailing_name = %s", MW)}
    # Responses: 56/70 (A 30 + B 26, w70 counted: intention to treat) against 48/80. Newcombe (1998), Table II,
    # example (a), method 10: difference 0.2000, 95 % CI 0.0524 to 0.3339.
    assert pick(lift["response"], ("texted", "texted_hits", "holdout", "holdout_hits", "texted_rate",
                                   "holdout_rate", "significant")) == {
        "texted": 70, "texted_hits": 56, "holdout": 80, "holdout_hits": 48, "texted_rate": 0.8, "holdout_rate": 0.6,
        "significant": True}
    r = lift["response"]
    assert (round(r["lift"], 4), round(r["ci_low"], 4), round(r["ci_high"], 4)) == (0.2, 0.0524, 0.3339)
    # Conversions: 14/70 (w1..w8, w36..w41) against 8/80 (w71..w78): difference 0.1. Wilson 95 % intervals
    # (z = 1.96): 14/70 → 0.1230 to 0.3082, 8/80 → 0.0515 to 0.1851; Newcombe's hybrid score interval:
    # 0.1 − √((0.2 − 0.1230)² + (0.1851 − 0.1)²) = −0.0147 and 0.1 + √((0.3082 − 0.2)² + (0.1 − 0.0515)²) = 0.2185:
    # it contains 0, so not significant.
    c = lift["conversion"]
    assert (c["texted"], c["texted_hits"], c["holdout"], c["holdout_hits"]) == (70, 14, 80, 8)
    assert (round(c["lift"], 4), round(c["ci_low"], 4), round(c["ci_high"], 4), c["significant"]) == (
        0.1, -0.0147, 0.2185, False)


def test_a_mailing_without_holdout_has_no_lift(db: Conn, base: str) -> None:
    assert rows(db, "SELECT mailing_name FROM metric_lift WHERE mailing_name <> %s", MW) == []
    assert rows(db, "SELECT DISTINCT mailing_name FROM metric_variants") == [{"mailing_name": MW}]


# ---------------------------------------------------------------------------------------------------------------------
# Refreshing: idempotent, incremental = full rebuild, only published windows, reloads, lost rows
# ---------------------------------------------------------------------------------------------------------------------


def test_refreshing_twice_changes_nothing(db: Conn, base: str) -> None:
    before = snapshot(db)
    assert before["metric_mailings"] and before["metric_lift"]
    result = refresh(db)
    assert result.mailings == tuple(sorted((M1, M2, M3, MF, MG, MW)))
    assert result.campaigns == tuple(sorted((SPRING, AUTUMN, WAVE)))
    assert snapshot(db) == before
    refresh(db, [M1, MW])
    assert snapshot(db) == before


def test_a_caller_may_refresh_twice_in_its_own_transaction(db: Conn, base: str) -> None:
    before = snapshot(db)
    db.execute("SELECT 1")  # the caller's transaction is open: each refresh runs in a savepoint of it
    refresh_metrics(db, [M1], pricing=PRICING)
    refresh_metrics(db, [M1, M2], pricing=PRICING)
    db.commit()
    assert snapshot(db) == before


def _event_time(envelope: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(envelope["events"][0]["timestamp"])


def test_incremental_refreshes_equal_a_full_rebuild(db: Conn, schema: str, tmp_path: Path) -> None:
    seed_wave_and_links(db)
    days = [Window(T0, T0 + 24 * H), Window(T0 + 24 * H, T0 + 48 * H), Window(T0 + 48 * H, T0 + 96 * H)]
    events = all_events()
    for window in days:  # each event in the window of its day, published and refreshed as the DAGs do
        part = [e for e in events if window.start <= _event_time(e) < window.end]
        r = land_and_import_result(db, schema, tmp_path, window, part)
        publish(db, r.load_id)
        refresh_after_publish(db, r.load_id, r.mailings)
    assert pick(one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M1), M1_FIGURES) == figures(M1_FIGURES)

    # A late platform opt-out of p13 on M2, timestamped 2026-11-22 11:01, an hour before p13 replied to M3: the
    # window carries only M2, yet M3's figures change (p13's reply is no response any more).
    r = land_and_import_result(db, schema, tmp_path, W_LATE, [
        interaction_envelope("late13", p(13), S3 + H, "opt_out", M2, keyword="STOP")])
    publish(db, r.load_id)
    assert r.mailings == [M2]
    refresh_after_publish(db, r.load_id, r.mailings)
    m3 = one(db, "SELECT responders, replies, repliers FROM metric_mailings WHERE mailing_name = %s", M3)
    assert m3 == {"responders": 1, "replies": 1, "repliers": 1}  # p1 only; p13's reply is still a reply
    spring = one(db, "SELECT responders, opt_outs FROM metric_campaigns WHERE campaign_code = %s", SPRING)
    assert spring == {"responders": 10, "opt_outs": 3}  # p13 responded to nothing else; opted out: p2, p12, p13

    incremental = snapshot(db)
    refresh(db)
    assert snapshot(db) == incremental


def test_an_unpublished_window_counts_only_once_published(db: Conn, schema: str, tmp_path: Path) -> None:
    seed_wave_and_links(db)
    r = land_and_import_result(db, schema, tmp_path, W_ALL, all_events())
    refresh(db)
    refresh(db, [M1, MW])
    assert rows(db, "SELECT * FROM metric_mailings") == [] and rows(db, "SELECT * FROM metric_recipients") == []
    # A wave's assignment is known before any of its messages is published, but it has no figures yet (a full
    # rebuild, which only visits mailings with published rows, says the same).
    assert rows(db, "SELECT * FROM metric_variants") == [] and rows(db, "SELECT * FROM metric_lift") == []

    publish(db, r.load_id)
    refresh(db, [M1, MW])
    assert pick(one(db, "SELECT * FROM report_mailings WHERE mailing_name = %s", M1), M1_FIGURES) == figures(M1_FIGURES)
    assert one(db, "SELECT sent FROM metric_variants WHERE mailing_name = %s AND variant_group = 'B'", MW) == {
        "sent": 34}

    # A late click of p13 (an hour after delivery) in a later window counts only once that window is published.
    late = land_and_import_result(db, schema, tmp_path, W_LATE, [click("a13k", p(13), S + H, M1, tok(13, 0))])
    before = snapshot(db)
    for status in ("imported", "validated", "failed_validation", "failed_reconciliation"):
        db.execute("UPDATE load_log SET status = %s WHERE load_id = %s", (status, late.load_id))
        refresh(db, [M1])
        assert snapshot(db) == before, status
    publish(db, late.load_id)
    refresh(db, [M1])
    m1 = one(db, "SELECT clicks, unique_clickers, responders FROM metric_mailings WHERE mailing_name = %s", M1)
    assert m1 == {"clicks": 14, "unique_clickers": 10, "responders": 11}  # 13 + 1, 9 + p13, 10 + p13
    link0 = one(db, "SELECT clicks, unique_clickers FROM metric_links WHERE mailing_name = %s AND link_index = 0", M1)
    assert link0 == {"clicks": 11, "unique_clickers": 8}
    assert one(db, "SELECT responders FROM metric_response_timing WHERE mailing_name = %s "
                   "AND kind = 'minutes_to_respond' AND bucket = 60", M1) == {"responders": 2}  # p5 and now p13


def test_reloading_a_window_changes_no_figure(db: Conn, schema: str, base: str, tmp_path: Path) -> None:
    before = snapshot(db)
    land(tmp_path, W_ALL, all_events())  # downloaded again: a new landing version with the same events
    r = import_landed(db, schema, tmp_path, W_ALL)
    publish(db, r.load_id)
    refresh_after_publish(db, r.load_id, r.mailings)
    assert snapshot(db) == before
    refresh(db)
    assert snapshot(db) == before


def test_a_mailing_that_loses_all_its_rows_has_its_figures_cleared(db: Conn, schema: str, tmp_path: Path) -> None:
    seed_wave_and_links(db)
    load_and_publish(db, schema, tmp_path, W_ALL, blast1() + wave())
    notice_id = load_and_publish(db, schema, tmp_path, W_LATE, notice())  # MF arrives late, in its own window
    refresh(db)
    others = {t: [row for row in rows_ if MF not in row and AUTUMN not in row] for t, rows_ in snapshot(db).items()}
    assert one(db, "SELECT sent FROM metric_mailings WHERE mailing_name = %s", MF) == {"sent": 8}
    assert one(db, "SELECT mailings FROM metric_campaigns WHERE campaign_code = %s", AUTUMN) == {"mailings": 1}

    def mf_rows() -> int:
        return sum(len(rows(db, f"SELECT 1 FROM {t} WHERE mailing_name = %s", MF))
                   for t in METRIC_TABLES if t != "metric_campaigns")

    assert mf_rows() == 8 + 1 + 1 + 3  # recipients, the mailing, its day, 3 failure rows
    # The window is downloaded again and is empty now (the platform withdrew the notice): refresh the mailing.
    assert load_and_publish(db, schema, tmp_path, W_LATE, []) == notice_id
    result = refresh(db, [MF])
    assert result.campaigns == (AUTUMN,)
    assert mf_rows() == 0
    assert rows(db, "SELECT * FROM metric_campaigns WHERE campaign_code = %s", AUTUMN) == []
    assert snapshot(db) == others

    # A full rebuild clears them too (it also revisits mailings that only have metric rows left).
    load_and_publish(db, schema, tmp_path, W_LATE, notice())
    refresh(db, [MF])
    assert mf_rows() == 13
    load_and_publish(db, schema, tmp_path, W_LATE, [])
    refresh(db)
    assert mf_rows() == 0 and snapshot(db) == others


def test_publishing_an_emptied_window_names_the_mailings_its_reload_removed(
    db: Conn, schema: str, tmp_path: Path
) -> None:
    from sms_response.publish import publish_window

    notice_id = load_and_publish(db, schema, tmp_path, W_LATE, notice())
    refresh(db)
    assert one(db, "SELECT sent FROM metric_mailings WHERE mailing_name = %s", MF) == {"sent": 8}
    # Reloaded empty and validated: the publish event still names MF, so the metrics DAG refreshes it.
    assert land_and_import_result(db, schema, tmp_path, W_LATE, []).load_id == notice_id
    db.execute("UPDATE load_log SET status = 'validated' WHERE load_id = %s", (notice_id,))
    db.commit()
    extra = publish_window(db, notice_id)
    assert extra["mailings"] == [MF]
    refresh(db, extra["mailings"])
    assert rows(db, "SELECT * FROM metric_mailings WHERE mailing_name = %s", MF) == []
    # Published again with nothing new: the next reload starts from an empty list.
    land_and_import_result(db, schema, tmp_path, W_LATE, [])
    assert one(db, "SELECT mailings FROM load_log WHERE load_id = %s", notice_id) == {"mailings": []}
