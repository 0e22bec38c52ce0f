"""The import's fast path: parse and pivot a landing part in DuckDB (vectorised native code), CSV out to COPY.

For one part, DuckDB splits the text into lines, parses each as JSON, unnests the events, pivots identifiers and
attributes by name and checks every rule of :class:`sms_response.events.Normaliser` that a well-formed record
meets. A line whose every event passes is written as rows (one CSV per event code, the staging table's columns,
COPYed by the caller); any other line (malformed, an odd type, a reply whose text decides opt-out, a number
not valid…) is handed back by number to the Python normaliser, which gives the exact row or the reject with its
reason. The fast path is therefore a shortcut only: a line it takes yields exactly what the normaliser yields
(``tests/integration/test_fastpath_equivalence.py`` checks it on generated windows).

Phone numbers are resolved through :mod:`sms_response.phone_lookup` between parsing and pivoting, so
``phonenumbers`` runs only for raw values no window decided before.

SQL composition: the statements are DuckDB's, built from this module's own constants, column names from the
mapping (validated lower-case identifiers, quoted by :func:`_ident`) and the work directory's paths; every value
from the data or the mapping's attribute names is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sms_response.events import (
    DELIVERY_STATUSES,
    INTERACTED,
    INTERACTION_TYPES,
    MAX_EARLINESS,
    MAX_LATENESS,
    MAX_MAILING_NAME_LEN,
    SENT,
)
from sms_response.mapping import CodeMapping, Mapping
from sms_response.sqlfiles import load_sql
from sms_response.window import Window

# DuckDB's own memory: it reads a part in chunks of CHUNK_LINES lines (about 9 MB of text at 10,000).
DUCKDB_MEMORY_LIMIT = "256MB"
CHUNK_LINES = 10_000
SEQ_COLUMNS = ("_part", "_line", "_ev")

PhoneResolver = Callable[[Sequence[str]], list[str | None]]


@dataclass(frozen=True)
class FastPart:
    """What the fast path made of one part: CSV files of rows per code, and the lines it left to Python."""

    rows: dict[str, int]
    files: dict[str, Path]
    slow_lines: list[tuple[int, str | bytes]]
    phones: int


def _str(value: str) -> str:
    """A SQL string literal of a constant of this module (never of data)."""
    return "'" + value.replace("'", "''") + "'"


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(_str(v) for v in sorted(values)) + ")"


class _Columns:
    """The expressions of one code's columns; attribute names are bound parameters ($a0, $a1, …)."""

    def __init__(self, cmap: CodeMapping) -> None:
        self.cmap = cmap
        self.params: dict[str, object] = {}
        self.checks: list[str] = []
        self.values: dict[str, str] = {}

    def attr(self, name: str) -> int:
        """Bind an attribute name; the inner selects give its value ``v<k>``, JSON type ``t<k>``, text ``s<k>``."""
        key = len(self.params)
        self.params[f"a{key}"] = name
        return key

    def build(self) -> None:
        eid = self.attr("eventId")
        self.checks.append(f"t{eid} = 'VARCHAR' AND regexp_full_match(s{eid}, '[!-~]{{1,200}}')")
        self.values["event_id"] = f"s{eid}"
        for col in self.cmap.columns:
            k = self.attr(col.attribute)
            t = f"t{k}"
            s = f"s{k}"
            if col.type == "text":
                ok = (f"({t} IN ('NULL', 'BOOLEAN') OR ({t} = 'VARCHAR' AND strpos({s}, chr(0)) = 0)"
                      f" OR ({t} IN ('BIGINT', 'UBIGINT') AND length({s}) <= 15))")
                value = s
            elif col.type == "integer":
                ok = (f"({t} = 'NULL' OR ({t} IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
                      f" AND regexp_full_match({s}, '-?[0-9]{{1,9}}')))")
                value = s
            elif col.type == "numeric":
                ok = (f"({t} = 'NULL'"
                      f" OR ({t} = 'VARCHAR' AND regexp_full_match({s}, '-?[0-9]{{1,15}}(\\.[0-9]{{1,10}})?'))"
                      f" OR ({t} IN ('BIGINT', 'UBIGINT') AND regexp_full_match({s}, '-?[0-9]{{1,15}}')))")
                value = s
            elif col.type == "boolean":
                ok = f"({t} IN ('NULL', 'BOOLEAN') OR ({t} = 'VARCHAR' AND lower({s}) IN ('true', 'false')))"
                value = f"lower({s})"
            else:  # lower
                ok = f"({t} = 'NULL' OR ({t} = 'VARCHAR' AND regexp_full_match({s}, '[A-Za-z_]{{1,40}}')))"
                value = f"lower({s})"
            if col.required:
                ok += f" AND {t} <> 'NULL' AND ({t} <> 'VARCHAR' OR regexp_matches({s}, '[A-Za-z0-9]'))"
            self.checks.append(ok)
            self.values[col.column] = value
        self._code_rules()
        mapped = "[" + ", ".join(f"${k}" for k in self.params) + "]"
        extra_pairs = f"list_filter(list_zip(names, vals), lambda p: NOT list_contains({mapped}, p[1]))"
        # Unmapped attributes go to the jsonb column as they are. Landing lines are json.dumps output, so a number's
        # text is Python's own; a run of 16+ digits (an integer or mantissa a double would round) or an escaped NUL
        # (jsonb refuses it) leaves the line to the normaliser.
        self.checks.append(
            f"list_bool_and(list_transform({extra_pairs}, lambda p: json_type(p[2]) IN ('NULL', 'BOOLEAN')"
            " OR (json_type(p[2]) = 'VARCHAR' AND strpos(p[2] ->> '$', chr(0)) = 0)"
            " OR (json_type(p[2]) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'OBJECT', 'ARRAY')"
            "     AND NOT regexp_matches(p[2]::VARCHAR, '[0-9]{16}|\\\\u0000')))) IS NOT FALSE")
        self.values["attributes"] = (
            f"to_json(map_from_entries(list_transform({extra_pairs}, lambda p: {{'k': p[1], 'v': p[2]}})))")

    def _code_rules(self) -> None:
        """The rules :class:`~sms_response.events.Normaliser` applies to named columns of the two event codes."""
        cols = self.values
        if "mailing_name" in cols:
            self.checks.append(f"length({cols['mailing_name']}) <= {MAX_MAILING_NAME_LEN}")
        if self.cmap.code == SENT and "delivery_status" in cols:
            self.checks.append(f"({cols['delivery_status']} IS NULL OR {cols['delivery_status']} IN "
                               f"{_in(sorted(DELIVERY_STATUSES))})")
        if self.cmap.code == INTERACTED:
            if "interaction_type" in cols:
                # A reply may be a STOP/START keyword: the normaliser reclassifies it (Python path).
                kinds = _in(sorted(INTERACTION_TYPES - {"reply"}))
                self.checks.append(f"coalesce({cols['interaction_type']} IN {kinds}, false)")
            if "keyword" in cols:
                self.checks.append(f"{cols['keyword']} IS NULL")

    def select(self) -> str:
        out = [
            f"{self.values['event_id']} AS event_id", "pm.e164 AS phone_e164", "contact_id",
            f"ts_raw AS {_ident(self.cmap.time_column)}",
            *(f"{self.values[c.column]} AS {_ident(c.column)}" for c in self.cmap.columns),
            f"{self.values['attributes']} AS attributes", "is_late", "$load_id AS load_id",
            "$part AS _part", "lineno AS _line", "evno AS _ev",
        ]
        ok = " AND ".join(f"coalesce({c}, false)" for c in self.checks)
        keys = range(len(self.params))
        picked = ", ".join(f"vals[list_position(names, $a{k})] AS v{k}" for k in keys)
        typed = ", ".join(f"coalesce(json_type(v{k}), 'NULL') AS t{k}, v{k} ->> '$' AS s{k}" for k in keys)
        return (f"SELECT {', '.join(out)}, base_ok AND pm.e164 IS NOT NULL AND {ok} AS ok FROM ("  # noqa: S608
                f"SELECT *, {typed} FROM (SELECT *, {picked} FROM ev WHERE ev.code = $code)) "
                "LEFT JOIN pm ON pm.raw = phone_raw")


