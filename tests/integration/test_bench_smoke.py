"""``make bench`` cannot rot: its command at the smallest size (about 2,000 records per window) on the test database.

The benchmark runs as a subprocess exactly as ``make bench`` starts it; its JSON must hold every step with a time
and a peak RSS, windows that reconcile, yardsticks that loaded exactly the rows the import imported, a parse time
for every DAG file and the ratios the targets name; its markdown goes to stdout and beside the JSON; it leaves no
schema behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.once]

REPO = Path(__file__).resolve().parents[2]
STEPS = ("download_cold", "download_steady", "import_cold", "import_steady", "validation_cold", "validation_steady",
         "segment_refresh", "metrics_refresh", "audience_build")
ANCHORS = ("copy", "to_sql", "to_sql_multi", "insert_rows")


def bench_schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'")}


def test_bench_at_the_smallest_size_measures_every_step_and_its_anchors_load_the_imported_rows(
        pg_url: str, tmp_path: Path) -> None:
    before = bench_schemas(pg_url)
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--sizes", "2000", "--database-url", pg_url,
         "--results-dir", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    [js] = (tmp_path / "results").glob("*.json")
    [md] = (tmp_path / "results").glob("*.md")
    results = json.loads(js.read_text())
    assert md.read_text() == out.stdout and "| psql \\copy |" in out.stdout
    assert "import_cold" in out.stderr and "anchor" in out.stderr  # progress, step by step

    [run] = results["runs"]
    assert run["size"] == 2000
    for key in STEPS:
        step = run["steps"][key]
        assert step["seconds"] > 0 and step["peak_rss_mb"] > 0, (key, step)
    for window in ("cold", "steady"):
        imp = run["steps"][f"import_{window}"]
        assert imp["records"] == run["steps"][f"download_{window}"]["records"] > 1000
        assert imp["records"] == imp["imported"] + imp["duplicates"] + imp["rejected"] and imp["reconciles"]
        for method in ANCHORS:
            anchor = run["anchors"][window][method]
            assert anchor["rows"] == imp["imported"], (window, method, anchor)
            assert anchor["seconds"] > 0 and anchor["rows_per_s"] > 0, (window, method, anchor)
    dag_files = {p.name for p in (REPO / "dags").glob("*.py")}
    assert {p["dag_file"] for p in results["dag_parse"]} == dag_files
    assert all(p["seconds"] > 0 for p in results["dag_parse"])
    names = " ".join(r["ratio"] for r in results["ratios"])
    for ratio in ("import records/s ÷ \\copy rows/s, cold", "import records/s ÷ \\copy rows/s, steady",
                  "import ÷ pandas to_sql, steady", "validation time ÷ import time", "DAG file parse"):
        assert ratio in names, ratio
    assert bench_schemas(pg_url) <= before
