"""Import one window's landing files into the response tables (the ``eventsImport`` step).

One transaction per window: delete what the window loaded before, COPY the normalised rows
into staging tables, move new event_ids into the partitioned event tables (set-based), quarantine
rejects, upsert mailings, recompute consent for the touched phones and record the reconciliation
in ``load_log``. A rerun therefore converges to the same tables.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.errors import MappingError, ReconciliationError
from sms_response.events import EventRow, Normaliser, Reject
from sms_response.landing import Manifest, iter_envelopes, read_manifest
from sms_response.mapping import CodeMapping, Mapping
from sms_response.phones import PhoneNormaliser
from sms_response.sqlfiles import load_sql, sql_statements
from sms_response.window import Window

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

# Serialises window imports: they share event_index and sms_consent, and a load takes seconds.
_LOAD_LOCK_KEY = 0x5D5_0002
PROGRESS_EVERY_RECORDS = 100_000


@dataclass(frozen=True)
class LoadResult:
    load_id: str
    window_start: str
    window_end: str
    downloaded: int
    imported: int
    imported_sent: int
    imported_interactions: int
    duplicates: int
    duplicates_in_window: int
    rejected: int
    late: int
    mailings: list[str]
    partitions_created: list[str]
    seconds: float

    @property
    def reconciles(self) -> bool:
        return self.downloaded == self.imported + self.duplicates + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def month_bounds(ts: datetime) -> tuple[datetime, datetime]:
    start = datetime(ts.year, ts.month, 1, tzinfo=UTC)
    end = datetime(ts.year + (ts.month == 12), ts.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def ensure_partitions(conn: Conn, table: str, months: Iterable[datetime]) -> list[str]:
    """Create the monthly partitions ``table`` needs for ``months`` (any window, backfills too)."""
    created: list[str] = []
    for start in sorted(set(months)):
        lo, hi = month_bounds(start)
        name = f"{table}_y{lo.year:04d}m{lo.month:02d}"
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if exists and exists[0]:
            continue
        # Partition bounds must be literals in DDL; they are computed datetimes, not user input.
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(name), sql.Identifier(table), sql.Literal(lo), sql.Literal(hi)
            )
        )
        created.append(name)
    return created


def check_mapping_against_tables(conn: Conn, schema: str, mapping: Mapping) -> None:
    for cmap in mapping.codes.values():
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, cmap.table),
        ).fetchall()
        have = {r[0] for r in rows}
        if not have:
            raise MappingError(f"mapping for {cmap.code}: table {schema}.{cmap.table} does not exist")
        missing = [c for c in cmap.copy_columns if c not in have]
        if missing:
            raise MappingError(
                f"mapping for {cmap.code}: columns {missing} are not in {schema}.{cmap.table}; "
                "add them with a migration before mapping attributes to them"
            )


def _copy_rows(conn: Conn, table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> int:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    n = 0
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


class _WindowRows:
    """Normalised rows of a window, de-duplicated by event_id within the window."""

    def __init__(self) -> None:
        self.by_code: dict[str, list[tuple[object, ...]]] = {}
        self.rejects: list[Reject] = []
        self.seen: set[str] = set()
        self.duplicates_in_window = 0
        self.opt_phones: set[str] = set()
        self.records = 0

    def add(self, item: EventRow | Reject) -> None:
        self.records += 1
        if isinstance(item, Reject):
            self.rejects.append(item)
            return
        if item.event_id in self.seen:
            self.duplicates_in_window += 1
            return
        self.seen.add(item.event_id)
        self.by_code.setdefault(item.code, []).append(item.values)
        if item.interaction_type in ("opt_out", "opt_in"):
            self.opt_phones.add(item.phone_e164)


def _normalise_window(
    directory: Path, manifest: Manifest, window: Window, mapping: Mapping, region: str
) -> _WindowRows:
    normaliser = Normaliser(mapping, window, window.id, PhoneNormaliser(region))
    rows = _WindowRows()
    started = time.monotonic()
    next_log = PROGRESS_EVERY_RECORDS
    for part, lineno, envelope in iter_envelopes(directory, manifest):
        for item in normaliser.normalise(envelope, f"{part}:{lineno}"):
            rows.add(item)
        if rows.records >= next_log:
            el = time.monotonic() - started
            log.info("window %s: normalised %d records (%.0f/s)", window.id, rows.records, rows.records / el)
            next_log += PROGRESS_EVERY_RECORDS
    log.info(
        "window %s: %d records normalised, %d distinct phones, %.2f s",
        window.id, rows.records, normaliser.phones.distinct_seen, time.monotonic() - started,
    )
    return rows


def import_window(
    conn: Conn,
    schema: str,
    landing_root: Path,
    window: Window,
    mapping: Mapping,
    *,
    default_region: str = "US",
    run_id: str | None = None,
) -> LoadResult:
    """Load ``window`` from its landing files; raise ``ReconciliationError`` if counts do not add up."""
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    directory, manifest = read_manifest(landing_root, window.id)
    rows = _normalise_window(directory, manifest, window, mapping, default_region)
    load_id = window.id

    try:
        with conn.transaction():
            result = _load(conn, schema, window, mapping, manifest, rows, run_id, started_at, t0)
    except ReconciliationError as exc:
        # The data of the failed attempt is rolled back; its log row says why.
        with conn.transaction():
            conn.execute(
                "UPDATE load_log SET status = 'failed_reconciliation', message = %s, run_id = %s, "
                "attempts = attempts + 1, finished_at = now() WHERE load_id = %s",
                (str(exc), run_id, load_id),
            )
        raise
    log.info(
        "window %s imported: downloaded %d = imported %d (sent %d, interactions %d) + duplicates %d "
        "+ rejected %d; late %d; %.2f s (%.0f records/s)",
        load_id, result.downloaded, result.imported, result.imported_sent, result.imported_interactions,
        result.duplicates, result.rejected, result.late, result.seconds,
        result.downloaded / result.seconds if result.seconds else 0.0,
    )
    return result


def _load(
    conn: Conn, schema: str, window: Window, mapping: Mapping, manifest: Manifest, rows: _WindowRows,
    run_id: str | None, started_at: datetime, t0: float,
) -> LoadResult:
    load_id = window.id
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK_KEY,))
    check_mapping_against_tables(conn, schema, mapping)
    old_opt = conn.execute(
        "SELECT DISTINCT phone_e164 FROM sms_interactions "
        "WHERE load_id = %s AND interaction_type IN ('opt_out', 'opt_in')",
        (load_id,),
    ).fetchall()
    # What the window held before this (re)load: a mailing it no longer carries must still be refreshed.
    removed = {str(r[0]) for r in conn.execute(load_sql("window_mailings"), {"load_id": load_id}).fetchall()}
    for stmt in sql_statements("delete_window"):
        conn.execute(stmt, {"load_id": load_id})

    imported: dict[str, int] = {}
    partitions: list[str] = []
    given_up: set[str] = set()
    for code, cmap in mapping.codes.items():
        staged = rows.by_code.get(code, [])
        imported[code] = 0
        if not staged:
            continue
        imported[code], taken_from = _stage_and_insert(conn, cmap, staged, partitions, window, load_id)
        given_up |= taken_from
    if given_up:
        conn.execute(load_sql("recount_load_units"), {"load_ids": sorted(given_up)})
        log.info("window %s took over re-delivered events from later window(s) %s", load_id, sorted(given_up))

    _copy_rows(
        conn, "event_rejects", ("load_id", "position", "reason", "raw"),
        ((load_id, r.position, r.reason, r.raw) for r in rows.rejects),
    )
    conn.execute(load_sql("upsert_mailings"), {"load_id": load_id})
    phones = sorted(rows.opt_phones | {r[0] for r in old_opt if isinstance(r[0], str)})
    if phones:
        conn.execute(load_sql("refresh_consent"), {"phones": phones})
    mailings = [str(r[0]) for r in conn.execute(load_sql("window_mailings"), {"load_id": load_id}).fetchall()]

    total_staged = sum(len(v) for v in rows.by_code.values())
    total_imported = sum(imported.values())
    result = LoadResult(
        load_id=load_id,
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        downloaded=manifest.records,
        imported=total_imported,
        imported_sent=imported.get("sentSMS", 0),
        imported_interactions=imported.get("interactedSMS", 0),
        duplicates=rows.duplicates_in_window + (total_staged - total_imported),
        duplicates_in_window=rows.duplicates_in_window,
        rejected=len(rows.rejects),
        late=_count_late(conn, load_id),
        mailings=[str(m) for m in mailings],
        partitions_created=partitions,
        seconds=round(time.monotonic() - t0, 3),
    )
    if not result.reconciles:
        raise ReconciliationError(
            f"window {load_id} does not reconcile: downloaded {result.downloaded} != imported "
            f"{result.imported} + duplicates {result.duplicates} + rejected {result.rejected}"
        )
    _record(conn, result, manifest, "imported", run_id, started_at, window, sorted(removed | set(mailings)))
    return result

def _count_late(conn: Conn, load_id: str) -> int:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM sms_sent WHERE load_id = %(l)s AND is_late)"
        " + (SELECT count(*) FROM sms_interactions WHERE load_id = %(l)s AND is_late)",
        {"l": load_id},
    ).fetchone()
    return int(row[0]) if row else 0


def _stage_and_insert(
    conn: Conn, cmap: CodeMapping, staged: list[tuple[object, ...]], partitions: list[str], window: Window,
    load_id: str,
) -> tuple[int, set[str]]:
    """Insert the staged rows not loaded before; returns their number and the later load units this
    window took re-delivered events from (earliest window wins)."""
    stage = f"stage_{cmap.table}"
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            sql.Identifier(stage), sql.Identifier(cmap.table)
        )
    )
    _copy_rows(conn, stage, cmap.copy_columns, staged)
    time_idx = cmap.copy_columns.index(cmap.time_column)
    months = {month_bounds(ts)[0] for r in staged if isinstance(ts := r[time_idx], datetime)}
    partitions.extend(ensure_partitions(conn, cmap.table, months))
    take_over = sql.SQL(load_sql("take_over_events")).format(target=sql.Identifier(cmap.table),
                                                             stage=sql.Identifier(stage))
    taken_from = {str(r[0]) for r in conn.execute(
        take_over, {"code": cmap.code, "window_start": window.start, "load_id": load_id}).fetchall()}
    cols = sql.SQL(", ").join(map(sql.Identifier, cmap.copy_columns))
    stmt = sql.SQL(load_sql("insert_new_events")).format(
        target=sql.Identifier(cmap.table),
        stage=sql.Identifier(stage),
        time_column=sql.Identifier(cmap.time_column),
        columns=cols,
    )
    cur = conn.execute(stmt, {"code": cmap.code})
    return cur.rowcount, taken_from


def _record(
    conn: Conn, result: LoadResult, manifest: Manifest, status: str, run_id: str | None,
    started_at: datetime, window: Window, touched: list[str],
) -> None:
    conn.execute(
        load_sql("upsert_load_log"),
        {
            "load_id": result.load_id,
            "window_start": window.start,
            "window_end": window.end,
            "filters": json.dumps(manifest.filters, sort_keys=True),
            "status": status,
            "run_id": run_id,
            "downloaded": result.downloaded,
            "imported": result.imported,
            "imported_sent": result.imported_sent,
            "imported_interactions": result.imported_interactions,
            "duplicates": result.duplicates,
            "duplicates_in_window": result.duplicates_in_window,
            "rejected": result.rejected,
            "late": result.late,
            "manifest_sha256": manifest.sha256,
            "started_at": started_at,
            "finished_at": datetime.now(UTC),
            "duration_ms": int(result.seconds * 1000),
            "message": None if status == "imported" else "counts do not reconcile",
            "mailings": touched,
        },
    )
