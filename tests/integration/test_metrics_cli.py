"""``sms-rt report`` and ``sms-rt metrics refresh`` on the hand-computed fixture of test_metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg.rows import TupleRow
from test_metrics import M1, MW, SPRING, base  # noqa: F401  (base is a fixture)

from sms_response.cli import main
from sms_response.metrics import read
from sms_response.report import metrics_fingerprint

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[TupleRow]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str) -> None:
    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
    monkeypatch.setenv("SMS_RT_SCHEMA", schema)
    # The fixture's prices (test_metrics.PRICING), as an operator would set them
    monkeypatch.setenv("SMS_RT_CREDITS_PER_PART_GSM7", "0.5")
    monkeypatch.setenv("SMS_RT_CREDITS_PER_PART_UCS2", "1.5")


def test_campaign_report_prints_totals_blasts_and_days_and_writes_csv(
    base: str, cli_env: None, db: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    out_file = tmp_path / "spring.csv"
    assert main(["report", "campaign", SPRING, "--csv", str(out_file)]) == 0
    text = capsys.readouterr().out
    expected = read.campaign(db, SPRING)
    db.commit()
    assert "== campaign (1 row(s))" in text and f"== mailings ({len(expected['mailings'])} row(s))" in text
    assert f"recipients               {int(expected['campaign']['recipients'][0])}" in text
    for section, frame in expected.items():
        written = pd.read_csv(tmp_path / f"spring_{section}.csv")
        assert len(written) == len(frame) and list(written.columns) == list(frame.columns)
    mailings = pd.read_csv(tmp_path / "spring_mailings.csv")
    assert list(mailings["mailing_name"]) == list(expected["mailings"]["mailing_name"])
    assert list(mailings["sent"]) == [int(v) for v in expected["mailings"]["sent"]]


def test_mailing_sections_and_masked_inbox(
    base: str, cli_env: None, db: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assert main(["report", "mailing", M1, "--links", "--actions", "--inbox", "--csv", str(tmp_path / "m1.csv")]) == 0
    text = capsys.readouterr().out
    links, inbox = read.links(db, M1), read.inbox(db, M1, unmasked=True)
    db.commit()
    assert f"== links ({len(links)} row(s))" in text and "== actions" in text and "== inbox" in text
    assert not any(phone in text for phone in inbox["phone_e164"])  # masked unless asked
    written = pd.read_csv(tmp_path / "m1_inbox.csv", dtype=str)
    assert sorted(written["phone_e164"]) == sorted(read.inbox(db, M1)["phone_e164"])
    db.commit()
    assert main(["report", "mailing", MW, "--variants"]) == 0
    text = capsys.readouterr().out
    assert "== variants (3 row(s))" in text and "== lift (2 row(s))" in text and "== sample_gate" in text


def test_unknown_subject_is_a_clear_error_and_refresh_changes_nothing(
    base: str, cli_env: None, db: Conn, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assert main(["report", "campaign", "NOPE26"]) == 2
    assert "no metrics for campaign 'NOPE26'" in capsys.readouterr().err
    before = metrics_fingerprint(db)
    db.commit()
    assert main(["metrics", "refresh"]) == 0
    assert main(["metrics", "refresh", "--mailing", M1]) == 0
    assert "metrics refreshed: 1 mailing(s)" in capsys.readouterr().out
    assert metrics_fingerprint(db) == before
