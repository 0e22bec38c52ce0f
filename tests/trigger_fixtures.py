"""Helpers shared by the flowchart-trigger tests: the table's rows, racing threads, one connection per racer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from sms_response.db import connect

Db = psycopg.Connection[TupleRow]
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
MAILING = "SPRING26_Wave1_Offer_20261120090000"


def rows(db: Db) -> list[tuple[Any, ...]]:
    with db.transaction():
        return db.execute(
            "SELECT trigger_id, source, source_ref, status, mailing_names, window_start, window_end, run_tracking, "
            "run_wave, wave_conf, message FROM flowchart_triggers ORDER BY trigger_id").fetchall()


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in n threads released together; re-raise the first error."""
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


@contextmanager
def connections(pg_url: str, schema: str, n: int) -> Iterator[list[Db]]:
    """``n`` connections to the test schema, one per racer, closed afterwards."""
    conns = [connect(pg_url, schema) for _ in range(n)]
    try:
        yield conns
    finally:
        for c in conns:
            c.close()
