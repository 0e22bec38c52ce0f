"""The wheel installs into an existing Airflow and registers itself: ``airflow providers list`` shows the
provider, ``airflow providers hooks`` the connection type ``sms_platform`` (with its form: labelled extras,
the token as the password field), ``airflow plugins`` the dashboard, and the DAG bundle parses the five DAGs.

The existing Airflow is a throwaway virtualenv that sees this checkout's installed packages (the same
constraints' apache-airflow and providers, through a path file over links to them) except this project's
editable install, and gets the wheel really installed into its own site-packages: so every entry point, module
and DAG file it finds comes from the wheel. (A second full install of Airflow's ~200 packages would prove no
more about the wheel and take minutes.)
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.once]

REPO = Path(__file__).resolve().parents[2]
PROJECT_ENTRIES = ("sms_response_tracking", "__editable__", "sms_response", "sms_rt_airflow", "sms_simulator",
                   "sms_rt_dags", "sms_rt_provider")
DAG_IDS = {"sms_response_tracking", "sms_segments_refresh", "sms_campaign_metrics", "sms_campaign_wave",
           "unica_flowchart_trigger"}


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of a clean copy of the sources (setuptools would package what a stale build/ holds)."""
    src = out.parent / "src"
    for name in ("include", "plugins", "dags"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    [wheel] = out.glob("sms_response_tracking-*.whl")
    return wheel


def airflow_without_the_project(root: Path) -> Path:
    """A virtualenv whose path file points at links to every installed package but this project's."""
    venv = root / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)  # type: ignore[attr-defined]
    shadow = root / "installed"
    shadow.mkdir()
    source = Path(site.getsitepackages()[0])
    for entry in source.iterdir():
        if entry.name.startswith(PROJECT_ENTRIES) or entry.suffix == ".pth":
            continue
        (shadow / entry.name).symlink_to(entry)
    purelib = next((venv / "lib").glob("python3.*")) / "site-packages"
    (purelib / "installed_packages.pth").write_text(f"{shadow}\n")
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    venv = airflow_without_the_project(root)
    purelib = next((venv / "lib").glob("python3.*")) / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                    str(purelib), str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    home = root / "airflow"
    for folder in ("dags", "plugins"):
        (home / folder).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "GX_ANALYTICS_ENABLED": "false"})
    yield {"wheel": wheel, "python": str(venv / "bin" / "python"), "purelib": purelib, "env": env}


def run(installed: dict[str, Any], *args: str) -> str:
    out = subprocess.run([installed["python"], *args], env=installed["env"], capture_output=True, text=True,
                         timeout=180, cwd=installed["purelib"].parent)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_the_wheel_carries_the_entry_points_the_dag_files_and_its_dependencies(installed: dict[str, Any]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = whl.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        entry_text, meta_text = whl.read(entry_points).decode(), whl.read(metadata).decode()
    assert {f"sms_rt_dags/{d}.py" for d in DAG_IDS} <= set(names)
    assert any(n.startswith("sms_rt_airflow/dashboard/templates/") for n in names)
    assert "provider_info = sms_rt_provider:get_provider_info" in entry_text
    assert "sms_rt_provider.py" in names
    assert "sms_campaign_dashboard = sms_rt_airflow.dashboard:SmsCampaignDashboard" in entry_text
    assert "Requires-Dist: apache-airflow<4,>=3.3.2" in meta_text
    assert "Requires-Dist: apache-airflow-providers-celery>=3.26.0; extra == \"celery\"" in meta_text


def test_the_throwaway_airflow_imports_the_project_from_the_wheel_only(installed: dict[str, Any]) -> None:
    code = ("import sms_rt_airflow, sms_response, airflow; from importlib.metadata import distribution as d; "
            "print(sms_rt_airflow.__file__, sms_response.__file__, d('sms-response-tracking')._path, "
            "d('apache-airflow').version)")
    project, library, dist_info, airflow_version = run(installed, "-c", code).split()
    for path in (project, library, dist_info):
        assert Path(path).is_relative_to(installed["purelib"]), path
    assert airflow_version == "3.3.2"


def test_airflow_providers_list_and_hooks_show_the_provider_and_its_connection_type(
    installed: dict[str, Any],
) -> None:
    providers = json.loads(run(installed, "-m", "airflow", "providers", "list", "-o", "json"))
    [ours] = [p for p in providers if p["package_name"] == "sms-response-tracking"]
    assert ours["version"] == "0.1.0" and "SMS" in ours["description"]
    hooks = json.loads(run(installed, "-m", "airflow", "providers", "hooks", "-o", "json"))
    [platform] = [h for h in hooks if h["connection_type"] == "sms_platform"]
    assert platform["class"] == "sms_rt_airflow.hooks.SmsPlatformHook"
    assert platform["package_name"] == "sms-response-tracking"


def test_airflow_plugins_shows_the_dashboard_from_the_entry_point(installed: dict[str, Any]) -> None:
    plugins = json.loads(run(installed, "-m", "airflow", "plugins", "-o", "json"))
    [dashboard] = [p for p in plugins if p["name"] == "sms_campaign_dashboard"]
    assert "sms-response-tracking" in str(dashboard["source"])
    assert "sms_rt_airflow.dashboard.LazyDashboard" in str(dashboard["fastapi_apps"])
    assert {v["name"] for v in dashboard["external_views"]} == {"SMS campaigns", "Wave report"}


def test_the_connection_form_and_the_dag_bundle_work_in_the_throwaway_airflow(installed: dict[str, Any]) -> None:
    code = """
import json, warnings
warnings.simplefilter("ignore")
from airflow.providers_manager import ProvidersManager
from airflow.dag_processing.dagbag import DagBag
from sms_rt_airflow.bundle import SmsRtDagBundle
pm = ProvidersManager()
widgets = {w.field_name: w.field["schema"].get("title") for k, w in pm.connection_form_widgets.items()
           if k.startswith("extra__sms_platform__")}
bundle = SmsRtDagBundle(name="sms_response_tracking")
bag = DagBag(dag_folder=str(bundle.path))
print(json.dumps({"widgets": widgets, "behaviour": pm.field_behaviours["sms_platform"],
                  "bundle": str(bundle.path), "dags": sorted(bag.dags), "errors": bag.import_errors}))
"""
    result = json.loads(run(installed, "-c", code).strip().splitlines()[-1])
    assert result["widgets"]["platform"] == "Platform"
    assert {"timeout_read", "retries", "short_link_base", "events_dir", "bucket", "ubx_paging"} <= set(result["widgets"])
    assert result["behaviour"]["relabeling"]["password"].startswith("API token")
    assert Path(result["bundle"]).is_relative_to(installed["purelib"])
    assert set(result["dags"]) == DAG_IDS and result["errors"] == {}
