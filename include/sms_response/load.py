"""Import one window's landing files into the response tables (the ``eventsImport`` step).

One transaction per window, under the load lock: delete what the window loaded before, then chunk by chunk
stream the rows into staging tables (:mod:`sms_response.staging`: DuckDB's fast path and the Python
normaliser, COPY; memory flat in the window's size) and move the chunk's new event_ids into the partitioned
event tables (set-based: first occurrence in file order; an event an earlier chunk or window already loaded is
a duplicate; one a *later* window loaded is taken over). Then quarantine rejects, upsert mailings, recompute
consent for the touched phones and record the reconciliation in ``load_log``. A rerun converges to the same
tables.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response import phone_lookup
from sms_response.errors import MappingError, ReconciliationError
from sms_response.landing import Manifest, read_manifest
from sms_response.mapping import CodeMapping, Mapping
from sms_response.sqlfiles import load_sql, sql_statements
from sms_response.staging import REJECT_COLUMNS, REJECT_STAGE, WindowStager, dups_name, stage_name
from sms_response.window import Window

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

# Sorting a part's staged rows by event_id and hashing its new ids fit in memory with this (per transaction).
_WORK_MEM = "64MB"
_EVENT_IDS = "stage_event_ids"


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
    fast_path_records: int = 0
    phones_parsed: int = 0
    skipped: int = 0
    skipped_by_channel: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0

    @property
    def reconciles(self) -> bool:
        return self.downloaded == self.imported + self.duplicates + self.rejected + self.skipped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def month_bounds(ts: datetime) -> tuple[datetime, datetime]:
    start = datetime(ts.year, ts.month, 1, tzinfo=UTC)
    end = datetime(ts.year + (ts.month == 12), ts.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def partition_name(table: str, ts: datetime) -> str:
    lo, _ = month_bounds(ts)
    return f"{table}_y{lo.year:04d}m{lo.month:02d}"


# Autovacuum's default rule (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor): a table a window changed
# by fewer rows keeps its statistics until autovacuum's next pass.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1


def tables_to_analyze(changes: dict[str, int], reltuples: dict[str, float]) -> list[str]:
    """The tables whose statistics a window's ``changes`` (rows written, an upper bound) make stale: never
    analysed (``reltuples`` -1 or missing) and written, or written more than autovacuum's threshold."""
    out = []
    for table, changed in changes.items():
        rows = reltuples.get(table, -1.0)
        if changed > 0 and (rows < 0 or changed > ANALYZE_THRESHOLD + ANALYZE_SCALE_FACTOR * rows):
            out.append(table)
    return sorted(out)


def _analyze(conn: Conn, changes: dict[str, int]) -> list[str]:
    """Fresh planner statistics after the bulk load for the tables it changed enough (without them the next tasks
    plan for empty tables: the segment refresh of a first window ran ~16x slower). A window that adds a few percent
    to a month's partition leaves it to autovacuum (ANALYZE samples 30,000 rows of any table: seconds of reads on a
    large partition). Returns the tables analysed."""
    with conn.transaction():
        rows = conn.execute("SELECT t, c.reltuples FROM unnest(%s::text[]) AS t LEFT JOIN pg_class c "
                            "ON c.oid = to_regclass(t)", (sorted(changes),)).fetchall()
        tables = tables_to_analyze(changes, {str(t): float(n) for t, n in rows if n is not None})
        if tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
    log.debug("analysed %s; left to autovacuum: %s", tables, sorted(set(changes) - set(tables)))
    return tables


def ensure_partitions(conn: Conn, table: str, months: Iterable[datetime]) -> list[str]:
    """Create the monthly partitions ``table`` needs for ``months`` (any window, backfills too)."""
    created: list[str] = []
    for start in sorted(set(months)):
        lo, hi = month_bounds(start)
        name = partition_name(table, start)
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


