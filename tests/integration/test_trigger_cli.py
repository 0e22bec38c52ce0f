"""The trigger script, ``python -m sms_response.trigger``, run as a flowchart runs it: exit codes, outputs, rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from trigger_fixtures import MAILING, T0, Db, rows

from sms_response.trigger.drop_folder import ingest_drop_folder

pytestmark = pytest.mark.integration


def cli(args: list[str], pg_url: str, schema: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMS_RT_DATABASE_URL": pg_url, "SMS_RT_SCHEMA": schema, **env}
    return subprocess.run([sys.executable, "-m", "sms_response.trigger", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_writes_exactly_one_row(pg_url: str, schema: str, db: Db, tmp_path: Path) -> None:
    wave = tmp_path / "wave.json"
    wave.write_text(json.dumps({"campaign_code": "SPRING26", "source_mailing": MAILING, "segment": "responders"}))
    out = cli(["--mailing", MAILING, "--mailing", "SPRING26_Wave1_Alt_20261120090000",
               "--window-start", "2026-11-20T10:00:00+01:00", "--window-end", "2026-11-20T12:00:00Z",
               "--wave-conf", f"@{wave}", "--requested-by", "flowchart SPRING26/Wave1"], pg_url, schema)
    assert out.returncode == 0, out.stderr
    [row] = rows(db)
    assert out.stdout.strip() == str(row[0])
    assert row[1:10] == ("table", None, "pending", [MAILING, "SPRING26_Wave1_Alt_20261120090000"], T0,
                         T0 + timedelta(hours=3), True, True,
                         {"campaign_code": "SPRING26", "source_mailing": MAILING, "segment": "responders"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mailing", "x'; DROP TABLE mailings;--"], "mailing name \"x'; DROP TABLE mailings;--\""),
        (["--mailing", MAILING, "--window-start", "2026-11-20T12:00:00Z", "--window-end", "2026-11-20T09:00:00Z"],
         "is not after window_start"),
        (["--window-start", "2026-11-20T09:00:00", "--window-end", "2026-11-20T12:00:00"], "has no time zone"),
        (["--mailing", MAILING, "--no-track"], "nothing to run"),
        (["--no-track", "--wave-conf", "[1, 2]"], "wave conf must be a JSON object"),
        (["--wave-conf", "{not json"], "--wave-conf is not valid JSON"),
        (["--to", "ftp"], "invalid choice"),
    ],
)
def test_invalid_cli_input_exits_2_with_one_line_and_writes_nothing(
    pg_url: str, schema: str, db: Db, tmp_path: Path, args: list[str], message: str
) -> None:
    out = cli([*args, "--drop-dir", str(tmp_path)], pg_url, schema)
    assert out.returncode == 2
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert rows(db) == [] and list(tmp_path.iterdir()) == []


def test_cli_to_file_drops_a_file_the_ingester_turns_into_one_row(
    pg_url: str, schema: str, db: Db, tmp_path: Path
) -> None:
    out = cli(["--mailing", MAILING, "--to", "file", "--drop-dir", str(tmp_path)], pg_url, schema)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.parent == tmp_path and path.suffix == ".json" and path.exists()
    result = ingest_drop_folder(db, tmp_path)
    [row] = rows(db)
    assert result.created == [row[0]] and row[1:5] == ("file", path.name, "pending", [MAILING])
    assert (tmp_path / "done" / path.name).exists() and not path.exists()


def test_cli_to_file_without_drop_dir_writes_into_the_configured_drop_folder(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    configured = tmp_path / "drop"
    out = cli(["--mailing", MAILING, "--to", "file"], pg_url, schema, SMS_RT_FLOWCHART_DROP_DIR=str(configured))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == configured and len(list(configured.glob("*.json"))) == 1

    local = tmp_path / "local"
    out = cli(["--mailing", MAILING, "--to", "file"], pg_url, schema, SMS_RT_FLOWCHART_DROP_DIR="",
              SMS_RT_LOCAL_DIR=str(local))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == local / "flowchart_drop"


def test_cli_with_a_refused_setting_exits_2_naming_it(pg_url: str, schema: str, tmp_path: Path) -> None:
    out = cli(["--mailing", MAILING], pg_url, schema, SMS_RT_SCHEMA='x"; drop table y; --')
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "SMS_RT_SCHEMA" in out.stderr, out.stderr
