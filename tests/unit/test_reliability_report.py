"""scripts/reliability.py: the junit XML of a ``pytest -m scenario`` run becomes RELIABILITY.md's table."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reliability.py"
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.security" name="test_leak" time="61.20"><properties>
  <property name="scenario_area" value="security"/><property name="scenario_title" value="no | secret leaks"/>
  <property name="nodeid" value="tests/e2e/test_s.py::test_leak"/></properties></testcase>
<testcase classname="tests.bad" name="test_line[it's]" time="0.50"><properties>
  <property name="scenario_area" value="bad input"/><property name="scenario_title" value="a known bug"/>
  <property name="nodeid" value="tests/integration/test_b.py::test_line[it's]"/></properties>
  <skipped type="pytest.xfail" message="NUL in eventId fails the window"/></testcase>
<testcase classname="tests.faults" name="test_kill" time="3.00"><properties>
  <property name="scenario_area" value="faults"/><property name="scenario_title" value="SIGKILL mid-import"/>
  <property name="nodeid" value="tests/faults/test_k.py::test_kill"/></properties>
  <failure message="AssertionError: 3 != 4&#10;more">trace</failure></testcase>
<testcase classname="tests.faults" name="test_setup" time="0.10"><properties>
  <property name="scenario_area" value="faults"/><property name="scenario_title" value="server stopped"/>
  <property name="nodeid" value="tests/faults/test_k.py::test_setup"/></properties>
  <error message="failed on setup with ConnectionRefused">trace</error></testcase>
<testcase classname="tests.unit" name="test_plain" time="0.01"/>
</testsuite></testsuites>
"""


@pytest.fixture(scope="module")
def reliability() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability"] = module
    spec.loader.exec_module(module)
    return module


def test_rows_carry_area_title_result_duration_and_node_id(reliability: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    rows = {r.nodeid: r for r in reliability.read_junit(path)}
    assert len(rows) == 4  # the unmarked test is no scenario
    assert rows["tests/e2e/test_s.py::test_leak"].result == "passed"
    assert rows["tests/integration/test_b.py::test_line[it's]"].result == "xfailed"
    assert rows["tests/integration/test_b.py::test_line[it's]"].note == "NUL in eventId fails the window"
    assert (rows["tests/faults/test_k.py::test_kill"].result, rows["tests/faults/test_k.py::test_kill"].note) == (
        "failed", "AssertionError: 3 != 4")
    assert rows["tests/faults/test_k.py::test_setup"].result == "error"
    assert rows["tests/e2e/test_s.py::test_leak"].seconds == pytest.approx(61.2)


def test_page_groups_by_area_and_each_row_reproduces_alone(reliability: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    page = reliability.render(reliability.read_junit(path), when=datetime(2026, 12, 3, 12, tzinfo=UTC),
                              commit="abc123", machine=["Linux", "2 CPU(s)"], database="PostgreSQL 15",
                              database_url="postgresql://postgres:pw@127.0.0.1:5432/test", run_seconds=90.0)
    table = [line for line in page.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0] for line in table] == ["| faults", "| faults", "| bad input", "| security"]
    assert "no \\| secret leaks" in page and "2026-12-03 12:00 UTC" in page and "`abc123`" in page
    assert ("`SMS_RT_TEST_DATABASE_URL='postgresql://postgres:***@127.0.0.1:5432/test' .venv/bin/python -m pytest "
            "'tests/integration/test_b.py::test_line[it'\"'\"'s]'`") in page
    assert "pw@" not in page
    assert "xfailed (known bug)" in page and "**FAILED**" in page and "**ERROR**" in page
    assert "NUL in eventId fails the window" in page.split("## Known bugs")[1]
