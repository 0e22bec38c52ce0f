"""The benchmark's windows: one simulated campaign per size, served by the simulator in a process of its own.

Each size is a campaign of two mailings a week apart, cut into two contiguous one-week windows:

* **cold**: the week of mailing 1 (every recipient's send and responses), imported into a fresh schema, so every
  phone number in it is new;
* **steady**: the week of mailing 2, which the simulator sends to 90 % of the same recipients, imported next into
  the same schema, so every phone number in it was already seen by the cold window (as a campaign's recipients
  recur window after window).

The number of recipients is chosen so that the cold window holds about the requested number of records
(calibrated on a small build of the same model); the steady window holds about 0.88 of it.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import IO

from proc import peak_rss_mb

from sms_response.window import Window
from sms_simulator import SimulatorConfig, build_state

CAMPAIGN_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
MAILING_INTERVAL = timedelta(days=7)
# The noise of bench/bench_import.py: 1 % duplicates, 0.5 % malformed, 3 % late.
NOISE = {"duplicate_rate": 0.01, "malformed_rate": 0.005, "late_rate": 0.03}
SEED = 5
CALIBRATION_RECIPIENTS = 2000

CONSTRUCTION = (
    "Each size is one simulated campaign (seed 5, 1 % duplicates, 0.5 % malformed, 3 % late records) of two "
    "mailings a week apart, cut into two contiguous one-week windows. Cold: the week of mailing 1, imported "
    "into a fresh schema, so every phone number is new. Steady: the week of mailing 2 (sent to 90 % of the same "
    "recipients), imported next into the same schema, so every phone number in it was already seen. The size "
    "is the cold window's record count (recipients calibrated on a small build); the steady window holds about "
    "0.88 of it. Anchors load the rows the import put into sms_sent and sms_interactions for each window, into "
    "the same tables (same partitions, keys and indexes) of a fresh schema, window after window in the import's "
    "order: the steady window's rows go in beside the cold window's, as the import's did."
)


def window_cold() -> Window:
    return Window(CAMPAIGN_START - timedelta(hours=1), CAMPAIGN_START + MAILING_INTERVAL - timedelta(hours=1))


def window_steady() -> Window:
    start = CAMPAIGN_START + MAILING_INTERVAL - timedelta(hours=1)
    return Window(start, start + MAILING_INTERVAL)


def config(recipients: int) -> SimulatorConfig:
    return SimulatorConfig(seed=SEED, recipients=recipients, mailings=2, campaign_start=CAMPAIGN_START,
                           mailing_interval=MAILING_INTERVAL, **NOISE)


def records_per_recipient() -> float:
    """Records of the cold window per recipient, measured on a small build of the same model (about 1.4)."""
    w = window_cold()
    state = build_state(config(CALIBRATION_RECIPIENTS))
    return len(state.entries_between(w.start, w.end)) / CALIBRATION_RECIPIENTS


def recipients_for(events: int, per_recipient: float) -> int:
    return max(1, round(events / per_recipient))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SimulatorProcess:
    """``python -m sms_simulator serve`` for one campaign, on a loopback port; the token goes by environment."""

    recipients: int
    startup_timeout: float = 0.0
    token: str = ""
    base_url: str = ""
    peak_rss_mb: float | None = None
    start_s: float = 0.0
    _proc: subprocess.Popen[bytes] | None = None
    _err: IO[bytes] | None = None

    def __enter__(self) -> SimulatorProcess:
        cfg = config(self.recipients)
        self.token = secrets.token_urlsafe(16)
        port = _free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "sms_simulator", "serve", "--seed", str(cfg.seed),
               "--recipients", str(cfg.recipients), "--mailings", str(cfg.mailings),
               "--campaign-start", cfg.campaign_start.isoformat(),
               "--mailing-interval-minutes", str(cfg.mailing_interval.total_seconds() / 60),
               "--duplicate-rate", str(cfg.duplicate_rate), "--malformed-rate", str(cfg.malformed_rate),
               "--late-rate", str(cfg.late_rate), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
        env = {**os.environ, "SMS_SIM_TOKEN": self.token}
        t = time.perf_counter()
        # stderr to a file, not a pipe: a pipe nobody reads would block the server once full.
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self._err)
        # Building the campaign is about 1.5 s per 50k records on this machine class; allow plenty.
        deadline = t + (self.startup_timeout or 60 + self.recipients / 5000)
        while True:
            if self._proc.poll() is not None:
                self._err.seek(0)
                err = self._err.read().decode(errors="replace")
                code = self._proc.returncode
                self.__exit__(None, None, None)
                raise RuntimeError(f"the simulator exited with {code}: {err[-2000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.perf_counter() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"the simulator did not answer on {self.base_url} in time") from None
                time.sleep(0.2)
        self.start_s = round(time.perf_counter() - t, 3)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        rss = peak_rss_mb(proc.pid)
        self.peak_rss_mb = round(rss, 1) if rss is not None else None
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._err is not None:
            self._err.close()
            self._err = None
