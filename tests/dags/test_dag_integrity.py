"""DAG integrity: every DAG file imports without error, fast, with owner, tags, retries and docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {
    "sms_response_tracking", "sms_segments_refresh", "sms_campaign_metrics", "sms_campaign_wave", "unica_flowchart_trigger",
}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_expected_dags_are_present(dagbag: DagBag) -> None:
    assert EXPECTED <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_owner_tags_retries_and_docs(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags, "tags missing"
    assert dag.doc_md and dag.doc_md.strip().startswith("###"), "doc_md missing"
    for t in dag.tasks:
        assert t.owner not in (None, "", "airflow"), f"{t.task_id}: owner not set"
        assert t.retries >= 2, f"{t.task_id}: retries {t.retries} < 2"
        assert t.doc_md or t.doc or (t.python_callable.__doc__ if hasattr(t, "python_callable") else None), t.task_id


def test_response_tracking_chain_and_windows(dagbag: DagBag) -> None:
    dag = dagbag.dags["sms_response_tracking"]
    assert dag.task_dict["download_events"].downstream_task_ids == {"import_events"}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert set(dag.params) >= {"window_start", "window_end", "event_codes", "mailing_names"}


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_parses_fast_without_io(path: Path) -> None:
    """Parse each DAG file in a fresh interpreter; the domain library must not load at parse time."""
    code = (
        "import sys, time, runpy, airflow.sdk; t=time.perf_counter(); runpy.run_path(sys.argv[1]); "
        "print('parse=%f' % (time.perf_counter()-t)); "
        "heavy=[m for m in ('sms_response.load','sms_response.platform','psycopg','pandas','great_expectations',"
        "'airflow.models.dagrun') "
        "if m in sys.modules]; print('heavy=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    found = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert found["heavy"] == "", f"heavy modules imported at parse time: {found['heavy']}"
    # Airflow itself is imported before timing: this is the file's own cost (a figure, not a gate).
    print(f"{path.name}: parsed in {float(found['parse']) * 1000:.0f} ms after airflow.sdk import")


def test_wave_params_are_exactly_the_conf_keys_the_plan_accepts(dagbag: DagBag) -> None:
    from sms_rt_airflow.constants import WAVE_CONF_KEYS

    assert set(dagbag.dags["sms_campaign_wave"].params) == set(WAVE_CONF_KEYS)
