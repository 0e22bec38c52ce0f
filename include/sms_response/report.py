"""Counts, reconciliation and table fingerprints: what the demo prints and the tests compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

Conn = psycopg.Connection[TupleRow]

DATA_TABLES = ("sms_sent", "sms_interactions", "sms_consent", "event_rejects", "event_index", "mailings",
               "event_conflicts")
# History tables (validation_runs, segment_runs) gain a row per run by design; what readers see of
# the segments is the views' content, compared without the run id.
VIEWS = ("responders", "non_responders")
# load_log columns that describe the data, not the attempt (run id, timings and attempt counts vary).
LOAD_LOG_STABLE = (
    "load_id", "window_start", "window_end", "filters", "status", "downloaded", "imported", "imported_sent",
    "imported_interactions", "duplicates", "duplicates_in_window", "rejected", "late", "manifest_sha256",
    "skipped", "skipped_by_channel", "conflicts",
)
# The campaign metric tables (sms_response.metrics): their own fingerprint, compared across refreshes.
METRIC_TABLES = (
    "metric_recipients", "metric_mailings", "metric_mailing_days", "metric_failures", "metric_links",
    "metric_actions", "metric_inbox", "metric_response_timing", "metric_variants", "metric_lift", "metric_campaigns",
)
_VOLATILE = {
    "mailings": ("created_at",), "responders": ("segment_run_id",), "non_responders": ("segment_run_id",),
    "event_conflicts": ("detected_at",),
    "metric_mailings": ("refreshed_at",), "metric_campaigns": ("refreshed_at",),
}


@dataclass(frozen=True)
class WindowReconciliation:
    load_id: str
    status: str
    downloaded: int
    imported: int
    duplicates: int
    rejected: int
    late: int
    skipped: int = 0
    conflicts: int = 0

    @property
    def reconciles(self) -> bool:
        return self.downloaded == self.imported + self.duplicates + self.rejected + self.skipped


def table_counts(conn: Conn) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in (*DATA_TABLES, "load_log"):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
        out[t] = int(row[0]) if row else 0
    return out


def reconciliation(conn: Conn) -> list[WindowReconciliation]:
    rows = conn.execute(
        "SELECT load_id, status, downloaded, imported, duplicates, rejected, late, skipped, conflicts "
        "FROM load_log ORDER BY load_id"
    ).fetchall()
    return [WindowReconciliation(str(r[0]), str(r[1]), *(int(x or 0) for x in r[2:])) for r in rows]


def _columns(conn: Conn, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in _VOLATILE.get(table, ())]


def _digest(conn: Conn, table: str) -> tuple[int, str]:
    """Row count and an md5 of a table's content, row order independent, volatile columns left out."""
    q = sql.SQL(
        "SELECT count(*), coalesce(md5(string_agg(r, '|' ORDER BY r)), '') "
        "FROM (SELECT ROW({})::text AS r FROM {}) x"
    ).format(sql.SQL(", ").join(map(sql.Identifier, _columns(conn, table))), sql.Identifier(table))
    row = conn.execute(q).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def metrics_fingerprint(conn: Conn) -> dict[str, tuple[int, str]]:
    """Digests of the campaign metric tables (refreshing twice, or rebuilding, must not change them)."""
    return {t: _digest(conn, t) for t in METRIC_TABLES}


def fingerprint(conn: Conn) -> dict[str, Any]:
    """An md5 of every data table's content (row order independent) plus load_log's stable columns."""
    out: dict[str, Any] = {t: _digest(conn, t) for t in (*DATA_TABLES, *VIEWS)}
    q = sql.SQL("SELECT {} FROM load_log ORDER BY load_id").format(
        sql.SQL(", ").join(map(sql.Identifier, LOAD_LOG_STABLE))
    )
    out["load_log"] = [tuple(str(v) for v in r) for r in conn.execute(q).fetchall()]
    return out


def segment_sizes(conn: Conn) -> list[tuple[str, int, int, int]]:
    """(mailing, current segment run, responders, non-responders) as the views show them."""
    rows = conn.execute(
        "SELECT c.mailing_name, c.segment_run_id, "
        "(SELECT count(*) FROM responders r WHERE r.mailing_name = c.mailing_name), "
        "(SELECT count(*) FROM non_responders n WHERE n.mailing_name = c.mailing_name) "
        "FROM segment_current c ORDER BY 1"
    ).fetchall()
    return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]


def format_report(
    counts: dict[str, int], recon: list[WindowReconciliation], segments: list[tuple[str, int, int, int]] | None = None
) -> str:
    lines = ["Table counts:"]
    lines += [f"  {t:<18} {n:>9}" for t, n in counts.items()]
    lines.append("")
    lines.append("Window reconciliation (downloaded = imported + duplicates + rejected + skipped; conflicts are "
                 "duplicates whose content differed):")
    head = ("window", "status", "downl.", "import", "dupl.", "confl.", "reject", "skip", "late")
    lines.append("  {:<34} {:<22} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5}  ok".format(*head))
    for r in recon:
        lines.append(
            f"  {r.load_id:<34} {r.status:<22} {r.downloaded:>7} {r.imported:>7} {r.duplicates:>6} "
            f"{r.conflicts:>6} {r.rejected:>6} {r.skipped:>6} {r.late:>5}  {'yes' if r.reconciles else 'NO'}"
        )
    if segments:
        lines += ["", "Segments (views responders / non_responders, latest complete run):"]
        lines += [f"  {m:<40} run {run:>4}  responders {r:>6}  non-responders {n:>6}" for m, run, r, n in segments]
    return "\n".join(lines)
