"""The simulator's command line: ``truth`` prints the library's truth, ``serve`` refuses to start without a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sms_simulator import PlatformState, SimulatorConfig
from sms_simulator.build import build_campaign

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SMS_SIM_TOKEN"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "include"), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "sms_simulator", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_truth_matches_the_library_and_serve_needs_a_token() -> None:
    model = ["--seed", "5", "--recipients", "40", "--mailings", "2", "--duplicate-rate", "0.1"]
    window = ["--start", "2026-11-20T09:00:00Z", "--end", "2026-11-20T12:00:00Z"]
    out = _cli("truth", *model, *window)
    assert out.returncode == 0, out.stderr
    expected = PlatformState(build_campaign(SimulatorConfig(seed=5, recipients=40, mailings=2, duplicate_rate=0.1)))
    start, end = datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert json.loads(out.stdout) == json.loads(json.dumps(expected.truth(start, end)))
    refused = _cli("serve", *model, "--port", "0")
    assert refused.returncode == 2 and "SMS_SIM_TOKEN" in refused.stderr
