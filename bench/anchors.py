"""The yardsticks of ``make bench``: the rows the import loaded, loaded again by ordinary tools into the same table.

    BENCH_DATABASE_URL=... .venv/bin/python bench/anchors.py copy --source-schema S --target-schema T \\
        --load-id ID [--load-id ID2] --export-dir DIR

For each load id (a window), the rows the import put into ``sms_sent`` and ``sms_interactions`` (every column, as
stored) are loaded into the same tables of another migrated schema (same partitions, primary keys and indexes), emptied
once and then loaded window after window in the import's order (so the steady window's rows meet the cold
window's, as the import's did), with one of:

* ``copy``: ``psql \\copy`` of the CSV the driver exported (``/usr/bin/psql``, one process for both tables);
* ``to_sql``: pandas ``DataFrame.to_sql`` (default method: SQLAlchemy's executemany) on
  ``sms_response.db.sqlalchemy_url``; the frame is read from the source table first and ``dtype`` is the target
  table's reflected column types (neither timed);
* ``to_sql_multi``: the same with ``method="multi"``, in chunks of at most 65,535 parameters (PostgreSQL's limit);
* ``insert_rows``: ``PostgresHook.insert_rows`` with its defaults (executemany, a commit every 1,000 rows), the
  connection from ``AIRFLOW_CONN_BENCH_ANCHOR``.

Only the load is timed; each window's row count in the target is checked against the source. Prints one JSON
line. ``prepare_target`` and ``export_window`` are the driver's side (``bench/run.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from proc import database_url, emit, peak_rss_mb
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

TABLES = ("sms_sent", "sms_interactions")
PSQL = "/usr/bin/psql"
CONN_ID = "bench_anchor"
MAX_PARAMS = 65_535


def columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str]]:
    """(name, data_type) of a table's columns, in order."""
    rows = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (schema, table)).fetchall()
    return [(str(n), str(t)) for n, t in rows]


def prepare_target(url: str, source: str, target: str) -> None:
    """A migrated ``target`` schema whose event tables have the same partitions as ``source``'s (driver side)."""
    from sms_response import migrate

    migrate.upgrade(url, target)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            parts = conn.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s",
                (source, table)).fetchall()
            existing = {str(r[0]) for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE n.nspname = %s AND p.relname = %s", (target, table)).fetchall()}
            for name, bound in parts:
                if name in existing:
                    continue
                # The bound comes from the catalogue (FOR VALUES FROM (...) TO (...)), not from input.
                conn.execute(sql.SQL("CREATE TABLE {}.{} PARTITION OF {}.{} ").format(
                    sql.Identifier(target), sql.Identifier(name), sql.Identifier(target), sql.Identifier(table))
                    + sql.SQL(bound))


def export_path(directory: Path, load_id: str, table: str) -> Path:
    return directory / f"{load_id}.{table}.csv"


def export_window(url: str, schema: str, load_id: str, directory: Path) -> dict[str, int]:
    """The window's rows of each event table as CSV with a header (driver side); returns rows per table."""
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns(conn, schema, table))
            query = sql.SQL("COPY (SELECT {} FROM {}.{} WHERE load_id = {}) TO STDOUT WITH (FORMAT csv, HEADER true)"
                            ).format(cols, sql.Identifier(schema), sql.Identifier(table), sql.Literal(load_id))
            with export_path(directory, load_id, table).open("wb") as f, conn.cursor() as cur, cur.copy(query) as cp:
                for chunk in cp:
                    f.write(chunk)
            counts[table] = _count(conn, schema, table, load_id)
    return counts


def _source_rows(conn: psycopg.Connection[Any], schema: str, table: str, load_id: str) -> list[tuple[Any, ...]]:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns(conn, schema, table))
    return conn.execute(sql.SQL("SELECT {} FROM {}.{} WHERE load_id = %s").format(
        cols, sql.Identifier(schema), sql.Identifier(table)), (load_id,)).fetchall()


