"""Stream a window's landing files into per-event-code staging tables, with memory flat in the window's size.

Envelopes are read part by part, normalised one by one and COPYed to temporary staging tables in chunks of
``CHUNK_ROWS`` rows; rejects go to their own staging table the same way. Nothing of the window is held in
Python but the current chunk and the phones of opt events (for the consent refresh). De-duplication by
event_id, the earliest-window-wins takeover and the move into the event tables are then set-based SQL
(:mod:`sms_response.load`); the staging tables keep the file order (``_seq``) so the first occurrence of a
re-delivered event within the window is the one kept, as before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response.events import EventRow, Normaliser, Reject
from sms_response.landing import Manifest, iter_envelopes
from sms_response.mapping import CodeMapping, Mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]
CHUNK_ROWS = 20_000
PROGRESS_EVERY_RECORDS = 100_000
REJECT_STAGE = "stage_event_rejects"
REJECT_COLUMNS = ("load_id", "position", "reason", "raw")


def stage_name(cmap: CodeMapping) -> str:
    return f"stage_{cmap.table}"


@dataclass
class StagedWindow:
    """What streaming the window gave: counts per code, rejects, the phones of opt events."""

    records: int = 0
    staged: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    opt_phones: set[str] = field(default_factory=set)
    distinct_phones: int = 0
    seconds: float = 0.0


class _Stager:
    def __init__(self, conn: Conn, mapping: Mapping, load_id: str) -> None:
        self.conn = conn
        self.mapping = mapping
        self.load_id = load_id
        self.buffers: dict[str, list[tuple[object, ...]]] = {code: [] for code in mapping.codes}
        self.rejects: list[tuple[object, ...]] = []
        self.result = StagedWindow(staged=dict.fromkeys(mapping.codes, 0))

    def create(self) -> None:
        for cmap in self.mapping.codes.values():
            self.conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS, _seq bigint GENERATED ALWAYS AS IDENTITY) "
                        "ON COMMIT DROP").format(sql.Identifier(stage_name(cmap)), sql.Identifier(cmap.table)))
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE event_rejects INCLUDING DEFAULTS) ON COMMIT DROP")
                          .format(sql.Identifier(REJECT_STAGE)))

    def add(self, item: EventRow | Reject) -> None:
        self.result.records += 1
        if isinstance(item, Reject):
            self.rejects.append((self.load_id, item.position, item.reason, item.raw))
            self.result.rejected += 1
            if len(self.rejects) >= CHUNK_ROWS:
                self._flush_rejects()
            return
        buf = self.buffers[item.code]
        buf.append(item.values)
        self.result.staged[item.code] += 1
        if item.interaction_type in ("opt_out", "opt_in"):
            self.result.opt_phones.add(item.phone_e164)
        if len(buf) >= CHUNK_ROWS:
            self._flush(item.code)

    def finish(self) -> None:
        for code in self.buffers:
            self._flush(code)
        self._flush_rejects()

    def _flush(self, code: str) -> None:
        rows = self.buffers[code]
        if rows:
            cmap = self.mapping.codes[code]
            _copy(self.conn, stage_name(cmap), cmap.copy_columns, rows)
            rows.clear()

    def _flush_rejects(self) -> None:
        if self.rejects:
            _copy(self.conn, REJECT_STAGE, REJECT_COLUMNS, self.rejects)
            self.rejects.clear()


def _copy(conn: Conn, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table),
                                                     sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)


def stage_window(conn: Conn, directory: Path, manifest: Manifest, window: Window, mapping: Mapping,
                 region: str) -> StagedWindow:
    """Create the staging tables (inside the caller's transaction) and stream the window into them."""
    phones = PhoneNormaliser(region)
    normaliser = Normaliser(mapping, window, window.id, phones)
    stager = _Stager(conn, mapping, window.id)
    stager.create()
    started = time.monotonic()
    next_log = PROGRESS_EVERY_RECORDS
    for part, lineno, envelope in iter_envelopes(directory, manifest):
        for item in normaliser.normalise(envelope, f"{part}:{lineno}"):
            stager.add(item)
        if stager.result.records >= next_log:
            elapsed = time.monotonic() - started
            log.info("window %s: staged %d records (%.0f/s)", window.id, stager.result.records,
                     stager.result.records / elapsed if elapsed else 0.0)
            next_log += PROGRESS_EVERY_RECORDS
    stager.finish()
    result = stager.result
    result.distinct_phones = phones.distinct_seen
    result.seconds = time.monotonic() - started
    log.info("window %s: %d records staged (%s, %d rejected), %d distinct phones, %.2f s", window.id,
             result.records, result.staged, result.rejected, result.distinct_phones, result.seconds)
    return result
