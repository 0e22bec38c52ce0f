"""Stream a window's landing files into per-event-code staging tables, with memory flat in the window's size.

Chunk by chunk (``CHUNK_LINES`` lines of a part): a worker thread runs the fast path (:mod:`sms_response.fastpath`,
DuckDB), which parses, pivots and checks the lines and writes the rows as CSV, while the main thread COPYs the
previous chunk's CSV into temporary staging tables and the caller moves it on; a bounded queue keeps the worker
at most ``_AHEAD`` chunks ahead. The lines the fast path leaves (malformed, unusual, replies that may be keywords)
go through the Python normaliser, whose rows and rejects are COPYed in chunks of ``CHUNK_ROWS``. Phone numbers come
from the persistent lookup (:mod:`sms_response.phone_lookup`). Nothing of the window is held in Python but the
chunks in flight. De-duplication by event_id, the earliest-window-wins takeover and the move into the event tables
are then set-based SQL (:mod:`sms_response.load`); every staged row carries its position (part, line, event) so
the first occurrence of a re-delivered event within the window is the one kept.
"""

from __future__ import annotations

import gzip
import io
import logging
import queue
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from sms_response import phone_lookup
from sms_response.events import INTERACTED, EventRow, Normaliser, Reject, Skipped
from sms_response.fastpath import CHUNK_LINES, SEQ_COLUMNS, FastPart, FastPath
from sms_response.landing import Manifest, PartInfo, parse_line, part_envelopes, verified_parts
from sms_response.mapping import CodeMapping, Mapping
from sms_response.phones import PhoneNormaliser
from sms_response.window import Window

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]
CHUNK_ROWS = 20_000
COPY_BLOCK = 1 << 20
PROGRESS_EVERY_RECORDS = 100_000
REJECT_STAGE = "stage_event_rejects"
REJECT_COLUMNS = ("load_id", "position", "reason", "raw")
_OPT_TYPES = ("opt_out", "opt_in")


def stage_name(cmap: CodeMapping) -> str:
    return f"stage_{cmap.table}"


def dups_name(cmap: CodeMapping) -> str:
    """A part's staged rows that were not loaded (duplicates), compared with the kept version for conflicts."""
    return f"stage_dups_{cmap.table}"


@dataclass
class StagedWindow:
    """What streaming the window gave: counts per code, rejects, the phones of opt events."""

    records: int = 0
    staged: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    skipped_by_channel: dict[str, int] = field(default_factory=dict)
    opt_phones: set[str] = field(default_factory=set)
    fast_records: int = 0
    phones_seen: int = 0
    phones_parsed: int = 0
    region: str = "US"
    seconds: float = 0.0