def _ident(name: str) -> str:
    # Column names come from the mapping, validated as lower-case SQL identifiers (mapping._IDENT_RE).
    return '"' + name.replace('"', '""') + '"'


class FastPath:
    """One DuckDB connection per window; :meth:`part` turns one part's text into CSV rows and slow lines."""

    def __init__(self, mapping: Mapping, window: Window, load_id: str, workdir: Path, threads: int = 1, *,
                 compact_json: bool = False) -> None:
        self.mapping = mapping
        self.compact_json = compact_json  # the manifest's word that no key repeats (see landing.Manifest)
        self.window = window
        self.load_id = load_id
        self.workdir = workdir
        self.db = duckdb.connect(config={"threads": threads, "memory_limit": DUCKDB_MEMORY_LIMIT,
                                         "temp_directory": str(workdir / "duckdb.tmp")})
        self.db.execute("SET TimeZone = 'UTC'")
        self.columns: dict[str, _Columns] = {}
        for code, cmap in mapping.codes.items():
            cols = _Columns(cmap)
            cols.build()
            self.columns[code] = cols

    def close(self) -> None:
        self.db.close()

    def part(self, index: int, text: str, resolve: PhoneResolver, first_line: int = 0) -> FastPart:
        """Lines ``first_line``… of part ``index`` (``text``: the lines joined by newlines)."""
        db = self.db
        db.execute(load_sql("duckdb/fast_lines"), {"text": text, "first_line": first_line})
        db.execute(load_sql("duckdb/fast_envelopes"), {"compact": self.compact_json})
        db.execute(load_sql("duckdb/fast_events"), {
            "lo": self.window.start - MAX_LATENESS, "hi": self.window.end + MAX_EARLINESS, "start": self.window.start,
            "compact": self.compact_json})
        raws = [str(r[0]) for r in db.execute(
            "SELECT DISTINCT phone_raw FROM ev WHERE env_ok AND phone_raw IS NOT NULL").fetchall()]
        e164s = resolve(raws)
        db.execute("CREATE OR REPLACE TEMP TABLE pm AS SELECT unnest($raw::VARCHAR[]) AS raw, "
                   "unnest($e164::VARCHAR[]) AS e164", {"raw": raws, "e164": e164s})
        tables = {code: f"out_{n}" for n, code in enumerate(self.columns)}
        for code, cols in self.columns.items():
            params: dict[str, Any] = {**cols.params, "code": code, "load_id": self.load_id, "part": index}
            db.execute(f"CREATE OR REPLACE TEMP TABLE {tables[code]} AS {cols.select()}", params)
        # A line is slow if it never became events, if its envelope failed, or if any of its events did.
        db.execute("CREATE OR REPLACE TEMP TABLE slow AS "  # noqa: S608
                   "SELECT lineno FROM lines WHERE lineno NOT IN (SELECT lineno FROM ev) "
                   "UNION SELECT lineno FROM ev WHERE NOT coalesce(base_ok, false) OR code IS NULL "
                   "OR code NOT IN (SELECT unnest($codes::VARCHAR[])) UNION "
                   + " UNION ".join(f"SELECT _line FROM {t} WHERE NOT ok" for t in tables.values()),  # noqa: S608
                   {"codes": list(self.columns)})
        rows: dict[str, int] = {}
        files: dict[str, Path] = {}
        for code, cols in self.columns.items():
            names = ", ".join(_ident(c) for c in (*cols.cmap.copy_columns, *SEQ_COLUMNS))
            path = self.workdir / f"part{index:05d}.{first_line}.{tables[code]}.csv"
            db.execute(f"COPY (SELECT {names} FROM {tables[code]} "  # noqa: S608
                       f"WHERE _line NOT IN (SELECT lineno FROM slow) ORDER BY _line, _ev) "
                       f"TO {_str(str(path))} (FORMAT csv, HEADER false)")
            count = db.execute(f"SELECT count(*) FROM {tables[code]} "  # noqa: S608
                               "WHERE _line NOT IN (SELECT lineno FROM slow)").fetchone()
            rows[code] = int(count[0]) if count else 0
            files[code] = path
        slow: list[tuple[int, str | bytes]] = [(int(n), str(line)) for n, line in db.execute(
            "SELECT lineno, line FROM lines WHERE lineno IN (SELECT lineno FROM slow) ORDER BY lineno").fetchall()]
        for table in ("lines", "env", "ev", "pm", "slow", *tables.values()):  # memory back before the next chunk
            db.execute(f"DROP TABLE IF EXISTS {table}")
        return FastPart(rows, files, slow, len(raws))