def _psql_env(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo for ``psql -d`` without the password, which goes in PGPASSWORD (argv is public)."""
    parts = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    env = dict(os.environ)
    if "password" in parts:
        env["PGPASSWORD"] = parts.pop("password")
    return make_conninfo(**parts), env


def load_copy(url: str, args: argparse.Namespace, load_id: str) -> float:
    dsn, env = _psql_env(url)
    cmd = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    with psycopg.connect(url) as conn:
        for table in TABLES:
            path = export_path(args.export_dir, load_id, table)
            if "'" in str(path):
                raise SystemExit(f"export path {path} must not contain a quote")
            cols = ", ".join(f'"{c}"' for c, _ in columns(conn, args.target_schema, table))
            cmd += ["-c", f"\\copy \"{args.target_schema}\".\"{table}\" ({cols}) FROM '{path}' "
                          "WITH (FORMAT csv, HEADER true)"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # psql's own peak RSS, sampled while it runs (its rusage would report the forking parent's).
    while proc.poll() is None:
        rss = peak_rss_mb(proc.pid)
        if rss is not None:
            args.psql_rss = max(rss, getattr(args, "psql_rss", 0.0))
        time.sleep(0.005)
    seconds = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"psql \\copy failed ({proc.returncode}): {err[-2000:]}")
    return seconds


def load_to_sql(url: str, args: argparse.Namespace, load_id: str, multi: bool = False) -> float:
    """Column types from the target table (reflected, not timed): without them pandas binds numeric, jsonb and
    nullable columns as VARCHAR, which PostgreSQL refuses."""
    import pandas as pd
    import sqlalchemy as sa

    from sms_response.db import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(url))
    frames = []
    with psycopg.connect(url) as conn:
        for table in TABLES:
            cols = [c for c, _ in columns(conn, args.source_schema, table)]
            frame = pd.DataFrame(_source_rows(conn, args.source_schema, table, load_id), columns=cols)
            target = sa.Table(table, sa.MetaData(), schema=args.target_schema, autoload_with=engine)
            frames.append((table, frame, {c.name: c.type for c in target.columns}, len(cols)))
    seconds = 0.0
    try:
        for table, frame, dtype, ncols in frames:
            t = time.perf_counter()
            frame.to_sql(table, engine, schema=args.target_schema, if_exists="append", index=False, dtype=dtype,
                         method="multi" if multi else None, chunksize=MAX_PARAMS // ncols if multi else None)
            seconds += time.perf_counter() - t
    finally:
        engine.dispose()
    return seconds


def load_insert_rows(url: str, args: argparse.Namespace, load_id: str) -> float:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    logging_quiet()
    hook = PostgresHook(postgres_conn_id=CONN_ID)
    seconds = 0.0
    with psycopg.connect(url) as conn:
        for table in TABLES:
            cols = [c for c, _ in columns(conn, args.source_schema, table)]
            rows = _source_rows(conn, args.source_schema, table, load_id)
            t = time.perf_counter()
            hook.insert_rows(f"{args.target_schema}.{table}", rows, target_fields=cols)  # type: ignore[no-untyped-call]
            seconds += time.perf_counter() - t
    return seconds


def logging_quiet() -> None:
    """The hook logs every 1,000 rows at INFO; that is its normal behaviour, but not worth the step's stderr."""
    import logging

    logging.getLogger("airflow").setLevel(logging.WARNING)


def _count(conn: psycopg.Connection[Any], schema: str, table: str, load_id: str | None = None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    if load_id is None:
        row = conn.execute(query).fetchone()
    else:
        row = conn.execute(query + sql.SQL(" WHERE load_id = %s"), (load_id,)).fetchone()
    return int(row[0]) if row else 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = database_url()
    loaders: dict[str, Callable[[str, argparse.Namespace, str], float]] = {
        "copy": load_copy, "to_sql": load_to_sql, "insert_rows": load_insert_rows,
        "to_sql_multi": lambda u, a, lid: load_to_sql(u, a, lid, multi=True),
    }
    windows: dict[str, Any] = {}
    # Emptied once: the windows then load in the import's order, so each one meets the tables as the import's did
    # (the steady window's rows go in beside the cold window's, into indexes of the same size).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(
            sql.SQL("{}.{}").format(sql.Identifier(args.target_schema), sql.Identifier(t)) for t in TABLES)))
    for load_id in args.load_id:
        with psycopg.connect(url, autocommit=True) as conn:
            source = {t: _count(conn, args.source_schema, t, load_id) for t in TABLES}
        seconds = loaders[args.method](url, args, load_id)
        with psycopg.connect(url) as conn:
            loaded = {t: _count(conn, args.target_schema, t, load_id) for t in TABLES}
        if loaded != source:
            raise SystemExit(f"{args.method} of window {load_id} loaded {loaded}, the import had {source}")
        rows = sum(loaded.values())
        windows[load_id] = {"rows": rows, "rows_by_table": loaded, "seconds": round(seconds, 3),
                            "rows_per_s": round(rows / seconds) if seconds else None}
    out: dict[str, Any] = {"method": args.method, "windows": windows}
    if args.method == "copy":
        # The loading process is psql; the step's own Python process only waits for it.
        out["peak_rss_mb"] = round(getattr(args, "psql_rss", 0.0), 1) or None
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("method", choices=("copy", "to_sql", "to_sql_multi", "insert_rows"))
    ap.add_argument("--source-schema", required=True)
    ap.add_argument("--target-schema", required=True)
    ap.add_argument("--load-id", action="append", required=True)
    ap.add_argument("--export-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    emit(run(args))


if __name__ == "__main__":
    main()