def import_window(
    conn: Conn,
    schema: str,
    landing_root: Path,
    window: Window,
    mapping: Mapping,
    *,
    default_region: str = "US",
    run_id: str | None = None,
    fast_path: bool = True,
    lookup_conn: Conn | None = None,
) -> LoadResult:
    """Load ``window`` from its landing files; raise ``ReconciliationError`` if counts do not add up.

    ``lookup_conn``: a second (autocommit) connection to the same schema for the phone lookups of the fast path's
    worker thread, so parsing the next part need not wait for the current part's statements."""
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    directory, manifest = read_manifest(landing_root, window.id)
    load_id = window.id

    try:
        with conn.transaction():
            check_mapping_against_tables(conn, schema, mapping)
            stager = WindowStager(conn, directory, manifest, window, mapping, default_region, fast_path=fast_path,
                                  lookup_conn=lookup_conn)
            result, changes = _load(conn, window, mapping, manifest, stager, run_id, started_at, t0)
    except ReconciliationError as exc:
        # The data of the failed attempt is rolled back; its log row says why.
        with conn.transaction():
            conn.execute(
                "UPDATE load_log SET status = 'failed_reconciliation', message = %s, run_id = %s, "
                "attempts = attempts + 1, finished_at = now() WHERE load_id = %s",
                (str(exc), run_id, load_id),
            )
        raise
    _analyze(conn, changes)
    log.info(
        "window %s imported: downloaded %d = imported %d (sent %d, interactions %d) + duplicates %d (%d conflicting) "
        "+ rejected %d + skipped %d %s; late %d; %.2f s (%.0f records/s; %d by the fast path; %d phone numbers parsed)",
        load_id, result.downloaded, result.imported, result.imported_sent, result.imported_interactions,
        result.duplicates, result.conflicts, result.rejected, result.skipped, result.skipped_by_channel or "",
        result.late, result.seconds,
        result.downloaded / result.seconds if result.seconds else 0.0, result.fast_path_records, result.phones_parsed,
    )
    return result