class _Stager:
    def __init__(self, conn: Conn, mapping: Mapping, load_id: str, region: str) -> None:
        self.conn = conn
        self.mapping = mapping
        self.load_id = load_id
        self.buffers: dict[str, list[tuple[object, ...]]] = {code: [] for code in mapping.codes}
        self.rejects: list[tuple[object, ...]] = []
        self.result = StagedWindow(staged=dict.fromkeys(mapping.codes, 0), region=region)

    def create(self) -> None:
        for cmap in self.mapping.codes.values():
            self.conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS, _part int, _line int, _ev int) "
                        "ON COMMIT DROP").format(sql.Identifier(stage_name(cmap)), sql.Identifier(cmap.table)))
            self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP")
                              .format(sql.Identifier(dups_name(cmap)), sql.Identifier(cmap.table)))
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE event_rejects INCLUDING DEFAULTS) ON COMMIT DROP")
                          .format(sql.Identifier(REJECT_STAGE)))
        phone_lookup.create_stage(self.conn)

    def add_all(self, items: Iterable[EventRow | Reject | Skipped], part: int, line: int) -> None:
        for ev, item in enumerate(items):
            self.add(item, part, line, ev)

    def add(self, item: EventRow | Reject | Skipped, part: int, line: int, ev: int) -> None:
        self.result.records += 1
        if isinstance(item, Skipped):
            self.result.skipped_by_channel[item.channel] = self.result.skipped_by_channel.get(item.channel, 0) + 1
            return
        if isinstance(item, Reject):
            self.rejects.append((self.load_id, item.position, item.reason, item.raw))
            self.result.rejected += 1
            if len(self.rejects) >= CHUNK_ROWS:
                self._flush_rejects()
            return
        buf = self.buffers[item.code]
        buf.append((*item.values, part, line, ev))
        self.result.staged[item.code] += 1
        if len(buf) >= CHUNK_ROWS:
            self._flush(item.code)

    def add_fast(self, fast: FastPart) -> None:
        """COPY the fast path's CSV rows of one chunk (streamed in blocks, never read whole)."""
        for code, path in fast.files.items():
            if fast.rows.get(code):
                cmap = self.mapping.codes[code]
                stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    sql.Identifier(stage_name(cmap)),
                    sql.SQL(", ").join(map(sql.Identifier, (*cmap.copy_columns, *SEQ_COLUMNS))))
                with self.conn.cursor() as cur, cur.copy(stmt) as copy, path.open("rb") as f:
                    while block := f.read(COPY_BLOCK):
                        copy.write(block)
                self.result.staged[code] += fast.rows[code]
                self.result.records += fast.rows[code]
                self.result.fast_records += fast.rows[code]
            path.unlink(missing_ok=True)

    def flush_rows(self) -> None:
        for code in self.buffers:
            self._flush(code)

    def finish_rejects(self) -> None:
        self._flush_rejects()

    def opt_phones(self) -> set[str]:
        """The phones of opt-out / opt-in events now staged (their consent is recomputed)."""
        interacted = self.mapping.codes.get(INTERACTED)
        if not interacted or not any(c.column == "interaction_type" for c in interacted.columns):
            return set()
        rows = self.conn.execute(
            sql.SQL("SELECT DISTINCT phone_e164 FROM {} WHERE interaction_type = ANY(%s)")
            .format(sql.Identifier(stage_name(interacted))), (list(_OPT_TYPES),)).fetchall()
        return {str(r[0]) for r in rows}

    def _flush(self, code: str) -> None:
        rows = self.buffers[code]
        if rows:
            cmap = self.mapping.codes[code]
            _copy(self.conn, stage_name(cmap), (*cmap.copy_columns, *SEQ_COLUMNS), rows)
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


def _chunks(data: bytes, size: int) -> Iterator[tuple[int, list[bytes]]]:
    """A part's lines (without their line ends, as the Python path reads them) in chunks of ``size``: the part is
    decompressed as it is read, never held whole."""
    chunk: list[bytes] = []
    first = 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for lineno, raw in enumerate(lines):
            if len(chunk) == size:
                yield first, chunk
                chunk, first = [], lineno
            chunk.append(raw.rstrip(b"\r\n"))
    if chunk:
        yield first, chunk


@dataclass(frozen=True)
class _FastChunk:
    """Lines ``taken.first``… of part ``index`` as the fast path made them, with the phone numbers it decided."""

    index: int
    part: PartInfo
    taken: FastPart
    decided: list[phone_lookup.Decision]


@dataclass(frozen=True)
class _PythonRest:
    """Lines ``from_line``… of part ``index``, for the Python normaliser (no fast path, or it failed there)."""

    index: int
    part: PartInfo
    data: bytes
    from_line: int = 0


_Item = _FastChunk | _PythonRest
_DONE = object()
# Chunks the worker may have ready ahead of the main thread (each one is CSV files on disk and a few slow lines).
_AHEAD = 2


