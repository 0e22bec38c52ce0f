"""What each page shows: figures read through the metrics layer (``sms_response.metrics.read``) and the
pipeline's bookkeeping (``sms_response.health``), and the charts drawn from them.

Every function takes a connection and the names in the URL and returns the template's context; none
computes a figure the metrics layer defines (rates, responders, lift come from the metric tables as
they are). Charts group or order those figures, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pandas as pd
import psycopg

from sms_response import health
from sms_response.metrics import read
from sms_rt_airflow.dashboard import charts
from sms_rt_airflow.dashboard.formatting import day, first, is_missing, number, rate, records

Conn = psycopg.Connection[Any]
INBOX_ROWS = 500
HEALTH_WINDOWS = 200
CHART_WINDOWS = 48
CHART_BARS = 15  # a bar chart shows the largest; the table below it has every row
MAILING_TABS = (("overview", "Overview"), ("links", "Links"), ("actions", "Tracked actions"),
                ("failures", "Delivery failures"), ("inbox", "Inbox"))


@dataclass(frozen=True)
class Links:
    """Paths of the dashboard's pages under the prefix it is mounted at (``base``, e.g. ``/sms-rt``)."""

    base: str

    def _path(self, *parts: str) -> str:
        return "/".join([self.base, *(quote(p, safe="") for p in parts)])

    def home(self) -> str:
        return self.base + "/"

    def campaign(self, code: str) -> str:
        return self._path("campaigns", code)

    def mailing(self, name: str, tab: str = "overview") -> str:
        return self._path("mailings", name) if tab == "overview" else self._path("mailings", name, tab)

    def wave(self, name: str) -> str:
        return self._path("waves", name)

    def health(self) -> str:
        return self._path("health")

    def validation(self, validation_id: int) -> str:
        return self._path("health", "validations", str(validation_id))

    def static(self, name: str) -> str:
        return self._path("static", name)


def funnel_of(total: dict[str, Any], label: str) -> Any:
    return charts.funnel([
        ("Sent to", total.get("recipients")), ("Delivered", total.get("delivered_recipients")),
        ("Clicked", total.get("unique_clickers")), ("Responded", total.get("responders")),
        ("Converted", total.get("converters")),
    ], label=label)


def _series(rows: Sequence[dict[str, Any]], field: str) -> list[Any]:
    return [r.get(field) for r in rows]


def campaigns_page(conn: Conn) -> dict[str, Any]:
    rows = records(read.campaigns(conn))
    days = records(read.campaigns_days(conn))
    trends = {}
    for row in rows:
        code = row["campaign_code"]
        mine = calendar([d for d in days if d["campaign_code"] == code], ("responses",))
        trends[code] = charts.sparkline([d["responses"] for d in mine], label=f"Responses per day, {code}")
    return {"title": "SMS campaigns", "campaigns": rows, "trends": trends}