def _load(
    conn: Conn, window: Window, mapping: Mapping, manifest: Manifest, stager: WindowStager,
    run_id: str | None, started_at: datetime, t0: float,
) -> tuple[LoadResult, dict[str, int]]:
    """The window's rows moved in; returns its result and the rows it wrote per table (partitions: the rows of their
    table, an upper bound), for :func:`_analyze`."""
    load_id = window.id
    conn.execute(load_sql("load_lock"))
    conn.execute("SELECT set_config('work_mem', %s, true)", (_WORK_MEM,))
    # The move statements are planned with row estimates of empty temp tables: JIT compiled them for up to 0.8 s
    # each (more than they run), every part.
    conn.execute("SELECT set_config('jit', 'off', true)")
    old_opt = conn.execute(
        "SELECT DISTINCT phone_e164 FROM sms_interactions "
        "WHERE load_id = %s AND interaction_type IN ('opt_out', 'opt_in')",
        (load_id,),
    ).fetchall()
    # What the window held before this (re)load: a mailing it no longer carries must still be refreshed.
    removed = {str(r[0]) for r in conn.execute(load_sql("window_mailings"), {"load_id": load_id}).fetchall()}
    for stmt in sql_statements("delete_window"):
        conn.execute(stmt, {"load_id": load_id})

    stager.create()
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (event_id text) ON COMMIT DROP").format(sql.Identifier(_EVENT_IDS)))
    imported = dict.fromkeys(mapping.codes, 0)
    partitions: list[str] = []
    touched: dict[str, str] = {}  # partition -> event code
    given_up: set[str] = set()
    for _chunk in stager.parts():
        for code, cmap in mapping.codes.items():
            count, taken_from = _insert_staged(conn, cmap, partitions, touched, window, load_id)
            imported[code] += count
            given_up |= taken_from
        stager.clear()
    staged = stager.result
    dups_row = conn.execute(sql.SQL("SELECT count(*) - count(DISTINCT event_id) FROM {}")
                            .format(sql.Identifier(_EVENT_IDS))).fetchone()
    in_window_dups = int(dups_row[0]) if dups_row else 0
    if given_up:
        conn.execute(load_sql("recount_load_units"), {"load_ids": sorted(given_up)})
        log.info("window %s took over re-delivered events from later window(s) %s", load_id, sorted(given_up))
    new_phones = phone_lookup.save_decided(conn, staged.region)

    conn.execute(sql.SQL("INSERT INTO event_rejects ({cols}) SELECT {cols} FROM {stage}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, REJECT_COLUMNS)), stage=sql.Identifier(REJECT_STAGE)))
    conn.execute(load_sql("upsert_mailings"), {"load_id": load_id})
    phones = sorted(staged.opt_phones | {r[0] for r in old_opt if isinstance(r[0], str)})
    if phones:
        conn.execute(load_sql("refresh_consent"), {"phones": phones})
    mailings = [str(r[0]) for r in conn.execute(load_sql("window_mailings"), {"load_id": load_id}).fetchall()]

    total_staged = sum(staged.staged.values())
    total_imported = sum(imported.values())
    result = LoadResult(
        load_id=load_id,
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        downloaded=manifest.records,
        imported=total_imported,
        imported_sent=imported.get("sentSMS", 0),
        imported_interactions=imported.get("interactedSMS", 0),
        duplicates=total_staged - total_imported,
        duplicates_in_window=in_window_dups,
        rejected=staged.rejected,
        late=_count_late(conn, load_id),
        mailings=[str(m) for m in mailings],
        partitions_created=partitions,
        seconds=round(time.monotonic() - t0, 3),
        fast_path_records=staged.fast_records,
        phones_parsed=staged.phones_parsed,
        skipped=sum(staged.skipped_by_channel.values()),
        skipped_by_channel=dict(sorted(staged.skipped_by_channel.items())),
        conflicts=_count_conflicts(conn, load_id),
    )
    if not result.reconciles:
        raise ReconciliationError(
            f"window {load_id} does not reconcile: downloaded {result.downloaded} != imported "
            f"{result.imported} + duplicates {result.duplicates} + rejected {result.rejected} "
            f"+ skipped {result.skipped}"
        )
    _record(conn, result, manifest, "imported", run_id, started_at, window, sorted(removed | set(mailings)))
    changes = {"event_index": total_imported, "phone_lookup": new_phones, "sms_consent": len(phones)}
    changes.update((partition, imported[code]) for partition, code in touched.items())
    return result, changes

def _count_conflicts(conn: Conn, load_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM event_conflicts WHERE load_id = %s", (load_id,)).fetchone()
    return int(row[0]) if row else 0


def _count_late(conn: Conn, load_id: str) -> int:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM sms_sent WHERE load_id = %(l)s AND is_late)"
        " + (SELECT count(*) FROM sms_interactions WHERE load_id = %(l)s AND is_late)",
        {"l": load_id},
    ).fetchone()
    return int(row[0]) if row else 0


def _insert_staged(
    conn: Conn, cmap: CodeMapping, partitions: list[str], touched: dict[str, str], window: Window, load_id: str,
) -> tuple[int, set[str]]:
    """Move one chunk's staged rows not loaded before into the event table (the first occurrence of an event_id);
    returns their number and the later load units this window took re-delivered events from (earliest window
    wins)."""
    stage = sql.Identifier(stage_name(cmap))
    time_column = sql.Identifier(cmap.time_column)
    months = conn.execute(sql.SQL(load_sql("staged_months")).format(stage=stage, time_column=time_column)).fetchall()
    if not months:
        return 0, set()
    partitions.extend(ensure_partitions(conn, cmap.table, [m.astimezone(UTC) for (m,) in months]))
    touched.update((partition_name(cmap.table, m.astimezone(UTC)), cmap.code) for (m,) in months)
    conn.execute(sql.SQL("INSERT INTO {} SELECT event_id FROM {}").format(sql.Identifier(_EVENT_IDS), stage))
    take_over = sql.SQL(load_sql("take_over_events")).format(target=sql.Identifier(cmap.table), stage=stage)
    taken_from = {str(r[0]) for r in conn.execute(
        take_over, {"code": cmap.code, "window_start": window.start, "load_id": load_id}).fetchall()}
    cols = sql.SQL(", ").join(map(sql.Identifier, cmap.copy_columns))
    target, dups = sql.Identifier(cmap.table), sql.Identifier(dups_name(cmap))
    stmt = sql.SQL(load_sql("insert_new_events")).format(
        target=target, stage=stage, dups=dups, time_column=time_column, columns=cols)
    # The planner sees the RETURNING of new ids as about one row and may join it in a nested loop: quadratic in the
    # chunk's rows (a 10,000-line chunk of interactions took seconds). Hash joins are right for every size here.
    conn.execute("SELECT set_config('enable_nestloop', 'off', true)")
    row = conn.execute(stmt, {"code": cmap.code}).fetchone()
    conn.execute("SELECT set_config('enable_nestloop', 'on', true)")
    inserted, not_inserted = (int(row[0]), int(row[1])) if row else (0, 0)
    if not_inserted:
        conn.execute(sql.SQL(load_sql("record_conflicts")).format(target=target, dups=dups, time_column=time_column),
                     {"code": cmap.code})
        conn.execute(sql.SQL("TRUNCATE {}").format(dups))
    return inserted, taken_from


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
            "skipped": result.skipped,
            "skipped_by_channel": json.dumps(result.skipped_by_channel, sort_keys=True),
            "conflicts": result.conflicts,
        },
    )