class WindowStager:
    """Stream a window into the staging tables chunk by chunk: :meth:`parts` yields once a chunk (a part, without
    the fast path) is staged, the caller moves its rows on and calls :meth:`clear`. A worker thread reads, checks
    and parses the chunks ahead (DuckDB releases the GIL), so parsing overlaps the database's work from the first
    chunk to the last; its phone lookups read ``lookup_conn`` when given (an autocommit connection of its own:
    otherwise they wait for the window's statements on ``conn``)."""

    def __init__(self, conn: Conn, directory: Path, manifest: Manifest, window: Window, mapping: Mapping,
                 region: str, *, fast_path: bool = True, lookup_conn: Conn | None = None) -> None:
        self.conn = conn
        self.lookup_conn = lookup_conn or conn
        self.directory = directory
        self.manifest = manifest
        self.window = window
        self.mapping = mapping
        self.region = region
        self.fast_path = fast_path
        self.phones = PhoneNormaliser(region)
        self.normaliser = Normaliser(mapping, window, window.id, self.phones)
        self.stager = _Stager(conn, mapping, window.id, region)
        self.result = self.stager.result

    def create(self) -> None:
        """The temporary staging tables (inside the caller's transaction)."""
        self.stager.create()

    def clear(self) -> None:
        """Empty the per-code staging tables (rejects stay until the end of the window)."""
        for cmap in self.mapping.codes.values():
            self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage_name(cmap))))

    def _items(self, fast: FastPath | None) -> Iterator[_Item]:
        """The window's chunks in file order (in the worker thread)."""
        for index, (part, data) in enumerate(verified_parts(self.directory, self.manifest)):
            if fast is None:
                yield _PythonRest(index, part, data)
            else:
                yield from self._fast_chunks(fast, index, part, data)

    def _fast_chunks(self, fast: FastPath, index: int, part: PartInfo, data: bytes) -> Iterator[_Item]:
        """The fast path over one part, chunk by chunk; where it fails, the rest of the part goes to Python."""
        first = 0
        try:
            for first, chunk in _chunks(data, CHUNK_LINES):
                try:
                    text = b"\n".join(chunk).decode("utf-8")
                except UnicodeDecodeError:  # the normaliser gives these lines their exact fate
                    yield _FastChunk(index, part, FastPart({}, {}, list(enumerate(chunk, first)), 0), [])
                    continue
                decided: list[phone_lookup.Decision] = []

                def resolve(raws: Sequence[str], decided: list[phone_lookup.Decision] = decided) -> list[str | None]:
                    self.result.phones_seen += len(raws)
                    e164s, new = phone_lookup.resolve(self.lookup_conn, self.region, raws, self.phones)
                    decided.extend(new)
                    return e164s

                taken = fast.part(index, text, resolve, first)
                # The normaliser reads the lines the fast path leaves as the Python path does: from their bytes.
                yield _FastChunk(index, part, replace(taken, slow_lines=[(n, chunk[n - first])
                                                                         for n, _ in taken.slow_lines]), decided)
        except (duckdb.Error, OSError, EOFError, zlib.error) as exc:
            log.warning("window %s: fast path failed on %s from line %d (%s); the Python normaliser reads the rest",
                        self.window.id, part.name, first, exc)
            yield _PythonRest(index, part, data, first)

    def parts(self) -> Iterator[int]:
        started = time.monotonic()
        next_log = PROGRESS_EVERY_RECORDS
        ready: queue.Queue[object] = queue.Queue(maxsize=_AHEAD)
        stop = threading.Event()
        with tempfile.TemporaryDirectory(prefix="sms-rt-stage-") as tmp:
            fast = (FastPath(self.mapping, self.window, self.window.id, Path(tmp),
                             compact_json=self.manifest.compact_json) if self.fast_path else None)

            def produce() -> None:
                try:
                    for item in self._items(fast):
                        if not _put(ready, item, stop):
                            return
                    _put(ready, _DONE, stop)
                except BaseException as exc:  # handed to the main thread, which raises it
                    _put(ready, exc, stop)

            worker = threading.Thread(target=produce, name=f"sms-rt-stage-{self.window.id}", daemon=True)
            worker.start()
            try:
                while (item := ready.get()) is not _DONE:
                    if isinstance(item, BaseException):
                        raise item
                    assert isinstance(item, _FastChunk | _PythonRest)
                    self._stage(item)
                    yield item.index
                    if self.result.records >= next_log:
                        elapsed = time.monotonic() - started
                        log.info("window %s: %d records (%.0f/s; %d by the fast path)", self.window.id,
                                 self.result.records, self.result.records / elapsed if elapsed else 0.0,
                                 self.result.fast_records)
                        next_log = self.result.records + PROGRESS_EVERY_RECORDS
            finally:
                stop.set()
                worker.join()
                if fast is not None:
                    fast.close()
        self.stager.finish_rejects()
        self.result.phones_parsed = self.phones.parsed  # phonenumbers ran once for each of these
        self.result.seconds = time.monotonic() - started

    def _stage(self, item: _Item) -> None:
        if isinstance(item, _FastChunk):
            phone_lookup.stage(self.conn, item.decided)
            self.stager.add_fast(item.taken)
            for lineno, line in item.taken.slow_lines:
                items = self.normaliser.normalise(parse_line(line), f"{item.part.name}:{lineno}")
                self.stager.add_all(items, item.index, lineno)
        else:
            for name, lineno, envelope in part_envelopes(item.part.name, item.data):
                if lineno >= item.from_line:
                    self.stager.add_all(self.normaliser.normalise(envelope, f"{name}:{lineno}"), item.index, lineno)
        self.stager.flush_rows()
        self.result.opt_phones |= self.stager.opt_phones()


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Hand ``item`` to the main thread, waiting while it is behind; False once it stopped reading."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False