def calendar(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """``rows`` (one per day with activity) on every day from the first to the last: a day without a row
    had none of it, so time reads true on the x axis."""
    by_day = {r["day"]: r for r in rows}
    if not by_day:
        return []
    out, current, last = [], min(by_day), max(by_day)
    while current <= last:
        out.append(by_day.get(current) or {"day": current, **dict.fromkeys(fields, 0)})
        current += timedelta(days=1)
    return out


def campaign_page(conn: Conn, code: str) -> dict[str, Any]:
    data = read.campaign(conn, code)
    total = first(data["campaign"])
    days = calendar(records(data["days"]), ("sent", "responses", "opt_outs"))
    labels = [day(d["day"]) for d in days]
    return {
        "title": f"Campaign {code}", "code": code, "total": total, "mailings": records(data["mailings"]),
        "funnel": funnel_of(total, f"Funnel of campaign {code}"),
        "over_time": charts.lines(labels, [("Responses", _series(days, "responses")),
                                           ("Opt-outs", _series(days, "opt_outs"))],
                                  label=f"Responses and opt-outs per day, campaign {code}"),
        "sent_per_day": charts.columns([(lb, d.get("sent")) for lb, d in zip(labels, days, strict=True)],
                                       label=f"Messages sent per day, campaign {code}"),
    }


def _mailing_context(conn: Conn, name: str, tab: str) -> dict[str, Any]:
    mailing = first(read.mailing(conn, name))
    tabs = list(MAILING_TABS)
    if mailing.get("source") == "wave":
        tabs.append(("wave", "A/B and lift"))
    return {"title": name, "name": name, "mailing": mailing, "tab": tab, "tabs": tabs}


def mailing_page(conn: Conn, name: str) -> dict[str, Any]:
    ctx = _mailing_context(conn, name, "overview")
    timing = read.timing(conn, name)

    def timing_items(kind: str) -> list[tuple[str, Any]]:
        part = timing[timing["kind"] == kind] if not timing.empty else timing
        return [] if part.empty else list(zip(part["label"].astype(str), part["responders"], strict=True))

    return {
        **ctx,
        "funnel": funnel_of(ctx["mailing"], f"Funnel of {name}"),
        "to_respond": charts.columns(timing_items("minutes_to_respond"),
                                     label=f"Responders by time to first response, {name}"),
        "hour_of_day": charts.columns(timing_items("hour_of_day"),
                                      label=f"Responders by hour of first response (UTC), {name}",
                                      color=charts.PALETTE[2]),
    }


def _link_label(row: dict[str, Any]) -> str:
    index = number(row.get("link_index"))
    prefix = "?" if index is None else f"#{int(index)}"
    return f"{prefix} {row.get('target_url') or ''}"


def links_page(conn: Conn, name: str) -> dict[str, Any]:
    rows = records(read.links(conn, name))
    top = sorted(rows, key=lambda r: -(r.get("clicks") or 0))[:CHART_BARS]
    return {
        **_mailing_context(conn, name, "links"), "link_rows": rows, "charted": len(top),
        "chart": charts.hbars([(_link_label(r), r.get("clicks")) for r in top], label=f"Clicks per link, {name}"),
        "rate_chart": charts.hbars([(_link_label(r), r.get("click_rate")) for r in top], fmt=rate,
                                   color=charts.PALETTE[2], label=f"Click rate per link, {name}"),
    }


def actions_page(conn: Conn, name: str) -> dict[str, Any]:
    rows = records(read.actions(conn, name))
    return {
        **_mailing_context(conn, name, "actions"), "actions": rows,
        "chart": charts.hbars([(str(r["action_name"]), r.get("taps")) for r in rows[:CHART_BARS]],
                              label=f"Taps per tracked action, {name}"),
    }


def _grouped(df: pd.DataFrame, by: str, missing: str) -> list[tuple[str, Any]]:
    if df.empty:
        return []
    keys = df[by].map(lambda v: missing if is_missing(v) else str(int(v)) if isinstance(v, float) else str(v))
    sums = df.groupby(keys, sort=False)["messages"].sum().sort_values(ascending=False)
    return [(str(k), int(v)) for k, v in sums.head(CHART_BARS).items()]


def failures_page(conn: Conn, name: str) -> dict[str, Any]:
    df = read.failures(conn, name)
    return {
        **_mailing_context(conn, name, "failures"), "failures": records(df),
        "by_code": charts.hbars(_grouped(df, "status_code", "no code"), color=charts.PALETTE[3],
                                label=f"Messages not delivered by status code, {name}"),
        "by_carrier": charts.hbars(_grouped(df, "carrier", "unknown carrier"), color=charts.PALETTE[1],
                                   label=f"Messages not delivered by carrier, {name}"),
    }


# The blast's reports that take nothing but its name, by the tab (and template) that shows them.
MAILING_REPORTS: dict[str, Callable[[Conn, str], dict[str, Any]]] = {
    "links": links_page, "actions": actions_page, "failures": failures_page,
}


def inbox_page(conn: Conn, name: str, latest_only: bool) -> dict[str, Any]:
    df = read.inbox(conn, name, latest_only=latest_only)  # phones masked (the default)
    return {
        **_mailing_context(conn, name, "inbox"), "replies": records(df.head(INBOX_ROWS)), "total": len(df),
        "shown": min(len(df), INBOX_ROWS), "latest_only": latest_only,
    }


def wave_page(conn: Conn, name: str) -> dict[str, Any]:
    ctx = _mailing_context(conn, name, "wave")
    data = read.variants(conn, name)
    variants, lift = records(data["variants"]), records(data["lift"])
    return {
        **ctx, "title": f"Wave {name}", "variants": variants, "lift": lift, "gate": first(data["sample_gate"]),
        "lift_chart": charts.intervals(
            [(f"{r['outcome']} rate", r.get("lift"), r.get("ci_low"), r.get("ci_high")) for r in lift],
            label=f"Lift over the holdout with its 95 % interval, {name}"),
        "click_chart": charts.hbars([(str(v["variant_group"]), v.get("click_rate")) for v in variants
                                     if not v.get("is_holdout")], fmt=rate,
                                    label=f"Click rate per variant, {name}"),
        "responders_chart": charts.hbars([(str(v["variant_group"]), v.get("lift_responders")) for v in variants],
                                         color=charts.PALETTE[2],
                                         label=f"Responders within the wave's window per group, {name}"),
    }


def health_page(conn: Conn) -> dict[str, Any]:
    windows = health.windows(conn, limit=HEALTH_WINDOWS)
    sizes = health.segment_sizes(conn)
    recent = list(reversed(windows[:CHART_WINDOWS]))
    return {
        "title": "Pipeline health", "windows": windows, "segments": sizes,
        "all_reconcile": all(w.recon.reconciles for w in windows),
        "imported_chart": charts.columns([(f"{w.window_start:%d %H:%M}", w.recon.imported) for w in recent],
                                         label="Events imported per window (latest windows)"),
        "segments_chart": charts.hbars(
            [(s.mailing_name, s.responders) for s in sorted(sizes, key=lambda s: -s.responders)[:CHART_BARS]],
            color=charts.PALETTE[2], label="Responders per mailing (current segment run)"),
    }


def validation_page(conn: Conn, validation_id: int) -> dict[str, Any]:
    run = health.validation(conn, validation_id)
    return {"title": f"Validation {validation_id} of window {run.load_id}", "run": run}
